/*
 * co/co_error.h - the one error space of cosock.
 *
 * Every cosock function that can fail speaks the same language:
 *
 *     0             CO_OK        success
 *     1             CO_PENDING   a start function began an operation that
 *                                will complete later (see CO_AWAIT)
 *     negative      CO_E...      a failure; co_strerror() gives its text
 *
 * The table below is the whole list, for co/ and for sock/. The network
 * errors are portable names, so co/ stays free of Windows headers; sock/ owns
 * the one switch that translates WSA... and ERROR_... codes into them, and
 * keeps the raw Win32 code beside the portable one for logs.
 *
 * End of stream is CO_EOF: a normal outcome of a receive, not a crash.
 * A failure with no better name is CO_EUNKNOWN; the raw code tells the rest.
 */
#ifndef CO_CO_ERROR_H
#define CO_CO_ERROR_H

#define CO_OK      0  /* success */
#define CO_PENDING 1  /* started; the completion will resume the task */

/* XX(name, value, text): one line per error, the single source of truth. */
#define CO_ERROR_TABLE(XX)                                                       \
  /* the coroutine core */                                                     \
  XX(CO_ECANCELED,    -1, "operation cancelled")                               \
  XX(CO_ETIMEDOUT,    -2, "timed out")                                         \
  XX(CO_EINVAL,       -3, "invalid argument")                                  \
  XX(CO_ENOMEM,       -4, "out of memory")                                     \
  XX(CO_EBUSY,        -5, "an operation is already outstanding")               \
  XX(CO_ECLOSED,      -6, "closed")                                            \
  XX(CO_ELOST,        -7, "resume point unreachable (an await inside a switch)") \
  XX(CO_EOF,          -8, "end of stream")                                     \
  XX(CO_ESHUTDOWN,    -9, "runtime is shutting down")                          \
  /* sockets and name resolution (translated by sock/) */                      \
  XX(CO_ECONNREFUSED, -100, "connection refused")                              \
  XX(CO_ECONNRESET,   -101, "connection reset by peer")                        \
  XX(CO_ECONNABORTED, -102, "connection aborted")                              \
  XX(CO_ENOTCONN,     -103, "socket is not connected")                         \
  XX(CO_ENETUNREACH,  -104, "network unreachable")                             \
  XX(CO_EHOSTUNREACH, -105, "host unreachable")                                \
  XX(CO_EADDRINUSE,   -106, "address already in use")                          \
  XX(CO_EADDRNOTAVAIL,-107, "address not available")                           \
  XX(CO_ENOTFOUND,    -108, "host name not found")                             \
  XX(CO_EAGAIN,       -109, "temporary failure, try again")                    \
  XX(CO_ENOBUFS,      -110, "no buffer space or socket handles left")          \
  XX(CO_EMSGSIZE,     -111, "message or line too long")                        \
  XX(CO_EACCES,       -112, "permission denied")                               \
  XX(CO_EPROTO,       -113, "protocol error")                                  \
  /* files and named pipes (translated by sock/) */                            \
  XX(CO_ENOENT,       -120, "no such file, folder or pipe")                    \
  XX(CO_EEXIST,       -121, "file already exists")                             \
  XX(CO_ENOSPC,       -122, "no space left on the disk")                       \
  /* TLS (translated by sock/ from SEC_E_ and CERT_E_ codes) */                \
  XX(CO_ECERTUNTRUSTED, -130, "TLS: certificate not trusted (unknown issuer, self-signed, or not the pinned one)") \
  XX(CO_ECERTNAME,    -131, "TLS: certificate does not match the host name")   \
  XX(CO_ECERTEXPIRED, -132, "TLS: certificate expired or not yet valid")       \
  XX(CO_ETLS,         -133, "TLS: handshake failed or a record was corrupt")   \
  XX(CO_EUNKNOWN,     -199, "unknown error (see the raw system code)")

#ifdef __cplusplus
extern "C" {
#endif

enum co_error {
#define CO__ERROR_ENUM(name, value, text) name = (value),
  CO_ERROR_TABLE(CO__ERROR_ENUM)  /* C99 allows the trailing comma */
#undef CO__ERROR_ENUM
};

/* The text of a status: "success", "pending", an error's text, or
 * "unknown error code" for a value that is not in the table. Never NULL;
 * the string is static. */
const char *co_strerror(int status);

/* The name of a status ("CO_ETIMEDOUT"), for logs and test messages. */
const char *co_errname(int status);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* CO_CO_ERROR_H */

/*
 * sock/sock_fault.h - making sock/'s system calls fail on demand, for tests.
 *
 * Every Win32 and C library call that sock/ makes and that can fail goes
 * through one table (sock/syscall.c), the way SQLite's os_win.c keeps its
 * aSyscall[]. Normally the table holds the real functions, and a call costs
 * one indirect call. A test arms a fault and the entry is swapped for a
 * wrapper that counts the calls and fails the chosen ones the way the real
 * call fails (INVALID_SOCKET, FALSE, SOCKET_ERROR, NULL, an EAI_ code) with
 * the error it is given, so every error path of the library can be run:
 *
 *     sock_fault_nth(SOCK_SYS_WSARECV, 1, 1, WSAECONNRESET);  // the next WSARecv fails
 *     ... run the operation, check op.error == CO_ECONNRESET ...
 *     sock_fault_reset();                                     // real calls again
 *
 * SOCK_SYS_COMPLETION is not a call: armed, a completion that the thread
 * pool delivers is reported as failed with the given error (what the
 * operation did in the kernel is lost, as when a connection dies).
 *
 * The table is the process's: arm faults while no other test uses sock/.
 * Arming and resetting may be done while operations run (each entry is one
 * pointer written at once); counts are exact.
 */
#ifndef SOCK_SOCK_FAULT_H
#define SOCK_SOCK_FAULT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sock_syscall {
  SOCK_SYS_WSASOCKETW = 0,         /* every new socket (connect, accept slots) */
  SOCK_SYS_ACCEPTEX,               /* a listener's posted accepts */
  SOCK_SYS_CONNECTEX,
  SOCK_SYS_WSARECV,                /* every receive, wait-readable, read-line */
  SOCK_SYS_WSASEND,                /* every send, send-all, gather send */
  SOCK_SYS_CREATETHREADPOOLIO,     /* one per socket */
  SOCK_SYS_CREATETHREADPOOLTIMER,  /* a task's first deadline or sleep */
  SOCK_SYS_CREATETHREADPOOLWORK,   /* one per runtime */
  SOCK_SYS_TRYSUBMITTHREADPOOLCALLBACK, /* connect's work item (it starts the tries) */
  SOCK_SYS_GETADDRINFO,            /* a local name to bind (sock_listen, sock_udp_open) */
  SOCK_SYS_CALLOC,                 /* every allocation of sock/ */
  SOCK_SYS_BIND,
  SOCK_SYS_LISTEN,
  SOCK_SYS_COMPLETION,             /* not a call: a completion reported failed */
  SOCK_SYS_CREATENAMEDPIPEW,       /* every server instance of a named pipe */
  SOCK_SYS_CONNECTNAMEDPIPE,       /* a server instance awaiting its client */
  SOCK_SYS_CREATEFILEW,            /* every file opened, every pipe client opened */
  SOCK_SYS_READFILE,               /* every file read, every receive on a pipe */
  SOCK_SYS_WRITEFILE,              /* every file write, every send on a pipe */
  SOCK_SYS_WSASENDTO,              /* every datagram send, every try-send */
  SOCK_SYS_WSARECVFROM,            /* every datagram receive, every try-receive */
  SOCK_SYS_GETADDRINFOEXW,         /* every name lookup (resolve, connect by name) */
  SOCK_SYS_ACQUIRECREDENTIALSHANDLEW, /* a TLS session's credentials */
  SOCK_SYS_INITIALIZESECURITYCONTEXTW, /* each handshake step, close_notify */
  SOCK_SYS_ENCRYPTMESSAGE,         /* each batch of TLS records sent */
  SOCK_SYS_DECRYPTMESSAGE,         /* each TLS record received */
  SOCK_SYS_CERTGETCERTIFICATECHAIN, /* the certificate check of a handshake */
  SOCK_SYS_COUNT
} sock_syscall_t;

/* From now on, calls number `nth` to `nth + count - 1` of `call` (1 = the
 * next call) fail with `error` (a WSA.../ERROR_... code; 0 picks the call's
 * usual failure: WSAEMFILE for a socket, WSAECONNRESET for a transfer,
 * ERROR_NOT_ENOUGH_MEMORY for the thread pool, WSATRY_AGAIN for a lookup,
 * ERROR_NETNAME_DELETED for a completion, ERROR_NO_SYSTEM_RESOURCES for a
 * pipe instance, ERROR_BROKEN_PIPE for ConnectNamedPipe and ReadFile,
 * ERROR_ACCESS_DENIED for CreateFileW, ERROR_NO_DATA for WriteFile,
 * SEC_E_NO_CREDENTIALS, SEC_E_INTERNAL_ERROR or SEC_E_DECRYPT_FAILURE for
 * Schannel (whose calls return it), CRYPT_E_NOT_FOUND for the chain). count
 * 0: every call from nth on.
 * Replaces what was armed for `call`.
 *
 * SOCK_FAULT_SYNC as the error of SOCK_SYS_READFILE or SOCK_SYS_WRITEFILE
 * does not fail the chosen calls: it makes them finish synchronously, the
 * way cached file IO often does on Windows (and never under Wine, where
 * every file call goes pending). The call is made and waited for without
 * reaching the thread pool (an OVERLAPPED whose event has its low bit set),
 * then returns TRUE with the bytes moved, or FALSE with the call's own error
 * (ERROR_HANDLE_EOF at the end of a file), and no completion follows. Only
 * for handles that skip the completion port on success, as cosock's files
 * do: on Windows those are the handles whose synchronous outcomes come
 * without a completion. */
#define SOCK_FAULT_SYNC 0xfffffffful

void sock_fault_nth(sock_syscall_t call, unsigned long nth, unsigned long count,
                    unsigned long error);

/* Every call of the entries in `calls` (a bit mask: 1u << SOCK_SYS_...)
 * fails with probability p (0..1), with its usual error. `seed` makes a run
 * repeatable as far as the threads' order allows. */
void sock_fault_random(double p, unsigned long calls, unsigned long seed);

/* Real calls everywhere again; the counts are kept until the next arming.
 * Also ends sock_fault_delay_lookups. */
void sock_fault_reset(void);

/* A slow name server, for tests of cancelling a lookup in flight: from now
 * on every name lookup's completion (sock_resolve_start, connect by name)
 * is reported `ms` milliseconds after the system gave it (the pool thread
 * that reports it waits). 0 turns it off. */
void sock_fault_delay_lookups(unsigned ms);

/* Calls of `call` seen while it was armed, and how many of them failed. */
unsigned long sock_fault_calls(sock_syscall_t call);
unsigned long sock_fault_failures(sock_syscall_t call);

/* "WSARecv", "calloc", "completion" ... */
const char *sock_syscall_name(sock_syscall_t call);

#ifdef __cplusplus
}
#endif

#endif /* SOCK_SOCK_FAULT_H */

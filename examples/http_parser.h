/*
 * examples/http_parser.h - a small, bounded HTTP/1.1 request parser.
 *
 * What it teaches: how a server reads a protocol from bytes it does not
 * trust. Nothing here touches a socket or a Windows header (so the parser
 * is built natively and fuzzed: tests/fuzz/run_fuzz.sh); http_server.c feeds
 * it what the network delivered.
 *
 * Two parts, each a pure function of its input:
 *
 *   http_parse_head()     the request line and header fields, parsed again
 *                         from the start whenever more bytes arrive (the
 *                         head is small and bounded: no state to keep);
 *   http_chunked_decode() a chunked body, decoded in place, byte by byte,
 *                         with its state in a small struct (a body can be
 *                         long and arrives in pieces).
 *
 * Both answer with HTTP_INCOMPLETE (feed me more), HTTP_COMPLETE, or the
 * HTTP status the server should answer with: 400 malformed, 413 body too
 * large, 414 target too long, 417 unknown expectation, 431 header fields too
 * large, 501 a transfer coding we do not know, 505 a major version other than
 * 1. Every limit is the caller's (http_limits_t), so a peer can never make
 * the server read or keep more than it chose.
 *
 * Where RFC 9112 lets a server be lenient or strict, this one is strict when
 * leniency would let two parsers disagree about where a request ends (the
 * root of request smuggling): Content-Length and Transfer-Encoding together,
 * two different Content-Lengths, a folded header line, whitespace before a
 * header's colon: all 400. It is lenient where that is harmless: a bare LF
 * ends a line as CRLF does, and up to two empty lines before a request are
 * skipped (clients sometimes send a CRLF after a body).
 */
#ifndef EXAMPLES_HTTP_PARSER_H
#define EXAMPLES_HTTP_PARSER_H

#include <stddef.h>

enum {
  HTTP_INCOMPLETE = 0,  /* not enough input yet: read more and call again */
  HTTP_COMPLETE   = 1   /* parsed: the result is in the output struct */
  /* any other answer is an HTTP status >= 400 to reply with */
};

/* The limits a server sets. */
typedef struct http_limits {
  size_t             max_head;     /* request line + header fields, bytes */
  size_t             max_headers;  /* number of header fields */
  size_t             max_target;   /* request target (path and query), bytes */
  unsigned long long max_body;     /* body bytes after decoding */
} http_limits_t;

/* What http_parse_head() found. The method and target point into the
 * caller's buffer: valid while those bytes stay where they are. */
typedef struct http_request {
  const char        *method;          /* e.g. "GET", not NUL-terminated */
  size_t             method_len;
  const char        *target;          /* e.g. "/echo?x=1", not NUL-terminated */
  size_t             target_len;
  int                minor_version;   /* 0 or 1 (HTTP/1.x, x > 1, counts as 1) */
  int                keep_alive;      /* the connection may carry another request */
  int                chunked;         /* Transfer-Encoding: chunked */
  int                expect_continue; /* Expect: 100-continue */
  unsigned long long content_length;  /* body length when not chunked (0 if none) */
  size_t             head_len;        /* bytes of the head, empty line included */
} http_request_t;

/* Parses the head of one request at the start of buf[0..len). Returns
 * HTTP_COMPLETE (and *req; the body, if any, starts at buf + req->head_len),
 * HTTP_INCOMPLETE (no complete head yet, and nothing wrong so far), or an
 * error status. A head that has not ended within limits->max_head bytes is
 * 431; a Content-Length above limits->max_body is 413 at once, before any of
 * the body is read. */
int http_parse_head(const char *buf, size_t len, const http_limits_t *limits,
                    http_request_t *req);

/* ---- Chunked bodies ----------------------------------------------------- */

/* The decoder's state between calls; http_chunked_init() before the first. */
typedef struct http_chunked {
  unsigned char      state;      /* where in the chunk grammar we are */
  unsigned char      digits;     /* hex digits of the current size */
  unsigned long long remaining;  /* data bytes left in the current chunk */
  unsigned long long total;      /* data bytes decoded so far */
  unsigned long long max_body;   /* more than this decoded: 413 */
  size_t             line;       /* bytes of the current size or trailer line */
  size_t             trailers;   /* bytes of trailer fields so far */
  size_t             max_line;   /* a size line (with extensions) longer: 400 */
  size_t             max_trailers; /* trailer fields longer in total: 431 */
} http_chunked_t;

void http_chunked_init(http_chunked_t *c, unsigned long long max_body,
                       size_t max_trailers);

/* Decodes buf[0..len) in place: the body bytes found are moved to the front,
 * buf[0..*data_len), and *consumed says how much input was used up (always
 * all of it, unless the body ended: then the rest is the next request).
 * Returns HTTP_INCOMPLETE (feed the next input), HTTP_COMPLETE (the last
 * chunk and the trailers are through), 400, 413 or 431. */
int http_chunked_decode(http_chunked_t *c, char *buf, size_t len, size_t *consumed,
                        size_t *data_len);

/* ---- Small helpers the server shares -------------------------------------- */

/* The reason phrase of a status ("Not Found"), "Unknown" for others. */
const char *http_reason(int status);

/* Whether [s, s+n) equals the NUL-terminated `lit`, ignoring ASCII case. */
int http_equals_nocase(const char *s, size_t n, const char *lit);

#endif /* EXAMPLES_HTTP_PARSER_H */

/*
 * tests/fuzz/http_parser_fuzz.c - libFuzzer entry point over the HTTP parser
 * of examples/http_parser.c (built natively: the parser is portable C).
 *
 * Each input is a stream of pipelined requests, parsed as http_server.c
 * does: a head, then its body (Content-Length bytes skipped, or chunked
 * decoding), then the next request. Besides AddressSanitizer and UBSan, two
 * oracles:
 *   - invariants: a parsed head lies inside the input and within the limit,
 *     the decoder never reports more than it was given, never decodes more
 *     than the body limit;
 *   - split independence: a chunked body decoded in one piece and decoded
 *     in pieces of 1..16 bytes (the first input byte chooses) gives the same
 *     answer, the same bytes, and stops at the same place. The server sees
 *     whatever pieces the network delivers; the answer must not depend on it.
 *
 * Run: tests/fuzz/run_fuzz.sh [seconds]   (not part of the default suite)
 */
#include "http_parser.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                   \
    }                                                                            \
  } while (0)

static const http_limits_t limits = {
  512,   /* max_head: small, so that 431 and 414 are reachable */
  16,    /* max_headers */
  128,   /* max_target */
  4096   /* max_body */
};
enum { MAX_TRAILERS = 256 };

typedef struct decoded {
  int    rc;        /* what the decoder answered last */
  size_t consumed;  /* input bytes used up */
  size_t len;       /* body bytes decoded */
  char   body[4096];
} decoded_t;

/* Decodes in[0..n) in pieces of `piece` bytes (as many as it takes), each
 * piece in a scratch copy of exactly its size (so ASan sees any overread). */
static void decode_in_pieces(const char *in, size_t n, size_t piece, decoded_t *out)
{
  http_chunked_t c;
  size_t pos = 0;
  http_chunked_init(&c, limits.max_body, MAX_TRAILERS);
  out->rc = HTTP_INCOMPLETE;
  out->len = 0;
  while (pos < n && out->rc == HTTP_INCOMPLETE) {
    size_t k = n - pos < piece ? n - pos : piece, used = 0, data = 0;
    char *scratch = malloc(k);
    CHECK(scratch != NULL);
    memcpy(scratch, in + pos, k);
    out->rc = http_chunked_decode(&c, scratch, k, &used, &data);
    CHECK(used <= k);
    CHECK(data <= used);
    CHECK(out->rc != HTTP_INCOMPLETE || used == k);
    CHECK(out->len + data <= limits.max_body);
    CHECK(c.total <= limits.max_body);
    memcpy(out->body + out->len, scratch, data);
    out->len += data;
    pos += used;
    free(scratch);
  }
  out->consumed = pos;
}

/* The body of a chunked request at in[0..n): returns the bytes it used, or
 * (size_t)-1 when the stream cannot go on (incomplete or an error). */
static size_t chunked_body(const char *in, size_t n, size_t piece)
{
  static decoded_t whole, split;
  decode_in_pieces(in, n, n > 0 ? n : 1, &whole);
  decode_in_pieces(in, n, piece, &split);
  CHECK(whole.rc == split.rc);
  if (whole.rc == HTTP_COMPLETE) {
    CHECK(whole.consumed == split.consumed);
    CHECK(whole.len == split.len);
    CHECK(memcmp(whole.body, split.body, whole.len) == 0);
    return whole.consumed;
  }
  CHECK(whole.rc == HTTP_INCOMPLETE || whole.rc == 400 || whole.rc == 413 ||
        whole.rc == 431);
  if (whole.rc == HTTP_INCOMPLETE) {  /* both saw everything, decoded the same */
    CHECK(whole.len == split.len);
    CHECK(memcmp(whole.body, split.body, whole.len) == 0);
  }
  return (size_t)-1;
}

static void check_head(const char *buf, size_t len, const http_request_t *req)
{
  CHECK(req->head_len > 0 && req->head_len <= len && req->head_len <= limits.max_head);
  CHECK(req->method >= buf && req->method + req->method_len <= buf + req->head_len);
  CHECK(req->target >= buf && req->target + req->target_len <= buf + req->head_len);
  CHECK(req->method_len > 0 && req->target_len > 0 && req->target_len <= limits.max_target);
  CHECK(req->minor_version == 0 || req->minor_version == 1);
  CHECK(!req->chunked || req->content_length == 0);
  CHECK(req->content_length <= limits.max_body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *buf;
  size_t pos = 0, piece;
  int requests;
  if (size == 0)
    return 0;
  piece = (size_t)(data[0] % 16) + 1;
  buf = (const char *)data + 1;
  size--;

  for (requests = 0; requests < 64 && pos < size; requests++) {
    http_request_t req;
    int rc = http_parse_head(buf + pos, size - pos, &limits, &req);
    if (rc == HTTP_INCOMPLETE)
      CHECK(size - pos < limits.max_head);
    if (rc != HTTP_COMPLETE) {
      CHECK(rc == HTTP_INCOMPLETE || (rc >= 400 && rc <= 505));
      return 0;
    }
    check_head(buf + pos, size - pos, &req);
    pos += req.head_len;
    if (req.chunked) {
      size_t used = chunked_body(buf + pos, size - pos, piece);
      if (used == (size_t)-1)
        return 0;
      pos += used;
    } else {
      if (req.content_length > size - pos)
        return 0;
      pos += (size_t)req.content_length;
    }
    if (!req.keep_alive)
      return 0;
  }
  return 0;
}

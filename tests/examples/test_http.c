/*
 * tests/examples/test_http.c - http_server, end to end.
 *
 * Each case starts the real http_server (tests/examples/example_test.h) and
 * talks HTTP to it over loopback from plain blocking sockets, byte by byte
 * as a client would: no HTTP library between the test and the server, so
 * the test sees exactly what goes over the wire. The limits and deadlines
 * are flags, made small here so that the error cases run in well under a
 * second. Every case ends by stopping the server (closing its stdin) and
 * asserting exit code 0, which the server returns only when every
 * connection was cleaned up and the runtime's counters were back at zero.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"
#include "../sock/sock_test.h"

enum { EXIT_MS = 20000, RECV_MS = 10000 };

/* ---- A tiny HTTP client over a blocking socket ------------------------------ */

/* A connection and what arrived on it but was not read as a response yet
 * (pipelined responses may come in one segment). */
typedef struct client {
  SOCKET s;
  int    len;
  char   buf[1 << 17];
} client_t;

typedef struct response {
  int  status;
  long content_length;     /* -1 if the field was missing */
  int  close;              /* "Connection: close" */
  int  keep_alive;         /* "Connection: keep-alive" */
  char head[2048];         /* status line and fields, NUL-terminated */
  long body_len;
  char body[1 << 16];
} response_t;

/* Static, not on the stack: a failed assertion longjmps out of the test. */
static client_t clients[3];
static response_t resp;

static client_t *client_open(int which, unsigned short port)
{
  static int started;
  client_t *c = &clients[which];
  WSADATA wsa;
  DWORD ms = RECV_MS;
  if (!started) {
    ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    started = 1;
  }
  c->s = test_raw_connect(port);
  c->len = 0;
  setsockopt(c->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  return c;
}

static void client_close(client_t *c)
{
  closesocket(c->s);
  c->s = INVALID_SOCKET;
}

static void client_send(client_t *c, const char *text)
{
  test_raw_send(c->s, text, (int)strlen(text));
}

/* Receives more into the buffer; returns what recv returned (0: end of
 * stream, < 0: error or the receive timeout). */
static int client_fill(client_t *c)
{
  int n = recv(c->s, c->buf + c->len, (int)sizeof c->buf - c->len, 0);
  if (n > 0)
    c->len += n;
  return n;
}

static void client_consume(client_t *c, int n)
{
  memmove(c->buf, c->buf + n, (size_t)(c->len - n));
  c->len -= n;
}

static const char *find_head_end(const client_t *c)
{
  int i;
  for (i = 0; i + 3 < c->len; i++)
    if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
      return c->buf + i + 4;
  return NULL;
}

/* Reads one response into `resp` (no body for a response to HEAD). */
static void read_response(client_t *c, int head_request)
{
  const char *end, *field;
  int head_len;
  while ((end = find_head_end(c)) == NULL)
    ck_assert_msg(client_fill(c) > 0, "no complete response head (error %d); got %d bytes: %.*s",
                  WSAGetLastError(), c->len, c->len, c->buf);
  head_len = (int)(end - c->buf);
  ck_assert_int_lt(head_len, (int)sizeof resp.head);
  memcpy(resp.head, c->buf, (size_t)head_len);
  resp.head[head_len] = '\0';
  client_consume(c, head_len);

  ck_assert_msg(sscanf(resp.head, "HTTP/1.1 %d ", &resp.status) == 1, "bad status line: %s",
                resp.head);
  field = strstr(resp.head, "\r\nContent-Length: ");
  resp.content_length = field != NULL ? strtol(field + 18, NULL, 10) : -1;
  resp.close = strstr(resp.head, "\r\nConnection: close\r\n") != NULL;
  resp.keep_alive = strstr(resp.head, "\r\nConnection: keep-alive\r\n") != NULL;
  resp.body_len = 0;
  if (head_request || resp.status == 100)
    return;
  ck_assert_msg(resp.content_length >= 0 && resp.content_length <= (long)sizeof resp.body,
                "Content-Length %ld in %s", resp.content_length, resp.head);
  while (c->len < resp.content_length)
    ck_assert_msg(client_fill(c) > 0, "body cut short at %d of %ld bytes", c->len,
                  resp.content_length);
  resp.body_len = resp.content_length;
  memcpy(resp.body, c->buf, (size_t)resp.body_len);
  client_consume(c, (int)resp.body_len);
}

/* Sends a request, reads its response, asserts the status. */
static void exchange(client_t *c, const char *request, int status)
{
  client_send(c, request);
  read_response(c, strncmp(request, "HEAD ", 5) == 0);
  ck_assert_msg(resp.status == status, "status %d, expected %d, for %s; response:\n%s",
                resp.status, status, request, resp.head);
}

static void assert_body(const char *expected)
{
  ck_assert_msg(resp.body_len == (long)strlen(expected) &&
                memcmp(resp.body, expected, (size_t)resp.body_len) == 0,
                "body is \"%.*s\", expected \"%s\"", (int)resp.body_len, resp.body, expected);
}

/* After "Connection: close": nothing more, then end of stream (the server
 * shut down its side gracefully: 0, not a reset). */
static void assert_closed(client_t *c)
{
  int n;
  ck_assert_msg(c->len == 0, "%d bytes after the last response", c->len);
  n = client_fill(c);
  ck_assert_msg(n == 0, "expected end of stream, recv gave %d (error %d)", n, WSAGetLastError());
}

/* An error status answered with "Connection: close" and the end of stream. */
static void assert_error_and_closed(client_t *c, int status, const char *what)
{
  read_response(c, 0);
  ck_assert_msg(resp.status == status, "%s: status %d, expected %d; response:\n%s", what,
                resp.status, status, resp.head);
  ck_assert_msg(resp.close, "%s: no Connection: close in\n%s", what, resp.head);
  assert_closed(c);
}

/* Opens a connection, sends `request`, expects `status` and the close. */
static void bad_request(unsigned short port, const char *request, int status)
{
  client_t *c = client_open(0, port);
  client_send(c, request);
  assert_error_and_closed(c, status, request);
  client_close(c);
}

static ex_proc_t *start(const char *args, unsigned short *port)
{
  return ex_start_server("http_server", args, port);
}

static void stop(ex_proc_t *srv)
{
  int code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ex_free(srv);
}

#define GET_ROOT "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- The cases -------------------------------------------------------------- */

/* --help exits 0 and names the flags; an unknown flag or a bad number exits 2. */
START_TEST(http_flags)
{
  ex_proc_t *p;
  p = ex_run_expect("http_server", "--help", EXIT_MS, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--header-timeout-ms"));
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--max-connections"));
  ex_free(p);
  p = ex_run_expect("http_server", "--no-such-flag", EXIT_MS, 2);
  ex_free(p);
  p = ex_run_expect("http_server", "--max-head 12", EXIT_MS, 2);
  ex_free(p);
}
END_TEST

/* Several requests, one connection: the page, an echo, a 404, a 405, HEAD. */
START_TEST(http_keep_alive)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0 --verbose", &port);
  client_t *c = client_open(0, port);
  long page_len;

  exchange(c, GET_ROOT, 200);
  ck_assert(!resp.close);
  ck_assert_ptr_nonnull(strstr(resp.body, "Hello from cosock"));
  page_len = resp.body_len;
  exchange(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", 200);
  assert_body("hello world");
  exchange(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n", 404);
  exchange(c, "DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n", 405);
  ck_assert_ptr_nonnull(strstr(resp.head, "Allow: POST, PUT"));
  exchange(c, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", 200);
  ck_assert_int_eq(resp.content_length, page_len);  /* the length, but no body */
  exchange(c, "GET /?query=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200);
  ck_assert(!resp.close);
  client_close(c);
  stop(srv);
}
END_TEST

/* Three requests in one send: three responses, in order; the last asked to
 * close, so the connection ends after it. */
START_TEST(http_pipelining)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0", &port);
  client_t *c = client_open(0, port);

  client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
                 GET_ROOT
                 "\r\n"  /* a stray empty line between requests is allowed */
                 "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
                 "third!");
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  assert_body("first");
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_ptr_nonnull(strstr(resp.body, "Hello from cosock"));
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  assert_body("third!");
  ck_assert(resp.close);
  assert_closed(c);
  client_close(c);
  stop(srv);
}
END_TEST

/* A chunked body, sent in pieces that cut through sizes and data, with a
 * chunk extension and a trailer: /echo returns the decoded bytes. */
START_TEST(http_chunked_echo)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0", &port);
  client_t *c = client_open(0, port);
  static const char *pieces[] = {
    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
    "5;name=value\r\nhel", "lo\r\n", "F\r\n, chunked", " world\r\n", "0\r\nX-Trailer: yes\r\n", "\r\n",
  };
  size_t i;
  for (i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    client_send(c, pieces[i]);
    Sleep(20);  /* separate segments: the decoder sees each piece alone */
  }
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  assert_body("hello, chunked world");
  /* The connection is still good for the next request. */
  exchange(c, GET_ROOT, 200);
  client_close(c);
  stop(srv);
}
END_TEST

/* Expect: 100-continue: the server says go before the client sends the body. */
START_TEST(http_expect_continue)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0", &port);
  client_t *c = client_open(0, port);
  exchange(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
           100);
  client_send(c, "body");
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  assert_body("body");
  client_close(c);
  stop(srv);
}
END_TEST

/* "Connection: close" is honoured; HTTP/1.0 closes by default and stays
 * open with "Connection: keep-alive". */
START_TEST(http_connection_close)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0", &port);
  client_t *c = client_open(0, port);

  exchange(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200);
  ck_assert(resp.close);
  assert_closed(c);
  client_close(c);

  c = client_open(0, port);
  exchange(c, "GET / HTTP/1.0\r\n\r\n", 200);
  ck_assert(resp.close);
  assert_closed(c);
  client_close(c);

  c = client_open(0, port);
  exchange(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200);
  ck_assert(resp.keep_alive && !resp.close);
  exchange(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200);
  exchange(c, "GET / HTTP/1.0\r\n\r\n", 200);
  ck_assert(resp.close);
  assert_closed(c);
  client_close(c);
  stop(srv);
}
END_TEST

/* Malformed requests: 400, then the connection closes. */
START_TEST(http_malformed_400)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0", &port);
  bad_request(port, "GARBAGE\r\n\r\n", 400);
  bad_request(port, "GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n", 400);
  bad_request(port, "GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400);
  bad_request(port, "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400);
  bad_request(port, "GET / HTTP/1.1\r\n\r\n", 400);  /* no Host */
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n", 400);
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
              400);
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400);
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\n", 400);
  /* A control byte is wrong at once: no need to wait for the line's end. */
  bad_request(port, "GET /\x01", 400);
  bad_request(port, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  stop(srv);
}
END_TEST

/* Header fields over the limits: 431 (too many bytes, too many fields), and
 * a request target longer than the whole head may be: 414. */
START_TEST(http_oversized_headers_431)
{
  unsigned short port;
  static char request[4096];
  int i;
  ex_proc_t *srv = start("--port 0 --max-head 1024 --max-headers 10", &port);

  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %0*d\r\n\r\n", 1500, 7);
  bad_request(port, request, 431);

  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: t\r\n");
  for (i = 0; i < 12; i++)
    snprintf(request + strlen(request), sizeof request - strlen(request), "X-%d: %d\r\n", i, i);
  snprintf(request + strlen(request), sizeof request - strlen(request), "\r\n");
  bad_request(port, request, 431);

  snprintf(request, sizeof request, "GET /%0*d HTTP/1.1\r\nHost: t\r\n\r\n", 1500, 7);
  bad_request(port, request, 414);

  /* Just under the limits: fine. */
  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %0*d\r\n\r\n", 900, 7);
  {
    client_t *c = client_open(0, port);
    exchange(c, request, 200);
    client_close(c);
  }
  stop(srv);
}
END_TEST

/* Bodies over --max-body: 413, as soon as the head (or a chunk size) says
 * so, without waiting for the body. */
START_TEST(http_oversized_body_413)
{
  unsigned short port;
  client_t *c;
  ex_proc_t *srv = start("--port 0 --max-body 1000", &port);

  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413);
  bad_request(port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3e9\r\n", 413);  /* 1001 bytes: one too many */

  /* 1000 bytes fit alone, but not after what came before them. */
  c = client_open(0, port);
  client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "1\r\nx\r\n3e8\r\n");
  assert_error_and_closed(c, 413, "chunked body over the limit");
  client_close(c);

  /* Exactly the limit: fine. */
  c = client_open(0, port);
  client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n");
  {
    static char kb[1001];
    memset(kb, 'k', 1000);
    client_send(c, kb);
  }
  client_send(c, "\r\n0\r\n\r\n");
  read_response(c, 0);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_int_eq(resp.body_len, 1000);
  client_close(c);
  stop(srv);
}
END_TEST

/* A client too slow with its head or its body gets 408 when the deadline
 * passes (not before); an idle keep-alive connection is closed quietly. */
START_TEST(http_slow_client_408)
{
  unsigned short port;
  client_t *c;
  DWORD t0, took;
  ex_proc_t *srv = start("--port 0 --header-timeout-ms 300 --body-timeout-ms 300 "
                         "--idle-timeout-ms 400", &port);

  /* Half a head, then nothing. */
  c = client_open(0, port);
  t0 = GetTickCount();
  client_send(c, "GET / HTTP/1.1\r\nHost: t\r\n");
  assert_error_and_closed(c, 408, "slow head");
  took = GetTickCount() - t0;
  ck_assert_msg(took >= 250 && took < 5000, "408 after %lu ms", (unsigned long)took);
  client_close(c);

  /* A head, then 3 of 10 body bytes. */
  c = client_open(0, port);
  client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  assert_error_and_closed(c, 408, "slow body");
  client_close(c);

  /* A request served, then silence: end of stream after the idle timeout,
   * without an unasked-for response. */
  c = client_open(0, port);
  exchange(c, GET_ROOT, 200);
  t0 = GetTickCount();
  assert_closed(c);
  took = GetTickCount() - t0;
  ck_assert_msg(took >= 300 && took < 5000, "idle close after %lu ms", (unsigned long)took);
  client_close(c);

  /* The deadline is for the whole head: bytes trickling in do not extend it. */
  c = client_open(0, port);
  t0 = GetTickCount();
  {
    int i;
    for (i = 0; i < 8; i++) {
      client_send(c, "X");
      Sleep(60);
    }
  }
  assert_error_and_closed(c, 408, "trickling head");
  took = GetTickCount() - t0;
  ck_assert_msg(took < 2000, "408 after %lu ms", (unsigned long)took);
  client_close(c);
  stop(srv);
}
END_TEST

/* --max-connections 1: a second connection is not served while the first
 * lives (it waits in the backlog), and is served once the first closes. */
START_TEST(http_connection_cap_waits)
{
  unsigned short port;
  client_t *a, *b;
  int n;
  DWORD ms = 500;
  ex_proc_t *srv = start("--port 0 --max-connections 1", &port);

  a = client_open(0, port);
  exchange(a, GET_ROOT, 200);
  b = client_open(1, port);
  client_send(b, GET_ROOT);
  setsockopt(b->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  n = client_fill(b);
  ck_assert_msg(n < 0 && WSAGetLastError() == WSAETIMEDOUT,
                "second connection answered while the first holds the only slot (%d)", n);
  ms = RECV_MS;
  setsockopt(b->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  exchange(a, GET_ROOT, 200);  /* the first is still served */
  client_close(a);
  read_response(b, 0);
  ck_assert_int_eq(resp.status, 200);
  client_close(b);
  stop(srv);
}
END_TEST

/* Stop with connections in every state: idle keep-alive, half a head, a
 * body in progress. The server still exits 0 with its counters at zero. */
START_TEST(http_stop_with_open_connections)
{
  unsigned short port;
  client_t *idle, *head, *body;
  ex_proc_t *srv = start("--port 0 --verbose", &port);
  idle = client_open(0, port);
  exchange(idle, GET_ROOT, 200);
  head = client_open(1, port);
  client_send(head, "GET / HTTP/1.1\r\n");
  body = client_open(2, port);
  client_send(body, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  Sleep(200);
  stop(srv);
  client_close(idle);
  client_close(head);
  client_close(body);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_http");
  TCase *tc;
  tc = tcase_create("http_flags");
  tcase_add_test(tc, http_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_keep_alive");
  tcase_add_test(tc, http_keep_alive);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_pipelining");
  tcase_add_test(tc, http_pipelining);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_chunked_echo");
  tcase_add_test(tc, http_chunked_echo);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_expect_continue");
  tcase_add_test(tc, http_expect_continue);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_connection_close");
  tcase_add_test(tc, http_connection_close);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_malformed_400");
  tcase_add_test(tc, http_malformed_400);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_oversized_headers_431");
  tcase_add_test(tc, http_oversized_headers_431);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_oversized_body_413");
  tcase_add_test(tc, http_oversized_body_413);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_slow_client_408");
  tcase_add_test(tc, http_slow_client_408);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_connection_cap_waits");
  tcase_add_test(tc, http_connection_cap_waits);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_stop_with_open_connections");
  tcase_add_test(tc, http_stop_with_open_connections);
  suite_add_tcase(s, tc);
  return s;
}

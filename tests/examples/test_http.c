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

/* Winsock for the test's own sockets, once. */
static void winsock_start(void)
{
  static int started;
  WSADATA wsa;
  if (!started) {
    ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    started = 1;
  }
}

static client_t *client_open(int which, unsigned short port)
{
  client_t *c = &clients[which];
  DWORD ms = RECV_MS;
  winsock_start();
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
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "(default 10000); at the cap: 503 with Retry-After"));
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

/* Half a head: a request line and a field, and no empty line after them. */
#define HALF_HEAD "GET / HTTP/1.1\r\nHost: x\r\n"

enum { FLOOD = 1000, CAP = 10 };

/* The test's held connections (a failed assertion longjmps out of the test
 * and leaves them to the process's end). */
static SOCKET held[FLOOD];

/* Asserts that none of the first n held connections has been answered or
 * closed: each still waits, served, for the rest of its head. */
static void assert_all_waiting(int n)
{
  int i;
  u_long on = 1, off = 0;
  char byte;
  for (i = 0; i < n; i++) {
    int got, error;
    ioctlsocket(held[i], FIONBIO, &on);
    got = recv(held[i], &byte, 1, MSG_PEEK);
    error = WSAGetLastError();
    ioctlsocket(held[i], FIONBIO, &off);
    ck_assert_msg(got < 0 && error == WSAEWOULDBLOCK,
                  "held connection %d: recv gave %d (error %d): answered or closed", i, got,
                  error);
  }
}

static void close_held(int n)
{
  int i;
  for (i = 0; i < n; i++)
    if (held[i] != INVALID_SOCKET) {
      closesocket(held[i]);
      held[i] = INVALID_SOCKET;
    }
}

/* 1,000 clients that send half a head and then nothing do not lock anyone
 * out: with the default cap each holds a cheap waiting connection, and a
 * normal GET on a new connection is answered within a second. (Before the
 * cap became thousands and a 503, 1,000 such clients held every one of 256
 * slots until their header deadlines, and a curl GET timed out.) */
START_TEST(http_idle_flood_does_not_lock_out)
{
  unsigned short port;
  client_t *c;
  ULONGLONG t0, flood_ms, first_ms, took;
  int i;
  ex_proc_t *srv = start("--port 0 --verbose", &port);

  /* The flood: connected one after another, each with its half head. */
  winsock_start();
  t0 = GetTickCount64();
  for (i = 0; i < FLOOD; i++) {
    held[i] = test_raw_connect(port);
    test_raw_send(held[i], HALF_HEAD, (int)strlen(HALF_HEAD));
  }
  flood_ms = GetTickCount64() - t0;
  /* Generous, untimed: a first GET, answered once the server has caught up
   * with accepting the flood (within the receive timeout, RECV_MS). */
  t0 = GetTickCount64();
  c = client_open(0, port);
  exchange(c, GET_ROOT, 200);
  client_close(c);
  first_ms = GetTickCount64() - t0;

  /* The claim, timed: connect, ask, get the page, in under a second. */
  t0 = GetTickCount64();
  c = client_open(0, port);
  exchange(c, GET_ROOT, 200);
  took = GetTickCount64() - t0;
  client_close(c);
  fprintf(stderr, "http_idle_flood: %d half heads sent in %lu ms; a first GET answered in "
                  "%lu ms, the timed one in %lu ms\n",
          FLOOD, (unsigned long)flood_ms, (unsigned long)first_ms, (unsigned long)took);
  ck_assert_msg(took < 1000, "GET answered after %lu ms with %d half heads waiting",
                (unsigned long)took, FLOOD);
  ck_assert_ptr_nonnull(strstr(resp.body, "Hello from cosock"));

  assert_all_waiting(FLOOD);  /* none was refused, none timed out yet */
  close_held(FLOOD);
  stop(srv);
}
END_TEST

/* At the cap a new connection is not left waiting: it gets "503 Service
 * Unavailable" with Retry-After at once, then the end of stream; once a
 * slot is free again, a new connection is served. */
START_TEST(http_cap_503_at_once)
{
  unsigned short port;
  client_t *c;
  ULONGLONG t0, took;
  DWORD ms = 2000;
  int i, tries;
  ex_proc_t *srv = start("--port 0 --max-connections 10 --header-timeout-ms 60000 --verbose",
                         &port);

  /* Ten connections take the ten slots. Each is answered once, which proves
   * the server accepted it and it holds a permit (a keep-alive connection
   * keeps it), then sends half a head and nothing more. */
  for (i = 0; i < CAP; i++) {
    c = client_open(0, port);
    exchange(c, GET_ROOT, 200);
    client_send(c, HALF_HEAD);
    held[i] = c->s;  /* kept open; clients[0] is reused */
    c->s = INVALID_SOCKET;
  }

  /* The eleventh: a 503 within the 2 s receive timeout, not a wait. */
  t0 = GetTickCount64();
  c = client_open(1, port);
  setsockopt(c->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  client_send(c, GET_ROOT);
  read_response(c, 0);
  took = GetTickCount64() - t0;
  ck_assert_msg(resp.status == 503, "status %d at the cap; response:\n%s", resp.status, resp.head);
  ck_assert_msg(strstr(resp.head, "\r\nRetry-After: 1\r\n") != NULL, "no Retry-After in\n%s",
                resp.head);
  ck_assert_msg(resp.close, "no Connection: close in\n%s", resp.head);
  ck_assert_int_gt(resp.body_len, 0);
  assert_closed(c);
  client_close(c);
  fprintf(stderr, "http_cap_503: 503 at the cap after %lu ms\n", (unsigned long)took);
  assert_all_waiting(CAP);  /* the ten still hold their slots */

  /* One of the ten leaves; its permit comes back when the server has seen
   * it go, so a new client may still be told 503 meanwhile: it retries, as
   * Retry-After says (sooner here), and is served within a few tries. */
  closesocket(held[0]);
  held[0] = INVALID_SOCKET;
  for (tries = 1;; tries++) {
    c = client_open(1, port);
    client_send(c, GET_ROOT);
    read_response(c, 0);
    if (resp.status == 200)
      break;
    ck_assert_msg(resp.status == 503 && tries < 50, "try %d: status %d; response:\n%s", tries,
                  resp.status, resp.head);
    client_close(c);
    Sleep(100);
  }
  client_close(c);
  fprintf(stderr, "http_cap_503: 200 after one of the ten closed, on try %d\n", tries);

  close_held(CAP);
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
  tc = tcase_create("http_idle_flood_does_not_lock_out");
  tcase_add_test(tc, http_idle_flood_does_not_lock_out);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_cap_503_at_once");
  tcase_add_test(tc, http_cap_503_at_once);
  suite_add_tcase(s, tc);
  tc = tcase_create("http_stop_with_open_connections");
  tcase_add_test(tc, http_stop_with_open_connections);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * http_server.c - an HTTP/1.1 server: keep-alive, pipelining, a fixed page
 * at "/" and an "/echo" endpoint that sends back the request's body.
 *
 * What it teaches: a real protocol on cosock, written as one task per
 * connection that reads like the protocol itself (wait for a request, read
 * its head, read its body, answer, repeat), with the defences a server on a
 * network needs and how each maps onto the library:
 *   - everything the peer sends is parsed by a bounded parser of its own
 *     (http_parser.c: no socket in it, fuzzed natively) and every limit is
 *     ours: 400 malformed, 414/431 head too large, 413 body too large;
 *   - slow clients meet deadlines that span several awaits
 *     (sock_deadline_set): a request's head must arrive within
 *     --header-timeout-ms of its first byte (else 408), its body within
 *     --body-timeout-ms, and an idle keep-alive connection is closed after
 *     --idle-timeout-ms;
 *   - a waiting connection costs little: waiting for a request (its first
 *     bytes, the next one on a keep-alive connection, or the rest of a head
 *     that came in pieces) it awaits a zero-byte receive
 *     (sock_wait_readable_start), so no receive is pending into a buffer; its
 *     input buffer is allocated when bytes arrive, 1 KiB first, doubled up to
 *     --max-head only as a head needs it, and freed between requests.
 *     Measured 2026-11-30 (Release build, Wine 8.0, Debian 12, 2-core VM;
 *     private bytes of the server process, /proc/PID/smaps_rollup
 *     Private_Clean + Private_Dirty, before and after 10,000 loopback
 *     connections from a native client, settled): 3.3 KB per connection that
 *     sent half a head ("GET / HTTP/1.1\r\nHost: x\r\n"), 2.3 KB per
 *     connection that sent nothing, plus 1.2 KB each in the wineserver. With
 *     a --max-head buffer per half-sent head it was 10.5 KB. Hence the
 *     default cap of 10,000 connections: about 45 MB in all when every one
 *     of them is a slow client. (Each also takes a descriptor in the server
 *     and one in the wineserver: under Wine, ulimit -n above 10,000; when
 *     accepts fail for want of them, the accept loop pauses ACCEPT_RETRY_MS
 *     between tries rather than spinning.)
 *   - at most --max-connections connections are served at once (a
 *     semaphore of permits, sock_sem_t). The accept loop accepts every
 *     connection and then takes a permit without waiting
 *     (sock_sem_try_acquire). At the cap: 503 with Retry-After, the
 *     connection is closed: the server answers "503 Service Unavailable"
 *     with "Retry-After: 1" and "Connection: close" and closes politely, all
 *     within REFUSE_MS (1 s), so a client that reads nothing cannot keep the
 *     socket. (It used to take the permit *before* accepting, so connections
 *     over the cap waited unserved in the backlog; with a cap of 256, 1,000
 *     clients that sent half a head and then nothing held every permit until
 *     their header deadlines, and a normal curl GET timed out after 30 s. A
 *     503 at once tells the client where it stands, costs one short task,
 *     and keeps the backlog moving.)
 *   - CO_CALL splits the connection into steps (read the head, read the
 *     body, close gracefully), each a child task that can wait;
 *   - pipelining comes free: bytes after one request stay in the input
 *     buffer and are the start of the next, answered in order;
 *   - closing politely: after a response with "Connection: close" the server
 *     shuts down its sending side and reads (and drops) what the client
 *     still sends for a moment, because closing a socket with unread input
 *     makes TCP send a reset that can destroy the response in flight.
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target http_server
 *     cmake/wine-run.sh build/mingw/examples/http_server.exe --port 8080
 * then, from another terminal:
 *     curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/   # one connection
 *     curl -d 'hello' http://127.0.0.1:8080/echo
 * Run with --help for every flag (the limits and deadlines are flags, so
 * the end-to-end tests can make them small). The first line on stdout is
 * "listening on H:P"; it exits 0 after a clean stop.
 */
#include "cli.h"
#include "http_parser.h"

#include <stddef.h>

/* ---- Settings ---------------------------------------------------------------- */

static struct {
  http_limits_t limits;             /* the parser's limits */
  unsigned long max_head;           /* --max-head (copied into limits) */
  unsigned long max_headers;        /* --max-headers */
  unsigned long max_body;           /* --max-body */
  unsigned long header_timeout_ms;  /* first byte of a request to its empty line */
  unsigned long body_timeout_ms;    /* end of the head to the end of the body */
  unsigned long idle_timeout_ms;    /* keep-alive: between two requests */
  unsigned long send_timeout_ms;    /* writing one response */
  unsigned long linger_ms;          /* reading leftovers before closing */
  unsigned long max_connections;    /* served at once */
  int           verbose;
} cfg = {
  {0, 0, 0, 0}, 8192, 100, 1024 * 1024, 10000, 30000, 15000, 30000, 2000, 10000, 0
};

enum {
  INPUT_FIRST_SIZE = 1024,  /* an input buffer's first size (most heads fit) */
  REFUSE_MS = 1000,         /* at the cap: the 503, sent and the socket drained, within this */
  REFUSE_DRAIN = 16384,     /* ... and at most this many of the client's bytes dropped */
  ACCEPT_RETRY_MS = 100     /* after a failed accept (out of sockets?): pause, not spin */
};

static const char home_page[] =
  "<!doctype html>\n"
  "<html><head><title>cosock</title></head><body>\n"
  "<h1>Hello from cosock</h1>\n"
  "<p>Served by a stackless task on the Win32 thread pool.\n"
  "POST a body to <code>/echo</code> and it comes back.</p>\n"
  "</body></html>\n";

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* What a request asks for, decided from its head. */
enum {
  ROUTE_HOME,              /* GET or HEAD / */
  ROUTE_HOME_NOT_ALLOWED,  /* another method on / (405) */
  ROUTE_ECHO,              /* POST or PUT /echo */
  ROUTE_ECHO_NOT_ALLOWED,  /* another method on /echo (405) */
  ROUTE_NOT_FOUND          /* anything else (404) */
};

/* ---- One connection ------------------------------------------------------------- */

typedef struct conn conn_t;

/* A step of the connection run with CO_CALL: a child task that can wait. */
typedef struct part {
  co_task_t task;   /* first: the child's coroutine */
  conn_t   *c;      /* the connection it works for */
} part_t;

struct conn {
  sock_task_t    task;         /* first: the runtime's part of the task */
  part_t         part;         /* a step run with CO_CALL (read a request, close) */
  part_t         sub;          /* a step of that step (read the head, the body) */
  sock_t        *sock;         /* the connection: this task owns it */
  sock_op_t      op;           /* the record of the one await in flight */
  char           peer[64];     /* "127.0.0.1:50123", for logs */

  char          *in;           /* received bytes not used yet (NULL while idle) */
  size_t         in_len;       /* bytes in it */
  size_t         in_cap;       /* its size: INPUT_FIRST_SIZE, doubled up to --max-head */

  http_request_t req;          /* the request being served */
  int            verdict;      /* 0, or the error status to answer */
  int            route;        /* what the request asked for (ROUTE_...) */
  int            is_head;      /* a HEAD request: no body in the response */
  int            keep_alive;   /* serve another request after this one */
  http_chunked_t chunked;      /* the body decoder's state */
  char          *body;         /* the request's body (NULL if none) */
  size_t         body_len, body_cap;
  size_t         lingered;     /* bytes dropped while closing */

  char           head[512];    /* the response's status line and fields */
  WSABUF         out[2];       /* head + body, sent with one gathering send */
};

static struct {
  sock_runtime_t *rt;
  sock_sem_t      slots;       /* permits: --max-connections */
  volatile LONG   requests;    /* statistics, printed with --verbose */
  volatile LONG   errors;
  volatile LONG   refused;     /* answered 503 at the cap */
  char            busy[320];   /* that 503, whole (made in main) */
  size_t          busy_len;
} g;

static void log_conn(conn_t *c, const char *step)
{
  char what[128];
  InterlockedIncrement(&g.errors);
  snprintf(what, sizeof what, "%s: %s", c->peer, step);
  cli_log_op(what, &c->op);
}

/* ---- The input buffer: only while a request is in progress ------------------- */

/* Makes the buffer at least `size` bytes (at most --max-head), keeping its
 * bytes. It starts small and grows as a head needs it: a connection that
 * sent a few bytes of a head holds a small buffer, not --max-head bytes. */
static int input_reserve(conn_t *c, size_t size)
{
  char *grown;
  if (size > cfg.max_head)
    size = cfg.max_head;
  if (c->in != NULL && c->in_cap >= size)
    return 1;
  grown = (char *)realloc(c->in, size);
  if (grown == NULL)
    return 0;
  c->in = grown;
  c->in_cap = size;
  return 1;
}

static void input_free(conn_t *c)
{
  free(c->in);
  c->in = NULL;
  c->in_len = c->in_cap = 0;
}

/* Drops the first n bytes of the input (used up), keeping what follows. */
static void input_consume(conn_t *c, size_t n)
{
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
}

/* Appends n bytes to the body, growing it geometrically. The decoder has
 * already checked the total against --max-body. */
static int body_append(conn_t *c, const char *data, size_t n)
{
  if (c->body_len + n > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 4096;
    char *grown;
    while (cap < c->body_len + n)
      cap *= 2;
    grown = (char *)realloc(c->body, cap);
    if (grown == NULL)
      return 0;
    c->body = grown;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, data, n);
  c->body_len += n;
  return 1;
}

static void body_free(conn_t *c)
{
  free(c->body);
  c->body = NULL;
  c->body_len = c->body_cap = 0;
}

/* ---- Step 1: read until the head is complete (CO_CALL child) ------------------- */

/* Exits with CO_OK (c->verdict: 0, or an error status such as 400 or 408),
 * or with a negative error when the connection is gone. */
static co_state_t read_head_step(co_task_t *t)
{
  conn_t *c = ((part_t *)t)->c;
  int rc;
  CO_BEGIN(t);
  for (;;) {
    /* Parse what we have from the start: the head is small, so parsing it
     * again costs little and the parser keeps no state. */
    rc = http_parse_head(c->in, c->in_len, &cfg.limits, &c->req);
    if (rc != HTTP_INCOMPLETE) {
      c->verdict = rc == HTTP_COMPLETE ? 0 : rc;
      CO_EXIT(t, CO_OK);
    }
    if (c->in_len > 0) {
      /* Part of a head, and the rest still to come (maybe never: a slow
       * client). Wait for it with a zero-byte receive, as an idle connection
       * does: no receive is pending into the buffer meanwhile. (With nothing
       * buffered we come from that wait already: the bytes are there.) */
      CO_AWAIT(t, sock_wait_readable_start(&c->op, c->sock, t));
      if (c->op.error == CO_ETIMEDOUT) {
        c->verdict = 408;  /* the header deadline passed */
        CO_EXIT(t, CO_OK);
      }
      if (c->op.error < 0)
        CO_EXIT(t, c->op.error);
    }
    /* Full: double it. The parser answers 431 before --max-head bytes are
     * in, so the buffer never needs more. */
    if (c->in_len == c->in_cap && !input_reserve(c, 2 * c->in_cap))
      CO_EXIT(t, CO_ENOMEM);
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->in + c->in_len, c->in_cap - c->in_len, t));
    if (c->op.error == CO_ETIMEDOUT) {
      c->verdict = 408;  /* the header deadline passed */
      CO_EXIT(t, CO_OK);
    }
    if (c->op.error < 0)
      CO_EXIT(t, c->op.error);
    c->in_len += c->op.bytes;
  }
  CO_END(t);
}

/* ---- Step 2: read the body (CO_CALL child) -------------------------------------- */

/* The input holds the start of a chunked body: decode all of it in place,
 * move the data to the body and drop the bytes used. Returns HTTP_COMPLETE,
 * HTTP_INCOMPLETE, an error status, or -1 out of memory. */
static int decode_input(conn_t *c)
{
  size_t used, data;
  int rc = http_chunked_decode(&c->chunked, c->in, c->in_len, &used, &data);
  if (!body_append(c, c->in, data))
    return -1;
  input_consume(c, used);
  return rc;
}

/* The body of a Content-Length request: what is already buffered, then the
 * rest received straight into the body. */
static co_state_t read_sized_body_step(co_task_t *t)
{
  conn_t *c = ((part_t *)t)->c;
  size_t have;
  CO_BEGIN(t);
  if (c->req.content_length == 0)
    CO_EXIT(t, CO_OK);  /* no body (a GET, usually): nothing to allocate */
  c->body_cap = (size_t)c->req.content_length;  /* <= --max-body: the parser said so */
  c->body = (char *)malloc(c->body_cap);
  if (c->body == NULL)
    CO_EXIT(t, CO_ENOMEM);
  have = c->in_len < c->body_cap ? c->in_len : c->body_cap;
  memcpy(c->body, c->in, have);
  c->body_len = have;
  input_consume(c, have);  /* what is left is the next request's start */
  if (c->body_len < c->body_cap) {
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->body + c->body_len,
                                        c->body_cap - c->body_len, t));
    if (c->op.error == CO_ETIMEDOUT) {
      c->verdict = 408;  /* the body deadline passed */
      CO_EXIT(t, CO_OK);
    }
    if (c->op.error < 0)
      CO_EXIT(t, c->op.error);
    c->body_len = c->body_cap;
  }
  CO_END(t);
}

static co_state_t read_chunked_body_step(co_task_t *t)
{
  conn_t *c = ((part_t *)t)->c;
  int rc;
  CO_BEGIN(t);
  if (!input_reserve(c, cfg.max_head))  /* a body is coming: receive in big pieces */
    CO_EXIT(t, CO_ENOMEM);
  http_chunked_init(&c->chunked, cfg.max_body, cfg.max_head);
  for (;;) {
    rc = decode_input(c);
    if (rc < 0)
      CO_EXIT(t, CO_ENOMEM);
    if (rc != HTTP_INCOMPLETE) {
      c->verdict = rc == HTTP_COMPLETE ? 0 : rc;
      CO_EXIT(t, CO_OK);
    }
    /* The decoder used up all the input: receive more into the buffer. */
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->in, c->in_cap, t));
    if (c->op.error == CO_ETIMEDOUT) {
      c->verdict = 408;
      CO_EXIT(t, CO_OK);
    }
    if (c->op.error < 0)
      CO_EXIT(t, c->op.error);
    c->in_len = c->op.bytes;
  }
  CO_END(t);
}

/* ---- Step 3: close politely (CO_CALL child) -------------------------------------- */

/* The response is sent: say we are done sending (the client sees end of
 * stream after it), then drop what the client still sends, for at most
 * --linger-ms and 64 KiB, until it closes its side too. */
static co_state_t linger_close_step(co_task_t *t)
{
  conn_t *c = ((part_t *)t)->c;
  CO_BEGIN(t);
  if (sock_shutdown_send(c->sock) != CO_OK || !input_reserve(c, INPUT_FIRST_SIZE))
    CO_EXIT(t, CO_OK);
  sock_deadline_set(&c->task, cfg.linger_ms);
  for (c->lingered = 0; c->lingered < 65536; c->lingered += c->op.bytes) {
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->in, c->in_cap, t));
    if (c->op.error < 0)
      break;  /* CO_EOF (the usual end), the deadline, or a reset: all fine */
  }
  CO_END(t);
}

/* ---- Answering ------------------------------------------------------------------ */

/* "Date: Tue, 15 Nov 1994 08:12:31 GMT" (RFC 9110 section 5.6.7). */
static void format_date(char *buf, size_t size)
{
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  SYSTEMTIME now;
  GetSystemTime(&now);
  snprintf(buf, size, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[now.wDayOfWeek % 7],
           (unsigned)now.wDay, months[(now.wMonth + 11) % 12], (unsigned)now.wYear,
           (unsigned)now.wHour, (unsigned)now.wMinute, (unsigned)now.wSecond);
}

/* Fills c->head and c->out for a response with this status and body. */
static void respond(conn_t *c, int status, const char *type, const char *extra,
                    const char *body, size_t body_len)
{
  char date[40];
  const char *connection = "";
  if (!c->keep_alive)
    connection = "Connection: close\r\n";
  else if (c->req.minor_version == 0)
    connection = "Connection: keep-alive\r\n";  /* HTTP/1.0 closes unless told */
  format_date(date, sizeof date);
  snprintf(c->head, sizeof c->head,
           "HTTP/1.1 %d %s\r\nServer: cosock-http_server\r\nDate: %s\r\n"
           "Content-Type: %s\r\nContent-Length: %lu\r\n%s%s\r\n",
           status, http_reason(status), date, type, (unsigned long)body_len, extra,
           connection);
  c->out[0].buf = c->head;
  c->out[0].len = (ULONG)strlen(c->head);
  c->out[1].buf = (char *)body;  /* a send only reads it */
  c->out[1].len = c->is_head ? 0 : (ULONG)body_len;  /* HEAD: the length, no body */
}

/* A status without content of its own: its reason phrase is the body. */
static void respond_status(conn_t *c, int status, const char *extra)
{
  const char *text = http_reason(status);  /* static: outlives the send */
  respond(c, status, "text/plain", extra, text, strlen(text));
}

static int method_is(const http_request_t *req, const char *m)
{
  /* Methods are case-sensitive (RFC 9110 section 9.1). */
  return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

/* Whether the target's path (before any '?') is `path`. */
static int path_is(const http_request_t *req, const char *path)
{
  size_t n = 0;
  while (n < req->target_len && req->target[n] != '?')
    n++;
  return n == strlen(path) && memcmp(req->target, path, n) == 0;
}

/* Decides the answer while the head is still in the input buffer (the
 * method and target point into it); the body is read after. */
static void route(conn_t *c)
{
  const http_request_t *req = &c->req;
  c->is_head = method_is(req, "HEAD");
  if (path_is(req, "/"))
    c->route = (method_is(req, "GET") || c->is_head) ? ROUTE_HOME : ROUTE_HOME_NOT_ALLOWED;
  else if (path_is(req, "/echo"))
    c->route = (method_is(req, "POST") || method_is(req, "PUT")) ? ROUTE_ECHO
                                                                 : ROUTE_ECHO_NOT_ALLOWED;
  else
    c->route = ROUTE_NOT_FOUND;
}

/* Prepares the response: an error verdict, or the route's answer. */
static void answer(conn_t *c)
{
  InterlockedIncrement(&g.requests);
  if (c->verdict != 0) {
    /* After an error we may not know where the next request would start:
     * answer, then close. */
    char what[96];
    snprintf(what, sizeof what, "%s: answered %d %s", c->peer, c->verdict,
             http_reason(c->verdict));
    fprintf(stderr, "http_server: %s\n", what);
    c->keep_alive = 0;
    c->is_head = 0;
    respond_status(c, c->verdict, "");
    return;
  }
  if (c->route == ROUTE_HOME)
    respond(c, 200, "text/html; charset=utf-8", "", home_page, sizeof home_page - 1);
  else if (c->route == ROUTE_ECHO)
    respond(c, 200, "application/octet-stream", "", c->body, c->body_len);
  else if (c->route == ROUTE_HOME_NOT_ALLOWED)
    respond_status(c, 405, "Allow: GET, HEAD\r\n");
  else if (c->route == ROUTE_ECHO_NOT_ALLOWED)
    respond_status(c, 405, "Allow: POST, PUT\r\n");
  else
    respond_status(c, 404, "");
}

/* ---- The connection task -------------------------------------------------------- */

/* Whether what ended the connection is worth a log line: the client leaving,
 * our own stop and an idle timeout are normal endings. */
static int worth_logging(int error)
{
  return error < 0 && error != CO_EOF && error != CO_ECANCELED && error != CO_ETIMEDOUT;
}

/* Steps 1 and 2: the head (within --header-timeout-ms of the request's first
 * byte), then the body (within --body-timeout-ms). Exits with CO_OK and
 * c->verdict, or a negative error when the connection is gone. */
static co_state_t read_request_step(co_task_t *t)
{
  conn_t *c = ((part_t *)t)->c;
  CO_BEGIN(t);
  sock_deadline_set(&c->task, cfg.header_timeout_ms);
  CO_CALL(t, &c->sub.task, read_head_step);
  if (co_status(&c->sub.task) < 0 || c->verdict != 0)
    CO_EXIT(t, co_status(&c->sub.task));

  route(c);
  c->keep_alive = c->req.keep_alive;
  input_consume(c, c->req.head_len);  /* the head is used up: the body follows */
  if (c->req.expect_continue && (c->req.chunked || c->req.content_length > 0)) {
    /* The client waits for this before it sends the body. */
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, continue_line, strlen(continue_line), t));
    if (c->op.error < 0)
      CO_EXIT(t, c->op.error);
  }
  sock_deadline_set(&c->task, cfg.body_timeout_ms);
  if (c->req.chunked)
    CO_CALL(t, &c->sub.task, read_chunked_body_step);
  else
    CO_CALL(t, &c->sub.task, read_sized_body_step);
  CO_EXIT(t, co_status(&c->sub.task));
  CO_END(t);
}

static co_state_t conn_step(co_task_t *t)
{
  conn_t *c = (conn_t *)t;
  CO_BEGIN(t);
  for (;;) {
    /* Idle: wait for the next request holding no buffer. The bytes of a
     * pipelined request already buffered skip this wait. */
    if (c->in_len == 0) {
      input_free(c);
      sock_deadline_set(&c->task, cfg.idle_timeout_ms);
      CO_AWAIT(t, sock_wait_readable_start(&c->op, c->sock, t));
      if (c->op.error < 0)
        break;  /* idle too long (closed quietly), or our stop */
      if (!input_reserve(c, INPUT_FIRST_SIZE)) {
        c->op.error = CO_ENOMEM;
        break;
      }
    }

    c->verdict = 0;
    CO_CALL(t, &c->part.task, read_request_step);
    if (co_status(&c->part.task) < 0) {
      c->op.error = (short)co_status(&c->part.task);
      break;  /* the client left mid-request, a reset, our stop */
    }

    /* Answer, within --send-timeout-ms (this also lifts an expired header
     * deadline, so that a 408 can still be sent). */
    answer(c);
    sock_deadline_set(&c->task, cfg.send_timeout_ms);
    CO_AWAIT(t, sock_sendv_start(&c->op, c->sock, c->out, 2, t));
    body_free(c);
    if (c->op.error < 0)
      break;
    if (!c->keep_alive) {
      CO_CALL(t, &c->part.task, linger_close_step);
      c->op.error = CO_OK;
      break;
    }
  }
  /* The cleanup idiom: one way out, where the task releases what it owns
   * (the buffers are freed by the completion hook). */
  if (worth_logging(c->op.error))
    log_conn(c, "connection");
  sock_close(c->sock);
  CO_END(t);
}

/* The completion hook: runs once, after the task's last step. */
static void conn_done(co_task_t *t)
{
  conn_t *c = (conn_t *)t;
  input_free(c);
  body_free(c);
  free(c);
  sock_sem_release(&g.slots);  /* last: the permit is free for a new connection */
}

/* ---- At the cap: 503 and close --------------------------------------------------- */

/* A connection refused at the cap: it is told so, then closed. */
typedef struct refusal {
  sock_task_t task;        /* first */
  sock_t     *sock;        /* owned: closed when the task ends */
  sock_op_t   op;
  size_t      dropped;     /* bytes of the client's request dropped */
  char        drop[256];   /* where they go */
} refusal_t;

/* Sends g.busy (the 503, "Connection: close"), then closes politely as
 * linger_close_step does: shut down the sending side and drop what the
 * client sent, until it closes too. All of it within REFUSE_MS: a client
 * that reads nothing, or never closes, cannot keep the socket. */
static co_state_t refusal_step(co_task_t *t)
{
  refusal_t *r = (refusal_t *)t;
  CO_BEGIN(t);
  if (sock_deadline_set(&r->task, REFUSE_MS) == CO_OK) {
    CO_AWAIT(t, sock_send_all_start(&r->op, r->sock, g.busy, g.busy_len, t));
    if (r->op.error == CO_OK && sock_shutdown_send(r->sock) == CO_OK) {
      for (r->dropped = 0; r->dropped < REFUSE_DRAIN; r->dropped += r->op.bytes) {
        CO_AWAIT(t, sock_recv_start(&r->op, r->sock, r->drop, sizeof r->drop, t));
        if (r->op.error < 0)
          break;  /* CO_EOF (the client closed), the deadline, a reset, our stop */
      }
    }
  }
  sock_close(r->sock);
  CO_END(t);
}

static void refusal_done(co_task_t *t)
{
  free(t);
}

/* Refuses the connection just accepted (no permit was free). */
static void refuse(sock_accept_t *acc)
{
  refusal_t *r = (refusal_t *)calloc(1, sizeof *r);
  if (r == NULL) {
    sock_close(acc->sock);  /* no memory for a goodbye either */
    return;
  }
  InterlockedIncrement(&g.refused);
  r->sock = acc->sock;
  sock_spawn(g.rt, &r->task, refusal_step, refusal_done);
}

/* Builds the 503 once, before the server starts. No Date field: RFC 9110
 * section 6.6.1 asks for one in 2xx to 4xx responses, and lets a 5xx go
 * without, so the text never changes. */
static void busy_init(void)
{
  static const char body[] = "Too many connections: retry in a second.\n";
  int n = snprintf(g.busy, sizeof g.busy,
                   "HTTP/1.1 503 Service Unavailable\r\nServer: cosock-http_server\r\n"
                   "Retry-After: 1\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %u\r\n\r\n%s",
                   (unsigned)(sizeof body - 1), body);
  g.busy_len = n > 0 && (size_t)n < sizeof g.busy ? (size_t)n : 0;
}

/* ---- The accept loop ------------------------------------------------------------- */

typedef struct server {
  sock_task_t   task;      /* first */
  sock_t       *listener;  /* owned by this task: it closes it when it ends */
  sock_op_t     op;
  sock_accept_t acc;       /* what the accept delivers */
} server_t;

static server_t server;    /* static: a pending accept points into it */

/* A new connection's task, or NULL (then the socket is closed here). */
static conn_t *conn_new(sock_accept_t *acc)
{
  conn_t *c = (conn_t *)calloc(1, sizeof *c);
  if (c == NULL) {
    cli_log_error("accept", CO_ENOMEM, 0);
    sock_close(acc->sock);
    return NULL;
  }
  c->sock = acc->sock;
  c->part.c = c;
  c->sub.c = c;
  sock_addr_format(&acc->peer, c->peer, sizeof c->peer);
  return c;
}

static co_state_t server_step(co_task_t *t)
{
  server_t *s = (server_t *)t;
  conn_t *c;               /* a local: used only between two awaits */
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
    if (s->op.error == CO_ECANCELED)
      break;               /* stop: main cancelled us */
    if (s->op.error < 0) {
      cli_log_op("accept", &s->op);
      if (s->op.error != CO_ECONNRESET && s->op.error != CO_ECONNABORTED) {
        /* Not one client's reset before we accepted (then: go on at once)
         * but the process out of sockets or memory: retrying at once would
         * spin, so give the connections that hold them a moment. */
        CO_AWAIT(t, sock_sleep_start(&s->op, ACCEPT_RETRY_MS, &s->task));
        if (s->op.error == CO_ECANCELED)
          break;
      }
      continue;
    }
    /* A permit without waiting: at the cap, a 503 at once (the client learns
     * where it stands) rather than a wait in the backlog behind connections
     * that may hold their permits for as long as their deadlines allow. */
    if (sock_sem_try_acquire(&g.slots) != CO_OK) {
      refuse(&s->acc);
      continue;
    }
    c = conn_new(&s->acc);
    if (c == NULL) {
      sock_sem_release(&g.slots);
      continue;
    }
    /* Runs the connection's first step here, up to its first await. (During
     * a stop the task starts cancelled: its first await fails, it closes its
     * socket and its hook frees it and gives the permit back.) */
    sock_spawn(g.rt, &c->task, conn_step, conn_done);
  }
  sock_close(s->listener);
  CO_END(t);
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0;
  int no_stdin = 0, clean;
  sock_counters_t counters;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all)", &host, 0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--max-connections", CLI_NUMBER, "N",
     "connections served at once (default 10000); at the cap: 503 with Retry-After, "
     "the connection is closed", &cfg.max_connections, 1, 100000},
    {"--max-head", CLI_NUMBER, "BYTES",
     "request line + header fields; the input buffer grows up to it (default 8192; more: 431)",
     &cfg.max_head, 256, 1 << 20},
    {"--max-headers", CLI_NUMBER, "N", "header fields per request (default 100; more: 431)",
     &cfg.max_headers, 1, 10000},
    {"--max-body", CLI_NUMBER, "BYTES", "request body after decoding (default 1048576; more: 413)",
     &cfg.max_body, 0, 1UL << 30},
    {"--header-timeout-ms", CLI_NUMBER, "MS",
     "from a request's first byte to the end of its head (default 10000; then 408)",
     &cfg.header_timeout_ms, 1, 3600000},
    {"--body-timeout-ms", CLI_NUMBER, "MS", "from the end of the head to the end of the body "
     "(default 30000; then 408)", &cfg.body_timeout_ms, 1, 3600000},
    {"--idle-timeout-ms", CLI_NUMBER, "MS",
     "an idle keep-alive connection is closed after this (default 15000)",
     &cfg.idle_timeout_ms, 1, 3600000},
    {"--send-timeout-ms", CLI_NUMBER, "MS", "to send one response (default 30000)",
     &cfg.send_timeout_ms, 1, 3600000},
    {"--linger-ms", CLI_NUMBER, "MS",
     "after a last response, how long to drain the client before closing (default 2000)",
     &cfg.linger_ms, 1, 60000},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &cfg.verbose, 0, 0},
  };

  cli_parse(argc, argv, "http_server",
            "An HTTP/1.1 server: a page at /, POST or PUT a body to /echo and it comes back.\n"
            "Keep-alive, pipelining, chunked bodies. Stops on Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  cfg.limits.max_head = cfg.max_head;
  cfg.limits.max_headers = cfg.max_headers;
  cfg.limits.max_target = cfg.max_head;  /* the head's limit bounds it (then 414) */
  cfg.limits.max_body = cfg.max_body;
  sock_sem_init(&g.slots, (long)cfg.max_connections);
  busy_init();
  if (!cli_stop_init(!no_stdin))
    return 1;

  if (!cli_server_start(host, port, &g.rt, &server.listener))
    return 1;

  sock_spawn(g.rt, &server.task, server_step, NULL);

  cli_wait_stop(INFINITE);

  /* Stop: the runtime cancels every live task, the accept loop (which
   * closes its listener) and the connections; each sees CO_ECANCELED at its
   * await, closes its socket and is freed. A connection the accept loop
   * spawns meanwhile starts cancelled. Then wait until every hook has run. */
  clean = cli_server_stop(g.rt, NULL, &counters);
  if (cfg.verbose || !clean)
    fprintf(stderr,
            "http_server: %ld requests answered, %ld connections refused (503), %ld connection "
            "errors; counters at stop: %ld sockets, %ld tasks, %ld pending operations\n",
            (long)g.requests, (long)g.refused, (long)g.errors, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(g.rt);
  cli_stop_exiting();
  return clean ? 0 : 1;
}

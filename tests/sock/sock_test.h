/*
 * tests/sock/sock_test.h - what every sock/ test shares.
 *
 * - A runtime per test: test_runtime_start() / test_runtime_stop().
 * - Tasks the test thread can wait for: a test_task_t begins with a
 *   sock_task_t and carries a Win32 event that its completion hook sets;
 *   test_wait() waits for it with a timeout and fails the test if it expires.
 * - test_wait_counters(): poll the runtime's live counters until they reach the
 *   expected values (a socket is freed after its last completion has run,
 *   which may be a moment after the task that closed it finished).
 * - The "other side" of a connection as a plain blocking Winsock socket.
 *
 * The tests run without fork (Windows): a failed assertion longjmps out of
 * the test function. So everything a pending operation points at (task
 * structs, operation records, buffers) is static or on the heap, never on a
 * test function's stack.
 */
#ifndef TESTS_SOCK_SOCK_TEST_H
#define TESTS_SOCK_SOCK_TEST_H

#include <check.h>
#include <sock/sock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TEST_WAIT_MS = 10000 };  /* how long a test waits for one task */

/* ---- Tasks the test thread waits for ------------------------------------- */

typedef struct test_task {
  sock_task_t st;      /* first: the runtime's part (and the co_task_t) */
  HANDLE      done;    /* manual-reset event, set by the completion hook */
} test_task_t;

static inline void test_task_done(co_task_t *t)
{
  SetEvent(((test_task_t *)t)->done);
}

/* Spawns a test task: `tt` must be the first member of the task's struct. */
static inline void test_spawn(sock_runtime_t *rt, test_task_t *tt, co_step_fn step)
{
  if (tt->done == NULL)
    tt->done = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(tt->done);
  ResetEvent(tt->done);
  sock_spawn(rt, &tt->st, step, test_task_done);
}

/* Waits until the task has finished; fails the test after `ms`. */
static inline void test_wait(test_task_t *tt, DWORD ms)
{
  ck_assert_msg(WaitForSingleObject(tt->done, ms) == WAIT_OBJECT_0,
                "task did not finish within %lu ms", (unsigned long)ms);
}

/* Whether the task has finished, without waiting. */
static inline int test_finished(test_task_t *tt)
{
  return WaitForSingleObject(tt->done, 0) == WAIT_OBJECT_0;
}

static inline void test_task_free_event(test_task_t *tt)
{
  if (tt->done != NULL)
    CloseHandle(tt->done);
  tt->done = NULL;
}

/* ---- The runtime and its counters ----------------------------------------- */

static inline sock_runtime_t *test_runtime_start(void)
{
  sock_runtime_t *rt = NULL;
  WSADATA wsa;
  /* Our own Winsock reference, for the plain sockets of the "other side":
   * they may outlive the runtime's. */
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  ck_assert_int_eq(sock_runtime_create(&rt, NULL), CO_OK);
  ck_assert_ptr_nonnull(rt);
  return rt;
}

static inline void test_runtime_stop(sock_runtime_t *rt)
{
  sock_runtime_shutdown(rt);
  WSACleanup();
}

/* Polls the counters until they equal the expected values or `ms` passed.
 * Returns 1 if they did; *last receives the last snapshot either way. */
static inline int test_poll_counters(sock_runtime_t *rt, long sockets, long tasks,
                                     long pending_ops, DWORD ms, sock_counters_t *last)
{
  DWORD start = GetTickCount();
  for (;;) {
    sock_runtime_counters(rt, last);
    if (last->sockets == sockets && last->tasks == tasks &&
        last->pending_ops == pending_ops)
      return 1;
    if (GetTickCount() - start > ms)
      return 0;
    Sleep(5);
  }
}

/* Asserts that the counters reach the expected values within `ms`. */
static inline void test_wait_counters(sock_runtime_t *rt, long sockets, long tasks,
                                      long pending_ops, DWORD ms)
{
  sock_counters_t c;
  int ok = test_poll_counters(rt, sockets, tasks, pending_ops, ms, &c);
  ck_assert_msg(ok, "counters are sockets=%ld tasks=%ld pending_ops=%ld, "
                "expected %ld %ld %ld",
                c.sockets, c.tasks, c.pending_ops, sockets, tasks, pending_ops);
}

/* The port a listener is bound to. */
static inline unsigned short test_port(sock_t *listener)
{
  sock_addr_t a;
  ck_assert_int_eq(sock_local_addr(listener, &a), CO_OK);
  if (a.si_family == AF_INET6)
    return ntohs(a.Ipv6.sin6_port);
  return ntohs(a.Ipv4.sin_port);
}

/* ---- The other side: plain blocking Winsock sockets ---------------------- */

/* A blocking TCP socket connected to 127.0.0.1:port, with TCP_NODELAY so
 * that each small send leaves as its own segment. */
static inline SOCKET test_raw_connect(unsigned short port)
{
  struct sockaddr_in a;
  int one = 1;
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ck_assert_msg(s != INVALID_SOCKET, "socket: %d", WSAGetLastError());
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(s, (struct sockaddr *)&a, sizeof a) == 0,
                "connect: %d", WSAGetLastError());
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  return s;
}

/* A blocking listener on 127.0.0.1 (port 0: a free one); *port gets it. */
static inline SOCKET test_raw_listen(int backlog, unsigned short *port)
{
  struct sockaddr_in a;
  int len = sizeof a;
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ck_assert(s != INVALID_SOCKET);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(s, backlog), 0);
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return s;
}

/* Sends all of buf on a blocking socket. */
static inline void test_raw_send(SOCKET s, const char *buf, int len)
{
  while (len > 0) {
    int n = send(s, buf, len, 0);
    ck_assert_msg(n > 0, "send: %d", WSAGetLastError());
    buf += n;
    len -= n;
  }
}

/* Receives exactly len bytes on a blocking socket. */
static inline void test_raw_recv(SOCKET s, char *buf, int len)
{
  while (len > 0) {
    int n = recv(s, buf, len, 0);
    ck_assert_msg(n > 0, "recv: %d (error %d)", n, WSAGetLastError());
    buf += n;
    len -= n;
  }
}

/* Resets the connection: SO_LINGER {1, 0} then close sends an RST. */
static inline void test_raw_reset(SOCKET s)
{
  struct linger l;
  l.l_onoff = 1;
  l.l_linger = 0;
  ck_assert_int_eq(setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&l, sizeof l), 0);
  closesocket(s);
}

/* ---- A ping client on a thread of its own ------------------------------------ */

/* The other side of a busy connection: 1-byte messages, each echo awaited,
 * until `stop` is set; then it only reads until the connection ends. A
 * client that went quiet matters to cancel races: were it to keep sending,
 * a receive issued after a lost cancel would still complete (with the next
 * message) and hide the lost cancel. No Check asserts on this thread. */
typedef struct test_pinger {
  SOCKET        raw;     /* a blocking socket connected to the server */
  volatile LONG rounds;  /* echoes received */
  volatile LONG stop;    /* set: send no new message */
} test_pinger_t;

static inline DWORD WINAPI test_pinger_main(LPVOID arg)
{
  test_pinger_t *p = (test_pinger_t *)arg;
  char out = 'x', in;
  while (!InterlockedCompareExchange(&p->stop, 0, 0)) {
    if (send(p->raw, &out, 1, 0) != 1)
      return 0;
    if (recv(p->raw, &in, 1, 0) != 1)
      return 0;
    InterlockedIncrement(&p->rounds);
  }
  while (recv(p->raw, &in, 1, 0) > 0) {
  }
  return 0;
}

/* ---- A connection whose other side is a plain socket ---------------------- */

typedef struct test_acceptor {
  test_task_t   tt;
  sock_t       *listener;
  sock_op_t     op;
  sock_accept_t acc;
  int           error;
} test_acceptor_t;

static inline co_state_t test_acceptor_step(co_task_t *t)
{
  test_acceptor_t *a = (test_acceptor_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&a->op, a->listener, &a->acc, t));
  a->error = a->op.error;
  CO_END(t);
}

/* Connects a plain blocking socket (*raw) to a cosock listener and returns
 * the accepted cosock socket; the listener is closed again, and the counters
 * settle at one socket, nothing pending. */
static inline sock_t *test_pair(sock_runtime_t *rt, SOCKET *raw)
{
  static test_acceptor_t a;
  sock_t *listener = NULL;
  HANDLE done = a.tt.done;
  memset(&a, 0, sizeof a);
  a.tt.done = done;
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &listener), CO_OK);
  a.listener = listener;
  test_spawn(rt, &a.tt, test_acceptor_step);
  *raw = test_raw_connect(test_port(listener));
  test_wait(&a.tt, TEST_WAIT_MS);
  ck_assert_msg(a.error == CO_OK, "accept: %s (win32 %lu)", co_errname(a.error),
                a.op.win32_error);
  ck_assert_ptr_nonnull(a.acc.sock);
  sock_close(listener);
  test_wait_counters(rt, 1, 0, 0, 5000);
  return a.acc.sock;
}

/* ---- An echo server: an accept loop spawning one task per connection ------ */

typedef struct test_echo_server test_echo_server_t;

typedef struct test_echo_conn {
  sock_task_t         st;        /* first: the runtime's part */
  test_echo_server_t *server;
  sock_t             *sock;
  sock_op_t           op;
  char                buf[4096];
} test_echo_conn_t;

struct test_echo_server {
  test_task_t    tt;
  sock_t        *listener;       /* the test's: closing it ends the loop */
  sock_op_t      op;
  sock_accept_t  acc;
  volatile LONG  accepted;       /* connections accepted */
  volatile LONG  conns_finished; /* connection tasks that have ended */
  volatile LONG  steps;          /* steps of the server and its connections */
  int            error;          /* what ended the accept loop */
};

static inline co_state_t test_echo_conn_step(co_task_t *t)
{
  test_echo_conn_t *c = (test_echo_conn_t *)t;
  InterlockedIncrement(&c->server->steps);
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->buf, sizeof c->buf, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->buf, c->op.bytes, t));
    if (c->op.error < 0)
      break;
  }
  sock_close(c->sock);
  CO_END(t);
}

static inline void test_echo_conn_done(co_task_t *t)
{
  test_echo_conn_t *c = (test_echo_conn_t *)t;
  InterlockedIncrement(&c->server->conns_finished);
  free(c);
}

static inline co_state_t test_echo_server_step(co_task_t *t)
{
  test_echo_server_t *s = (test_echo_server_t *)t;
  test_echo_conn_t *c;
  InterlockedIncrement(&s->steps);
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
    if (s->op.error < 0)
      break;
    c = (test_echo_conn_t *)calloc(1, sizeof *c);
    if (c == NULL) {
      sock_close(s->acc.sock);
      continue;
    }
    c->server = s;
    c->sock = s->acc.sock;
    InterlockedIncrement(&s->accepted);
    sock_spawn(s->tt.st.runtime, &c->st, test_echo_conn_step, test_echo_conn_done);
  }
  s->error = s->op.error;  /* CO_ECANCELED once the listener is closed */
  CO_END(t);
}

/* Starts an echo server on 127.0.0.1 (a free port); returns the port. */
static inline unsigned short test_echo_server_start(sock_runtime_t *rt,
                                                    test_echo_server_t *s, int backlog)
{
  unsigned short port;
  HANDLE done = s->tt.done;
  memset(s, 0, sizeof *s);
  s->tt.done = done;
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, backlog, &s->listener), CO_OK);
  port = test_port(s->listener);
  test_spawn(rt, &s->tt, test_echo_server_step);
  return port;
}

/* The pattern byte at offset i of connection `id`: never periodic at 256, so
 * a lost, doubled or reordered chunk shows. */
static inline unsigned char test_pattern(unsigned long id, unsigned long i)
{
  return (unsigned char)((i * 7u) ^ (i >> 8) ^ (i >> 16) ^ (id * 13u));
}

#endif /* TESTS_SOCK_SOCK_TEST_H */

/*
 * tests/sock/test_socket_cancel.c - cancellation that lives on the socket
 * (sock_cancel, and sock_runtime_cancel_all's sweep of every socket).
 *
 * The handlers here are PLAIN co tasks (a struct whose first member is a
 * co_task_t, started with co_task_init + co_resume), not sock_task_t: the
 * runtime neither counts nor lists them, and sock_task_cancel cannot reach
 * them. Cancelling the socket they work on must stop them all the same: the
 * operation they are parked in ends with CO_ECANCELED, every later start on
 * that socket fails with CO_ECANCELED at once, and their cleanup idiom
 * (close the socket, end) does the rest.
 *
 * Everything a pending operation points at is static or on the heap (Check
 * longjmps out of a failed test).
 */
#include "sock_test.h"

/* ---- A plain co task the test thread can wait for --------------------------- */

typedef struct plain {
  co_task_t      task;         /* first: a plain co task, not a sock_task_t */
  HANDLE         done;         /* manual-reset event, set by the completion hook */
  sock_runtime_t *rt;
  sock_t        *sock;         /* the socket (or listener) it works on */
  sock_op_t      op;
  sock_accept_t  acc;
  const char    *data;         /* send: what to send */
  size_t         len;
  char           buf[256];
  unsigned short port;         /* connect: where to */
  int            entries;      /* times the step function was entered */
  int            pended;       /* the first await went through a completion */
  int            error;        /* op.error of the first await */
  unsigned long  win32;
  unsigned long  bytes;
  int            again_entries;/* entries when the second start began */
  int            again_rc;     /* what the second start function returned */
  int            again_pended; /* the second await went through a completion */
  int            again_error;  /* op.error of the second await */
  sock_t        *again_sock;   /* accept: what the second accept delivered */
  long           rounds;       /* echo loops: messages echoed */
  int            in_send;      /* echo loops: the await is a send */
} plain_t;

static void plain_done(co_task_t *t)
{
  SetEvent(((plain_t *)t)->done);
}

/* Clears the struct for a new run (keeping its event). */
static void plain_reset(plain_t *p)
{
  HANDLE done = p->done;
  memset(p, 0, sizeof *p);
  p->done = done;
}

/* Starts the plain task: its first step runs here, on the test thread. */
static void plain_start(plain_t *p, co_step_fn step)
{
  if (p->done == NULL)
    p->done = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(p->done);
  ResetEvent(p->done);
  co_task_init(&p->task, step, plain_done);
  co_resume(&p->task);
}

static void plain_wait(plain_t *p, DWORD ms)
{
  ck_assert_msg(WaitForSingleObject(p->done, ms) == WAIT_OBJECT_0,
                "plain task did not finish within %lu ms", (unsigned long)ms);
}

static int plain_finished(plain_t *p)
{
  return WaitForSingleObject(p->done, 0) == WAIT_OBJECT_0;
}

static void plain_free_event(plain_t *p)
{
  if (p->done != NULL)
    CloseHandle(p->done);
  p->done = NULL;
}

/* After the first await: did it pend, and how did it end. */
static void plain_record(plain_t *p)
{
  p->pended = p->entries > 1;
  p->error = p->op.error;
  p->win32 = p->op.win32_error;
  p->bytes = p->op.bytes;
}

/* Wraps the second start function inside CO_AWAIT: stores what it returned.
 * That start must finish at once (CO_ECANCELED); were it CO_PENDING, this
 * store would race with the completion, but the test fails then anyway (and
 * the completion touches neither again_rc nor again_entries). */
static int record_again(plain_t *p, int rc)
{
  p->again_rc = rc;
  return rc;
}

/* After the second await. */
static void plain_record_again(plain_t *p)
{
  p->again_pended = p->entries > p->again_entries;
  p->again_error = p->op.error;
}

static plain_t plain;

/* ---- 1. A pending receive, cancelled through its socket ------------------------ */

/* Receives (nothing comes), then tries once more on the same socket, then
 * closes it. */
static co_state_t recv_twice_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  p->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&p->op, p->sock, p->buf, sizeof p->buf, t));
  plain_record(p);
  p->again_entries = p->entries;
  CO_AWAIT(t, record_again(p, sock_recv_start(&p->op, p->sock, p->buf, sizeof p->buf, t)));
  plain_record_again(p);
  sock_close(p->sock);
  CO_END(t);
}

/* A plain task parked in a receive wakes with CO_ECANCELED when another
 * thread cancels its socket; a second receive on that socket fails at once
 * (no pending, no completion); the task closes the socket and nothing is
 * left. sock_cancel(NULL) is ignored. */
START_TEST(sock_cancel_ends_pending_recv_of_plain_task)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  plain_reset(&plain);
  plain.sock = test_pair(rt, &raw);
  plain_start(&plain, recv_twice_step);
  /* A plain task is not counted; its receive is. */
  test_wait_counters(rt, 1, 0, 1, 5000);
  Sleep(50);
  ck_assert(!plain_finished(&plain));

  sock_cancel(NULL);  /* ignored */
  Sleep(20);
  ck_assert_msg(!plain_finished(&plain), "sock_cancel(NULL) ended the task");

  sock_cancel(plain.sock);
  plain_wait(&plain, TEST_WAIT_MS);
  ck_assert_msg(plain.pended, "the receive did not pend");
  ck_assert_msg(plain.error == CO_ECANCELED, "the receive ended with %s (win32 %lu)",
                co_errname(plain.error), plain.win32);
  ck_assert_msg(plain.again_rc == CO_ECANCELED,
                "the second sock_recv_start returned %s, not CO_ECANCELED at once",
                plain.again_rc == CO_PENDING ? "CO_PENDING" : co_errname(plain.again_rc));
  ck_assert_msg(!plain.again_pended, "the second receive went through a completion");
  ck_assert_int_eq(plain.again_error, CO_ECANCELED);
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

/* ---- 2. A cancelled idle socket: the next send fails at once ------------------- */

static const char hello[] = "hello";

static co_state_t send_all_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  p->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, record_again(p, sock_send_all_start(&p->op, p->sock, p->data, p->len, t)));
  plain_record(p);
  sock_close(p->sock);
  CO_END(t);
}

/* Cancelling a socket with nothing pending marks it: a plain task's
 * send-all on it returns CO_ECANCELED synchronously (the task never pends,
 * finishing inside co_resume), and no byte reaches the peer. */
START_TEST(sock_cancel_fails_later_send_at_once)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  DWORD timeout_ms = 2000;
  char got[16];
  int n;

  plain_reset(&plain);
  plain.sock = test_pair(rt, &raw);
  sock_cancel(plain.sock);
  test_wait_counters(rt, 1, 0, 0, 5000);  /* cancelled, not closed */

  plain.data = hello;
  plain.len = sizeof hello - 1;
  plain_start(&plain, send_all_step);
  ck_assert_msg(plain_finished(&plain), "the task did not finish inside co_resume");
  ck_assert_int_eq(plain.entries, 1);
  ck_assert_msg(plain.again_rc == CO_ECANCELED, "sock_send_all_start returned %s",
                plain.again_rc == CO_PENDING ? "CO_PENDING" : co_errname(plain.again_rc));
  ck_assert_int_eq(plain.error, CO_ECANCELED);
  ck_assert_uint_eq(plain.bytes, 0);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* The task closed its socket: the peer sees the end, and no data. */
  setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms, sizeof timeout_ms);
  n = recv(raw, got, sizeof got, 0);
  ck_assert_msg(n <= 0, "the peer received %d bytes of a cancelled send", n);

  closesocket(raw);
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

/* ---- 3. A listener, cancelled: its accept waiter wakes ------------------------- */

static co_state_t accept_twice_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  p->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&p->op, p->sock, &p->acc, t));
  plain_record(p);
  if (p->acc.sock != NULL)  /* not expected: keep nothing open */
    sock_close(p->acc.sock);
  p->again_entries = p->entries;
  CO_AWAIT(t, record_again(p, sock_accept_start(&p->op, p->sock, &p->acc, t)));
  plain_record_again(p);
  p->again_sock = p->acc.sock;
  if (p->acc.sock != NULL)
    sock_close(p->acc.sock);
  CO_END(t);
}

/* A plain task waiting for a connection on a listener wakes with
 * CO_ECANCELED when the listener is cancelled; a second accept fails at
 * once; closing the listener then leaves nothing behind. */
START_TEST(sock_cancel_of_listener_wakes_accept_waiter)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *l = NULL;
  sock_counters_t c;

  plain_reset(&plain);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &l), CO_OK);
  plain.sock = l;
  plain_start(&plain, accept_twice_step);
  Sleep(50);
  ck_assert(!plain_finished(&plain));
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.sockets, 1);
  ck_assert_int_eq(c.tasks, 0);

  sock_cancel(l);
  plain_wait(&plain, TEST_WAIT_MS);
  ck_assert_msg(plain.pended, "the accept did not pend");
  ck_assert_msg(plain.error == CO_ECANCELED, "the accept ended with %s (win32 %lu)",
                co_errname(plain.error), plain.win32);
  ck_assert_ptr_null(plain.acc.sock);
  ck_assert_msg(plain.again_rc == CO_ECANCELED,
                "the second sock_accept_start returned %s, not CO_ECANCELED at once",
                plain.again_rc == CO_PENDING ? "CO_PENDING" : co_errname(plain.again_rc));
  ck_assert_msg(!plain.again_pended, "the second accept went through a completion");
  ck_assert_int_eq(plain.again_error, CO_ECANCELED);
  ck_assert_ptr_null(plain.again_sock);

  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

/* ---- 4. cancel_all stops plain-task handlers ----------------------------------- */

enum { HANDLERS = 20 };

typedef struct handler {
  co_task_t task;      /* first: a plain co task, on the heap */
  sock_t   *sock;
  sock_op_t op;
  int       error;     /* what ended it */
  char      buf[64];
} handler_t;

static volatile LONG handlers_ready;      /* echoed once, about to receive again */
static volatile LONG handlers_finished;
static volatile LONG handlers_cancelled;  /* ended with CO_ECANCELED */
static volatile LONG handlers_other;      /* ended with anything else */
static volatile LONG handler_last_other;  /* the last such error */
static SOCKET        clients[HANDLERS];

static co_state_t handler_step(co_task_t *t)
{
  handler_t *h = (handler_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&h->op, h->sock, h->buf, sizeof h->buf, t));
    if (h->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&h->op, h->sock, h->buf, h->op.bytes, t));
    if (h->op.error < 0)
      break;
    InterlockedIncrement(&handlers_ready);
  }
  h->error = h->op.error;
  sock_close(h->sock);
  CO_END(t);
}

static void handler_done(co_task_t *t)
{
  handler_t *h = (handler_t *)t;
  if (h->error == CO_ECANCELED) {
    InterlockedIncrement(&handlers_cancelled);
  } else {
    InterlockedExchange(&handler_last_other, h->error);
    InterlockedIncrement(&handlers_other);
  }
  free(h);
  InterlockedIncrement(&handlers_finished);
}

/* A plain accept loop: each connection gets a heap-allocated plain handler. */
static co_state_t accept_loop_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  handler_t *h;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&p->op, p->sock, &p->acc, t));
    if (p->op.error < 0)
      break;
    h = (handler_t *)calloc(1, sizeof *h);
    if (h == NULL) {
      sock_close(p->acc.sock);
      continue;
    }
    h->sock = p->acc.sock;
    p->rounds++;  /* connections accepted */
    co_task_init(&h->task, handler_step, handler_done);
    co_resume(&h->task);
  }
  p->error = p->op.error;
  CO_END(t);
}

/* Waits until *counter reaches `target`, or `ms` passed; returns 1 if it did. */
static int wait_count(volatile LONG *counter, LONG target, DWORD ms)
{
  DWORD start = GetTickCount();
  while (*counter < target) {
    if (GetTickCount() - start > ms)
      return 0;
    Sleep(5);
  }
  return 1;
}

/* 20 connections, each served by a plain co task that has echoed one
 * message and is parked in a receive (the accept loop is a plain task too).
 * sock_runtime_cancel_all cancels their sockets: every handler wakes with
 * CO_ECANCELED, closes its socket and ends; the accept loop wakes with
 * CO_ECANCELED as well; once the test closes the listener, nothing is left
 * within 5 s. */
START_TEST(cancel_all_stops_plain_task_handlers)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_counters_t c;
  sock_t *l = NULL;
  DWORD start, timeout_ms = 5000;
  int i;

  handlers_ready = handlers_finished = handlers_cancelled = handlers_other = 0;
  handler_last_other = 0;
  plain_reset(&plain);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 64, &l), CO_OK);
  plain.sock = l;
  plain_start(&plain, accept_loop_step);

  for (i = 0; i < HANDLERS; i++)
    clients[i] = test_raw_connect(test_port(l));
  for (i = 0; i < HANDLERS; i++) {
    char out = (char)('a' + i), in = 0;
    test_raw_send(clients[i], &out, 1);
    test_raw_recv(clients[i], &in, 1);
    ck_assert_int_eq(in, out);
  }
  ck_assert_msg(wait_count(&handlers_ready, HANDLERS, 5000),
                "%ld of %d handlers echoed", (long)handlers_ready, HANDLERS);
  Sleep(50);  /* each is back in its receive by now */
  ck_assert_int_eq(handlers_finished, 0);
  ck_assert_int_eq(plain.rounds, HANDLERS);
  sock_runtime_counters(rt, &c);
  printf("before cancel_all: sockets=%ld tasks=%ld pending_ops=%ld\n",
         c.sockets, c.tasks, c.pending_ops);
  ck_assert_int_eq(c.sockets, HANDLERS + 1);
  ck_assert_int_eq(c.tasks, 0);
  ck_assert_int_ge(c.pending_ops, HANDLERS);

  start = GetTickCount();
  sock_runtime_cancel_all(rt);
  ck_assert_msg(wait_count(&handlers_finished, HANDLERS, 5000),
                "%ld of %d plain handlers ended after cancel_all",
                (long)handlers_finished, HANDLERS);
  ck_assert_msg(handlers_cancelled == HANDLERS,
                "%ld handlers ended with CO_ECANCELED, %ld otherwise (last: %s)",
                (long)handlers_cancelled, (long)handlers_other,
                co_errname((int)handler_last_other));
  plain_wait(&plain, 5000);
  ck_assert_msg(plain.error == CO_ECANCELED, "the accept loop ended with %s",
                co_errname(plain.error));
  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  printf("cancel_all: %d plain handlers and the accept loop ended, counters at zero, "
         "in %lu ms\n", HANDLERS, (unsigned long)(GetTickCount() - start));

  /* Each handler closed its socket: its client sees the end. */
  for (i = 0; i < HANDLERS; i++) {
    char in;
    int n;
    setsockopt(clients[i], SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms,
               sizeof timeout_ms);
    n = recv(clients[i], &in, 1, 0);
    ck_assert_msg(n == 0 || (n < 0 && WSAGetLastError() != WSAETIMEDOUT),
                  "client %d: recv %d (error %d) after its handler closed", i, n,
                  WSAGetLastError());
    closesocket(clients[i]);
  }
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

/* ---- 5. A connect after cancel_all ------------------------------------------ */

static co_state_t connect_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  p->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&p->op, p->rt, "127.0.0.1", p->port, &p->sock, t));
  plain_record(p);
  if (p->op.error == CO_OK)  /* not expected: keep nothing open */
    sock_close(p->sock);
  CO_END(t);
}

/* After sock_runtime_cancel_all, the socket a connect creates for its
 * attempt is born cancelled: a plain task's connect to a live listener ends
 * with CO_ECANCELED, *out stays NULL, no connection reaches the listener,
 * and nothing is left. */
START_TEST(connect_after_cancel_all_starts_cancelled)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET listener;
  fd_set rd;
  struct timeval tv;
  unsigned short port;

  listener = test_raw_listen(16, &port);
  sock_runtime_cancel_all(rt);

  plain_reset(&plain);
  plain.rt = rt;
  plain.port = port;
  plain_start(&plain, connect_step);
  plain_wait(&plain, TEST_WAIT_MS);
  ck_assert_msg(plain.error == CO_ECANCELED, "the connect ended with %s (win32 %lu)",
                co_errname(plain.error), plain.win32);
  ck_assert_ptr_null(plain.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);

  FD_ZERO(&rd);
  FD_SET(listener, &rd);
  tv.tv_sec = 0;
  tv.tv_usec = 200000;
  ck_assert_msg(select(0, &rd, NULL, NULL, &tv) == 0,
                "a connection reached the listener after cancel_all");

  closesocket(listener);
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

/* ---- 6. Cancel racing with a busy plain task ------------------------------------ */

enum { RACE_ITERATIONS = 50 };

static test_pinger_t race;  /* the other side of the race */

static co_state_t busy_echo_step(co_task_t *t)
{
  plain_t *p = (plain_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&p->op, p->sock, p->buf, sizeof p->buf, t));
    if (p->op.error < 0)
      break;
    p->in_send = 1;
    CO_AWAIT(t, sock_send_all_start(&p->op, p->sock, p->buf, p->op.bytes, t));
    if (p->op.error < 0)
      break;
    p->in_send = 0;
    p->rounds++;
  }
  plain_record(p);
  sock_close(p->sock);
  CO_END(t);
}

/* 50 times: a plain task echoes as fast as a client thread sends, and once
 * the first echo is back the test thread waits 0..3 ms, tells the client to
 * stop and cancels the socket (so the cancel meets a task busy issuing
 * receives and sends, in either of them or between the two). The task must
 * end every time (with CO_ECANCELED: the client never closes first) and
 * leave nothing: no cancel is lost between the flag check and the
 * overlapped call it guards. */
START_TEST(cancel_races_with_busy_plain_task)
{
  sock_runtime_t *rt = test_runtime_start();
  HANDLE client;
  long min_rounds = -1, max_rounds = 0, total_rounds = 0;
  int i, ended_in_send = 0;

  for (i = 0; i < RACE_ITERATIONS; i++) {
    plain_reset(&plain);
    race.rounds = 0;
    race.stop = 0;
    plain.sock = test_pair(rt, &race.raw);
    plain_start(&plain, busy_echo_step);
    client = CreateThread(NULL, 0, test_pinger_main, &race, 0, NULL);
    ck_assert_ptr_nonnull(client);
    ck_assert_msg(wait_count(&race.rounds, 1, 5000),
                  "iteration %d: no echo came back", i);
    Sleep((DWORD)(i % 4));

    InterlockedExchange(&race.stop, 1);
    sock_cancel(plain.sock);
    ck_assert_msg(WaitForSingleObject(plain.done, TEST_WAIT_MS) == WAIT_OBJECT_0,
                  "iteration %d: the task did not end after sock_cancel "
                  "(%ld rounds echoed)", i, plain.rounds);
    ck_assert_msg(plain.error == CO_ECANCELED,
                  "iteration %d: the task ended with %s (win32 %lu)", i,
                  co_errname(plain.error), plain.win32);
    ck_assert_msg(WaitForSingleObject(client, TEST_WAIT_MS) == WAIT_OBJECT_0,
                  "iteration %d: the client thread did not see the close", i);
    CloseHandle(client);
    closesocket(race.raw);
    test_wait_counters(rt, 0, 0, 0, 5000);

    if (min_rounds < 0 || plain.rounds < min_rounds)
      min_rounds = plain.rounds;
    if (plain.rounds > max_rounds)
      max_rounds = plain.rounds;
    total_rounds += plain.rounds;
    ended_in_send += plain.in_send;
  }
  printf("cancel race: %d iterations (%d ended in a send, %d in a receive), rounds "
         "echoed: min %ld, max %ld, total %ld\n", RACE_ITERATIONS, ended_in_send,
         RACE_ITERATIONS - ended_in_send, min_rounds, max_rounds, total_rounds);
  test_runtime_stop(rt);
  plain_free_event(&plain);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_socket_cancel");
  TCase *tc;

  tc = tcase_create("sock_cancel_ends_pending_recv_of_plain_task");
  tcase_add_test(tc, sock_cancel_ends_pending_recv_of_plain_task);
  suite_add_tcase(s, tc);

  tc = tcase_create("sock_cancel_fails_later_send_at_once");
  tcase_add_test(tc, sock_cancel_fails_later_send_at_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("sock_cancel_of_listener_wakes_accept_waiter");
  tcase_add_test(tc, sock_cancel_of_listener_wakes_accept_waiter);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel_all_stops_plain_task_handlers");
  tcase_add_test(tc, cancel_all_stops_plain_task_handlers);
  suite_add_tcase(s, tc);

  tc = tcase_create("connect_after_cancel_all_starts_cancelled");
  tcase_add_test(tc, connect_after_cancel_all_starts_cancelled);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel_races_with_busy_plain_task");
  tcase_add_test(tc, cancel_races_with_busy_plain_task);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tests/sock/test_cancel.c - closing a socket, or shutting the runtime down,
 * while operations are pending.
 *
 * Each pending operation must complete exactly once with CO_ECANCELED, the
 * task must see it at its await and finish, nothing may crash, and the live
 * counters must come back to zero (the socket is freed after its last
 * completion). Runtime shutdown with live connections must return, and no
 * callback may run after it returned.
 */
#include "sock_test.h"

/* ---- One pending operation, cancelled ---------------------------------------- */

typedef struct waiter {
  test_task_t   tt;
  sock_t       *sock;      /* the socket the operation runs on */
  sock_op_t     op;
  sock_accept_t acc;
  char         *data;      /* send: what to send */
  size_t        len;
  char          buf[256];
  int           entries;   /* times the step function was entered */
  int           pended;    /* the await went through a completion */
  int           error;
  unsigned long bytes;
  unsigned long win32;
} waiter_t;

static waiter_t waiter;

/* Called after the await. It pended if a completion entered the step
 * function again since the await began. (Recording what the start returned
 * would touch the task after CO_PENDING, which the protocol forbids.) */
static void waiter_record(waiter_t *w)
{
  w->pended = w->entries > 1;
  w->error = w->op.error;
  w->bytes = w->op.bytes;
  w->win32 = w->op.win32_error;
}


static co_state_t recv_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  w->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&w->op, w->sock, w->buf, sizeof w->buf, t));
  waiter_record(w);
  CO_END(t);
}

static co_state_t send_all_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  w->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_send_all_start(&w->op, w->sock, w->data, w->len, t));
  waiter_record(w);
  CO_END(t);
}

static co_state_t accept_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  w->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&w->op, w->sock, &w->acc, t));
  waiter_record(w);
  CO_END(t);
}

static unsigned short connect_port;

static co_state_t connect_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  w->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&w->op, w->tt.st.runtime, "127.0.0.1",
                                          connect_port, &w->sock, t));
  waiter_record(w);
  CO_END(t);
}

static void assert_cancelled(const char *what)
{
  ck_assert_msg(waiter.pended, "%s: the operation did not pend", what);
  ck_assert_msg(waiter.error == CO_ECANCELED, "%s completed with %s (win32 %lu)",
                what, co_errname(waiter.error), waiter.win32);
}

/* A receive waits for data that never comes; closing the socket from
 * another thread completes it with CO_ECANCELED and the socket is freed. */
START_TEST(close_cancels_pending_recv)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  memset(&waiter, 0, sizeof waiter);
  waiter.sock = test_pair(rt, &raw);
  test_spawn(rt, &waiter.tt, recv_step);
  test_wait_counters(rt, 1, 1, 1, 5000);
  Sleep(50);
  ck_assert(!test_finished(&waiter.tt));

  sock_close(waiter.sock);
  test_wait(&waiter.tt, TEST_WAIT_MS);
  assert_cancelled("recv");
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&waiter.tt);
}
END_TEST

enum { HUGE_SEND = 64 << 20 };

/* The peer never reads, so a 64 MiB send-all fills both windows and stays
 * pending; closing the socket completes it with CO_ECANCELED (having sent
 * only part of it). */
START_TEST(close_cancels_pending_send)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  memset(&waiter, 0, sizeof waiter);
  waiter.data = (char *)malloc(HUGE_SEND);
  ck_assert_ptr_nonnull(waiter.data);
  memset(waiter.data, 'x', HUGE_SEND);
  waiter.len = HUGE_SEND;
  waiter.sock = test_pair(rt, &raw);
  test_spawn(rt, &waiter.tt, send_all_step);
  test_wait_counters(rt, 1, 1, 1, 5000);
  Sleep(300);
  ck_assert_msg(!test_finished(&waiter.tt), "64 MiB went out to a peer that never reads");

  sock_close(waiter.sock);
  test_wait(&waiter.tt, TEST_WAIT_MS);
  assert_cancelled("send_all");
  ck_assert_uint_lt(waiter.bytes, HUGE_SEND);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* For the record: how much did reach the peer, against op.bytes? */
  {
    static char sink[65536];
    DWORD timeout_ms = 5000;
    unsigned long drained = 0;
    int n;
    setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms, sizeof timeout_ms);
    while ((n = recv(raw, sink, sizeof sink, 0)) > 0)
      drained += (unsigned long)n;
    printf("cancelled send-all: op.bytes %lu of %d; the peer received %lu\n",
           waiter.bytes, HUGE_SEND, drained);
  }
  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&waiter.tt);
  free(waiter.data);
}
END_TEST

/* An accept waits on a listener nobody connects to; closing the listener
 * completes it with CO_ECANCELED, and the accepts the listener kept posted
 * are cancelled and freed too. */
START_TEST(close_cancels_pending_accept)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_counters_t c;

  memset(&waiter, 0, sizeof waiter);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &waiter.sock), CO_OK);
  test_spawn(rt, &waiter.tt, accept_step);
  Sleep(50);
  ck_assert(!test_finished(&waiter.tt));
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.sockets, 1);
  ck_assert_int_eq(c.tasks, 1);

  sock_close(waiter.sock);
  test_wait(&waiter.tt, TEST_WAIT_MS);
  assert_cancelled("accept");
  ck_assert_ptr_null(waiter.acc.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&waiter.tt);
}
END_TEST

/* A listener whose accept queue is full: a connect to it stays pending
 * (Linux, under Wine, drops the SYN and retries for about two minutes).
 * Fills the queue with non-blocking connects until one does not complete
 * within a second (on loopback an accepted SYN is answered at once). */
static SOCKET full_listener;
static SOCKET fillers[64];
static int    filler_count;

static void fill_backlog(void)
{
  int stuck = 0;
  full_listener = test_raw_listen(1, &connect_port);
  for (filler_count = 0; filler_count < 64 && !stuck; filler_count++) {
    struct sockaddr_in a;
    u_long nonblocking = 1;
    fd_set wr;
    struct timeval tv;
    SOCKET f = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    ck_assert(f != INVALID_SOCKET);
    fillers[filler_count] = f;
    ioctlsocket(f, FIONBIO, &nonblocking);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(connect_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(f, (struct sockaddr *)&a, sizeof a);
    FD_ZERO(&wr);
    FD_SET(f, &wr);
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    if (select(0, NULL, &wr, NULL, &tv) == 0)
      stuck = 1;
  }
  ck_assert_msg(stuck, "could not fill the backlog of a listener with 64 connects");
}

static void free_backlog(void)
{
  while (filler_count > 0)
    closesocket(fillers[--filler_count]);
  closesocket(full_listener);
}

/* Starts a connect to the full listener and checks that it pends. */
static void start_stuck_connect(sock_runtime_t *rt)
{
  sock_counters_t c;
  memset(&waiter, 0, sizeof waiter);
  test_spawn(rt, &waiter.tt, connect_step);
  Sleep(500);
  ck_assert_msg(!test_finished(&waiter.tt), "connect completed: %s",
                co_errname(waiter.error));
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.tasks, 1);
}

/* There is no socket to close while a connect is pending (it is handed over
 * only on success); cancelling the task is how to stop it: the connect
 * completes with CO_ECANCELED, no socket comes out, nothing is left. */
START_TEST(task_cancel_ends_pending_connect)
{
  sock_runtime_t *rt = test_runtime_start();

  fill_backlog();
  start_stuck_connect(rt);
  sock_task_cancel(&waiter.tt.st);
  test_wait(&waiter.tt, TEST_WAIT_MS);
  assert_cancelled("connect");
  ck_assert_ptr_null(waiter.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);

  free_backlog();
  test_runtime_stop(rt);
  test_task_free_event(&waiter.tt);
}
END_TEST

/* The runtime's shutdown cancels a pending connect too: the task wakes with
 * CO_ECANCELED before sock_runtime_shutdown returns. */
START_TEST(shutdown_cancels_pending_connect)
{
  sock_runtime_t *rt = test_runtime_start();

  fill_backlog();
  start_stuck_connect(rt);
  sock_runtime_shutdown(rt);
  ck_assert_msg(test_finished(&waiter.tt),
                "the connecting task had not finished when shutdown returned");
  assert_cancelled("connect");
  ck_assert_ptr_null(waiter.sock);

  free_backlog();
  WSACleanup();  /* test_runtime_start's own reference */
  test_task_free_event(&waiter.tt);
}
END_TEST

/* ---- Shutdown with live connections ---------------------------------------- */

enum { LIVE = 100 };

typedef struct idler {
  sock_task_t   st;        /* first: the runtime's part */
  unsigned long id;
  sock_op_t     op;
  sock_t       *sock;
  char          out[8];
  char          in[8];
  int           error;     /* what ended it */
} idler_t;

static idler_t            idlers[LIVE];
static test_echo_server_t live_server;
static unsigned short     live_port;
static volatile LONG      idlers_ready;     /* echoed once, now waiting */
static volatile LONG      idlers_finished;
static volatile LONG      idler_steps;
static volatile LONG      idler_mismatches;

static co_state_t idler_step(co_task_t *t)
{
  idler_t *c = (idler_t *)t;
  int k;
  InterlockedIncrement(&idler_steps);
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&c->op, c->st.runtime, "127.0.0.1", live_port,
                                 &c->sock, t));
  if (c->op.error < 0) {
    c->error = c->op.error;
    CO_EXIT(t, c->error);
  }
  for (k = 0; k < (int)sizeof c->out; k++)
    c->out[k] = (char)test_pattern(c->id, (unsigned long)k);
  CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, sizeof c->out, t));
  if (c->op.error == CO_OK)
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, sizeof c->in, t));
  if (c->op.error < 0) {
    c->error = c->op.error;
    sock_close(c->sock);
    CO_EXIT(t, c->error);
  }
  if (memcmp(c->in, c->out, sizeof c->in) != 0)
    InterlockedIncrement(&idler_mismatches);
  InterlockedIncrement(&idlers_ready);
  /* Now wait for data that never comes: shutdown must end this. */
  CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->in, sizeof c->in, t));
  c->error = c->op.error;
  sock_close(c->sock);
  CO_END(t);
}

static void idler_done(co_task_t *t)
{
  (void)t;
  InterlockedIncrement(&idlers_finished);
}

/* 100 connections, each has echoed once and is waiting in a receive on both
 * ends (200 sockets, 201 tasks). sock_runtime_shutdown returns; every task
 * woke and finished before it returned; and no step runs afterwards (the
 * step counters do not move in the 200 ms after it). */
START_TEST(shutdown_with_100_live_connections)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_counters_t c;
  LONG steps_after, cancelled = 0, other = 0;
  DWORD start;
  int i;

  memset(idlers, 0, sizeof idlers);
  idlers_ready = idlers_finished = idler_steps = idler_mismatches = 0;
  live_port = test_echo_server_start(rt, &live_server, 128);
  for (i = 0; i < LIVE; i++) {
    idlers[i].id = (unsigned long)i;
    sock_spawn(rt, &idlers[i].st, idler_step, idler_done);
  }
  start = GetTickCount();
  while (idlers_ready < LIVE && idlers_finished == 0 && GetTickCount() - start < 30000)
    Sleep(10);
  ck_assert_msg(idlers_ready == LIVE, "%ld of %d connections echoed, %ld ended early",
                (long)idlers_ready, LIVE, (long)idlers_finished);
  ck_assert_int_eq(idler_mismatches, 0);
  ck_assert_int_eq(live_server.accepted, LIVE);
  sock_runtime_counters(rt, &c);
  printf("before shutdown: sockets=%ld tasks=%ld pending_ops=%ld\n",
         c.sockets, c.tasks, c.pending_ops);
  ck_assert_int_eq(c.sockets, 2 * LIVE + 1);
  ck_assert_int_eq(c.tasks, 2 * LIVE + 1);
  ck_assert_int_ge(c.pending_ops, 2 * LIVE);

  test_runtime_stop(rt);

  steps_after = idler_steps + live_server.steps;
  ck_assert_msg(idlers_finished == LIVE, "%ld of %d clients finished by shutdown",
                (long)idlers_finished, LIVE);
  ck_assert_msg(live_server.conns_finished == LIVE,
                "%ld of %d server connections finished by shutdown",
                (long)live_server.conns_finished, LIVE);
  ck_assert_msg(test_finished(&live_server.tt), "accept loop not finished by shutdown");
  for (i = 0; i < LIVE; i++) {
    /* The client's receive is cancelled, unless the server side's
     * cancellation closed that connection first (then: end of stream). */
    if (idlers[i].error == CO_ECANCELED)
      cancelled++;
    else if (idlers[i].error == CO_EOF || idlers[i].error == CO_ECONNRESET ||
             idlers[i].error == CO_ECONNABORTED)
      other++;
    else
      ck_abort_msg("client %d ended with %s", i, co_errname(idlers[i].error));
  }
  printf("shutdown: %ld clients cancelled, %ld saw the server side close first\n",
         (long)cancelled, (long)other);

  Sleep(200);
  ck_assert_msg(idler_steps + live_server.steps == steps_after,
                "%ld steps ran after shutdown returned",
                (long)(idler_steps + live_server.steps - steps_after));
  test_task_free_event(&live_server.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_cancel");
  TCase *tc;

  tc = tcase_create("close_cancels_pending_recv");
  tcase_add_test(tc, close_cancels_pending_recv);
  suite_add_tcase(s, tc);

  tc = tcase_create("close_cancels_pending_send");
  tcase_add_test(tc, close_cancels_pending_send);
  suite_add_tcase(s, tc);

  tc = tcase_create("close_cancels_pending_accept");
  tcase_add_test(tc, close_cancels_pending_accept);
  suite_add_tcase(s, tc);

  tc = tcase_create("task_cancel_ends_pending_connect");
  tcase_add_test(tc, task_cancel_ends_pending_connect);
  suite_add_tcase(s, tc);

  tc = tcase_create("shutdown_cancels_pending_connect");
  tcase_add_test(tc, shutdown_cancels_pending_connect);
  suite_add_tcase(s, tc);

  tc = tcase_create("shutdown_with_100_live_connections");
  tcase_add_test(tc, shutdown_with_100_live_connections);
  suite_add_tcase(s, tc);
  return s;
}

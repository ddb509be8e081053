/*
 * tests/sock/test_op_cancel.c - cancelling one await (sock_op_cancel).
 *
 * Unlike sock_cancel (a socket, for good) and sock_task_cancel (a task, for
 * good), sock_op_cancel ends only the await in progress with CO_ECANCELED:
 * the next await of the same task, on the same socket, works. These tests
 * prove that for each kind of await (an overlapped receive, a connect, an
 * accept wait, a sleep, an event wait), for plain co tasks and sock tasks,
 * that a cancel between awaits does nothing, and that a cancel racing a
 * completion loses no data and wakes the task exactly once.
 *
 * Everything a pending operation points at is static or on the heap (Check
 * longjmps out of a failed test).
 */
#include "sock_test.h"

/* ---- A task of either kind -------------------------------------------------------- */

/* Its first member is a test_task_t, so it can be spawned as a sock_task_t;
 * a plain co task uses only the co_task_t inside (victim_start_plain). */
typedef struct victim {
  test_task_t    tt;
  sock_runtime_t *rt;
  sock_t        *sock;         /* the socket or listener it works on */
  sock_t        *got;          /* connect / accept: what it delivered */
  sock_op_t      op;
  sock_accept_t  acc;
  sock_event_t   ev;
  unsigned short port;         /* connect: where to */
  char           buf[64];
  volatile LONG  parked;       /* awaits started (the test waits for the first) */
  int            first;        /* op.error of the first await */
  int            second;       /* op.error of the second await */
  unsigned long  second_bytes;
} victim_t;

static victim_t victim;

static void plain_done(co_task_t *t)
{
  SetEvent(((victim_t *)t)->tt.done);
}

/* Starts `step` as a plain co task (not counted, no sock_task_t): its first
 * step runs here, on the test thread. */
static void victim_start_plain(victim_t *v, co_step_fn step)
{
  if (v->tt.done == NULL)
    v->tt.done = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(v->tt.done);
  ResetEvent(v->tt.done);
  co_task_init(&v->tt.st.task, step, plain_done);
  co_resume(&v->tt.st.task);
}

static void victim_reset(victim_t *v, sock_runtime_t *rt)
{
  HANDLE done = v->tt.done;
  memset(v, 0, sizeof *v);
  v->tt.done = done;
  v->rt = rt;
}

/* ---- A receive ----------------------------------------------------------------------- */

static co_state_t recv_twice_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  InterlockedIncrement(&v->parked);
  CO_AWAIT(t, sock_recv_start(&v->op, v->sock, v->buf, sizeof v->buf, t));
  v->first = v->op.error;
  InterlockedIncrement(&v->parked);
  CO_AWAIT(t, sock_recv_start(&v->op, v->sock, v->buf, sizeof v->buf, t));
  v->second = v->op.error;
  v->second_bytes = v->op.bytes;
  sock_close(v->sock);
  CO_END(t);
}

/* The first receive is cancelled; the second, on the same socket, gets the
 * bytes the peer sends afterwards. */
static void check_recv_cancel(sock_runtime_t *rt, int plain)
{
  SOCKET raw;
  victim_reset(&victim, rt);
  victim.sock = test_pair(rt, &raw);
  if (plain)
    victim_start_plain(&victim, recv_twice_step);
  else
    test_spawn(rt, &victim.tt, recv_twice_step);
  ck_assert(!test_finished(&victim.tt));
  ck_assert_int_eq(sock_op_cancel(&victim.op), 1);
  while (victim.parked < 2)
    Sleep(1);
  test_raw_send(raw, "hello", 5);
  test_wait(&victim.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(victim.first), "CO_ECANCELED");
  ck_assert_str_eq(co_errname(victim.second), "CO_OK");
  ck_assert_uint_eq(victim.second_bytes, 5);
  ck_assert(memcmp(victim.buf, "hello", 5) == 0);
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
}

/* A pending receive of a plain co task and of a sock task ends with
 * CO_ECANCELED; the task receives again on the same socket and gets the
 * data: neither the socket nor the task is cancelled for good. */
START_TEST(op_cancel_ends_a_receive_and_the_socket_goes_on)
{
  sock_runtime_t *rt = test_runtime_start();
  check_recv_cancel(rt, 1);
  check_recv_cancel(rt, 0);
  test_task_free_event(&victim.tt);
  test_runtime_stop(rt);
}
END_TEST

/* ---- A sleep and an event wait (sock tasks) ------------------------------------------- */

static co_state_t sleep_twice_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_sleep_start(&v->op, 60000, &v->tt.st));
  v->first = v->op.error;
  CO_AWAIT(t, sock_sleep_start(&v->op, 10, &v->tt.st));
  v->second = v->op.error;
  CO_END(t);
}

/* A sleep of 60 s, cancelled, ends at once with CO_ECANCELED; the task's
 * next sleep runs its course and ends with CO_OK. */
START_TEST(op_cancel_ends_a_sleep_and_the_task_sleeps_again)
{
  sock_runtime_t *rt = test_runtime_start();
  victim_reset(&victim, rt);
  test_spawn(rt, &victim.tt, sleep_twice_step);
  ck_assert(!test_finished(&victim.tt));
  ck_assert_int_eq(sock_op_cancel(&victim.op), 1);
  test_wait(&victim.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(victim.first), "CO_ECANCELED");
  ck_assert_str_eq(co_errname(victim.second), "CO_OK");
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_task_free_event(&victim.tt);
  test_runtime_stop(rt);
}
END_TEST

static co_state_t event_twice_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_event_wait_start(&v->op, &v->ev, &v->tt.st));
  v->first = v->op.error;
  InterlockedIncrement(&v->parked);
  CO_AWAIT(t, sock_event_wait_start(&v->op, &v->ev, &v->tt.st));
  v->second = v->op.error;
  CO_END(t);
}

/* A wait on an event that nobody sets, cancelled, leaves the event's queue
 * and ends with CO_ECANCELED; the next wait passes when the event is set. */
START_TEST(op_cancel_ends_an_event_wait_and_the_task_waits_again)
{
  sock_runtime_t *rt = test_runtime_start();
  victim_reset(&victim, rt);
  sock_event_init(&victim.ev, 0);
  test_spawn(rt, &victim.tt, event_twice_step);
  ck_assert(!test_finished(&victim.tt));
  ck_assert_int_eq(sock_op_cancel(&victim.op), 1);
  while (victim.parked < 1)
    Sleep(1);
  sock_event_set(&victim.ev);
  test_wait(&victim.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(victim.first), "CO_ECANCELED");
  ck_assert_str_eq(co_errname(victim.second), "CO_OK");
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_task_free_event(&victim.tt);
  test_runtime_stop(rt);
}
END_TEST

/* ---- An accept wait (plain task) ----------------------------------------------------------- */

static co_state_t accept_twice_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&v->op, v->sock, &v->acc, t));
  v->first = v->op.error;
  InterlockedIncrement(&v->parked);
  CO_AWAIT(t, sock_accept_start(&v->op, v->sock, &v->acc, t));
  v->second = v->op.error;
  v->got = v->acc.sock;
  sock_close(v->got);
  sock_close(v->sock);
  CO_END(t);
}

/* A plain task waiting to accept, cancelled, wakes with CO_ECANCELED (on a
 * pool thread); its next accept on the same listener takes a connection. */
START_TEST(op_cancel_ends_an_accept_wait_and_the_listener_goes_on)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  victim_reset(&victim, rt);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &victim.sock), CO_OK);
  victim_start_plain(&victim, accept_twice_step);
  ck_assert(!test_finished(&victim.tt));
  ck_assert_int_eq(sock_op_cancel(&victim.op), 1);
  while (victim.parked < 1)
    Sleep(1);
  raw = test_raw_connect(test_port(victim.sock));
  test_wait(&victim.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(victim.first), "CO_ECANCELED");
  ck_assert_str_eq(co_errname(victim.second), "CO_OK");
  ck_assert_ptr_nonnull(victim.got);
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_task_free_event(&victim.tt);
  test_runtime_stop(rt);
}
END_TEST

/* ---- A connect that stays pending (plain task) ------------------------------------------- */

enum { CONNECTS = 8 };
static victim_t connectors[CONNECTS];

static co_state_t connect_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&v->op, v->rt, "127.0.0.1", v->port, &v->got, t));
  v->first = v->op.error;
  sock_close(v->got);
  CO_END(t);
}

/* A listener that never accepts, with a backlog of 1: once its queue is
 * full the host drops further handshakes, so a connect stays pending. The
 * first connect of a plain task still pending after 300 ms is cancelled: it
 * ends with CO_ECANCELED, delivers no socket, and nothing is left. */
START_TEST(op_cancel_ends_a_pending_connect_of_a_plain_task)
{
  sock_runtime_t *rt = test_runtime_start();
  unsigned short port;
  SOCKET raw = test_raw_listen(1, &port);
  int i, cancelled = -1;
  for (i = 0; i < CONNECTS && cancelled < 0; i++) {
    victim_reset(&connectors[i], rt);
    connectors[i].port = port;
    victim_start_plain(&connectors[i], connect_step);
    if (WaitForSingleObject(connectors[i].tt.done, 300) == WAIT_TIMEOUT)
      cancelled = i;
  }
  ck_assert_msg(cancelled >= 0, "no connect stayed pending: the backlog took %d", CONNECTS);
  ck_assert_int_eq(sock_op_cancel(&connectors[cancelled].op), 1);
  test_wait(&connectors[cancelled].tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(connectors[cancelled].first), "CO_ECANCELED");
  ck_assert_ptr_null(connectors[cancelled].got);
  for (i = 0; i < cancelled; i++)
    ck_assert_str_eq(co_errname(connectors[i].first), "CO_OK");
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  for (i = 0; i <= cancelled; i++)
    test_task_free_event(&connectors[i].tt);
  test_runtime_stop(rt);
}
END_TEST

/* ---- Nothing to cancel -------------------------------------------------------------------- */

static co_state_t recv_once_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&v->op, v->sock, v->buf, sizeof v->buf, t));
  v->first = v->op.error;
  InterlockedIncrement(&v->parked);
  CO_WAIT_UNTIL(t, v->parked >= 2);  /* the test cancels between the awaits */
  CO_AWAIT(t, sock_recv_start(&v->op, v->sock, v->buf, sizeof v->buf, t));
  v->second = v->op.error;
  v->second_bytes = v->op.bytes;
  sock_close(v->sock);
  CO_END(t);
}

/* sock_op_cancel of NULL, of a record never started, and of a record whose
 * await has ended returns 0 and changes nothing: the next await on that
 * record is not cancelled. */
START_TEST(op_cancel_between_awaits_does_nothing)
{
  sock_runtime_t *rt = test_runtime_start();
  static sock_op_t fresh;
  SOCKET raw;
  ck_assert_int_eq(sock_op_cancel(NULL), 0);
  ck_assert_int_eq(sock_op_cancel(&fresh), 0);
  victim_reset(&victim, rt);
  victim.sock = test_pair(rt, &raw);
  victim_start_plain(&victim, recv_once_step);
  test_raw_send(raw, "a", 1);
  while (victim.tt.st.task.state != CO_YIELDED)  /* parked at CO_WAIT_UNTIL */
    Sleep(1);
  ck_assert_int_eq(sock_op_cancel(&victim.op), 0);  /* its receive has finished */
  InterlockedIncrement(&victim.parked);
  co_resume(&victim.tt.st.task);  /* past CO_WAIT_UNTIL, into the second receive */
  test_raw_send(raw, "bc", 2);
  test_wait(&victim.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(victim.first), "CO_OK");
  ck_assert_str_eq(co_errname(victim.second), "CO_OK");
  ck_assert_uint_eq(victim.second_bytes, 2);
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_task_free_event(&victim.tt);
  test_runtime_stop(rt);
}
END_TEST

/* ---- A cancel racing a completion ----------------------------------------------------------- */

enum { RACE_ROUNDS = 300 };

typedef struct racer {
  victim_t       v;
  volatile LONG  received;    /* bytes received in all */
  volatile LONG  cancelled;   /* receives that ended cancelled */
  int            error;       /* anything else that ended the loop */
} racer_t;

static racer_t racer;

static co_state_t racer_step(co_task_t *t)
{
  racer_t *r = (racer_t *)t;
  CO_BEGIN(t);
  while (r->received < RACE_ROUNDS) {
    CO_AWAIT(t, sock_recv_start(&r->v.op, r->v.sock, r->v.buf, 1, t));
    if (r->v.op.error == CO_ECANCELED) {
      InterlockedIncrement(&r->cancelled);
      continue;
    }
    if (r->v.op.error < 0) {
      r->error = r->v.op.error;
      break;
    }
    InterlockedIncrement(&r->received);
  }
  sock_close(r->v.sock);
  CO_END(t);
}

/* The peer sends one byte while the test cancels the pending receive (the
 * cancel just before or just after the byte), 300 times: each receive ends once, either with the byte or cancelled (then
 * the byte is still there for the next receive), so every byte arrives and
 * none twice. A second wake of one await would be reported as misuse. */
START_TEST(op_cancel_racing_a_completion_loses_nothing)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  int i;
  victim_reset(&racer.v, rt);
  racer.received = 0;
  racer.cancelled = 0;
  racer.error = 0;
  racer.v.sock = test_pair(rt, &raw);
  victim_start_plain(&racer.v, racer_step);
  for (i = 0; i < RACE_ROUNDS; i++) {
    if (i & 1) {  /* the cancel first: it finds the receive pending, or between two */
      sock_op_cancel(&racer.v.op);
      test_raw_send(raw, "x", 1);
    } else {      /* the byte first: the cancel races its completion */
      test_raw_send(raw, "x", 1);
      sock_op_cancel(&racer.v.op);
    }
    if (i % 8 == 0)
      Sleep(1);
  }
  test_wait(&racer.v.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(racer.error), "CO_OK");
  ck_assert_int_eq(racer.received, RACE_ROUNDS);
  printf("op_cancel race: %d bytes, %ld receives cancelled\n", RACE_ROUNDS,
         (long)racer.cancelled);
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_task_free_event(&racer.v.tt);
  test_runtime_stop(rt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_op_cancel");
  TCase *tc;
  tc = tcase_create("op_cancel_ends_a_receive_and_the_socket_goes_on");
  tcase_add_test(tc, op_cancel_ends_a_receive_and_the_socket_goes_on);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_ends_a_sleep_and_the_task_sleeps_again");
  tcase_add_test(tc, op_cancel_ends_a_sleep_and_the_task_sleeps_again);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_ends_an_event_wait_and_the_task_waits_again");
  tcase_add_test(tc, op_cancel_ends_an_event_wait_and_the_task_waits_again);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_ends_an_accept_wait_and_the_listener_goes_on");
  tcase_add_test(tc, op_cancel_ends_an_accept_wait_and_the_listener_goes_on);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_ends_a_pending_connect_of_a_plain_task");
  tcase_add_test(tc, op_cancel_ends_a_pending_connect_of_a_plain_task);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_between_awaits_does_nothing");
  tcase_add_test(tc, op_cancel_between_awaits_does_nothing);
  suite_add_tcase(s, tc);
  tc = tcase_create("op_cancel_racing_a_completion_loses_nothing");
  tcase_add_test(tc, op_cancel_racing_a_completion_loses_nothing);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tests/sock/test_time.c - sleeps and deadlines, and the race between a
 * deadline and the completion it would cancel.
 * ctest-timeout: 180 (the 10,000-round race takes about 20 s)
 */
#include "sock_test.h"

#include <stdint.h>

/* ---- a silent peer ---------------------------------------------------------- */

typedef struct {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[64];
  int         first_error;   /* what the bounded receive saw */
  int         second_error;  /* what an await after the deadline saw */
  ULONGLONG   elapsed_ms;
  ULONGLONG   start;
} waiter_t;

static co_state_t silent_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  CO_BEGIN(t);
  w->start = GetTickCount64();
  sock_deadline_set(&w->tt.st, 200);
  CO_AWAIT(t, sock_recv_start(&w->op, w->sock, w->buf, sizeof w->buf, t));
  w->first_error = w->op.error;
  w->elapsed_ms = GetTickCount64() - w->start;
  /* The deadline stays passed until cleared: the next await fails at once. */
  CO_AWAIT(t, sock_recv_start(&w->op, w->sock, w->buf, sizeof w->buf, t));
  w->second_error = w->op.error;
  sock_close(w->sock);  /* the cleanup idiom: release, then end */
  CO_END(t);
}

/* A peer that never sends: the receive ends with CO_ETIMEDOUT after the
 * deadline, the task closes the connection cleanly (the peer sees end of
 * stream), and nothing is left behind. */
START_TEST(deadline_fires_on_silent_peer)
{
  static waiter_t w;
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  char byte;
  memset(&w, 0, sizeof w);
  w.sock = test_pair(rt, &raw);
  test_spawn(rt, &w.tt, silent_step);
  test_wait(&w.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(w.first_error), "CO_ETIMEDOUT");
  ck_assert_str_eq(co_errname(w.second_error), "CO_ETIMEDOUT");
  ck_assert_msg(w.elapsed_ms >= 150 && w.elapsed_ms < 5000, "took %llu ms",
                (unsigned long long)w.elapsed_ms);
  ck_assert_int_eq(recv(raw, &byte, 1, 0), 0);  /* closed cleanly: EOF */
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- data in time ------------------------------------------------------------ */

static co_state_t in_time_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  CO_BEGIN(t);
  sock_deadline_set(&w->tt.st, 300);
  CO_AWAIT(t, sock_recv_start(&w->op, w->sock, w->buf, sizeof w->buf, t));
  w->first_error = w->op.error;
  sock_deadline_clear(&w->tt.st);
  /* Sleep past the old deadline: a cleared deadline never fires. */
  CO_AWAIT(t, sock_sleep_start(&w->op, 500, sock_task_of(t)));
  w->second_error = w->op.error;
  sock_close(w->sock);
  CO_END(t);
}

START_TEST(deadline_does_not_fire_when_data_arrives_in_time)
{
  static waiter_t w;
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  memset(&w, 0, sizeof w);
  w.sock = test_pair(rt, &raw);
  test_spawn(rt, &w.tt, in_time_step);
  Sleep(20);
  test_raw_send(raw, "hello", 5);
  test_wait(&w.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(w.first_error), "CO_OK");
  ck_assert_int_eq(memcmp(w.buf, "hello", 5), 0);
  ck_assert_str_eq(co_errname(w.second_error), "CO_OK");
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- sleep ------------------------------------------------------------------- */

typedef struct {
  test_task_t tt;
  sock_op_t   op;
  int         errors[3];
  ULONGLONG   elapsed[3];
} sleeper_t;

static co_state_t sleeper_step(co_task_t *t)
{
  sleeper_t *s = (sleeper_t *)t;
  static ULONGLONG start;
  CO_BEGIN(t);
  start = GetTickCount64();
  CO_AWAIT(t, sock_sleep_start(&s->op, 100, sock_task_of(t)));
  s->errors[0] = s->op.error;
  s->elapsed[0] = GetTickCount64() - start;
  CO_AWAIT(t, sock_sleep_start(&s->op, 0, sock_task_of(t)));  /* zero: finishes at once */
  s->errors[1] = s->op.error;
  sock_deadline_set(&s->tt.st, 50);             /* a deadline cuts a sleep short */
  start = GetTickCount64();
  CO_AWAIT(t, sock_sleep_start(&s->op, 5000, sock_task_of(t)));
  s->errors[2] = s->op.error;
  s->elapsed[2] = GetTickCount64() - start;
  CO_END(t);
}

START_TEST(sleep_waits_and_a_deadline_cuts_it_short)
{
  static sleeper_t s;
  sock_runtime_t *rt = test_runtime_start();
  memset(&s, 0, sizeof s);
  test_spawn(rt, &s.tt, sleeper_step);
  test_wait(&s.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(s.errors[0]), "CO_OK");
  ck_assert_msg(s.elapsed[0] >= 90, "slept %llu ms", (unsigned long long)s.elapsed[0]);
  ck_assert_str_eq(co_errname(s.errors[1]), "CO_OK");
  ck_assert_str_eq(co_errname(s.errors[2]), "CO_ETIMEDOUT");
  ck_assert_msg(s.elapsed[2] < 2000, "deadline took %llu ms", (unsigned long long)s.elapsed[2]);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- the race: a deadline against a completion ----------------------------------- */

enum { RACE_ROUNDS = 10000, IO_RACE_ROUNDS = 1000 };

/* A plain thread plays the completing side: for each round it waits for
 * "go", spins a pseudo-random 0-2 ms, then sends one item (or one byte). */
typedef struct {
  HANDLE       go;
  sock_chan_t *chan;
  SOCKET       raw;     /* the IO variant sends a byte here instead */
  int          rounds;
  volatile LONG stop;
} racer_t;

static void spin_us(unsigned us)
{
  LARGE_INTEGER f, a, b;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&a);
  do
    QueryPerformanceCounter(&b);
  while ((b.QuadPart - a.QuadPart) * 1000000 / f.QuadPart < (LONGLONG)us);
}

static DWORD WINAPI racer_main(void *arg)
{
  racer_t *r = arg;
  uint32_t seed = 12345;
  for (int i = 1; i <= r->rounds; i++) {
    if (WaitForSingleObject(r->go, 30000) != WAIT_OBJECT_0 || r->stop)
      return 1;
    seed = seed * 1103515245u + 12345u;
    spin_us((seed >> 16) % 2000);
    if (r->chan != NULL) {
      while (sock_chan_try_send(r->chan, (void *)(uintptr_t)i) == CO_EAGAIN)
        Sleep(0);
    } else {
      char byte = (char)i;
      send(r->raw, &byte, 1, 0);
    }
  }
  return 0;
}

typedef struct {
  test_task_t tt;
  racer_t    *racer;
  sock_chan_t *chan;
  sock_t     *sock;
  sock_op_t   op;
  void       *item;
  char        byte;
  int         round;
  int         rounds;
  int         in_time, timed_out, wrong;  /* outcomes; wrong: a bad item */
  int         other_error;
} race_task_t;

/* Each round: a 1 ms deadline, then the racer's item (or byte) arrives at
 * 0-2 ms. Either the item wins (CO_OK) or the deadline does (CO_ETIMEDOUT,
 * then the late item is collected without a deadline). Every round ends
 * with exactly its own item consumed. */
static co_state_t race_step(co_task_t *t)
{
  race_task_t *r = (race_task_t *)t;
  CO_BEGIN(t);
  for (r->round = 1; r->round <= r->rounds; r->round++) {
    sock_deadline_set(&r->tt.st, 1);
    SetEvent(r->racer->go);
    if (r->chan != NULL)
      CO_AWAIT(t, sock_chan_recv_start(&r->op, r->chan, &r->item, sock_task_of(t)));
    else
      CO_AWAIT(t, sock_recv_start(&r->op, r->sock, &r->byte, 1, t));
    sock_deadline_clear(&r->tt.st);
    if (r->op.error == CO_ETIMEDOUT) {
      r->timed_out++;
      if (r->chan != NULL)
        CO_AWAIT(t, sock_chan_recv_start(&r->op, r->chan, &r->item, sock_task_of(t)));
      else
        CO_AWAIT(t, sock_recv_start(&r->op, r->sock, &r->byte, 1, t));
    } else {
      r->in_time++;
    }
    if (r->op.error != CO_OK) {
      r->other_error = r->op.error;
      break;
    }
    if (r->chan != NULL ? (uintptr_t)r->item != (uintptr_t)r->round
                        : r->byte != (char)r->round)
      r->wrong++;
  }
  if (r->sock != NULL)
    sock_close(r->sock);
  CO_END(t);
}

static void run_race(race_task_t *r, racer_t *racer, sock_runtime_t *rt)
{
  HANDLE thread;
  racer->go = CreateEventW(NULL, FALSE, FALSE, NULL);
  thread = CreateThread(NULL, 0, racer_main, racer, 0, NULL);
  ck_assert_ptr_nonnull(thread);
  r->racer = racer;
  test_spawn(rt, &r->tt, race_step);
  test_wait(&r->tt, 100000);
  WaitForSingleObject(thread, 30000);
  CloseHandle(thread);
  CloseHandle(racer->go);
  printf("%d rounds: %d in time, %d timed out\n", r->rounds, r->in_time, r->timed_out);
  ck_assert_str_eq(co_errname(r->other_error), "CO_OK");
  ck_assert_int_eq(r->wrong, 0);
  ck_assert_int_eq(r->in_time + r->timed_out, r->rounds);
  ck_assert_msg(r->in_time > 0 && r->timed_out > 0, "only one outcome seen");
}

/* A deadline against a channel receive (a user-space wait), 10,000 times:
 * both outcomes happen, no round is resumed twice (co_wake would abort),
 * no item is lost or doubled, and nothing leaks. */
START_TEST(deadline_versus_channel_item_race_10000_times)
{
  static race_task_t r;
  static racer_t racer;
  static sock_chan_t chan;
  static void *slots[4];
  sock_runtime_t *rt = test_runtime_start();
  memset(&r, 0, sizeof r);
  memset(&racer, 0, sizeof racer);
  sock_chan_init(&chan, slots, 4);
  r.chan = racer.chan = &chan;
  r.rounds = racer.rounds = RACE_ROUNDS;
  run_race(&r, &racer, rt);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* The same race against a socket receive (CancelIoEx against the data). */
START_TEST(deadline_versus_socket_data_race_1000_times)
{
  static race_task_t r;
  static racer_t racer;
  sock_runtime_t *rt = test_runtime_start();
  memset(&r, 0, sizeof r);
  memset(&racer, 0, sizeof racer);
  r.sock = test_pair(rt, &racer.raw);
  r.rounds = racer.rounds = IO_RACE_ROUNDS;
  run_race(&r, &racer, rt);
  closesocket(racer.raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- a deadline reaches every kind of await ------------------------------------ */

typedef struct {
  co_task_t     task;
  sock_reader_t reader;
  sock_op_t     op;
  char          line[64];
} line_child_t;

static co_state_t line_child_step(co_task_t *t)
{
  line_child_t *c = (line_child_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
  CO_EXIT(t, c->op.error);
  CO_END(t);
}

typedef struct {
  test_task_t   tt;
  sock_t       *listener, *sock;
  sock_op_t     op;
  sock_accept_t acc;
  line_child_t  child;
  char         *big;
  int           accept_error, child_status, send_error;
  unsigned long sent;
} bounded_t;

enum { BIG = 64 * 1024 * 1024 };

/* An accept nobody connects to, a child task reading a line that never
 * comes, and a send-all into a peer that never reads: each ends with
 * CO_ETIMEDOUT when its deadline passes. */
static co_state_t bounded_step(co_task_t *t)
{
  bounded_t *b = (bounded_t *)t;
  CO_BEGIN(t);
  sock_deadline_set(&b->tt.st, 100);
  CO_AWAIT(t, sock_accept_start(&b->op, b->listener, &b->acc, t));
  b->accept_error = b->op.error;

  sock_deadline_set(&b->tt.st, 100);
  sock_reader_init(&b->child.reader, b->sock, b->child.line, sizeof b->child.line);
  CO_CALL(t, &b->child.task, line_child_step);
  b->child_status = co_status(&b->child.task);

  sock_deadline_set(&b->tt.st, 300);
  CO_AWAIT(t, sock_send_all_start(&b->op, b->sock, b->big, BIG, t));
  b->send_error = b->op.error;
  b->sent = b->op.bytes;
  sock_deadline_clear(&b->tt.st);
  sock_close(b->sock);
  CO_END(t);
}

START_TEST(deadline_bounds_accept_child_and_send)
{
  static bounded_t b;
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  memset(&b, 0, sizeof b);
  b.big = calloc(1, BIG);
  ck_assert_ptr_nonnull(b.big);
  b.sock = test_pair(rt, &raw);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 4, &b.listener), CO_OK);
  test_spawn(rt, &b.tt, bounded_step);
  test_wait(&b.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(b.accept_error), "CO_ETIMEDOUT");
  ck_assert_str_eq(co_errname(b.child_status), "CO_ETIMEDOUT");
  ck_assert_str_eq(co_errname(b.send_error), "CO_ETIMEDOUT");
  ck_assert_msg(b.sent < BIG, "sent %lu of %d", b.sent, BIG);
  sock_close(b.listener);
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free(b.big);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_time");
  TCase *tc;

  tc = tcase_create("deadline_fires_on_silent_peer");
  tcase_add_test(tc, deadline_fires_on_silent_peer);
  suite_add_tcase(s, tc);

  tc = tcase_create("deadline_does_not_fire_in_time");
  tcase_add_test(tc, deadline_does_not_fire_when_data_arrives_in_time);
  suite_add_tcase(s, tc);

  tc = tcase_create("sleep_and_deadline_on_sleep");
  tcase_add_test(tc, sleep_waits_and_a_deadline_cuts_it_short);
  suite_add_tcase(s, tc);

  tc = tcase_create("deadline_bounds_accept_child_and_send");
  tcase_add_test(tc, deadline_bounds_accept_child_and_send);
  suite_add_tcase(s, tc);

  tc = tcase_create("deadline_race_channel");
  tcase_add_test(tc, deadline_versus_channel_item_race_10000_times);
  suite_add_tcase(s, tc);

  tc = tcase_create("deadline_race_socket");
  tcase_add_test(tc, deadline_versus_socket_data_race_1000_times);
  suite_add_tcase(s, tc);
  return s;
}

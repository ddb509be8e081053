/*
 * tests/sock/test_sync.c - handing work between tasks: channels, semaphores,
 * events and wait groups; cancelling a task parked in each kind of await;
 * shutting the runtime down while tasks sleep, wait and are parked.
 * ctest-timeout: 180 (a million items through a channel under Wine)
 */
#include "sock_test.h"

#include <stdint.h>

/* ---- a million items in order -------------------------------------------------- */

enum { ITEMS = 1000000 };

typedef struct {
  test_task_t  tt;
  sock_chan_t *chan;
  sock_op_t    op;
  uintptr_t    i;
  void        *item;
  uintptr_t    expected;  /* consumer: the next item it must see */
  long         out_of_order;
  int          error;
} pipe_task_t;

static co_state_t producer_step(co_task_t *t)
{
  pipe_task_t *p = (pipe_task_t *)t;
  CO_BEGIN(t);
  for (p->i = 1; p->i <= ITEMS; p->i++) {
    CO_AWAIT(t, sock_chan_send_start(&p->op, p->chan, (void *)p->i, sock_task_of(t)));
    if (p->op.error != CO_OK) {
      p->error = p->op.error;
      CO_EXIT(t, p->error);
    }
  }
  sock_chan_close(p->chan);  /* the consumer drains, then sees CO_ECLOSED */
  CO_END(t);
}

static co_state_t consumer_step(co_task_t *t)
{
  pipe_task_t *c = (pipe_task_t *)t;
  CO_BEGIN(t);
  c->expected = 1;
  for (;;) {
    CO_AWAIT(t, sock_chan_recv_start(&c->op, c->chan, &c->item, sock_task_of(t)));
    if (c->op.error != CO_OK)
      break;
    if ((uintptr_t)c->item != c->expected)
      c->out_of_order++;
    c->expected++;
  }
  c->error = c->op.error;
  CO_END(t);
}

/* A producer and a consumer on two pool threads move 1,000,000 items through
 * a 64-slot channel: every item arrives, once, in order, and the close after
 * the last one ends the consumer with CO_ECLOSED. */
START_TEST(channel_moves_a_million_items_in_order)
{
  static pipe_task_t producer, consumer;
  static sock_chan_t chan;
  static void *slots[64];
  sock_runtime_t *rt = test_runtime_start();
  memset(&producer, 0, sizeof producer);
  memset(&consumer, 0, sizeof consumer);
  sock_chan_init(&chan, slots, 64);
  producer.chan = consumer.chan = &chan;
  test_spawn(rt, &consumer.tt, consumer_step);
  test_spawn(rt, &producer.tt, producer_step);
  test_wait(&producer.tt, 150000);
  test_wait(&consumer.tt, 10000);
  ck_assert_str_eq(co_errname(producer.error), "CO_OK");
  ck_assert_str_eq(co_errname(consumer.error), "CO_ECLOSED");
  ck_assert_uint_eq(consumer.expected - 1, ITEMS);
  ck_assert_int_eq(consumer.out_of_order, 0);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- a semaphore admits at most N ------------------------------------------------ */

enum { SEM_TASKS = 20, SEM_LIMIT = 3, SEM_ROUNDS = 10 };

static volatile LONG holders, max_holders;

typedef struct {
  test_task_t tt;
  sock_sem_t *sem;
  sock_op_t   op;
  int         round;
  int         error;
} holder_t;

static co_state_t holder_step(co_task_t *t)
{
  holder_t *h = (holder_t *)t;
  LONG now;
  CO_BEGIN(t);
  for (h->round = 0; h->round < SEM_ROUNDS; h->round++) {
    CO_AWAIT(t, sock_sem_acquire_start(&h->op, h->sem, sock_task_of(t)));
    if (h->op.error != CO_OK)
      break;
    now = InterlockedIncrement(&holders);
    for (LONG seen = max_holders; now > seen; seen = max_holders)
      InterlockedCompareExchange(&max_holders, now, seen);
    CO_AWAIT(t, sock_sleep_start(&h->op, 1 + (unsigned)(h->round % 3), sock_task_of(t)));
    InterlockedDecrement(&holders);
    sock_sem_release(h->sem);
  }
  h->error = h->op.error;
  CO_END(t);
}

/* 20 tasks take a 3-permit semaphore 10 times each and hold it across a
 * sleep: never more than 3 hold it at once, and the limit is reached. */
START_TEST(semaphore_never_admits_more_than_its_count)
{
  static holder_t tasks[SEM_TASKS];
  static sock_sem_t sem;
  sock_runtime_t *rt = test_runtime_start();
  holders = 0;
  max_holders = 0;
  sock_sem_init(&sem, SEM_LIMIT);
  for (int i = 0; i < SEM_TASKS; i++) {
    HANDLE done = tasks[i].tt.done;
    memset(&tasks[i], 0, sizeof tasks[i]);
    tasks[i].tt.done = done;
    tasks[i].sem = &sem;
    test_spawn(rt, &tasks[i].tt, holder_step);
  }
  for (int i = 0; i < SEM_TASKS; i++) {
    test_wait(&tasks[i].tt, 30000);
    ck_assert_str_eq(co_errname(tasks[i].error), "CO_OK");
  }
  ck_assert_int_le(max_holders, SEM_LIMIT);
  ck_assert_int_eq(max_holders, SEM_LIMIT);
  ck_assert_int_eq(sem.count, SEM_LIMIT);
  /* Without waiting: the free permits, then "busy", then one back. */
  for (int i = 0; i < SEM_LIMIT; i++)
    ck_assert_int_eq(sock_sem_try_acquire(&sem), CO_OK);
  ck_assert_int_eq(sock_sem_try_acquire(&sem), CO_EAGAIN);
  sock_sem_release(&sem);
  ck_assert_int_eq(sock_sem_try_acquire(&sem), CO_OK);
  ck_assert_int_eq(sock_sem_try_acquire(NULL), CO_EINVAL);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- closing a channel wakes every waiter ------------------------------------------ */

enum { WAITERS = 10 };

typedef struct {
  test_task_t  tt;
  sock_chan_t *chan;
  sock_op_t    op;
  void        *item;
  int          sender;
  int          error;
} parked_t;

static co_state_t parked_step(co_task_t *t)
{
  parked_t *p = (parked_t *)t;
  CO_BEGIN(t);
  if (p->sender)
    CO_AWAIT(t, sock_chan_send_start(&p->op, p->chan, p, sock_task_of(t)));
  else
    CO_AWAIT(t, sock_chan_recv_start(&p->op, p->chan, &p->item, sock_task_of(t)));
  p->error = p->op.error;
  CO_END(t);
}

static void spawn_parked(sock_runtime_t *rt, parked_t *p, sock_chan_t *chan, int sender)
{
  HANDLE done = p->tt.done;
  memset(p, 0, sizeof *p);
  p->tt.done = done;
  p->chan = chan;
  p->sender = sender;
  test_spawn(rt, &p->tt, parked_step);
}

/* 10 receivers wait on an empty channel, 10 senders on a full one; close
 * wakes all 20 with CO_ECLOSED, and later sends fail at once. */
START_TEST(closing_a_channel_wakes_all_waiters)
{
  static parked_t receivers[WAITERS], senders[WAITERS];
  static sock_chan_t empty, full;
  static void *empty_slots[2], *full_slots[1];
  sock_runtime_t *rt = test_runtime_start();
  sock_chan_init(&empty, empty_slots, 2);
  sock_chan_init(&full, full_slots, 1);
  ck_assert_int_eq(sock_chan_try_send(&full, &full), CO_OK);
  ck_assert_int_eq(sock_chan_try_send(&full, &full), CO_EAGAIN);
  for (int i = 0; i < WAITERS; i++) {
    spawn_parked(rt, &receivers[i], &empty, 0);
    spawn_parked(rt, &senders[i], &full, 1);
  }
  test_wait_counters(rt, 0, 2 * WAITERS, 2 * WAITERS, 5000);
  for (int i = 0; i < WAITERS; i++)
    ck_assert(!test_finished(&receivers[i].tt) && !test_finished(&senders[i].tt));
  sock_chan_close(&empty);
  sock_chan_close(&full);
  for (int i = 0; i < WAITERS; i++) {
    test_wait(&receivers[i].tt, TEST_WAIT_MS);
    test_wait(&senders[i].tt, TEST_WAIT_MS);
    ck_assert_str_eq(co_errname(receivers[i].error), "CO_ECLOSED");
    ck_assert_str_eq(co_errname(senders[i].error), "CO_ECLOSED");
  }
  ck_assert_int_eq(sock_chan_try_send(&empty, &empty), CO_ECLOSED);
  {
    void *item;  /* what was buffered before the close is still received */
    ck_assert_int_eq(sock_chan_try_recv(&full, &item), CO_OK);
    ck_assert_ptr_eq(item, &full);
    ck_assert_int_eq(sock_chan_try_recv(&full, &item), CO_ECLOSED);
  }
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- a wait group resumes once, after the last task ---------------------------------- */

enum { WORKERS = 50 };

static volatile LONG workers_finished;

typedef struct {
  sock_task_t       st;
  sock_waitgroup_t *wg;
  sock_op_t         op;
  int               delay;
} worker_t;

static co_state_t worker_step(co_task_t *t)
{
  worker_t *w = (worker_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_sleep_start(&w->op, (unsigned)w->delay, sock_task_of(t)));
  CO_END(t);
}

static void worker_done(co_task_t *t)
{
  worker_t *w = (worker_t *)t;
  InterlockedIncrement(&workers_finished);
  sock_waitgroup_done(w->wg);  /* the join idiom: done in the completion hook */
}

typedef struct {
  test_task_t       tt;
  sock_waitgroup_t *wg;
  sock_op_t         op;
  int               resumes;  /* steps after the wait */
  LONG              finished_when_resumed;
  int               error;
} joiner_t;

static co_state_t joiner_step(co_task_t *t)
{
  joiner_t *j = (joiner_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_waitgroup_wait_start(&j->op, j->wg, sock_task_of(t)));
  j->resumes++;
  j->finished_when_resumed = workers_finished;
  j->error = j->op.error;
  CO_END(t);
}

START_TEST(waitgroup_resumes_once_after_the_last_task)
{
  static worker_t workers[WORKERS];
  static joiner_t joiner;
  static sock_waitgroup_t wg;
  sock_runtime_t *rt = test_runtime_start();
  workers_finished = 0;
  sock_waitgroup_init(&wg);
  sock_waitgroup_add(&wg, WORKERS);
  memset(&joiner, 0, sizeof joiner);
  joiner.wg = &wg;
  test_spawn(rt, &joiner.tt, joiner_step);
  for (int i = 0; i < WORKERS; i++) {
    workers[i].wg = &wg;
    workers[i].delay = 1 + (i * 7) % 40;
    sock_spawn(rt, &workers[i].st, worker_step, worker_done);
  }
  test_wait(&joiner.tt, TEST_WAIT_MS);
  ck_assert_int_eq(joiner.resumes, 1);
  ck_assert_int_eq(joiner.finished_when_resumed, WORKERS);
  ck_assert_str_eq(co_errname(joiner.error), "CO_OK");
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- events ------------------------------------------------------------------------------ */

typedef struct {
  test_task_t   tt;
  sock_event_t *ev;
  sock_op_t     op;
  int           error;
} event_waiter_t;

static co_state_t event_waiter_step(co_task_t *t)
{
  event_waiter_t *w = (event_waiter_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_event_wait_start(&w->op, w->ev, sock_task_of(t)));
  w->error = w->op.error;
  CO_END(t);
}

/* Set wakes every waiter; while set, a wait passes at once; after reset, a
 * wait blocks again. */
START_TEST(event_set_wakes_all_and_reset_blocks_again)
{
  static event_waiter_t waiters[5], late;
  static sock_event_t ev;
  sock_runtime_t *rt = test_runtime_start();
  sock_event_init(&ev, 0);
  for (int i = 0; i < 5; i++) {
    waiters[i].ev = &ev;
    test_spawn(rt, &waiters[i].tt, event_waiter_step);
  }
  test_wait_counters(rt, 0, 5, 5, 5000);
  sock_event_set(&ev);
  for (int i = 0; i < 5; i++) {
    test_wait(&waiters[i].tt, TEST_WAIT_MS);
    ck_assert_str_eq(co_errname(waiters[i].error), "CO_OK");
  }
  late.ev = &ev;
  test_spawn(rt, &late.tt, event_waiter_step);  /* set: passes inline */
  ck_assert(test_finished(&late.tt));
  sock_event_reset(&ev);
  test_spawn(rt, &late.tt, event_waiter_step);
  Sleep(50);
  ck_assert(!test_finished(&late.tt));
  sock_event_set(&ev);
  test_wait(&late.tt, TEST_WAIT_MS);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- cancelling a task parked in each kind of await ---------------------------------------- */

enum { KIND_SLEEP, KIND_EVENT, KIND_SEM, KIND_CHAN_RECV, KIND_CHAN_SEND, KIND_WAITGROUP,
       KIND_RECV, KIND_CHILD, KIND_COUNT };

static const char *const kind_names[KIND_COUNT] = {
  "sleep", "event", "semaphore", "channel receive", "channel send", "wait group",
  "socket receive", "child task's receive"};

typedef struct {
  co_task_t task;
  sock_t   *sock;
  sock_op_t op;
  char      buf[16];
} child_t;

static co_state_t child_step(co_task_t *t)
{
  child_t *c = (child_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->buf, sizeof c->buf, t));
  CO_EXIT(t, c->op.error);
  CO_END(t);
}

typedef struct {
  test_task_t      tt;
  int              kind;
  sock_event_t     ev;
  sock_sem_t       sem;
  sock_chan_t      chan;
  void            *slot[1];
  sock_waitgroup_t wg;
  sock_t          *sock;
  child_t          child;
  sock_op_t        op;
  void            *item;
  int              error;        /* what the parked await saw */
  int              after_error;  /* what an await after the cancel saw */
} victim_t;

static int victim_start(victim_t *v, co_task_t *t)
{
  switch (v->kind) {
  case KIND_SLEEP:      return sock_sleep_start(&v->op, 60000, sock_task_of(t));
  case KIND_EVENT:      return sock_event_wait_start(&v->op, &v->ev, sock_task_of(t));
  case KIND_SEM:        return sock_sem_acquire_start(&v->op, &v->sem, sock_task_of(t));
  case KIND_CHAN_RECV:  return sock_chan_recv_start(&v->op, &v->chan, &v->item, sock_task_of(t));
  case KIND_CHAN_SEND:  return sock_chan_send_start(&v->op, &v->chan, v, sock_task_of(t));
  case KIND_WAITGROUP:  return sock_waitgroup_wait_start(&v->op, &v->wg, sock_task_of(t));
  default:              return sock_recv_start(&v->op, v->sock, v->item, 1, t);
  }
}

static co_state_t victim_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  if (v->kind == KIND_CHILD) {
    v->child.sock = v->sock;
    CO_CALL(t, &v->child.task, child_step);
    v->error = co_status(&v->child.task);
  } else {
    CO_AWAIT(t, victim_start(v, t));
    v->error = v->op.error;
  }
  /* Cancelled: every later await fails at once; the task cleans up. */
  CO_AWAIT(t, sock_sleep_start(&v->op, 60000, sock_task_of(t)));
  v->after_error = v->op.error;
  if (v->sock != NULL)
    sock_close(v->sock);
  CO_END(t);
}

/* For each kind of await: park a task in it, cancel it from the test thread;
 * the await ends with CO_ECANCELED, the next one too, the task ends, and
 * nothing is left. A second cancel of the finished task is harmless. */
START_TEST(cancel_reaches_a_task_parked_in_each_kind_of_await)
{
  static victim_t v;
  static char byte;
  sock_runtime_t *rt = test_runtime_start();
  for (int kind = 0; kind < KIND_COUNT; kind++) {
    SOCKET raw = INVALID_SOCKET;
    HANDLE done = v.tt.done;
    memset(&v, 0, sizeof v);
    v.tt.done = done;
    v.kind = kind;
    v.item = &byte;
    sock_event_init(&v.ev, 0);
    sock_sem_init(&v.sem, 0);
    sock_chan_init(&v.chan, v.slot, 1);
    if (kind == KIND_CHAN_SEND)
      sock_chan_try_send(&v.chan, &v);  /* full: the send waits */
    sock_waitgroup_init(&v.wg);
    sock_waitgroup_add(&v.wg, 1);
    if (kind == KIND_RECV || kind == KIND_CHILD)
      v.sock = test_pair(rt, &raw);
    test_spawn(rt, &v.tt, victim_step);
    test_wait_counters(rt, v.sock != NULL, 1, 1, 5000);  /* parked */
    sock_task_cancel(&v.tt.st);
    test_wait(&v.tt, TEST_WAIT_MS);
    ck_assert_msg(v.error == CO_ECANCELED, "%s: %s", kind_names[kind], co_errname(v.error));
    ck_assert_msg(v.after_error == CO_ECANCELED, "%s after: %s", kind_names[kind],
                  co_errname(v.after_error));
    sock_task_cancel(&v.tt.st);  /* finished: nothing happens */
    if (raw != INVALID_SOCKET)
      closesocket(raw);
    test_wait_counters(rt, 0, 0, 0, 5000);
  }
  test_runtime_stop(rt);
}
END_TEST

/* ---- shutdown with tasks parked everywhere ------------------------------------------------- */

static volatile LONG parked_steps;

typedef struct {
  sock_task_t   st;
  victim_t     *shared;
  int           kind;
  sock_op_t     op;
  void         *item;
  int           error;
} sleeper_t;

static co_state_t counted_step(co_task_t *t)
{
  sleeper_t *s = (sleeper_t *)t;
  victim_t *v = s->shared;
  InterlockedIncrement(&parked_steps);
  CO_BEGIN(t);
  if (s->kind == 0)
    CO_AWAIT(t, sock_sleep_start(&s->op, 60000, sock_task_of(t)));
  else if (s->kind == 1)
    CO_AWAIT(t, sock_event_wait_start(&s->op, &v->ev, sock_task_of(t)));
  else if (s->kind == 2)
    CO_AWAIT(t, sock_chan_recv_start(&s->op, &v->chan, &s->item, sock_task_of(t)));
  else
    CO_AWAIT(t, sock_sem_acquire_start(&s->op, &v->sem, sock_task_of(t)));
  s->error = s->op.error;
  CO_END(t);
}

static volatile LONG counted_done;
static void counted_hook(co_task_t *t)
{
  (void)t;
  InterlockedIncrement(&counted_done);
}

/* 40 tasks sleep, wait on an event, on a channel and on a semaphore; the
 * runtime's shutdown wakes each with CO_ECANCELED, each hook runs once
 * before shutdown returns, and no step runs afterwards. */
START_TEST(shutdown_while_tasks_sleep_wait_and_park)
{
  static sleeper_t tasks[40];
  static victim_t shared;
  sock_runtime_t *rt = test_runtime_start();
  LONG steps;
  parked_steps = 0;
  counted_done = 0;
  sock_event_init(&shared.ev, 0);
  sock_chan_init(&shared.chan, shared.slot, 1);
  sock_sem_init(&shared.sem, 0);
  for (int i = 0; i < 40; i++) {
    tasks[i].shared = &shared;
    tasks[i].kind = i % 4;
    sock_spawn(rt, &tasks[i].st, counted_step, counted_hook);
  }
  test_wait_counters(rt, 0, 40, 40, 5000);
  sock_runtime_shutdown(rt);
  ck_assert_int_eq(counted_done, 40);
  for (int i = 0; i < 40; i++)
    ck_assert_str_eq(co_errname(tasks[i].error), "CO_ECANCELED");
  steps = parked_steps;
  Sleep(200);
  ck_assert_int_eq(parked_steps, steps);
  WSACleanup();  /* test_runtime_start's own reference */
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_sync");
  TCase *tc;

  tc = tcase_create("channel_million_items_in_order");
  tcase_add_test(tc, channel_moves_a_million_items_in_order);
  suite_add_tcase(s, tc);

  tc = tcase_create("semaphore_never_admits_more_than_n");
  tcase_add_test(tc, semaphore_never_admits_more_than_its_count);
  suite_add_tcase(s, tc);

  tc = tcase_create("closing_channel_wakes_all_waiters");
  tcase_add_test(tc, closing_a_channel_wakes_all_waiters);
  suite_add_tcase(s, tc);

  tc = tcase_create("waitgroup_resumes_once_after_last");
  tcase_add_test(tc, waitgroup_resumes_once_after_the_last_task);
  suite_add_tcase(s, tc);

  tc = tcase_create("event_set_and_reset");
  tcase_add_test(tc, event_set_wakes_all_and_reset_blocks_again);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel_in_each_kind_of_await");
  tcase_add_test(tc, cancel_reaches_a_task_parked_in_each_kind_of_await);
  suite_add_tcase(s, tc);

  tc = tcase_create("shutdown_while_tasks_sleep_and_wait");
  tcase_add_test(tc, shutdown_while_tasks_sleep_wait_and_park);
  suite_add_tcase(s, tc);
  return s;
}

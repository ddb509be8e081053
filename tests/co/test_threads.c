/*
 * tests/co/test_threads.c - a task whose awaits complete on other threads.
 *
 * Each await hands its operation to another thread, which stores a result and
 * calls co_wake(), exactly as a thread-pool IO callback does. The completion
 * can run before the start function has even returned on the first thread;
 * the await protocol says the first thread touches nothing after CO_PENDING.
 * Natively two pthreads take turns (ThreadSanitizer checks the hand-offs);
 * under Windows each completion is a thread-pool work item.
 */
#include <check.h>
#include <co/co.h>

#ifdef _WIN32
#  define WIN32_LEAN_AND_MEAN
#  include <windows.h>
#else
#  include <pthread.h>
#endif

enum { ROUNDS = 100000 };

typedef struct relay relay_t;

typedef struct {
  co_task_t task;
  relay_t *relay;
  int i;
  int value;       /* written by the completing thread before co_wake */
  int mismatches;  /* results that were not what the start asked for */
  int hops;        /* awaits that completed */
} pinger_t;

static int relay_start(relay_t *relay, pinger_t *p);

static co_state_t pinger_step(co_task_t *t)
{
  pinger_t *p = (pinger_t *)t;
  CO_BEGIN(t);
  for (p->i = 0; p->i < ROUNDS; p->i++) {
    CO_AWAIT(t, relay_start(p->relay, p));
    if (p->value != p->i * 3)
      p->mismatches++;
    p->hops++;
  }
  CO_END(t);
}

#ifdef _WIN32
/* ---- Windows: one thread-pool work item per completion --------------------- */

struct relay {
  HANDLE finished;  /* set by the completion hook */
};

static void CALLBACK relay_work(PTP_CALLBACK_INSTANCE instance, void *context)
{
  pinger_t *p = context;
  (void)instance;
  p->value = p->i * 3;
  co_wake(&p->task);
}

static int relay_start(relay_t *relay, pinger_t *p)
{
  (void)relay;
  if (!TrySubmitThreadpoolCallback(relay_work, p, NULL))
    return CO_ENOMEM;
  return CO_PENDING;
}

static void pinger_done(co_task_t *t)
{
  SetEvent(((pinger_t *)t)->relay->finished);
}

static void run_relay(pinger_t *p)
{
  relay_t relay;
  relay.finished = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(relay.finished);
  p->relay = &relay;
  co_task_init(&p->task, pinger_step, pinger_done);
  co_resume(&p->task);
  ck_assert_int_eq(WaitForSingleObject(relay.finished, 60000), WAIT_OBJECT_0);
  CloseHandle(relay.finished);
}

#else
/* ---- POSIX: two threads take turns completing the awaits ------------------ */

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t ready;
  pinger_t *pending;  /* the operation handed to this thread, or NULL */
  int stop;
} mailbox_t;

struct relay {
  mailbox_t box[2];  /* await i is completed by thread i % 2 */
  pthread_mutex_t lock;
  pthread_cond_t finished_cond;
  int finished;
};

static int relay_start(relay_t *relay, pinger_t *p)
{
  mailbox_t *box = &relay->box[p->i % 2];
  pthread_mutex_lock(&box->lock);
  box->pending = p;
  pthread_cond_signal(&box->ready);
  pthread_mutex_unlock(&box->lock);
  return CO_PENDING;  /* p may already be running on the other thread */
}

static void *completer(void *arg)
{
  mailbox_t *box = arg;
  for (;;) {
    pinger_t *p;
    pthread_mutex_lock(&box->lock);
    while (box->pending == NULL && !box->stop)
      pthread_cond_wait(&box->ready, &box->lock);
    p = box->pending;
    box->pending = NULL;
    pthread_mutex_unlock(&box->lock);
    if (p == NULL)
      return NULL;
    p->value = p->i * 3;
    co_wake(&p->task);
  }
}

static void pinger_done(co_task_t *t)
{
  relay_t *relay = ((pinger_t *)t)->relay;
  pthread_mutex_lock(&relay->lock);
  relay->finished = 1;
  pthread_cond_signal(&relay->finished_cond);
  pthread_mutex_unlock(&relay->lock);
}

static void run_relay(pinger_t *p)
{
  static relay_t relay;
  pthread_t threads[2];
  pthread_mutex_init(&relay.lock, NULL);
  pthread_cond_init(&relay.finished_cond, NULL);
  relay.finished = 0;
  for (int k = 0; k < 2; k++) {
    pthread_mutex_init(&relay.box[k].lock, NULL);
    pthread_cond_init(&relay.box[k].ready, NULL);
    relay.box[k].pending = NULL;
    relay.box[k].stop = 0;
    ck_assert_int_eq(pthread_create(&threads[k], NULL, completer, &relay.box[k]), 0);
  }
  p->relay = &relay;
  co_task_init(&p->task, pinger_step, pinger_done);
  co_resume(&p->task);

  pthread_mutex_lock(&relay.lock);
  while (!relay.finished)
    pthread_cond_wait(&relay.finished_cond, &relay.lock);
  pthread_mutex_unlock(&relay.lock);

  for (int k = 0; k < 2; k++) {
    pthread_mutex_lock(&relay.box[k].lock);
    relay.box[k].stop = 1;
    pthread_cond_signal(&relay.box[k].ready);
    pthread_mutex_unlock(&relay.box[k].lock);
    pthread_join(threads[k], NULL);
  }
}
#endif

/* 100,000 awaits, each completed on another thread than the one that
 * started it: the task resumes at the right place every time, sees the value
 * the completion stored, and finishes exactly once. */
START_TEST(task_resumed_from_other_threads_100000_times)
{
  static pinger_t p;
  p.mismatches = 0;
  p.hops = 0;
  run_relay(&p);
  ck_assert(co_done(&p.task));
  ck_assert_int_eq(p.hops, ROUNDS);
  ck_assert_int_eq(p.mismatches, 0);
  ck_assert_int_eq(co_status(&p.task), CO_OK);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("co_threads");
  TCase *tc = tcase_create("cross_thread_resume");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, task_resumed_from_other_threads_100000_times);
  suite_add_tcase(s, tc);
  return s;
}

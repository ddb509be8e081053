/*
 * sock/task.c - counted tasks: spawning, cancelling, the deadline and sleep.
 *
 * A sock_task_t remembers the record of the await in progress (wait_op),
 * under its lock (one of the runtime's striped task locks). Three parties
 * can end an await: its completion, a canceller (sock_task_cancel,
 * sock_op_cancel, the runtime's stop) and the task's timer (deadline). A
 * canceller marks the task and then cancels the record through the hub
 * (hub.c: CancelIoEx for a call in the kernel, out of the list for a queued
 * wait), so exactly one party ends it; a sleep is the task's own and is
 * ended here, by whoever clears its due time first.
 * The lock order is runtime lists, then task, then the record's hub lock,
 * then a wait list.
 */
#include "sock_internal.h"

#include <stdlib.h>

/* A task's timer: one thread-pool timer serves its deadline and its sleeps. */
struct sock_timing {
  PTP_TIMER  timer;
  ULONGLONG  deadline_due;  /* sock__now_ms() time, 0 = no deadline */
  ULONGLONG  sleep_due;     /* 0 = not sleeping */
};

static void sock__task_done(co_task_t *task);

/* ---- whose await ------------------------------------------------------------------ */

sock_task_t *sock__owner(co_task_t *task)
{
  if (task == NULL)
    return NULL;
  while (co_parent(task) != NULL)
    task = co_parent(task);
  /* Only sock_spawn installs this hook: it marks a sock_task_t. */
  return task->up.on_done == sock__task_done ? (sock_task_t *)task : NULL;
}

sock_task_t *sock_task_of(co_task_t *task)
{
  return sock__owner(task);
}

/* The task's lock: its address, past the bits every allocation shares,
 * folded onto the runtime's table. */
static unsigned sock__task_lock_index(const sock_task_t *st)
{
  ULONG_PTR a = (ULONG_PTR)st;
  return (unsigned)(((a >> 4) ^ (a >> 12) ^ (a >> 20)) % SOCK__TASK_LOCKS);
}

/* The task's lock, with its holder recorded in debug builds so that each
 * "under st's lock" below is checked (SOCK__ASSERT_TASK_LOCKED). */
static void sock__task_acquire(sock_task_t *st)
{
  unsigned i = sock__task_lock_index(st);
  AcquireSRWLockExclusive(&st->runtime->task_locks[i]);
#if CO_DEBUG
  st->runtime->task_lock_owner[i] = GetCurrentThreadId();
#endif
}

static void sock__task_release(sock_task_t *st)
{
  unsigned i = sock__task_lock_index(st);
#if CO_DEBUG
  st->runtime->task_lock_owner[i] = 0;
#endif
  ReleaseSRWLockExclusive(&st->runtime->task_locks[i]);
}

#define SOCK__ASSERT_TASK_LOCKED(st)                                                   \
  SOCK__ASSERT((st)->runtime->task_lock_owner[sock__task_lock_index(st)] ==           \
                   GetCurrentThreadId(), "the task's lock is held here")

/* Under st's lock: why every await of st fails now (sock_task_cancel, the
 * deadline), or CO_OK. */
static int sock__stopped(const sock_task_t *st)
{
  SOCK__ASSERT_TASK_LOCKED(st);
  if (st->cancelled)
    return CO_ECANCELED;
  return st->expired ? CO_ETIMEDOUT : CO_OK;
}

int sock__task_reason(const sock_task_t *st)
{
  return sock__shutting_down(st->runtime) ? CO_ESHUTDOWN : sock__stopped(st);
}

int sock__await_register(sock_op_t *op)
{
  sock_task_t *st = sock__owner(op->task);
  int reason;
  if (st == NULL)
    return CO_OK;
  sock__task_acquire(st);
  reason = sock__task_reason(st);
  if (reason == CO_OK)
    st->wait_op = op;
  sock__task_release(st);
  return reason;
}

int sock__await_clear(sock_op_t *op)
{
  sock_task_t *st = sock__owner(op->task);
  int reason;
  if (st == NULL)
    return CO_OK;
  sock__task_acquire(st);
  if (st->wait_op == op)
    st->wait_op = NULL;
  reason = sock__stopped(st);
  sock__task_release(st);
  return reason;
}

int sock__await_reason(sock_op_t *op)
{
  sock_task_t *st = sock__owner(op->task);
  int reason = CO_OK;
  if (st != NULL) {
    sock__task_acquire(st);
    reason = sock__stopped(st);
    sock__task_release(st);
  }
  return reason != CO_OK ? reason : CO_ECANCELED;  /* sock_op_cancel's own */
}

/* ---- cancelling ----------------------------------------------------------------- */

/* Under st's lock: end a sleep that is st's await now. 1 if it was. */
static int sock__sleep_end(sock_task_t *st, sock_op_t *op, int error)
{
  SOCK__ASSERT_TASK_LOCKED(st);
  if (op == NULL || st->wait_op != op || op->kind != SOCK__SLEEP || st->timing == NULL ||
      st->timing->sleep_due == 0)
    return 0;
  st->timing->sleep_due = 0;
  st->wait_op = NULL;
  op->error = (short)error;
  sock__wake_later(st->runtime, op);  /* we hold the task's lock: never inline */
  return 1;
}

/* Under st's lock: end or cancel the await `op` of st with `reason`. */
static int sock__cancel_await(sock_task_t *st, sock_op_t *op, int reason)
{
  SOCK__ASSERT_TASK_LOCKED(st);
  if (op == NULL)
    return 0;
  if (sock__sleep_end(st, op, reason))
    return 1;
  return sock__op_cancel(op, reason);
}

int sock__task_cancel_op(sock_task_t *st, sock_op_t *op)
{
  int done;
  sock__task_acquire(st);
  done = sock__cancel_await(st, op, CO_ECANCELED);
  sock__task_release(st);
  return done;
}

void sock_task_cancel(sock_task_t *st)
{
  if (st == NULL || st->runtime == NULL)
    return;  /* never spawned: sock_spawn starts it afresh */
  sock__task_acquire(st);
  if (st->task.state != CO_DONE) {
    st->cancelled = 1;
    sock__cancel_await(st, st->wait_op, CO_ECANCELED);
  }
  sock__task_release(st);
}

void sock__cancel_tasks(sock_runtime_t *rt)
{
  SOCK__ASSERT_LOCKED(rt);
  for (sock_task_t *st = rt->tasks; st != NULL; st = st->next)
    sock_task_cancel(st);
}

/* ---- the timer: deadline and sleep ------------------------------------------------ */

/* Under st's lock: set the timer for the earlier of deadline and sleep. */
static void sock__timing_arm(sock_task_t *st)
{
  sock_timing_t *tm = st->timing;
  ULONGLONG due = tm->deadline_due;
  ULONGLONG now = sock__now_ms();
  FILETIME ft;
  ULARGE_INTEGER relative;
  SOCK__ASSERT_TASK_LOCKED(st);
  if (tm->sleep_due != 0 && (due == 0 || tm->sleep_due < due))
    due = tm->sleep_due;
  if (due == 0) {
    SetThreadpoolTimer(tm->timer, NULL, 0, 0);
    return;
  }
  /* Negative: relative, in 100 ns units. */
  relative.QuadPart = (ULONGLONG)(-(LONGLONG)((due > now ? due - now : 0) * 10000));
  ft.dwLowDateTime = relative.LowPart;
  ft.dwHighDateTime = relative.HighPart;
  SetThreadpoolTimer(tm->timer, &ft, 0, 0);
}

/* The timer fired: a deadline passed, a sleep ended, or it fired for a
 * deadline since cleared or moved (then the due times say so). */
static void CALLBACK sock__timer_fired(PTP_CALLBACK_INSTANCE instance, void *context,
                                       PTP_TIMER timer)
{
  sock_task_t *st = context;
  sock_timing_t *tm;
  ULONGLONG now = sock__now_ms();
  (void)instance;
  (void)timer;
  sock__task_acquire(st);
  tm = st->timing;
  if (tm->deadline_due != 0 && now >= tm->deadline_due) {
    tm->deadline_due = 0;
    st->expired = 1;
    sock__cancel_await(st, st->wait_op, CO_ETIMEDOUT);
  }
  if (tm->sleep_due != 0 && now >= tm->sleep_due)
    sock__sleep_end(st, st->wait_op, CO_OK);
  sock__timing_arm(st);
  sock__task_release(st);
}

/* Under st's lock: the task's timer, made on first use. */
static sock_timing_t *sock__timing(sock_task_t *st)
{
  SOCK__ASSERT_TASK_LOCKED(st);
  if (st->timing == NULL) {
    sock_timing_t *tm = sock__sys.calloc(1, sizeof *tm);
    if (tm == NULL)
      return NULL;
    tm->timer = sock__sys.CreateThreadpoolTimer(sock__timer_fired, st, &st->runtime->env);
    if (tm->timer == NULL) {
      free(tm);
      return NULL;
    }
    st->timing = tm;
  }
  return st->timing;
}

static void sock__timing_free(sock_task_t *st)
{
  sock_timing_t *tm = st->timing;
  if (tm == NULL)
    return;
  SetThreadpoolTimer(tm->timer, NULL, 0, 0);
  WaitForThreadpoolTimerCallbacks(tm->timer, TRUE);  /* never its own callback */
  CloseThreadpoolTimer(tm->timer);
  free(tm);
  st->timing = NULL;
}

int sock_deadline_set(sock_task_t *st, unsigned ms)
{
  sock_timing_t *tm;
  if (st == NULL || st->runtime == NULL)
    return CO_EINVAL;
  sock__task_acquire(st);
  tm = sock__timing(st);
  if (tm != NULL) {
    tm->deadline_due = sock__now_ms() + ms;
    if (tm->deadline_due == 0)
      tm->deadline_due = 1;
    st->expired = 0;
    sock__timing_arm(st);
  }
  sock__task_release(st);
  return tm != NULL ? CO_OK : CO_ENOMEM;
}

void sock_deadline_clear(sock_task_t *st)
{
  if (st == NULL || st->runtime == NULL)
    return;
  sock__task_acquire(st);
  st->expired = 0;
  if (st->timing != NULL) {
    st->timing->deadline_due = 0;
    sock__timing_arm(st);
  }
  sock__task_release(st);
}

/* Under st's lock, the task free to wait: parks op on the task's timer. */
static int sock__sleep_park(sock_task_t *st, sock_op_t *op, unsigned ms)
{
  SOCK__ASSERT_TASK_LOCKED(st);
  sock_timing_t *tm = sock__timing(st);
  if (tm == NULL)
    return CO_ENOMEM;
  tm->sleep_due = sock__now_ms() + ms;
  sock__pending_add(st->runtime);
  st->wait_op = op;  /* a sleep is known by its kind: sock__sleep_end */
  sock__timing_arm(st);
  return CO_PENDING;
}

int sock_sleep_start(sock_op_t *op, unsigned ms, sock_task_t *st)
{
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__SLEEP, st != NULL ? &st->task : NULL);
  if (st == NULL || st->runtime == NULL)
    return sock__refuse(op, CO_EINVAL);  /* not spawned */
  sock__task_acquire(st);
  rc = sock__task_reason(st);
  if (rc == CO_OK && ms > 0)
    rc = sock__sleep_park(st, op, ms);
  sock__task_release(st);
  return rc == CO_PENDING ? rc : sock__refuse(op, rc);
}

/* ---- counted tasks --------------------------------------------------------------- */

static void sock__task_done(co_task_t *task)
{
  sock_task_t *st = (sock_task_t *)task;
  sock_runtime_t *rt = st->runtime;
  co_done_fn on_done = st->on_done;
  sock__timing_free(st);
  sock__rt_lock(rt);
  if (st->prev != NULL)
    st->prev->next = st->next;
  else
    rt->tasks = st->next;
  if (st->next != NULL)
    st->next->prev = st->prev;
  sock__rt_unlock(rt);
  if (on_done != NULL)
    on_done(task);  /* it may free the task */
  /* Counted until the hook has run, so a wait for no tasks sees it done. */
  if (InterlockedDecrement(&rt->n_tasks) == 0)
    sock__idle_signal();
}

void sock_spawn(sock_runtime_t *rt, sock_task_t *st, co_step_fn step, co_done_fn on_done)
{
  if (rt == NULL || st == NULL || step == NULL)
    return;
  co_task_init(&st->task, step, sock__task_done);
  st->runtime = rt;
  st->on_done = on_done;
  st->wait_op = NULL;
  st->timing = NULL;
  st->cancelled = 0;
  st->expired = 0;
  st->prev = NULL;
  sock__rt_lock(rt);
  st->next = rt->tasks;
  if (rt->tasks != NULL)
    rt->tasks->prev = st;
  rt->tasks = st;
  if (rt->shutting_down || rt->cancel_new)
    st->cancelled = 1;  /* it may clean up, but not wait any more */
  sock__rt_unlock(rt);
  InterlockedIncrement(&rt->n_tasks);
  co_resume(&st->task);
}

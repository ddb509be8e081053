/*
 * sock/task.c - the task side of every await: counted tasks, cancellation,
 * deadlines and sleep.
 *
 * A sock_task_t remembers what it awaits now (wait_kind, wait_obj, wait_op),
 * under its lock (one of the runtime's striped task locks). Three parties can end an await: its completion, a
 * canceller (sock_task_cancel, the runtime's shutdown) and the task's timer
 * (deadline). They meet under that lock, so exactly one of them ends it:
 *   - an overlapped call is only ever ended by its completion; a canceller
 *     calls CancelIoEx, and the completion (ERROR_OPERATION_ABORTED) reports
 *     why, read from the task's flags;
 *   - a wait in a list (event, channel, ...) or a sleep is ended by whoever
 *     takes it out of the list (or the timer) first; the others find nothing.
 * The lock order is runtime lists, then task, then wait list.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>

ULONGLONG sock__now_ms(void)
{
  static LARGE_INTEGER frequency;  /* fixed at boot; a race writes the same value */
  LARGE_INTEGER now;
  if (frequency.QuadPart == 0)
    QueryPerformanceFrequency(&frequency);
  QueryPerformanceCounter(&now);
  return (ULONGLONG)(now.QuadPart / (frequency.QuadPart / 1000));
}

/* ---- registering awaits --------------------------------------------------------- */

static void sock__task_done(co_task_t *task);

sock_task_t *sock__owner(co_task_t *task)
{
  if (task == NULL)
    return NULL;
  while (co_parent(task) != NULL)
    task = co_parent(task);
  /* Only sock_spawn installs this hook: it marks a sock_task_t. */
  return task->up.on_done == sock__task_done ? (sock_task_t *)task : NULL;
}

static SRWLOCK *sock__task_lock(sock_task_t *st)
{
  return sock__task_lock_of(st->runtime, st);
}

static int sock__reason(const sock_task_t *st)
{
  if (st->cancelled)
    return CO_ECANCELED;
  return st->expired ? CO_ETIMEDOUT : CO_OK;
}

sock_task_t *sock__wait_lock(co_task_t *task, int *reason)
{
  sock_task_t *st = sock__owner(task);
  *reason = CO_OK;
  if (st != NULL) {
    AcquireSRWLockExclusive(sock__task_lock(st));
    *reason = sock__reason(st);
  }
  return st;
}

void sock__wait_unlock(sock_task_t *st)
{
  if (st != NULL)
    ReleaseSRWLockExclusive(sock__task_lock(st));
}

void sock__wait_set(sock_task_t *st, int kind, void *obj, sock_op_t *op)
{
  if (st == NULL)
    return;
  st->wait_kind = (unsigned char)kind;
  st->wait_obj = obj;
  st->wait_op = op;
}

static void sock__wait_forget(sock_task_t *st)
{
  st->wait_kind = SOCK__WAIT_NONE;
  st->wait_obj = NULL;
  st->wait_op = NULL;
}

int sock__wait_clear(sock_op_t *op)
{
  int reason;
  sock_task_t *st = sock__wait_lock(op->task, &reason);
  if (st == NULL)
    return CO_OK;
  if (st->wait_op == op)
    sock__wait_forget(st);
  sock__wait_unlock(st);
  return reason;
}

/* ---- waking on a pool thread ----------------------------------------------------- */

void sock__wake_now(sock_op_t *op)
{
  sock_task_t *st = sock__owner(op->task);
  sock_runtime_t *rt = st != NULL ? st->runtime : NULL;  /* before the task may end */
  sock__wait_clear(op);
  co_wake(op->task);
  if (rt != NULL)
    sock__pending_done(rt);  /* the await's count, held until now */
}

static void CALLBACK sock__wake_work(PTP_CALLBACK_INSTANCE instance, void *context)
{
  (void)instance;
  sock__wake_now(context);
}

void sock__wake_later(sock_op_t *op)
{
  sock_task_t *st = sock__owner(op->task);
  /* A plain co task has no runtime to borrow a thread from; and out of
   * memory, waking here beats never waking. */
  if (st == NULL || !TrySubmitThreadpoolCallback(sock__wake_work, op, &st->runtime->env))
    sock__wake_now(op);
}

/* ---- cancelling ----------------------------------------------------------------- */

/* Under st->lock: end or cancel whatever st awaits, with `reason`. */
static void sock__cancel_wait(sock_task_t *st, int reason)
{
  sock_op_t *op = st->wait_op;
  switch (st->wait_kind) {
  case SOCK__WAIT_IO:  /* the completion will come, as aborted */
    CancelIoEx((HANDLE)sock__handle(st->wait_obj), &op->overlapped);
    return;
  case SOCK__WAIT_QUEUE:
    if (!sock__waitlist_remove(st->wait_obj, op))
      return;  /* already taken out by the one that wakes it */
    break;
  case SOCK__WAIT_SLEEP:
    st->timing->sleep_due = 0;
    break;
  default:
    return;
  }
  sock__wait_forget(st);
  op->error = (short)reason;
  sock__wake_later(op);
}

void sock_task_cancel(sock_task_t *st)
{
  if (st == NULL)
    return;
  AcquireSRWLockExclusive(sock__task_lock(st));
  if (st->task.state != CO_DONE) {
    st->cancelled = 1;
    sock__cancel_wait(st, CO_ECANCELED);
  }
  ReleaseSRWLockExclusive(sock__task_lock(st));
}

void sock_runtime_cancel_all(sock_runtime_t *rt)
{
  AcquireSRWLockExclusive(&rt->lock);  /* the lists first, then each task, socket */
  rt->cancel_new = 1;
  for (sock_task_t *st = rt->tasks; st != NULL; st = st->next)
    sock_task_cancel(st);
  for (sock_t *s = rt->sockets; s != NULL; s = s->next)
    sock__cancel_socket(s);
  ReleaseSRWLockExclusive(&rt->lock);
}

int sock_runtime_wait_tasks(sock_runtime_t *rt, unsigned ms)
{
  return sock__wait_zero(&rt->n_tasks, ms);
}

/* ---- the timer: deadline and sleep ------------------------------------------------ */

/* Under st->lock: set the timer for the earlier of deadline and sleep. */
static void sock__timing_arm(sock_timing_t *tm)
{
  ULONGLONG due = tm->deadline_due;
  ULONGLONG now = sock__now_ms();
  FILETIME ft;
  ULARGE_INTEGER relative;
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
  AcquireSRWLockExclusive(sock__task_lock(st));
  tm = st->timing;
  if (tm->deadline_due != 0 && now >= tm->deadline_due) {
    tm->deadline_due = 0;
    st->expired = 1;
    sock__cancel_wait(st, CO_ETIMEDOUT);
  }
  if (tm->sleep_due != 0 && now >= tm->sleep_due && st->wait_kind == SOCK__WAIT_SLEEP) {
    sock_op_t *op = st->wait_op;
    tm->sleep_due = 0;
    sock__wait_forget(st);
    op->error = CO_OK;
    sock__wake_later(op);
  }
  sock__timing_arm(tm);
  ReleaseSRWLockExclusive(sock__task_lock(st));
}

/* Under st->lock: the task's timer, made on first use. */
static sock_timing_t *sock__timing(sock_task_t *st)
{
  if (st->timing == NULL) {
    sock_timing_t *tm = calloc(1, sizeof *tm);
    if (tm == NULL)
      return NULL;
    tm->timer = CreateThreadpoolTimer(sock__timer_fired, st, &st->runtime->env);
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
  AcquireSRWLockExclusive(sock__task_lock(st));
  tm = sock__timing(st);
  if (tm != NULL) {
    tm->deadline_due = sock__now_ms() + ms;
    if (tm->deadline_due == 0)
      tm->deadline_due = 1;
    st->expired = 0;
    sock__timing_arm(tm);
  }
  ReleaseSRWLockExclusive(sock__task_lock(st));
  return tm != NULL ? CO_OK : CO_ENOMEM;
}

void sock_deadline_clear(sock_task_t *st)
{
  AcquireSRWLockExclusive(sock__task_lock(st));
  st->expired = 0;
  if (st->timing != NULL) {
    st->timing->deadline_due = 0;
    sock__timing_arm(st->timing);
  }
  ReleaseSRWLockExclusive(sock__task_lock(st));
}

int sock_sleep_start(sock_op_t *op, unsigned ms, co_task_t *task)
{
  int reason;
  sock_task_t *st;
  sock_timing_t *tm;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__SLEEP, task);
  st = sock__wait_lock(task, &reason);
  if (st == NULL)
    return op->error = CO_EINVAL;  /* sleeping needs a sock_task_t */
  if (reason == CO_OK && ms > 0) {
    tm = sock__timing(st);
    if (tm == NULL) {
      reason = CO_ENOMEM;
    } else {
      tm->sleep_due = sock__now_ms() + ms;
      sock__pending_add(st->runtime);
      sock__wait_set(st, SOCK__WAIT_SLEEP, NULL, op);
      sock__timing_arm(tm);
      reason = CO_PENDING;
    }
  }
  sock__wait_unlock(st);
  if (reason != CO_PENDING)
    op->error = (short)reason;
  return reason;
}

/* ---- counted tasks --------------------------------------------------------------- */

static void sock__task_done(co_task_t *task)
{
  sock_task_t *st = (sock_task_t *)task;
  sock_runtime_t *rt = st->runtime;
  co_done_fn on_done = st->on_done;
  sock__timing_free(st);
  AcquireSRWLockExclusive(&rt->lock);
  if (st->prev != NULL)
    st->prev->next = st->next;
  else
    rt->tasks = st->next;
  if (st->next != NULL)
    st->next->prev = st->prev;
  ReleaseSRWLockExclusive(&rt->lock);
  if (on_done != NULL)
    on_done(task);  /* it may free the task */
  /* Counted until the hook has run, so a wait for no tasks sees it done. */
  if (InterlockedDecrement(&rt->n_tasks) == 0)
    sock__idle_signal();
}

void sock_spawn(sock_runtime_t *rt, sock_task_t *st, co_step_fn step, co_done_fn on_done)
{
  co_task_init(&st->task, step, sock__task_done);
  st->runtime = rt;
  st->on_done = on_done;
  sock__wait_forget(st);
  st->timing = NULL;
  st->cancelled = 0;
  st->expired = 0;
  st->prev = NULL;
  AcquireSRWLockExclusive(&rt->lock);
  st->next = rt->tasks;
  if (rt->tasks != NULL)
    rt->tasks->prev = st;
  rt->tasks = st;
  if (rt->shutting_down || rt->cancel_new)
    st->cancelled = 1;  /* it may clean up, but not wait any more */
  ReleaseSRWLockExclusive(&rt->lock);
  InterlockedIncrement(&rt->n_tasks);
  co_resume(&st->task);
}

void sock_runtime_dump(sock_runtime_t *rt, void *out)
{
  char where[256];
  AcquireSRWLockExclusive(&rt->lock);
  for (sock_task_t *st = rt->tasks; st != NULL; st = st->next)
    fprintf((FILE *)out, "task %p: %s\n", (void *)st,
            co_describe(&st->task, where, sizeof where));
  ReleaseSRWLockExclusive(&rt->lock);
}

/*
 * sock/timer.c - a repeating timer tasks can await (libuv's uv_timer_start
 * with a repeat). One thread-pool timer ticks every period; each tick wakes
 * every task waiting on it (a wait list of sync.c, so cancel and deadlines
 * reach the waits as any other), and a tick that finds nobody waiting is
 * counted, so the next wait passes at once and says how many were missed.
 * The struct is the caller's, like an event's; the thread-pool timer is
 * made by sock_timer_start and released by sock_timer_stop.
 */
#include "sock_internal.h"

#include <string.h>

/* The thread-pool timer fired: count the tick, hand the ticks to every
 * waiter (woken on a pool thread, as every wait list's). */
static void CALLBACK sock__timer_tick(PTP_CALLBACK_INSTANCE instance, void *context,
                                      PTP_TIMER timer)
{
  sock_timer_t *tm = context;
  sock_op_t *chain, *op;
  (void)instance;
  (void)timer;
  AcquireSRWLockExclusive(&tm->w.lock);
  tm->ticks++;
  chain = sock__waitlist_take_all(&tm->w, 0);
  for (op = chain; op != NULL; op = sock__chain_next(op))
    op->bytes = tm->ticks;
  if (chain != NULL)
    tm->ticks = 0;
  ReleaseSRWLockExclusive(&tm->w.lock);
  sock__wake_chain(chain, CO_OK);
}

/* ms as the relative due time of SetThreadpoolTimer (negative, 100 ns). */
static void sock__timer_arm(PTP_TIMER timer, unsigned first_ms, unsigned period_ms)
{
  FILETIME ft;
  ULARGE_INTEGER relative;
  relative.QuadPart = (ULONGLONG)(-(LONGLONG)first_ms * 10000);
  ft.dwLowDateTime = relative.LowPart;
  ft.dwHighDateTime = relative.HighPart;
  SetThreadpoolTimer(timer, &ft, period_ms, 0);
}

int sock_timer_start(sock_timer_t *tm, sock_runtime_t *rt, unsigned first_ms,
                     unsigned period_ms)
{
  if (tm == NULL)
    return CO_EINVAL;
  memset(tm, 0, sizeof *tm);
  if (rt == NULL || period_ms == 0 || period_ms > 0x7fffffffu)
    return CO_EINVAL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  sock__waitlist_init(&tm->w);
  tm->timer = sock__sys.CreateThreadpoolTimer(sock__timer_tick, tm, &rt->env);
  if (tm->timer == NULL) {
    tm->stopped = 1;  /* waits on it fail at once, as on a stopped timer */
    return sock_error_from_win32(GetLastError());
  }
  tm->rt = rt;
  InterlockedIncrement(&rt->n_handles);  /* counted with the sockets until stopped */
  sock__timer_arm(tm->timer, first_ms, period_ms);
  return CO_OK;
}

void sock_timer_stop(sock_timer_t *tm)
{
  sock_op_t *chain;
  if (tm == NULL || tm->timer == NULL)
    return;
  SetThreadpoolTimer(tm->timer, NULL, 0, 0);
  WaitForThreadpoolTimerCallbacks(tm->timer, TRUE);  /* never its own: it runs no task */
  CloseThreadpoolTimer(tm->timer);
  AcquireSRWLockExclusive(&tm->w.lock);
  tm->timer = NULL;
  tm->stopped = 1;
  chain = sock__waitlist_take_all(&tm->w, 0);
  ReleaseSRWLockExclusive(&tm->w.lock);
  sock__wake_chain(chain, CO_ECLOSED);
  InterlockedDecrement(&tm->rt->n_handles);
}

static int sock__timer_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  sock_timer_t *tm = (sock_timer_t *)w;  /* the wait list is its first member */
  (void)wake;
  if (tm->stopped)
    return CO_ECLOSED;
  if (tm->ticks == 0)
    return CO_PENDING;
  op->bytes = tm->ticks;  /* missed while nobody waited */
  tm->ticks = 0;
  return CO_OK;
}

int sock_timer_wait_start(sock_op_t *op, sock_timer_t *tm, sock_task_t *task)
{
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__TIMER, task != NULL ? &task->task : NULL);
  if (task == NULL || task->runtime == NULL || tm == NULL || tm->rt == NULL)
    return sock__refuse(op, CO_EINVAL);  /* waiting needs a spawned sock_task_t */
  rc = sock__queue_wait(op, &tm->w, 0, task->runtime, sock__timer_try);
  if (rc == CO_OK)
    return op->error;
  return rc;
}

/*
 * sock/runtime.c - the runtime: Winsock start-up, the thread-pool callback
 * environment and its cleanup group, the live counters, and every
 * sock_runtime_* function: cancel everything, wait for the tasks, list
 * them, and the shutdown that returns only when no callback can run any
 * more. The layers below (tasks, handles, the hub) keep their own lists;
 * the runtime only asks them to cancel and to free.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- the runtime's lock --------------------------------------------------------- */

void sock__rt_lock(sock_runtime_t *rt)
{
  AcquireSRWLockExclusive(&rt->lock);
#if CO_DEBUG
  rt->lock_owner = GetCurrentThreadId();
#endif
}

void sock__rt_unlock(sock_runtime_t *rt)
{
#if CO_DEBUG
  rt->lock_owner = 0;
#endif
  ReleaseSRWLockExclusive(&rt->lock);
}

#if CO_DEBUG
void sock__assert_failed(const char *what, const char *file, int line)
{
  fprintf(stderr, "cosock: invariant broken at %s:%d: %s\n", file, line, what);
  fflush(stderr);
  abort();
}
#endif

/* ---- counters ---------------------------------------------------------------- */

void sock__pending_add(sock_runtime_t *rt)
{
  InterlockedIncrement(&rt->n_pending);
}

/* One lock and condition for every runtime of the process: a callback that
 * ends the last pending operation must not touch its runtime after the
 * decrement, since the shutdown may free it at once. Waiters re-check their
 * own counter, so sharing costs only a spurious wake-up. */
static SRWLOCK sock__idle_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE sock__idle = CONDITION_VARIABLE_INIT;

void sock__idle_signal(void)
{
  AcquireSRWLockExclusive(&sock__idle_lock);
  WakeAllConditionVariable(&sock__idle);
  ReleaseSRWLockExclusive(&sock__idle_lock);
}

void sock__pending_done(sock_runtime_t *rt)
{
  if (InterlockedDecrement(&rt->n_pending) == 0)
    sock__idle_signal();  /* rt may be gone from here on */
}

/* Waits up to `ms` until *counter is 0 (the caller keeps the runtime alive). */
int sock__wait_zero(volatile LONG *counter, DWORD ms)
{
  ULONGLONG end = GetTickCount64() + ms;
  int zero;
  AcquireSRWLockExclusive(&sock__idle_lock);
  for (;;) {
    ULONGLONG now = GetTickCount64();
    zero = InterlockedCompareExchange(counter, 0, 0) == 0;
    if (zero || now >= end)
      break;
    SleepConditionVariableSRW(&sock__idle, &sock__idle_lock, (DWORD)(end - now), 0);
  }
  ReleaseSRWLockExclusive(&sock__idle_lock);
  return zero;
}

int sock__shutting_down(const sock_runtime_t *rt)
{
  return rt->shutting_down != 0;
}

ULONGLONG sock__now_ms(void)
{
  static LARGE_INTEGER frequency;  /* fixed at boot; a race writes the same value */
  LARGE_INTEGER now;
  if (frequency.QuadPart == 0)
    QueryPerformanceFrequency(&frequency);
  QueryPerformanceCounter(&now);
  return (ULONGLONG)(now.QuadPart / (frequency.QuadPart / 1000));
}

void sock_runtime_counters(sock_runtime_t *rt, sock_counters_t *out)
{
  out->sockets = InterlockedCompareExchange(&rt->n_handles, 0, 0);
  out->tasks = InterlockedCompareExchange(&rt->n_tasks, 0, 0);
  out->pending_ops = InterlockedCompareExchange(&rt->n_pending, 0, 0);
}

/* ---- creating ---------------------------------------------------------------- */

/* Winsock hands out AcceptEx, ConnectEx and GetAcceptExSockaddrs per
 * provider; every TCP provider of a machine returns the same ones. */
static int sock__load_extension(SOCKET probe, GUID guid, void *fn, size_t size)
{
  DWORD bytes = 0;
  if (WSAIoctl(probe, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, fn,
               (DWORD)size, &bytes, NULL, NULL) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

static int sock__load_extensions(sock_runtime_t *rt)
{
  GUID accept_guid = WSAID_ACCEPTEX;
  GUID connect_guid = WSAID_CONNECTEX;
  GUID addrs_guid = WSAID_GETACCEPTEXSOCKADDRS;
  LPFN_ACCEPTEX accept_ex = NULL;
  LPFN_CONNECTEX connect_ex = NULL;
  int error = CO_OK, v6_error = CO_OK;
  SOCKET probe = sock__new_socket(AF_INET, SOCK_STREAM, &error);
  if (probe == INVALID_SOCKET)
    return error;
  rt->skip_ok[0] = (unsigned char)sock__provider_is_ifs(probe);
  error = sock__load_extension(probe, accept_guid, &accept_ex, sizeof accept_ex);
  if (error == CO_OK)
    error = sock__load_extension(probe, connect_guid, &connect_ex, sizeof connect_ex);
  if (error == CO_OK)
    error = sock__load_extension(probe, addrs_guid, &rt->get_addrs, sizeof rt->get_addrs);
  if (error == CO_OK) {  /* the same for every runtime: a race writes the same value */
    sock__accept_ex = accept_ex;
    sock__connect_ex = connect_ex;
  }
  closesocket(probe);
  probe = sock__new_socket(AF_INET6, SOCK_STREAM, &v6_error);  /* may be missing: then v4 only */
  if (probe != INVALID_SOCKET) {
    rt->skip_ok[1] = (unsigned char)sock__provider_is_ifs(probe);
    closesocket(probe);
  }
  return error;
}

/* A private pool when the caller asks for thread limits, else the default. */
static int sock__make_pool(sock_runtime_t *rt, const sock_runtime_config_t *config)
{
  if (config == NULL || (config->min_threads == 0 && config->max_threads == 0))
    return CO_OK;
  rt->pool = CreateThreadpool(NULL);
  if (rt->pool == NULL)
    return sock_error_from_win32(GetLastError());
  if (config->max_threads > 0)
    SetThreadpoolThreadMaximum(rt->pool, config->max_threads);
  if (config->min_threads > 0 && !SetThreadpoolThreadMinimum(rt->pool, config->min_threads))
    return sock_error_from_win32(GetLastError());
  SetThreadpoolCallbackPool(&rt->env, rt->pool);
  SetThreadpoolCallbackPool(&rt->io_env, rt->pool);
  return CO_OK;
}

/* What create made, whatever step it reached (also the end of shutdown). */
static void sock__runtime_free(sock_runtime_t *rt)
{
  if (rt->cleanup != NULL) {
    /* Work items and timers: waits for any still returning, closes the
     * rest. IO objects are not members (handle.c says why). */
    CloseThreadpoolCleanupGroupMembers(rt->cleanup, FALSE, NULL);
    CloseThreadpoolCleanupGroup(rt->cleanup);
  }
  if (rt->pool != NULL)
    CloseThreadpool(rt->pool);
  DestroyThreadpoolEnvironment(&rt->env);
  DestroyThreadpoolEnvironment(&rt->io_env);
  WSACleanup();
  free(rt);
}

static int sock__runtime_init(sock_runtime_t *rt, const sock_runtime_config_t *config)
{
  int error = sock__make_pool(rt, config);
  if (error != CO_OK)
    return error;
  rt->cleanup = CreateThreadpoolCleanupGroup();
  if (rt->cleanup == NULL)
    return sock_error_from_win32(GetLastError());
  SetThreadpoolCallbackCleanupGroup(&rt->env, rt->cleanup, NULL);
  error = sock__hub_init(rt);
  if (error != CO_OK)
    return error;
  return sock__load_extensions(rt);
}

int sock_runtime_create(sock_runtime_t **out, const sock_runtime_config_t *config)
{
  WSADATA wsa;
  int error;
  sock_runtime_t *rt;

  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (config != NULL && config->max_threads > 0 && config->min_threads > config->max_threads)
    return CO_EINVAL;
  sock__syscalls_init();
  rt = sock__sys.calloc(1, sizeof *rt);
  if (rt == NULL)
    return CO_ENOMEM;
  error = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (error != 0) {
    free(rt);
    return sock_error_from_win32((unsigned long)error);
  }
  InitializeThreadpoolEnvironment(&rt->env);
  InitializeThreadpoolEnvironment(&rt->io_env);
  InitializeSRWLock(&rt->lock);
  for (int i = 0; i < SOCK__TASK_LOCKS; i++)
    InitializeSRWLock(&rt->task_locks[i]);
  rt->accepts_posted = config != NULL && config->accepts_posted > 0 ? config->accepts_posted : 32;
  error = sock__runtime_init(rt, config);
  if (error != CO_OK) {
    sock__runtime_free(rt);
    return error;
  }
  *out = rt;
  return CO_OK;
}

/* ---- cancelling, waiting, listing --------------------------------------------------- */

void sock_runtime_cancel_all(sock_runtime_t *rt)
{
  if (rt == NULL)
    return;
  sock__rt_lock(rt);  /* the lists first, then each task, handle */
  rt->cancel_new = 1;
  sock__cancel_tasks(rt);
  sock__cancel_handles(rt);
  sock__rt_unlock(rt);
}

int sock_runtime_wait_tasks(sock_runtime_t *rt, unsigned ms)
{
  return rt != NULL && sock__wait_zero(&rt->n_tasks, ms);
}

void sock_runtime_dump(sock_runtime_t *rt, void *out)
{
  char where[256];
  if (rt == NULL || out == NULL)
    return;
  sock__rt_lock(rt);
  for (sock_task_t *st = rt->tasks; st != NULL; st = st->next)
    fprintf((FILE *)out, "task %p: %s\n", (void *)st,
            co_describe(&st->task, where, sizeof where));
  sock__rt_unlock(rt);
}

/* ---- shutting down ------------------------------------------------------------- */

/* Waits until no operation is pending. An operation counts as pending until
 * the callback that finished it has returned from its task, so after this
 * no task code runs on a pool thread. A task woken by a cancellation may
 * start a new operation before it sees the shutdown flag; the sweep is
 * repeated so that one is cancelled too. */
static void sock__drain(sock_runtime_t *rt)
{
  do
    sock_runtime_cancel_all(rt);  /* every task and every handle */
  while (!sock__wait_zero(&rt->n_pending, 50));
}

void sock_runtime_shutdown(sock_runtime_t *rt)
{
  if (rt == NULL)
    return;
  sock__rt_lock(rt);  /* no sock_spawn slips past it */
  InterlockedExchange(&rt->shutting_down, 1);
  sock__rt_unlock(rt);
  sock__drain(rt);
  sock__free_handles(rt);
  sock__runtime_free(rt);
}

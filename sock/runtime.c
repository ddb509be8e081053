/*
 * sock/runtime.c - the runtime: Winsock start-up, the thread-pool callback
 * environment and its cleanup group, the live counters, counted tasks, and
 * the shutdown that returns only when no callback can run any more.
 */
#include "sock_internal.h"

#include <stdlib.h>

/* ---- counters ---------------------------------------------------------------- */

void sock__pending_add(sock_runtime_t *rt)
{
  InterlockedIncrement(&rt->n_pending);
}

void sock__pending_done(sock_runtime_t *rt)
{
  if (InterlockedDecrement(&rt->n_pending) == 0) {
    AcquireSRWLockExclusive(&rt->idle_lock);  /* pairs with the shutdown's wait */
    WakeAllConditionVariable(&rt->idle);
    ReleaseSRWLockExclusive(&rt->idle_lock);
  }
}

int sock__shutting_down(const sock_runtime_t *rt)
{
  return rt->shutting_down != 0;
}

void sock_runtime_counters(sock_runtime_t *rt, sock_counters_t *out)
{
  out->sockets = InterlockedCompareExchange(&rt->n_sockets, 0, 0);
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
  int error = CO_OK;
  SOCKET probe = sock__new_handle(AF_INET, &error);
  if (probe == INVALID_SOCKET)
    return error;
  error = sock__load_extension(probe, accept_guid, &rt->accept_ex, sizeof rt->accept_ex);
  if (error == CO_OK)
    error = sock__load_extension(probe, connect_guid, &rt->connect_ex,
                                 sizeof rt->connect_ex);
  if (error == CO_OK)
    error = sock__load_extension(probe, addrs_guid, &rt->get_addrs,
                                 sizeof rt->get_addrs);
  closesocket(probe);
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
  return CO_OK;
}

static void sock__runtime_free(sock_runtime_t *rt)
{
  if (rt->cleanup != NULL)
    CloseThreadpoolCleanupGroup(rt->cleanup);
  if (rt->pool != NULL)
    CloseThreadpool(rt->pool);
  DestroyThreadpoolEnvironment(&rt->env);
  WSACleanup();
  free(rt);
}

int sock_runtime_create(sock_runtime_t **out, const sock_runtime_config_t *config)
{
  WSADATA wsa;
  int error;
  sock_runtime_t *rt;

  *out = NULL;
  if (config != NULL && config->max_threads > 0 && config->min_threads > config->max_threads)
    return CO_EINVAL;
  rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return CO_ENOMEM;
  error = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (error != 0) {
    free(rt);
    return sock_error_from_win32((unsigned long)error);
  }
  InitializeThreadpoolEnvironment(&rt->env);
  InitializeSRWLock(&rt->lock);
  InitializeSRWLock(&rt->idle_lock);
  InitializeConditionVariable(&rt->idle);
  rt->accepts_posted = config != NULL && config->accepts_posted > 0 ? config->accepts_posted : 8;

  error = sock__make_pool(rt, config);
  if (error == CO_OK) {
    rt->cleanup = CreateThreadpoolCleanupGroup();
    if (rt->cleanup == NULL)
      error = sock_error_from_win32(GetLastError());
    else
      SetThreadpoolCallbackCleanupGroup(&rt->env, rt->cleanup, NULL);
  }
  if (error == CO_OK)
    error = sock__load_extensions(rt);
  if (error != CO_OK) {
    sock__runtime_free(rt);
    return error;
  }
  *out = rt;
  return CO_OK;
}

/* ---- shutting down ------------------------------------------------------------- */

/* Waits until no operation is pending. An operation counts as pending until
 * the callback that finished it has returned from its task, so after this
 * no task code runs on a pool thread. A task woken by a cancellation may
 * start a new operation before it sees the shutdown flag; the sweep is
 * repeated so that one is cancelled too. */
static void sock__drain(sock_runtime_t *rt)
{
  for (;;) {
    sock__cancel_everything(rt);
    AcquireSRWLockExclusive(&rt->idle_lock);
    if (rt->n_pending > 0)
      SleepConditionVariableSRW(&rt->idle, &rt->idle_lock, 50, 0);
    if (rt->n_pending == 0) {
      ReleaseSRWLockExclusive(&rt->idle_lock);
      return;
    }
    ReleaseSRWLockExclusive(&rt->idle_lock);
  }
}

/* Sockets their owners never closed: the IO objects went with the cleanup
 * group, the handles and memory go here. */
static void sock__free_leftovers(sock_runtime_t *rt)
{
  while (rt->sockets != NULL) {
    sock_t *s = rt->sockets;
    rt->sockets = s->next;
    if (s->handle != INVALID_SOCKET)
      closesocket(s->handle);
    if (s->listener != NULL)
      sock__listener_free(s->listener);
    InterlockedDecrement(&rt->n_sockets);
    free(s);
  }
}

void sock_runtime_shutdown(sock_runtime_t *rt)
{
  if (rt == NULL)
    return;
  AcquireSRWLockExclusive(&rt->lock);  /* no sock_spawn slips past it */
  InterlockedExchange(&rt->shutting_down, 1);
  ReleaseSRWLockExclusive(&rt->lock);
  sock__drain(rt);
  /* Waits for callbacks still running (tasks that woke up) and closes the
   * IO objects and work items that remain. After it, none can run. */
  CloseThreadpoolCleanupGroupMembers(rt->cleanup, FALSE, NULL);
  sock__free_leftovers(rt);
  sock__runtime_free(rt);
}

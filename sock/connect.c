/*
 * sock/connect.c - connecting to host:port. Name resolution blocks, so it
 * runs as a thread-pool work item; then each resolved address is tried in
 * turn with ConnectEx (through the hub) on a fresh bound socket, until one
 * connects or all failed (the last failure is reported). The operation is
 * always pending. While the name resolves, the await is marked as served by
 * a work item: a cancel (of the record, the task or by its deadline) is
 * seen before the next address is tried.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sock__connect {
  sock_runtime_t  *rt;
  sock_op_t       *op;       /* the task's record; op.target.connect points here */
  sock_t         **out;      /* receives the socket on success */
  struct addrinfo *list;     /* every resolved address */
  struct addrinfo *next;     /* the next one to try */
  sock_t          *attempt;  /* the socket connecting now */
  char             service[8];
  char             host[1];  /* the name, allocated with the struct */
} sock__connect_t;

/* Ends the operation: frees the job, stores the result, wakes the task. */
static void sock__connect_finish(sock__connect_t *job, unsigned long win32_error, int error)
{
  sock_op_t *op = job->op;
  if (job->list != NULL)
    freeaddrinfo(job->list);
  free(job);
  op->target.connect = NULL;
  op->win32_error = win32_error;
  op->error = (short)error;
  sock__op_unmark(op, SOCK__OP_WORK);
  sock__await_clear(op);
  co_wake(op->task);
}

/* A socket for one address, bound to "any" as ConnectEx requires. On a
 * failure *win32 is the raw code where the system gave one. */
static int sock__connect_socket(sock__connect_t *job, const struct addrinfo *ai,
                                unsigned long *win32)
{
  sock_addr_t any;
  int error = CO_OK;
  SOCKET h = sock__tcp_socket(ai->ai_family, &error);
  *win32 = 0;
  if (h == INVALID_SOCKET) {
    *win32 = (unsigned long)WSAGetLastError();
    return error;
  }
  memset(&any, 0, sizeof any);
  any.si_family = (ADDRESS_FAMILY)ai->ai_family;
  if (sock__sys.bind(h, (const struct sockaddr *)&any,
                     ai->ai_family == AF_INET6 ? (int)sizeof any.Ipv6 : (int)sizeof any.Ipv4) != 0) {
    *win32 = (unsigned long)WSAGetLastError();
    closesocket(h);
    return sock_error_from_win32(*win32);
  }
  return sock__tcp_wrap(job->rt, h, ai->ai_family, SOCK__KIND_TCP, &job->attempt);
}

/* The connected socket goes to the caller. */
static void sock__connect_won(sock__connect_t *job)
{
  sock_t *s = job->attempt;
  setsockopt(sock__socket(s), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
  sock_set_nodelay(s, 1);
  *job->out = s;
  sock__connect_finish(job, 0, CO_OK);
}

static void sock__connect_lost(sock__connect_t *job)
{
  sock_close(job->attempt);
  job->attempt = NULL;
}

/* The hub's call: one ConnectEx to the address in `arg`. */
static unsigned long sock__connect_call(sock_t *s, sock_op_t *op, void *arg,
                                        unsigned long *bytes)
{
  const struct addrinfo *ai = arg;
  *bytes = 0;
  if (!sock__sys.ConnectEx(sock__socket(s), ai->ai_addr, (int)ai->ai_addrlen, NULL, 0, NULL,
                           &op->overlapped))
    return (unsigned long)WSAGetLastError();
  return 0;
}

/* Why the next address may not be tried: the await cancelled (by whom the
 * task says), the runtime stopping; else CO_OK. */
static int sock__connect_stop(sock__connect_t *job)
{
  if (sock__op_cancelled(job->op)) {
    int reason = sock__await_clear(job->op);
    return reason != CO_OK ? reason : CO_ECANCELED;
  }
  return sock__shutting_down(job->rt) ? CO_ESHUTDOWN : CO_OK;
}

/* Tries the remaining addresses until one is pending, one connected at
 * once, or none is left. `win32_error` is the failure so far. */
static void sock__connect_next(sock__connect_t *job, unsigned long win32_error)
{
  int error = win32_error ? sock_error_from_win32(win32_error) : CO_ENOTFOUND;
  while (job->next != NULL) {
    const struct addrinfo *ai = job->next;
    unsigned long bytes;
    int rc = sock__connect_stop(job);
    if (rc != CO_OK) {
      sock__connect_finish(job, 0, rc);
      return;
    }
    job->next = ai->ai_next;
    error = sock__connect_socket(job, ai, &win32_error);
    if (error != CO_OK)
      continue;
    rc = sock__hub_call(job->attempt, job->op, sock__connect_call, (void *)ai, &win32_error,
                        &bytes);
    if (rc == CO_PENDING)
      return;  /* the completion will come */
    if (rc == CO_OK && win32_error == 0) {
      sock__connect_won(job);
      return;
    }
    sock__connect_lost(job);
    if (rc != CO_OK) {  /* refused: cancelled, timed out, shutting down */
      sock__connect_finish(job, 0, rc);
      return;
    }
    error = job->op->error;
  }
  sock__connect_finish(job, win32_error, error);
}

/* A ConnectEx completed (the TCP kind sends it here). */
void sock__connect_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  sock__connect_t *job = op->target.connect;
  (void)s;
  (void)bytes;
  if (error == 0) {
    sock__connect_won(job);
    return;
  }
  sock__connect_lost(job);
  if (error == ERROR_OPERATION_ABORTED || sock__shutting_down(job->rt)) {
    sock__connect_finish(job, error, op->error < 0 ? op->error : CO_ECANCELED);
    return;
  }
  sock__connect_next(job, error);
}

/* The work item: resolve, then start trying. */
static void CALLBACK sock__resolve(PTP_CALLBACK_INSTANCE instance, void *context)
{
  sock__connect_t *job = context;
  sock_runtime_t *rt = job->rt;
  struct addrinfo hints;
  int rc;
  (void)instance;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  rc = sock__sys.getaddrinfo(job->host, job->service, &hints, &job->list);
  if (rc != 0) {
    job->list = NULL;
    sock__connect_finish(job, (unsigned long)rc, sock_error_from_win32((unsigned long)rc));
  } else {
    job->next = job->list;
    sock__connect_next(job, 0);
  }
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

/* The job, or NULL (out of memory). */
static sock__connect_t *sock__connect_job(sock_runtime_t *rt, sock_op_t *op, const char *host,
                                          unsigned short port, sock_t **out)
{
  size_t host_len = strlen(host);
  sock__connect_t *job = sock__sys.calloc(1, sizeof *job + host_len);
  if (job == NULL)
    return NULL;
  job->rt = rt;
  job->op = op;
  job->out = out;
  memcpy(job->host, host, host_len + 1);
  snprintf(job->service, sizeof job->service, "%u", (unsigned)port);
  return job;
}

int sock_connect_start(sock_op_t *op, sock_runtime_t *rt, const char *host,
                       unsigned short port, sock_t **out, co_task_t *task)
{
  sock__connect_t *job;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__CONNECT, task);
  if (out != NULL)
    *out = NULL;  /* first: a refused call leaves no stale socket behind either */
  if (rt == NULL || host == NULL || host[0] == '\0' || out == NULL || task == NULL || port == 0)
    return sock__refuse(op, CO_EINVAL);
  if (sock__shutting_down(rt))
    return sock__refuse(op, CO_ESHUTDOWN);
  rc = sock__await_register(op);  /* the task's canceller finds the job */
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  job = sock__connect_job(rt, op, host, port, out);
  if (job == NULL) {
    sock__await_clear(op);
    return sock__refuse(op, CO_ENOMEM);
  }
  op->target.connect = job;
  sock__op_mark(op, SOCK__OP_WORK);
  sock__pending_add(rt);
  if (!sock__sys.TrySubmitThreadpoolCallback(sock__resolve, job, &rt->env)) {
    unsigned long last = GetLastError();
    sock__pending_done(rt);
    sock__op_unmark(op, SOCK__OP_WORK);
    sock__await_clear(op);
    free(job);
    op->target.connect = NULL;
    return sock__op_fail(op, last);
  }
  return CO_PENDING;
}

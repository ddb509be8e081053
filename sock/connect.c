/*
 * sock/connect.c - connecting to host:port. Name resolution blocks, so it runs
 * as a thread-pool work item; then each resolved address is tried in turn
 * with ConnectEx on a fresh bound socket, until one connects or all failed
 * (the last failure is reported). The operation is always pending.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sock__connect {
  sock_runtime_t  *rt;
  sock_op_t       *op;       /* the task's record; op.buf points here */
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
  op->buf = NULL;
  op->win32_error = win32_error;
  op->error = (short)error;
  co_wake(op->task);
}

/* A socket for one address, bound to "any" as ConnectEx requires. */
static int sock__connect_socket(sock__connect_t *job, const struct addrinfo *ai)
{
  sock_addr_t any;
  int error = CO_OK;
  SOCKET h = sock__new_handle(ai->ai_family, &error);
  if (h == INVALID_SOCKET)
    return error;
  memset(&any, 0, sizeof any);
  any.si_family = (ADDRESS_FAMILY)ai->ai_family;
  if (bind(h, (const struct sockaddr *)&any,
           ai->ai_family == AF_INET6 ? (int)sizeof any.Ipv6 : (int)sizeof any.Ipv4) != 0) {
    error = sock_error_from_win32((unsigned long)WSAGetLastError());
    closesocket(h);
    return error;
  }
  return sock__wrap(job->rt, h, ai->ai_family, sizeof(sock_t), &job->attempt);
}

/* The connected socket goes to the caller. */
static void sock__connect_won(sock__connect_t *job)
{
  sock_t *s = job->attempt;
  setsockopt(sock__handle(s), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
  sock_set_nodelay(s, 1);
  *job->out = s;
  sock__connect_finish(job, 0, CO_OK);
}

/* Issues ConnectEx for one address under the task's lock (as ops.c issues
 * its calls). Returns CO_PENDING, CO_OK (connected at once), a Win32 code in
 * *win32_error with CO_EUNKNOWN (this address failed), or the task's
 * cancel/deadline reason. */
static int sock__connect_issue(sock__connect_t *job, const struct addrinfo *ai,
                               unsigned long *win32_error)
{
  sock_t *s = job->attempt;
  sock_op_t *op = job->op;
  int reason;
  sock_task_t *st = sock__call_begin(s, op, &reason);  /* born cancelled after cancel_all */
  if (reason != CO_OK)
    return reason;
  *win32_error = 0;
  if (!job->rt->connect_ex(sock__handle(s), ai->ai_addr, (int)ai->ai_addrlen, NULL, 0, NULL,
                           &op->overlapped))
    *win32_error = (unsigned long)WSAGetLastError();
  if (sock__call_end(st, s, op, *win32_error) == CO_PENDING)
    return CO_PENDING;
  return *win32_error == 0 ? CO_OK : CO_EUNKNOWN;
}

/* Tries the remaining addresses until one is pending, one connected at
 * once, or none is left. `win32_error` is the failure so far. */
static void sock__connect_next(sock__connect_t *job, unsigned long win32_error)
{
  int error = win32_error ? sock_error_from_win32(win32_error) : CO_ENOTFOUND;
  while (job->next != NULL) {
    const struct addrinfo *ai = job->next;
    int rc;
    job->next = ai->ai_next;
    if (sock__shutting_down(job->rt)) {
      sock__connect_finish(job, 0, CO_ESHUTDOWN);
      return;
    }
    error = sock__connect_socket(job, ai);
    if (error != CO_OK)
      continue;
    rc = sock__connect_issue(job, ai, &win32_error);
    if (rc == CO_PENDING)
      return;  /* the completion will come */
    if (rc == CO_OK) {
      sock__connect_won(job);
      return;
    }
    sock_close(job->attempt);
    job->attempt = NULL;
    if (rc != CO_EUNKNOWN) {  /* cancelled or timed out */
      sock__connect_finish(job, 0, rc);
      return;
    }
    error = sock_error_from_win32(win32_error);
  }
  sock__connect_finish(job, win32_error, error);
}

/* The IO callback of a ConnectEx. */
void sock__connect_on_io(sock_t *s, sock_op_t *op, unsigned long error)
{
  sock__connect_t *job = (sock__connect_t *)op->buf;
  int reason = sock__wait_clear(op);
  (void)s;
  if (error == 0) {
    sock__connect_won(job);
    return;
  }
  sock_close(job->attempt);
  job->attempt = NULL;
  if (error == ERROR_OPERATION_ABORTED || sock__shutting_down(job->rt)) {
    sock__connect_finish(job, error, reason != CO_OK ? reason : CO_ECANCELED);
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
  rc = getaddrinfo(job->host, job->service, &hints, &job->list);
  if (rc != 0) {
    job->list = NULL;
    sock__connect_finish(job, (unsigned long)rc, sock_error_from_win32((unsigned long)rc));
  } else {
    job->next = job->list;
    sock__connect_next(job, 0);
  }
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

int sock_connect_start(sock_op_t *op, sock_runtime_t *rt, const char *host,
                       unsigned short port, sock_t **out, co_task_t *task)
{
  sock__connect_t *job;
  size_t host_len;

  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__CONNECT, task);
  if (rt == NULL || host == NULL || host[0] == '\0' || out == NULL || task == NULL || port == 0)
    return op->error = CO_EINVAL;
  *out = NULL;
  if (sock__shutting_down(rt))
    return op->error = CO_ESHUTDOWN;
  host_len = strlen(host);
  job = calloc(1, sizeof *job + host_len);
  if (job == NULL)
    return op->error = CO_ENOMEM;
  job->rt = rt;
  job->op = op;
  job->out = out;
  memcpy(job->host, host, host_len + 1);
  snprintf(job->service, sizeof job->service, "%u", (unsigned)port);
  op->buf = (char *)job;

  sock__pending_add(rt);
  if (!TrySubmitThreadpoolCallback(sock__resolve, job, &rt->env)) {
    unsigned long last = GetLastError();
    sock__pending_done(rt);
    free(job);
    op->buf = NULL;
    return sock__op_fail(op, last);
  }
  return CO_PENDING;
}

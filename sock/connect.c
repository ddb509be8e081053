/*
 * sock/connect.c - connecting to host:port or to an address. A thread-pool
 * work item starts the job: a numeric address (or the caller's sock_addr_t)
 * is tried at once; a name is looked up with resolve.c's overlapped
 * GetAddrInfoExW, whose routine carries on. Each address is then tried in
 * turn with ConnectEx (through the hub) on a fresh bound socket, until one
 * connects or all failed (the last failure is reported). The operation is
 * always pending. While the name resolves, the await is marked as served by
 * a work item: a cancel (of the record, the task or by its deadline) is
 * seen when the lookup ends, before the first address is tried (a connect
 * does not abandon its lookup; sock_resolve_start does).
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  SOCK__CONNECT_ADDRS = 16,   /* addresses of one name tried at most */
  SOCK__CONNECT_NAME = 256    /* a DNS name has at most 253 characters */
};

typedef struct sock__connect {
  sock__lookup_t   lk;        /* first: the lookup's routine finds the job */
  sock_runtime_t  *rt;
  sock_op_t       *op;        /* the task's record; op.target.connect points here */
  sock_t         **out;       /* receives the socket on success */
  sock_t          *attempt;   /* the socket connecting now */
  unsigned         count;     /* addresses resolved */
  unsigned         next;      /* the next one to try */
  unsigned short   port;
  sock_addr_t      addrs[SOCK__CONNECT_ADDRS];
  WCHAR            name[SOCK__CONNECT_NAME];  /* the name to look up, if any */
} sock__connect_t;

/* Ends the operation: frees the job, stores the result, wakes the task. */
static void sock__connect_finish(sock__connect_t *job, unsigned long win32_error, int error)
{
  sock_op_t *op = job->op;
  if (job->lk.result != NULL)
    FreeAddrInfoExW(job->lk.result);
  free(job);
  op->target.connect = NULL;
  sock__work_end(op, win32_error, error);
}

/* A socket for one address, bound to "any" as ConnectEx requires. On a
 * failure *win32 is the raw code where the system gave one. */
static int sock__connect_socket(sock__connect_t *job, const sock_addr_t *ai,
                                unsigned long *win32)
{
  sock_addr_t any;
  int error = CO_OK;
  SOCKET h = sock__new_socket(ai->si_family, SOCK_STREAM, &error);
  *win32 = 0;
  if (h == INVALID_SOCKET) {
    *win32 = (unsigned long)WSAGetLastError();
    return error;
  }
  memset(&any, 0, sizeof any);
  any.si_family = ai->si_family;
  if (sock__sys.bind(h, (const struct sockaddr *)&any, sock__addr_len(&any)) != 0) {
    *win32 = (unsigned long)WSAGetLastError();
    closesocket(h);
    return sock_error_from_win32(*win32);
  }
  return sock__tcp_wrap(job->rt, h, ai->si_family, SOCK__KIND_TCP, &job->attempt);
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
  const sock_addr_t *ai = arg;
  *bytes = 0;
  if (!sock__sys.ConnectEx(sock__socket(s), (const struct sockaddr *)ai, sock__addr_len(ai),
                           NULL, 0, NULL, &op->overlapped))
    return (unsigned long)WSAGetLastError();
  return 0;
}

/* Why the next address may not be tried: the await cancelled (by whom the
 * task says), the runtime stopping; else CO_OK. */
static int sock__connect_stop(sock__connect_t *job)
{
  return sock__work_stop(job->op, job->rt);
}

/* Tries the remaining addresses until one is pending, one connected at
 * once, or none is left. `win32_error` is the failure so far. */
static void sock__connect_next(sock__connect_t *job, unsigned long win32_error)
{
  int error = win32_error ? sock_error_from_win32(win32_error) : CO_ENOTFOUND;
  while (job->next < job->count) {
    const sock_addr_t *ai = &job->addrs[job->next];
    unsigned long bytes;
    int rc = sock__connect_stop(job);
    if (rc != CO_OK) {
      sock__connect_finish(job, 0, rc);
      return;
    }
    job->next++;
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

/* The addresses of a lookup that ended (0: its list is in job->lk.result),
 * then the tries. */
static void sock__connect_resolved(sock__connect_t *job, unsigned long error)
{
  if (error == 0) {
    job->count = (unsigned)sock__addrs_from_list(job->lk.result, job->port, job->addrs,
                                                 SOCK__CONNECT_ADDRS);
    if (job->count == 0)
      error = WSANO_DATA;
  }
  if (error != 0)
    sock__connect_finish(job, error, sock_error_from_win32(error));
  else
    sock__connect_next(job, 0);
}

/* The lookup's routine (a pool thread): carry on from the addresses. */
static void sock__connect_lookup_done(sock__lookup_t *lk, unsigned long error)
{
  sock__connect_t *job = (sock__connect_t *)lk;
  sock_runtime_t *rt = job->rt;
  sock__connect_resolved(job, error);
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

/* The work item: try the address, or start the lookup of the name. */
static void CALLBACK sock__connect_work(PTP_CALLBACK_INSTANCE instance, void *context)
{
  sock__connect_t *job = context;
  sock_runtime_t *rt = job->rt;
  unsigned long last;
  (void)instance;
  if (job->count > 0) {
    sock__connect_next(job, 0);
  } else {
    last = sock__lookup_start(&job->lk);
    if (last == ERROR_IO_PENDING)
      return;  /* the routine carries on, and ends the count */
    sock__connect_resolved(job, last);
  }
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

/* The job for host (numeric: its one address; else the name to look up),
 * or NULL with *error (CO_ENOMEM, CO_EINVAL for a name too long). */
static sock__connect_t *sock__connect_job(sock_runtime_t *rt, sock_op_t *op, const char *host,
                                          const sock_addr_t *addr, unsigned short port,
                                          sock_t **out, int *error)
{
  sock__connect_t *job = sock__sys.calloc(1, sizeof *job);
  *error = CO_ENOMEM;
  if (job == NULL)
    return NULL;
  job->rt = rt;
  job->op = op;
  job->out = out;
  job->port = port;
  job->lk.done = sock__connect_lookup_done;
  job->lk.family = AF_UNSPEC;
  job->lk.name = job->name;
  if (addr != NULL) {
    job->addrs[0] = *addr;
    job->count = 1;
  } else if (sock__addr_numeric(host, port, AF_UNSPEC, &job->addrs[0])) {
    job->count = 1;  /* numeric: no lookup */
  } else if ((*error = sock__lookup_name(host, job->name, SOCK__CONNECT_NAME)) != CO_OK) {
    free(job);
    return NULL;
  }
  return job;
}

/* Both starts: host (a name or a numeric address) or addr. */
static int sock__connect_begin(sock_op_t *op, sock_runtime_t *rt, const char *host,
                               const sock_addr_t *addr, unsigned short port, sock_t **out,
                               co_task_t *task)
{
  sock__connect_t *job;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__CONNECT, task);
  if (out != NULL)
    *out = NULL;  /* first: a refused call leaves no stale socket behind either */
  if (rt == NULL || out == NULL || task == NULL || port == 0 ||
      (addr == NULL && (host == NULL || host[0] == '\0')) ||
      (addr != NULL && addr->si_family != AF_INET && addr->si_family != AF_INET6))
    return sock__refuse(op, CO_EINVAL);
  if (sock__shutting_down(rt))
    return sock__refuse(op, CO_ESHUTDOWN);
  rc = sock__await_register(op);  /* the task's canceller finds the job */
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  job = sock__connect_job(rt, op, host, addr, port, out, &rc);
  if (job == NULL) {
    sock__await_clear(op);
    return sock__refuse(op, rc);
  }
  op->target.connect = job;
  rc = sock__work_submit(op, rt, sock__connect_work, job);
  if (rc != CO_PENDING) {  /* not submitted: the failure is in op */
    free(job);
    op->target.connect = NULL;
  }
  return rc;
}

int sock_connect_start(sock_op_t *op, sock_runtime_t *rt, const char *host,
                       unsigned short port, sock_t **out, co_task_t *task)
{
  return sock__connect_begin(op, rt, host, NULL, port, out, task);
}

int sock_connect_addr_start(sock_op_t *op, sock_runtime_t *rt, const sock_addr_t *addr,
                            sock_t **out, co_task_t *task)
{
  unsigned short port = addr != NULL ? ntohs(addr->Ipv4.sin_port) : 0;  /* both families */
  return sock__connect_begin(op, rt, NULL, addr, port, out, task);
}

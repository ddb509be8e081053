/*
 * sock/resolve.c - name resolution as an await: GetAddrInfoExW in its
 * overlapped mode (Windows 8 and later), whose completion routine runs on a
 * pool thread, so no thread blocks in a lookup of ours. Numeric addresses
 * never reach it. connect.c resolves through the same lookup record.
 *
 * Cancelling a lookup abandons it. GetAddrInfoExCancel does nothing under
 * Wine 8 (a stub returning WSA_INVALID_HANDLE; the call leaves its handle
 * NULL) and may fail on Windows when the lookup is already finishing, so a
 * cancel (sock_op_cancel, the task's cancel or deadline, the runtime's
 * stop) does not wait for it: the task resumes at once with CO_ECANCELED or
 * CO_ETIMEDOUT, and the request, no longer tied to the task's record, frees
 * itself when its routine runs (it always runs). The runtime counts the
 * request as a pending operation until then, so its shutdown waits for it.
 *
 * Who ends the await is decided under the record's hub lock (hub.c): the
 * routine takes it by the record's address (the lock is process-wide, so
 * an abandoned record, which may be reused or freed, is never read), and
 * delivers only if no canceller marked the request abandoned first.
 */
#include "sock_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the lookup record (shared with connect.c) ---------------------------------------- */

static void CALLBACK sock__lookup_routine_fn(DWORD error, DWORD bytes, LPWSAOVERLAPPED ov)
{
  sock__lookup_t *lk = (sock__lookup_t *)ov;  /* the OVERLAPPED is its first member */
  LONG delay = InterlockedCompareExchange(&sock__lookup_delay_ms, 0, 0);
  (void)bytes;
  if (delay > 0)
    Sleep((DWORD)delay);  /* a slow name server, for tests (sock_fault.h) */
  lk->done(lk, error);
}

int sock__lookup_name(const char *host, WCHAR *name, size_t size)
{
  int n;
  if (host == NULL || host[0] == '\0' || strlen(host) >= size)
    return CO_EINVAL;
  n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, host, -1, name, (int)size);
  return n > 0 ? CO_OK : CO_EINVAL;
}

unsigned long sock__lookup_start(sock__lookup_t *lk)
{
  ADDRINFOEXW hints;
  int rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = lk->family;
  hints.ai_socktype = SOCK_STREAM;  /* one entry per address, not one per socket type */
  hints.ai_protocol = IPPROTO_TCP;
  memset(&lk->ov, 0, sizeof lk->ov);
  lk->result = NULL;
  lk->cancel = NULL;
  rc = sock__sys.GetAddrInfoExW(lk->name, NULL, NS_ALL, NULL, &hints, &lk->result, NULL,
                                &lk->ov, sock__lookup_routine_fn, &lk->cancel);
  if (rc == WSA_IO_PENDING)
    return ERROR_IO_PENDING;
  return (unsigned long)rc;  /* 0, or the error (a WSA... code) */
}

/* ---- addresses --------------------------------------------------------------------- */

int sock__addr_len(const sock_addr_t *a)
{
  return a->si_family == AF_INET6 ? (int)sizeof a->Ipv6 : (int)sizeof a->Ipv4;
}

int sock__addr_numeric(const char *host, unsigned short port, int family, sock_addr_t *out)
{
  memset(out, 0, sizeof *out);
  if (host == NULL)
    return 0;
  if (family != AF_INET6 && inet_pton(AF_INET, host, &out->Ipv4.sin_addr) == 1) {
    out->Ipv4.sin_family = AF_INET;
    out->Ipv4.sin_port = htons(port);
    return 1;
  }
  if (family != AF_INET && inet_pton(AF_INET6, host, &out->Ipv6.sin6_addr) == 1) {
    out->Ipv6.sin6_family = AF_INET6;
    out->Ipv6.sin6_port = htons(port);
    return 1;
  }
  memset(out, 0, sizeof *out);
  return 0;
}

int sock_addr_parse(const char *ip, unsigned short port, sock_addr_t *out)
{
  if (out == NULL)
    return CO_EINVAL;
  return sock__addr_numeric(ip, port, AF_UNSPEC, out) ? CO_OK : CO_EINVAL;
}

size_t sock__addrs_from_list(const ADDRINFOEXW *list, unsigned short port, sock_addr_t *out,
                             size_t cap)
{
  size_t n = 0;
  /* mingw-w64 types ai_next as `struct addrinfoexW *` (sic): walk it by cast. */
  for (const ADDRINFOEXW *ai = list; ai != NULL && n < cap;
       ai = (const ADDRINFOEXW *)(const void *)ai->ai_next) {
    size_t len = ai->ai_addrlen;
    if (ai->ai_addr == NULL || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
      continue;
    memset(&out[n], 0, sizeof out[n]);
    memcpy(&out[n], ai->ai_addr, len < sizeof out[n] ? len : sizeof out[n]);
    out[n].Ipv4.sin_port = htons(port);  /* the same place in both families */
    n++;
  }
  return n;
}

/* ---- the await --------------------------------------------------------------------- */

enum { SOCK__NAME_MAX = 256 };  /* a DNS name has at most 253 characters */

typedef struct sock__resolve {
  sock__lookup_t  lk;         /* first: its routine finds the request */
  sock_runtime_t *rt;
  sock_op_t      *op;         /* the task's record: read only while not abandoned */
  sock_addr_t    *addrs;      /* the caller's storage */
  size_t          capacity;
  unsigned short  port;
  unsigned char   abandoned;  /* under the record's hub lock: a canceller ended the await */
  WCHAR           name[SOCK__NAME_MAX];
} sock__resolve_t;

static void sock__resolve_free(sock__resolve_t *job)
{
  if (job->lk.result != NULL)
    FreeAddrInfoExW(job->lk.result);
  free(job);
}

/* Whether the await is still the request's (then it is no longer marked,
 * and no canceller can abandon it any more), or was abandoned. */
static int sock__resolve_claim(sock__resolve_t *job)
{
  SRWLOCK *lock = sock__op_lock(job->op);  /* the address only */
  int mine;
  AcquireSRWLockExclusive(lock);
  mine = !job->abandoned;
  if (mine) {
    job->op->flags &= (unsigned char)~SOCK__OP_WORK;
    job->op->target.resolve = NULL;
  }
  ReleaseSRWLockExclusive(lock);
  return mine;
}

/* The result into the caller's record and storage. */
static void sock__resolve_deliver(sock__resolve_t *job, sock_op_t *op, unsigned long error)
{
  size_t n = 0;
  if (error == 0)
    n = sock__addrs_from_list(job->lk.result, job->port, job->addrs, job->capacity);
  if (error == 0 && n == 0)
    error = WSANO_DATA;  /* a name with no address of the family asked */
  op->bytes = (unsigned long)n;
  if (error != 0)
    sock__op_fail(op, error);
}

/* The routine: deliver and wake the task on the runtime's pool, or, if
 * the await was abandoned, just free the request. */
static void sock__resolve_done(sock__lookup_t *lk, unsigned long error)
{
  sock__resolve_t *job = (sock__resolve_t *)lk;
  sock_runtime_t *rt = job->rt;
  sock_op_t *op = job->op;
  if (!sock__resolve_claim(job)) {
    sock__resolve_free(job);
    sock__pending_done(rt);  /* the request's count; shutdown may go on */
    return;
  }
  sock__resolve_deliver(job, op, error);
  sock__resolve_free(job);
  sock__wake_later(rt, op);  /* the count ends after the task has run */
}

sock_runtime_t *sock__resolve_abandon(sock_op_t *op, HANDLE *cancel)
{
  sock__resolve_t *job = op->target.resolve;
  /* The wake's count, taken while the request's is surely held (its routine
   * claims the record under this lock): shutdown cannot free the runtime
   * between our release of the lock and the wake. */
  sock__pending_add(job->rt);
  job->abandoned = 1;
  op->flags &= (unsigned char)~SOCK__OP_WORK;
  op->target.resolve = NULL;
  *cancel = job->lk.cancel;
  return job->rt;
}

void sock__resolve_cancel_call(HANDLE cancel)
{
  if (cancel != NULL)  /* Windows: may shorten the lookup; Wine: a stub */
    GetAddrInfoExCancel(&cancel);
}

/* Marks the await as served by the request, unless a cancel came first. */
static int sock__resolve_mark(sock_op_t *op, sock__resolve_t *job)
{
  int rc = CO_OK;
  AcquireSRWLockExclusive(sock__op_lock(op));
  if (op->flags & SOCK__OP_CANCEL) {
    rc = CO_ECANCELED;
  } else {
    op->target.resolve = job;
    op->flags |= SOCK__OP_WORK;
  }
  ReleaseSRWLockExclusive(sock__op_lock(op));
  return rc == CO_OK ? rc : sock__await_reason(op);
}

/* The lookup did not go pending (finished now, or failed at once): the
 * start finishes it, unless a canceller abandoned the await meanwhile (the
 * task is being woken: the start reports CO_PENDING and frees the request). */
static int sock__resolve_now(sock__resolve_t *job, sock_op_t *op, unsigned long error)
{
  sock_runtime_t *rt = job->rt;
  if (!sock__resolve_claim(job)) {
    sock__resolve_free(job);
    sock__pending_done(rt);
    return CO_PENDING;
  }
  sock__resolve_deliver(job, op, error);
  sock__resolve_free(job);
  sock__await_clear(op);
  sock__pending_done(rt);
  return op->error;
}

static int sock__resolve_args(sock_op_t *op, sock_runtime_t *rt, const char *host, int family,
                              sock_addr_t *addrs, size_t capacity, co_task_t *task)
{
  if (rt == NULL || host == NULL || host[0] == '\0' || addrs == NULL || capacity == 0 ||
      task == NULL || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
    return sock__refuse(op, CO_EINVAL);
  if (sock__shutting_down(rt))
    return sock__refuse(op, CO_ESHUTDOWN);
  return CO_OK;
}

int sock_resolve_start(sock_op_t *op, sock_runtime_t *rt, const char *host, unsigned short port,
                       int family, sock_addr_t *addrs, size_t capacity, co_task_t *task)
{
  sock__resolve_t *job;
  unsigned long last;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__RESOLVE, task);
  rc = sock__resolve_args(op, rt, host, family, addrs, capacity, task);
  if (rc != CO_OK)
    return rc;
  if (sock__addr_numeric(host, port, family, &addrs[0])) {
    op->bytes = 1;  /* nothing to look up */
    return CO_OK;
  }
  if (sock__addr_numeric(host, port, AF_UNSPEC, &addrs[0])) {  /* of the other family */
    memset(&addrs[0], 0, sizeof addrs[0]);
    return sock__op_fail(op, WSAHOST_NOT_FOUND);
  }
  rc = sock__await_register(op);  /* the task's reasons; its canceller finds op */
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  job = sock__sys.calloc(1, sizeof *job);
  if (job == NULL || sock__lookup_name(host, job->name, SOCK__NAME_MAX) != CO_OK) {
    rc = job == NULL ? CO_ENOMEM : CO_EINVAL;
    free(job);
    sock__await_clear(op);
    return sock__refuse(op, rc);
  }
  job->lk.done = sock__resolve_done;
  job->lk.family = family;
  job->lk.name = job->name;
  job->rt = rt;
  job->op = op;
  job->addrs = addrs;
  job->capacity = capacity;
  job->port = port;
  if ((rc = sock__resolve_mark(op, job)) != CO_OK) {
    free(job);
    sock__await_clear(op);
    return sock__refuse(op, rc);
  }
  sock__pending_add(rt);  /* the request's: until its routine (or the task's wake) */
  last = sock__lookup_start(&job->lk);
  if (last == ERROR_IO_PENDING)
    return CO_PENDING;  /* the routine may have run already: touch nothing */
  return sock__resolve_now(job, op, last);
}

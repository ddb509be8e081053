/*
 * sock/hub.c - the await protocol of every overlapped call in sock/, in one
 * place: issuing a call (the task's and the handle's refusals, the IO
 * object, the reference and the pending count), classifying its outcome,
 * the one IO callback that dispatches completions to the handle's kind,
 * waking tasks on a pool thread, and cancelling one await.
 *
 * The four outcomes of an overlapped call (measured under Wine, and as
 * Windows documents them):
 *   1. pending (ERROR_IO_PENDING): a completion will come;
 *   2. finished now (success): a completion comes all the same, unless the
 *      handle skips the completion port on success (then none comes);
 *   3. failed now with a completion still coming: ERROR_MORE_DATA and
 *      WSAEMSGSIZE (a short buffer for a message or datagram) are warnings,
 *      and the completion delivers the truncated result; so they count as
 *      pending. (With skip mode Wine sends no completion for them, where
 *      Windows may: a kind whose calls can end so never turns skip mode on.)
 *   4. failed now with no completion: any other error.
 * Only 1-3 leave the IO object started; 4 and the skipping form of 2 call
 * CancelThreadpoolIo. StartThreadpoolIo and CancelThreadpoolIo appear in
 * this file alone.
 *
 * Cancelling one await: each record has a hub lock (striped by address,
 * process-wide) that guards op.flags. A call is marked SOCK__OP_IO (with
 * its handle in overlapped.Pointer, which sockets and pipes ignore; a file
 * call keeps it in op.bytes: sock__io_handle) before
 * it is made and unmarked by its completion; a queued wait is marked
 * SOCK__OP_QUEUED (its list in overlapped.Internal) as it is pushed. A
 * canceller sets SOCK__OP_CANCEL and cancels what it finds marked; the
 * issuer reads the flag again after a call went pending, so a cancel that
 * came between the mark and the kernel is not lost. By then the record may
 * be finished and on its next await: the second read acts only if the
 * await's generation (SOCK__OP_GEN, counted by sock__op_begin) is still the
 * one it issued.
 */
#include "sock_internal.h"

#include <string.h>

/* ---- records ------------------------------------------------------------------------ */

/* A connection's budget: the record stays within 64 bytes on 64-bit targets. */
typedef char sock__op_fits_64[(sizeof(void *) < 8 || sizeof(sock_op_t) <= 64) ? 1 : -1];

#define SOCK__OP_LOCKS 64
static SRWLOCK sock__op_locks[SOCK__OP_LOCKS];  /* zero is SRWLOCK_INIT */

SRWLOCK *sock__op_lock(const sock_op_t *op)
{
  ULONG_PTR a = (ULONG_PTR)op;
  return &sock__op_locks[((a >> 6) ^ (a >> 14)) % SOCK__OP_LOCKS];
}

/* A record is its task's between awaits: flags are reset without the lock,
 * all but the generation, which counts on. */
void sock__op_begin(sock_op_t *op, int kind, co_task_t *task)
{
  op->task = task;
  op->bytes = 0;
  op->win32_error = 0;
  op->error = CO_OK;
  op->kind = (unsigned char)kind;
  op->flags = (unsigned char)((op->flags + SOCK__OP_GEN_ONE) & SOCK__OP_GEN);
}

int sock__op_fail(sock_op_t *op, unsigned long win32_error)
{
  op->win32_error = win32_error;
  op->error = (short)sock_error_from_win32(win32_error);
  return op->error;
}

int sock__refuse(sock_op_t *op, int code)
{
  op->error = (short)code;
  return code;
}

int sock__admit(const sock_t *s)
{
  if (sock__shutting_down(s->rt))
    return CO_ESHUTDOWN;
  if (sock__is(s, SOCK__CLOSED | SOCK__CANCELLED))
    return CO_ECANCELED;
  return CO_OK;
}

void sock__op_mark(sock_op_t *op, unsigned flag)
{
  AcquireSRWLockExclusive(sock__op_lock(op));
  op->flags |= (unsigned char)flag;
  ReleaseSRWLockExclusive(sock__op_lock(op));
}

void sock__op_unmark(sock_op_t *op, unsigned flag)
{
  AcquireSRWLockExclusive(sock__op_lock(op));
  op->flags &= (unsigned char)~flag;
  ReleaseSRWLockExclusive(sock__op_lock(op));
}

int sock__op_cancelled(sock_op_t *op)
{
  int cancelled;
  AcquireSRWLockExclusive(sock__op_lock(op));
  cancelled = (op->flags & SOCK__OP_CANCEL) != 0;
  ReleaseSRWLockExclusive(sock__op_lock(op));
  return cancelled;
}

/* ---- awaits served by a work item (connect, a pipe client's open) ----------------- */

int sock__work_submit(sock_op_t *op, sock_runtime_t *rt, PTP_SIMPLE_CALLBACK work, void *job)
{
  unsigned long last;
  sock__op_mark(op, SOCK__OP_WORK);
  sock__pending_add(rt);
  if (sock__sys.TrySubmitThreadpoolCallback(work, job, &rt->env))
    return CO_PENDING;
  last = GetLastError();
  sock__pending_done(rt);
  sock__op_unmark(op, SOCK__OP_WORK);
  sock__await_clear(op);
  return sock__op_fail(op, last);
}

int sock__work_stop(sock_op_t *op, const sock_runtime_t *rt)
{
  if (sock__op_cancelled(op)) {
    int reason = sock__await_clear(op);
    return reason != CO_OK ? reason : CO_ECANCELED;
  }
  return sock__shutting_down(rt) ? CO_ESHUTDOWN : CO_OK;
}

void sock__work_end(sock_op_t *op, unsigned long win32_error, int error)
{
  op->win32_error = win32_error;
  op->error = (short)error;
  sock__op_unmark(op, SOCK__OP_WORK);
  sock__await_clear(op);
  co_wake(op->task);
}

/* A failed call's result: the task's reason if it was aborted for the
 * task's sake (cancel, deadline), "cancelled" for any error on a handle we
 * closed (Wine reports ERROR_HANDLES_CLOSED there, Windows the abort), else
 * the translation. */
static void sock__record_failure(const sock_t *s, sock_op_t *op, unsigned long error,
                                 int reason)
{
  op->win32_error = error;
  if (sock__is(s, SOCK__CLOSED))
    op->error = CO_ECANCELED;
  else if (error == ERROR_OPERATION_ABORTED && reason != CO_OK)
    op->error = (short)reason;
  else
    op->error = (short)sock_error_from_win32(error);
}

/* ---- issuing ------------------------------------------------------------------------- */

/* Outcomes 1-3 of the head comment: whether the thread pool will call back. */
static int sock__completion_comes(const sock_t *s, unsigned long error)
{
  switch (error) {
  case ERROR_IO_PENDING:
    return 1;
  case 0:
  case ERROR_MORE_DATA:
  case WSAEMSGSIZE:
    return !sock__is(s, SOCK__SKIP_PORT);
  default:
    return 0;
  }
}

/* Marks op's call as in the kernel on s, unless a cancel came first;
 * *gen: the await's generation, for the second read. */
static int sock__mark_io(sock_t *s, sock_op_t *op, unsigned *gen)
{
  int rc = CO_OK;
  memset(&op->overlapped, 0, sizeof op->overlapped);
  op->overlapped.Pointer = s;  /* for a canceller of this one await */
  AcquireSRWLockExclusive(sock__op_lock(op));
  if (op->flags & SOCK__OP_CANCEL)
    rc = CO_ECANCELED;
  else
    op->flags |= SOCK__OP_IO;
  *gen = op->flags & SOCK__OP_GEN;
  ReleaseSRWLockExclusive(sock__op_lock(op));
  return rc == CO_OK ? rc : sock__await_reason(op);  /* a deadline's is CO_ETIMEDOUT */
}

/* After a call went pending: the second reads of the handle's cancel flag
 * and of the await's (handle.c and the head comment say why). s is alive:
 * the issuer holds a reference. op may already be finished, even on its
 * next await: the handle's CancelIoEx with op's address then cancels
 * nothing of ours that is not cancelled anyway, and the await's is made
 * only while the generation is still `gen` and its call still out. */
static void sock__catch_cancel(sock_t *s, sock_op_t *op, unsigned gen)
{
  const unsigned char both = SOCK__OP_CANCEL | SOCK__OP_IO;
  if (InterlockedOr(&s->state, 0) & SOCK__CANCELLED) {  /* the usual case: one read */
    sock__rt_lock(s->rt);
    if (sock__os_handle(s) != INVALID_HANDLE_VALUE)
      CancelIoEx(sock__os_handle(s), &op->overlapped);  /* the address is only a key */
    sock__rt_unlock(s->rt);
  }
  AcquireSRWLockExclusive(sock__op_lock(op));
  if ((op->flags & SOCK__OP_GEN) == gen && (op->flags & both) == both)
    CancelIoEx(sock__os_handle(s), &op->overlapped);
  ReleaseSRWLockExclusive(sock__op_lock(op));
}

int sock__hub_call(sock_t *s, sock_op_t *op, sock__call_fn call, void *arg,
                   unsigned long *error, unsigned long *bytes)
{
  unsigned long last, done = 0;
  unsigned gen = 0;
  int rc = sock__admit(s);
  if (rc == CO_OK)
    rc = sock__await_register(op);  /* the task's reasons, and its canceller finds op */
  if (rc == CO_OK && (rc = sock__mark_io(s, op, &gen)) != CO_OK)
    sock__await_clear(op);
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  /* Two references: the call's, dropped by its completion, and ours until
   * the second read (the completion may run before the call returns). */
  InterlockedExchangeAdd(&s->state, 2);
  sock__pending_add(s->rt);
  StartThreadpoolIo(s->io);  /* before every overlapped call */
  last = call(s, op, arg, &done);
  if (sock__completion_comes(s, last)) {
    sock__catch_cancel(s, op, gen);
    sock__release(s);  /* the last one if the call has completed meanwhile */
    return CO_PENDING;
  }
  CancelThreadpoolIo(s->io);  /* no completion will come */
  sock__op_unmark(op, SOCK__OP_IO);
  sock__await_clear(op);
  sock__pending_done(s->rt);
  if (last != 0)
    sock__record_failure(s, op, last, CO_OK);
  InterlockedExchangeAdd(&s->state, -1);  /* the call's: ours is still held */
  sock__release(s);
  *error = last;
  *bytes = done;
  return CO_OK;
}

/* ---- completions ------------------------------------------------------------------------ */

/* Every completion of every handle arrives here, on a pool thread. The
 * OVERLAPPED is the first member of its record, so the pointer is the
 * record. `error` is a Win32 code (NO_ERROR on success). On a failure the
 * result is recorded before the kind sees it: op.error and op.win32_error
 * are final unless the kind decides otherwise. */
void CALLBACK sock__hub_on_io(PTP_CALLBACK_INSTANCE instance, void *context,
                              void *overlapped, ULONG error, ULONG_PTR bytes, PTP_IO io)
{
  sock_t *s = context;
  sock_op_t *op = overlapped;
  sock_runtime_t *rt = s->rt;  /* s may be freed by the time we return */
  unsigned long result = sock__sys.completion(error);
  int reason;
  (void)instance;
  (void)io;
  sock__op_unmark(op, SOCK__OP_IO);
  reason = sock__await_clear(op);
  if (result != 0)
    sock__record_failure(s, op, result, reason);
  sock__kind_of(s)->on_io(s, op, result, (unsigned long)bytes);
  sock__release(s);        /* the call's reference: after the kind, whose task may close s */
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

/* ---- waking ------------------------------------------------------------------------------- */

void sock__wake_now(sock_runtime_t *rt, sock_op_t *op)
{
  sock_t *listener = op->kind == SOCK__ACCEPT ? sock__accept_listener(op) : NULL;
  sock__await_clear(op);
  sock__op_unmark(op, SOCK__OP_QUEUED | SOCK__OP_WORK);
  co_wake(op->task);
  if (listener != NULL)
    sock__release(listener);  /* the waiting accept's reference */
  sock__pending_done(rt);  /* the await's count, held until now */
}

/* One submission per queued wake, each taking the oldest: a wake-up of many
 * tasks spreads over the pool's threads. */
static void CALLBACK sock__wake_work(PTP_CALLBACK_INSTANCE instance, void *context,
                                     PTP_WORK work)
{
  sock_runtime_t *rt = context;
  sock_op_t *op;
  (void)instance;
  (void)work;
  AcquireSRWLockExclusive(&rt->wake_lock);
  op = rt->wake_head;
  if (op != NULL) {
    rt->wake_head = (sock_op_t *)op->overlapped.Pointer;
    if (rt->wake_head == NULL)
      rt->wake_tail = NULL;
  }
  ReleaseSRWLockExclusive(&rt->wake_lock);
  if (op != NULL)
    sock__wake_now(rt, op);
}

void sock__wake_later(sock_runtime_t *rt, sock_op_t *op)
{
  AcquireSRWLockExclusive(&rt->wake_lock);
  op->overlapped.Pointer = NULL;  /* the record is out of every list: it links this one */
  if (rt->wake_tail != NULL)
    rt->wake_tail->overlapped.Pointer = op;
  else
    rt->wake_head = op;
  rt->wake_tail = op;
  ReleaseSRWLockExclusive(&rt->wake_lock);
  SubmitThreadpoolWork(rt->wake_work);  /* cannot fail */
}

int sock__hub_init(sock_runtime_t *rt)
{
  InitializeSRWLock(&rt->wake_lock);
  rt->wake_work = sock__sys.CreateThreadpoolWork(sock__wake_work, rt, &rt->env);
  return rt->wake_work != NULL ? CO_OK : sock_error_from_win32(GetLastError());
}

/* ---- cancelling one await --------------------------------------------------------------- */

/* Under op's hub lock, op marked queued: takes it out of its list. The
 * list's lock comes after a record's in the lock order, but the one that
 * queues a record holds the list's and then takes the record's: so only
 * try it, and let the caller retry with the record's lock released. The
 * list is alive: a record marked queued is in it or on its way to a wake
 * that needs this lock first (and a waiting accept holds its listener).
 * Returns 1 (out: *removed says whether it was still in the list), or 0 to
 * be retried. */
static int sock__try_unqueue(sock_op_t *op, int *removed)
{
  sock_waitlist_t *w = (sock_waitlist_t *)op->overlapped.Internal;
  if (!TryAcquireSRWLockExclusive(&w->lock))
    return 0;
  *removed = sock__waitlist_remove(w, op);
  ReleaseSRWLockExclusive(&w->lock);
  if (*removed)
    op->flags &= (unsigned char)~SOCK__OP_QUEUED;
  return 1;
}

/* Under op's hub lock, op marked SOCK__OP_IO: the handle its call is on.
 * For most calls that is the sock_t in overlapped.Pointer, alive because the
 * call holds a reference on it. A file call cannot lend that field: the
 * kernel reads the file offset from Offset/OffsetHigh, the same bytes. So a
 * file operation keeps the handle's 32 bits (see sock__os_handle) in
 * op.bytes, which it writes before the call and overwrites with the result
 * only in its completion or after the hub's synchronous return, both after
 * SOCK__OP_IO is unmarked under this lock: the value read here is the
 * handle this call was made on. (Storing the sock_t back in Pointer once the
 * call has returned would leave a window, from the offset's write to that
 * store, in which a canceller would read an offset as a pointer.) If the
 * owner has closed the handle meanwhile, the value may name another object
 * by now; CancelIoEx on it with this record's OVERLAPPED matches nothing,
 * since no other call uses this record while this one is out. */
static HANDLE sock__io_handle(const sock_op_t *op)
{
  if (sock__op_is_file(op))
    return (HANDLE)(LONG_PTR)(LONG)op->bytes;
  return sock__os_handle((const sock_t *)op->overlapped.Pointer);
}

int sock__op_cancel(sock_op_t *op, int reason)
{
  int found = 0, removed = 0;
  sock_runtime_t *abandoned = NULL;  /* a lookup's runtime, if one was abandoned */
  HANDLE lookup = NULL;
  for (;;) {
    AcquireSRWLockExclusive(sock__op_lock(op));
    op->flags |= SOCK__OP_CANCEL;
    if (op->flags & SOCK__OP_IO) {  /* the completion will come, as aborted */
      HANDLE h = sock__io_handle(op);
      if (h != INVALID_HANDLE_VALUE)
        CancelIoEx(h, &op->overlapped);
      found = 1;
    } else if (op->flags & SOCK__OP_QUEUED) {
      if (!sock__try_unqueue(op, &removed)) {
        ReleaseSRWLockExclusive(sock__op_lock(op));
        SwitchToThread();  /* the list's holder may be waiting for this record */
        continue;
      }
      found = removed;
    } else if (op->flags & SOCK__OP_WORK) {
      found = 1;  /* the work item sees the flag before its next call */
      if (op->kind == SOCK__RESOLVE)  /* a lookup is not waited for: resolve.c */
        abandoned = sock__resolve_abandon(op, &lookup);
    }
    ReleaseSRWLockExclusive(sock__op_lock(op));
    break;
  }
  if (removed) {  /* out of every list: nobody else can wake it */
    op->error = (short)reason;
    sock__wake_later(sock__queued_runtime(op), op);
  }
  if (abandoned != NULL) {  /* the request frees itself; the task resumes now */
    sock__resolve_cancel_call(lookup);
    op->error = (short)reason;
    sock__wake_later(abandoned, op);  /* its count was taken under the lock */
  }
  return found;
}

int sock_op_cancel(sock_op_t *op)
{
  sock_task_t *st;
  if (op == NULL)
    return 0;
  st = sock__owner(op->task);
  if (st != NULL && st->runtime != NULL)
    return sock__task_cancel_op(st, op);  /* a sleep is the task's */
  return sock__op_cancel(op, CO_ECANCELED);
}

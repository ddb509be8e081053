/*
 * sock/sync.c - events, semaphores, channels and wait groups between tasks.
 *
 * All four are one pattern: a lock, up to two FIFO queues of waiting
 * operation records (sock_waitlist_t), and a rule for when a wait can pass at
 * once. A wait that cannot pass is queued; whoever later makes it pass takes
 * it out of the queue (under the lock, so only one party can) and wakes its
 * task on a pool thread. A queued record is not in the kernel's hands, so its
 * OVERLAPPED links the queue (Pointer) and names it (Internal) and the
 * runtime that counts the wait (InternalHigh), for a canceller of the one
 * await (hub.c). The same lists hold the tasks waiting in a listener's
 * accept queue (accept.c).
 */
#include "sock_internal.h"

#include <string.h>

/* ---- wait lists ---------------------------------------------------------------- */

sock_op_t *sock__chain_next(const sock_op_t *op)
{
  return (sock_op_t *)op->overlapped.Pointer;
}

void sock__waitlist_init(sock_waitlist_t *w)
{
  memset(w, 0, sizeof *w);
  InitializeSRWLock(&w->lock);
}

void sock__waitlist_push(sock_waitlist_t *w, int q, sock_op_t *op, sock_runtime_t *rt)
{
  op->overlapped.Pointer = NULL;
  if (w->tail[q] != NULL)
    w->tail[q]->overlapped.Pointer = op;
  else
    w->head[q] = op;
  w->tail[q] = op;
  sock__pending_add(rt);  /* the wait counts until its task has woken */
}

sock_runtime_t *sock__queued_runtime(const sock_op_t *op)
{
  return (sock_runtime_t *)op->overlapped.InternalHigh;
}

sock_op_t *sock__waitlist_pop(sock_waitlist_t *w, int q)
{
  sock_op_t *op = w->head[q];
  if (op != NULL) {
    w->head[q] = sock__chain_next(op);
    if (w->head[q] == NULL)
      w->tail[q] = NULL;
  }
  return op;
}

sock_op_t *sock__waitlist_take_all(sock_waitlist_t *w, int q)
{
  sock_op_t *chain = w->head[q];
  w->head[q] = NULL;
  w->tail[q] = NULL;
  return chain;
}

int sock__waitlist_remove(sock_waitlist_t *w, sock_op_t *op)
{
  int found = 0;
  for (int q = 0; q < 2 && !found; q++) {
    sock_op_t *prev = NULL;
    for (sock_op_t *it = w->head[q]; it != NULL; prev = it, it = sock__chain_next(it)) {
      if (it != op)
        continue;
      if (prev != NULL)
        prev->overlapped.Pointer = it->overlapped.Pointer;
      else
        w->head[q] = sock__chain_next(it);
      if (w->tail[q] == it)
        w->tail[q] = prev;
      found = 1;
      break;
    }
  }
  return found;
}

void sock__wake_chain(sock_op_t *op, int error)
{
  while (op != NULL) {
    sock_op_t *next = sock__chain_next(op);
    op->error = (short)error;
    sock__wake_later(sock__queued_runtime(op), op);
    op = next;
  }
}

/* ---- the shape of every wait ----------------------------------------------------- */

/* Under w->lock, after try_now said "wait": queues op unless a cancel of
 * the await came first. Queued and marked in one step under both locks, so
 * a canceller that finds the mark finds the record in the list, or finds it
 * taken out by the one that wakes it. */
static int sock__enqueue(sock_op_t *op, sock_waitlist_t *w, int q, sock_runtime_t *rt)
{
  int rc = CO_PENDING;
  AcquireSRWLockExclusive(sock__op_lock(op));
  if (op->flags & SOCK__OP_CANCEL) {
    rc = CO_ECANCELED;
  } else {
    op->flags |= SOCK__OP_QUEUED;
    sock__waitlist_push(w, q, op, rt);
  }
  ReleaseSRWLockExclusive(sock__op_lock(op));
  return rc;
}

/* Every wait in a list: refused if the task may not wait (cancelled, timed
 * out, the runtime stopping) or the await was cancelled; finished now if
 * try_now says so; else queued in queue q, where a canceller finds it. */
int sock__queue_wait(sock_op_t *op, sock_waitlist_t *w, int q, sock_runtime_t *rt,
                     sock__try_fn try_now)
{
  sock_op_t *wake = NULL;
  int rc = sock__shutting_down(rt) ? CO_ESHUTDOWN : sock__await_register(op);
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  memset(&op->overlapped, 0, sizeof op->overlapped);
  op->overlapped.Internal = (ULONG_PTR)w;        /* the list, for a canceller */
  op->overlapped.InternalHigh = (ULONG_PTR)rt;   /* the runtime that counts the wait */
  AcquireSRWLockExclusive(&w->lock);
  rc = try_now(w, op, &wake);
  if (rc == CO_PENDING)
    rc = sock__enqueue(op, w, q, rt);
  ReleaseSRWLockExclusive(&w->lock);
  if (wake != NULL)
    sock__wake_later(rt, wake);
  if (rc == CO_PENDING)
    return CO_PENDING;
  if (rc == CO_ECANCELED)
    rc = sock__await_reason(op);  /* a deadline's is CO_ETIMEDOUT */
  sock__await_clear(op);
  return sock__refuse(op, rc);
}

static int sock__sync_begin(sock_op_t *op, sock_task_t *st, const void *waitable)
{
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__SYNC, st != NULL ? &st->task : NULL);
  if (st == NULL || st->runtime == NULL || waitable == NULL)
    return sock__refuse(op, CO_EINVAL);  /* waiting needs a spawned sock_task_t */
  return CO_OK;
}

/* ---- events ---------------------------------------------------------------------- */

void sock_event_init(sock_event_t *ev, int is_set)
{
  sock__waitlist_init(&ev->w);
  ev->is_set = is_set != 0;
}

void sock_event_set(sock_event_t *ev)
{
  sock_op_t *chain;
  AcquireSRWLockExclusive(&ev->w.lock);
  ev->is_set = 1;
  chain = sock__waitlist_take_all(&ev->w, 0);
  ReleaseSRWLockExclusive(&ev->w.lock);
  sock__wake_chain(chain, CO_OK);
}

void sock_event_reset(sock_event_t *ev)
{
  AcquireSRWLockExclusive(&ev->w.lock);
  ev->is_set = 0;
  ReleaseSRWLockExclusive(&ev->w.lock);
}

static int sock__event_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  (void)op;
  (void)wake;
  return ((sock_event_t *)w)->is_set ? CO_OK : CO_PENDING;
}

int sock_event_wait_start(sock_op_t *op, sock_event_t *ev, sock_task_t *task)
{
  int rc = sock__sync_begin(op, task, ev);
  if (rc != CO_OK)
    return rc;
  return sock__queue_wait(op, &ev->w, 0, task->runtime, sock__event_try);
}

/* ---- semaphores ------------------------------------------------------------------ */

void sock_sem_init(sock_sem_t *sem, long count)
{
  sock__waitlist_init(&sem->w);
  sem->count = count;
}

static int sock__sem_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  sock_sem_t *sem = (sock_sem_t *)w;
  (void)op;
  (void)wake;
  if (sem->count <= 0)
    return CO_PENDING;
  sem->count--;
  return CO_OK;
}

int sock_sem_acquire_start(sock_op_t *op, sock_sem_t *sem, sock_task_t *task)
{
  int rc = sock__sync_begin(op, task, sem);
  if (rc != CO_OK)
    return rc;
  return sock__queue_wait(op, &sem->w, 0, task->runtime, sock__sem_try);
}

int sock_sem_try_acquire(sock_sem_t *sem)
{
  int rc;
  if (sem == NULL)
    return CO_EINVAL;
  AcquireSRWLockExclusive(&sem->w.lock);
  rc = sock__sem_try(&sem->w, NULL, NULL);
  ReleaseSRWLockExclusive(&sem->w.lock);
  return rc == CO_PENDING ? CO_EAGAIN : rc;
}

/* The permit goes straight to the first waiter, if any: nobody can slip in. */
void sock_sem_release(sock_sem_t *sem)
{
  sock_op_t *waiter;
  AcquireSRWLockExclusive(&sem->w.lock);
  waiter = sock__waitlist_pop(&sem->w, 0);
  if (waiter == NULL)
    sem->count++;
  ReleaseSRWLockExclusive(&sem->w.lock);
  if (waiter != NULL) {
    waiter->error = CO_OK;
    sock__wake_later(sock__queued_runtime(waiter), waiter);
  }
}

/* ---- channels ----------------------------------------------------------------------- */

enum { SOCK__RECEIVERS = 0, SOCK__SENDERS = 1 };

void sock_chan_init(sock_chan_t *ch, void **storage, size_t capacity)
{
  sock__waitlist_init(&ch->w);
  ch->items = storage;
  ch->capacity = storage != NULL ? capacity : 0;
  ch->first = 0;
  ch->count = 0;
  ch->closed = 0;
}

static void sock__chan_push(sock_chan_t *ch, void *item)
{
  ch->items[(ch->first + ch->count) % ch->capacity] = item;
  ch->count++;
}

static void *sock__chan_shift(sock_chan_t *ch)
{
  void *item = ch->items[ch->first];
  ch->first = (ch->first + 1) % ch->capacity;
  ch->count--;
  return item;
}

/* A sender's item travels in its record (target.item); a receiver's record
 * says where its item goes (target.slot). */
static int sock__chan_send_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  sock_chan_t *ch = (sock_chan_t *)w;
  sock_op_t *receiver;
  if (ch->closed)
    return CO_ECLOSED;
  receiver = sock__waitlist_pop(w, SOCK__RECEIVERS);  /* only while empty */
  if (receiver != NULL) {
    *receiver->target.slot = op->target.item;
    receiver->error = CO_OK;
    *wake = receiver;
    return CO_OK;
  }
  if (ch->count == ch->capacity)
    return CO_PENDING;
  sock__chan_push(ch, op->target.item);
  return CO_OK;
}

static int sock__chan_recv_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  sock_chan_t *ch = (sock_chan_t *)w;
  sock_op_t *sender = sock__waitlist_pop(w, SOCK__SENDERS);
  if (ch->count > 0) {
    *op->target.slot = sock__chan_shift(ch);
    if (sender != NULL)  /* its item takes the freed slot, in order */
      sock__chan_push(ch, sender->target.item);
  } else if (sender != NULL) {  /* capacity 0: straight from the sender */
    *op->target.slot = sender->target.item;
  } else {
    return ch->closed ? CO_ECLOSED : CO_PENDING;
  }
  if (sender != NULL) {
    sender->error = CO_OK;
    *wake = sender;
  }
  return CO_OK;
}

int sock_chan_send_start(sock_op_t *op, sock_chan_t *ch, void *item, sock_task_t *task)
{
  int rc = sock__sync_begin(op, task, ch);
  if (rc != CO_OK)
    return rc;
  op->target.item = item;
  return sock__queue_wait(op, &ch->w, SOCK__SENDERS, task->runtime, sock__chan_send_try);
}

int sock_chan_recv_start(sock_op_t *op, sock_chan_t *ch, void **item, sock_task_t *task)
{
  int rc = sock__sync_begin(op, task, ch);
  if (rc != CO_OK)
    return rc;
  if (item == NULL)
    return sock__refuse(op, CO_EINVAL);
  op->target.slot = item;
  *item = NULL;
  return sock__queue_wait(op, &ch->w, SOCK__RECEIVERS, task->runtime, sock__chan_recv_try);
}

/* The waits' own decisions, with a stand-in record: a send that would
 * wait, or a receive that would wait, is refused instead. */
static int sock__chan_try(sock_chan_t *ch, sock_op_t *op, sock__try_fn try_now)
{
  sock_op_t *wake = NULL;
  int rc;
  AcquireSRWLockExclusive(&ch->w.lock);
  rc = try_now(&ch->w, op, &wake);
  ReleaseSRWLockExclusive(&ch->w.lock);
  if (wake != NULL)
    sock__wake_later(sock__queued_runtime(wake), wake);
  return rc == CO_PENDING ? CO_EAGAIN : rc;
}

int sock_chan_try_send(sock_chan_t *ch, void *item)
{
  sock_op_t op;
  if (ch == NULL)
    return CO_EINVAL;
  op.target.item = item;
  return sock__chan_try(ch, &op, sock__chan_send_try);
}

int sock_chan_try_recv(sock_chan_t *ch, void **item)
{
  sock_op_t op;
  if (ch == NULL || item == NULL)
    return CO_EINVAL;
  *item = NULL;
  op.target.slot = item;
  return sock__chan_try(ch, &op, sock__chan_recv_try);
}

void sock_chan_close(sock_chan_t *ch)
{
  sock_op_t *receivers, *senders;
  AcquireSRWLockExclusive(&ch->w.lock);
  ch->closed = 1;
  receivers = sock__waitlist_take_all(&ch->w, SOCK__RECEIVERS);
  senders = sock__waitlist_take_all(&ch->w, SOCK__SENDERS);
  ReleaseSRWLockExclusive(&ch->w.lock);
  sock__wake_chain(receivers, CO_ECLOSED);
  sock__wake_chain(senders, CO_ECLOSED);
}

/* ---- wait groups ------------------------------------------------------------------- */

void sock_waitgroup_init(sock_waitgroup_t *wg)
{
  sock__waitlist_init(&wg->w);
  wg->count = 0;
}

void sock_waitgroup_add(sock_waitgroup_t *wg, long n)
{
  sock_op_t *chain = NULL;
  AcquireSRWLockExclusive(&wg->w.lock);
  wg->count += n;
  if (wg->count <= 0) {
    wg->count = 0;
    chain = sock__waitlist_take_all(&wg->w, 0);
  }
  ReleaseSRWLockExclusive(&wg->w.lock);
  sock__wake_chain(chain, CO_OK);
}

void sock_waitgroup_done(sock_waitgroup_t *wg)
{
  sock_waitgroup_add(wg, -1);
}

static int sock__waitgroup_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  (void)op;
  (void)wake;
  return ((sock_waitgroup_t *)w)->count == 0 ? CO_OK : CO_PENDING;
}

int sock_waitgroup_wait_start(sock_op_t *op, sock_waitgroup_t *wg, sock_task_t *task)
{
  int rc = sock__sync_begin(op, task, wg);
  if (rc != CO_OK)
    return rc;
  return sock__queue_wait(op, &wg->w, 0, task->runtime, sock__waitgroup_try);
}

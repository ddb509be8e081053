/*
 * sock/accept.c - accepting connections. A listener keeps several AcceptEx
 * calls posted ("slots"), so connections are taken off the backlog while no
 * task is asking yet. A finished slot goes to the first waiting task, or
 * waits in the ready queue for the next sock_accept_start, which then
 * finishes at once. A slot whose connection was handed out is posted again
 * at the next sock_accept_start (by then the accept loop has started the
 * new connection), so the two kernel calls of a re-post (WSASocketW,
 * AcceptEx) are not on that connection's path.
 */
#include "sock_internal.h"

#include <stdlib.h>
#include <string.h>

#define SOCK__ADDR_LEN ((DWORD)(sizeof(SOCKADDR_INET) + 16))  /* AcceptEx's rule */

typedef struct sock__slot {
  sock_op_t          op;        /* first: the posted AcceptEx's record */
  SOCKET             accepted;  /* the socket AcceptEx connects */
  struct sock__slot *next;      /* in the ready queue, or the idle list */
  char               addrs[2 * SOCK__ADDR_LEN];  /* local and peer address */
} sock__slot_t;

struct sock__listener {
  sock_t          sock;       /* first: a listener is a socket (SOCK__LISTENING) */
  sock_waitlist_t w;          /* its lock guards both queues; queue 0: waiting tasks */
  sock__slot_t   *ready;      /* accepted, not handed out yet (FIFO) */
  sock__slot_t   *ready_tail;
  sock__slot_t   *idle;       /* handed out, to be posted again */
  unsigned        n_idle;
  unsigned        n_slots;
  sock__slot_t   *slots;
};

static sock__listener_t *sock__listener(sock_t *s)
{
  return (sock__listener_t *)s;
}

/* A listener that hands out no more connections. */
static int sock__listener_stopped(const sock_t *ls)
{
  return sock__is(ls, SOCK__CLOSED | SOCK__CANCELLED) || sock__shutting_down(ls->rt);
}

/* ---- posting ------------------------------------------------------------------- */

static void sock__slot_ready(sock_t *ls, sock__slot_t *slot, int in_callback);

/* Posts one AcceptEx. Holds a reference on the listener until its completion
 * has been handled. */
static int sock__post(sock_t *ls, sock__slot_t *slot)
{
  sock_runtime_t *rt = ls->rt;
  DWORD bytes = 0;
  int error = CO_OK, last;

  if (sock__listener_stopped(ls))
    return CO_ECANCELED;
  slot->accepted = sock__new_handle(sock__family(ls), &error);
  if (slot->accepted == INVALID_SOCKET)
    return error;
  sock__op_begin(&slot->op, SOCK__ACCEPT_SLOT, NULL);
  memset(&slot->op.overlapped, 0, sizeof slot->op.overlapped);
  sock__retain(ls);
  sock__pending_add(rt);
  StartThreadpoolIo(ls->io);
  if (rt->accept_ex(sock__handle(ls), slot->accepted, slot->addrs, 0, SOCK__ADDR_LEN,
                    SOCK__ADDR_LEN, &bytes, &slot->op.overlapped)) {
    if (!sock__is(ls, SOCK__SKIP_PORT))
      return CO_PENDING;
    CancelThreadpoolIo(ls->io);  /* accepted at once: no completion */
    sock__pending_done(rt);
    sock__slot_ready(ls, slot, 0);
    sock__release(ls);
    return CO_OK;
  }
  last = WSAGetLastError();
  if (last == ERROR_IO_PENDING)
    return CO_PENDING;
  CancelThreadpoolIo(ls->io);
  sock__pending_done(rt);
  sock__release(ls);
  closesocket(slot->accepted);
  slot->accepted = INVALID_SOCKET;
  return sock_error_from_win32((unsigned long)last);
}

/* A slot whose connection was handed out waits here to be posted again. */
static void sock__slot_idle(sock__listener_t *l, sock__slot_t *slot)
{
  AcquireSRWLockExclusive(&l->w.lock);
  slot->next = l->idle;
  l->idle = slot;
  l->n_idle++;
  ReleaseSRWLockExclusive(&l->w.lock);
}

/* Posts the idle slots again. A failure (out of handles, closing) keeps the
 * slot idle for the next try. */
static void sock__repost_idle(sock_t *ls)
{
  sock__listener_t *l = sock__listener(ls);
  for (;;) {
    sock__slot_t *slot;
    AcquireSRWLockExclusive(&l->w.lock);
    slot = l->idle;
    if (slot != NULL) {
      l->idle = slot->next;
      l->n_idle--;
    }
    ReleaseSRWLockExclusive(&l->w.lock);
    if (slot == NULL)
      return;
    if (sock__post(ls, slot) < 0) {
      sock__slot_idle(l, slot);
      return;
    }
  }
}

/* ---- handing out --------------------------------------------------------------- */

/* Turns a finished slot into the waiter's result: a wrapped socket and the
 * peer address. Sets op.error. */
static void sock__deliver(sock_t *ls, sock__slot_t *slot, sock_op_t *op)
{
  sock_accept_t *result = (sock_accept_t *)op->buf;
  SOCKET h = slot->accepted;
  SOCKET lh = sock__handle(ls);
  struct sockaddr *local, *peer;
  int local_len = 0, peer_len = 0;

  slot->accepted = INVALID_SOCKET;
  setsockopt(h, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&lh, sizeof lh);
  ls->rt->get_addrs(slot->addrs, 0, SOCK__ADDR_LEN, SOCK__ADDR_LEN, &local, &local_len,
                    &peer, &peer_len);
  memset(&result->peer, 0, sizeof result->peer);
  memcpy(&result->peer, peer,
         (size_t)peer_len < sizeof result->peer ? (size_t)peer_len : sizeof result->peer);
  op->error = (short)sock__wrap(ls->rt, h, sock__family(ls), sizeof(sock_t), &result->sock);
  if (op->error == CO_OK)
    sock_set_nodelay(result->sock, 1);
}

/* The end of a waiting accept: inside an IO callback, wake its task right
 * here (as any completion does); elsewhere on a pool thread. */
static void sock__wake_waiter(sock_op_t *op, int in_callback)
{
  if (in_callback)
    sock__wake_now(op);
  else
    sock__wake_later(op);
}

/* A slot has a connection: give it to the first waiter, or queue it. */
static void sock__slot_ready(sock_t *ls, sock__slot_t *slot, int in_callback)
{
  sock__listener_t *l = sock__listener(ls);
  sock_op_t *waiter;

  AcquireSRWLockExclusive(&l->w.lock);
  waiter = sock__waitlist_pop(&l->w, 0);
  if (waiter == NULL) {
    slot->next = NULL;
    if (l->ready_tail != NULL)
      l->ready_tail->next = slot;
    else
      l->ready = slot;
    l->ready_tail = slot;
  }
  ReleaseSRWLockExclusive(&l->w.lock);
  if (waiter == NULL)
    return;
  sock__deliver(ls, slot, waiter);
  sock__slot_idle(l, slot);
  sock__wake_waiter(waiter, in_callback);
  if (in_callback)  /* the woken loop re-posted when it waited again, or not */
    sock__repost_idle(ls);
}

/* The listener is closing: every waiting task wakes with CO_ECANCELED. */
static void sock__flush_waiters(sock__listener_t *l)
{
  sock_op_t *op;
  AcquireSRWLockExclusive(&l->w.lock);
  op = sock__waitlist_take_all(&l->w, 0);
  ReleaseSRWLockExclusive(&l->w.lock);
  while (op != NULL) {
    sock_op_t *next = sock__chain_next(op);
    sock__op_fail(op, ERROR_OPERATION_ABORTED);
    sock__wake_later(op);
    op = next;
  }
}

/* The IO callback of a posted AcceptEx. */
void sock__listener_on_slot(sock_t *ls, sock_op_t *op, unsigned long error,
                            unsigned long bytes)
{
  sock__slot_t *slot = (sock__slot_t *)op;
  (void)bytes;
  if (error == 0) {
    sock__slot_ready(ls, slot, 1);
  } else {
    closesocket(slot->accepted);
    slot->accepted = INVALID_SOCKET;
    if (sock__listener_stopped(ls))
      sock__flush_waiters(sock__listener(ls));
    else
      sock__post(ls, slot);  /* e.g. the client reset before we accepted */
  }
  sock__release(ls);  /* the posted call's reference */
}

/* ---- the public side ------------------------------------------------------------ */

int sock_accept_start(sock_op_t *op, sock_t *listener, sock_accept_t *result,
                      co_task_t *task)
{
  sock__listener_t *l;
  sock__slot_t *slot;
  sock_task_t *st;
  int reason;

  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__ACCEPT, task);
  if (listener == NULL || !sock__is(listener, SOCK__LISTENING) || result == NULL ||
      task == NULL)
    return op->error = CO_EINVAL;
  result->sock = NULL;
  if (sock__is(listener, SOCK__CLOSED | SOCK__CANCELLED))
    return op->error = CO_ECANCELED;
  if (sock__shutting_down(listener->rt))
    return op->error = CO_ESHUTDOWN;
  op->buf = (char *)result;
  l = sock__listener(listener);
  /* The connection handed out last time has been served by now: post its
   * slot again. One that completes at once lands in the ready queue below. */
  sock__repost_idle(listener);

  st = sock__wait_lock(task, &reason);
  if (reason != CO_OK) {
    sock__wait_unlock(st);
    return op->error = (short)reason;
  }
  AcquireSRWLockExclusive(&l->w.lock);
  if (sock__is(listener, SOCK__CANCELLED)) {  /* under the lock sock_cancel flushes by */
    ReleaseSRWLockExclusive(&l->w.lock);
    sock__wait_unlock(st);
    return op->error = CO_ECANCELED;
  }
  slot = l->ready;
  if (slot != NULL) {
    l->ready = slot->next;
    if (l->ready == NULL)
      l->ready_tail = NULL;
  } else {
    if (st != NULL)  /* counted like every await of a sock_task_t */
      sock__pending_add(listener->rt);
    sock__waitlist_push(&l->w, 0, op);
  }
  ReleaseSRWLockExclusive(&l->w.lock);
  if (slot == NULL)
    sock__wait_set(st, SOCK__WAIT_QUEUE, &l->w, op);
  sock__wait_unlock(st);
  if (slot == NULL)
    return CO_PENDING;  /* a slot's completion will hand us one */
  sock__deliver(listener, slot, op);
  sock__slot_idle(l, slot);
  return op->error;
}

size_t sock__listener_size(void)
{
  return sizeof(sock__listener_t);
}

int sock__listener_create(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);  /* allocated (zeroed) by sock__wrap */
  unsigned i;
  int error = CO_OK;
  l->n_slots = s->rt->accepts_posted;
  l->slots = calloc(l->n_slots, sizeof *l->slots);
  if (l->slots == NULL)
    return CO_ENOMEM;
  sock__waitlist_init(&l->w);
  for (i = 0; i < l->n_slots; i++)
    l->slots[i].accepted = INVALID_SOCKET;
  for (i = 0; i < l->n_slots && error >= 0; i++)
    error = sock__post(s, &l->slots[i]);
  return error < 0 ? error : CO_OK;
}

/* With the listener's last reference: connections never handed out, and
 * tasks still waiting (when no slot was left posted to flush them). */
void sock__listener_free(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);
  if (l->slots == NULL)
    return;  /* sock__listener_create failed before anything was posted */
  sock__flush_waiters(l);
  for (unsigned i = 0; i < l->n_slots; i++)
    if (l->slots[i].accepted != INVALID_SOCKET)
      closesocket(l->slots[i].accepted);
  free(l->slots);
}

/* sock_cancel of a listener: the tasks waiting for a connection too. */
void sock__listener_cancel(sock_t *s)
{
  if (sock__listener(s)->slots != NULL)
    sock__flush_waiters(sock__listener(s));
}

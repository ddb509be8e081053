/*
 * sock/accept.c - the listener kind: accepting connections. A listener
 * keeps several AcceptEx calls posted ("slots"), so connections are taken
 * off the backlog while no task is asking yet. A finished slot goes to the
 * first waiting task, or waits in the ready queue for the next
 * sock_accept_start, which then finishes at once. A slot whose connection
 * was handed out is posted again at the next sock_accept_start (by then
 * the accept loop has started the new connection), so the two kernel calls
 * of a re-post (WSASocketW, AcceptEx) are not on that connection's path.
 * A slot that cannot be posted again (out of handles, say) waits idle for
 * the next try; when no slot is left posted, the waiting tasks wake with
 * that error rather than wait for a connection that cannot come.
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

typedef struct sock__listener {
  sock_t          sock;       /* first: a listener is a handle (SOCK__KIND_LISTENER) */
  sock_waitlist_t w;          /* its lock guards what follows; queue 0: waiting tasks */
  sock__slot_t   *ready;      /* accepted, not handed out yet (FIFO) */
  sock__slot_t   *ready_tail;
  sock__slot_t   *idle;       /* handed out or failed, to be posted again */
  unsigned        n_slots;
  unsigned        n_posted;   /* AcceptEx calls in the kernel now */
  int             post_error; /* why the last post failed (CO_OK if it did not) */
  sock__slot_t   *slots;
} sock__listener_t;

static sock__listener_t *sock__listener(sock_t *s)
{
  return (sock__listener_t *)s;
}

static sock__listener_t *sock__listener_of_list(sock_waitlist_t *w)
{
  return (sock__listener_t *)((char *)w - offsetof(sock__listener_t, w));
}

/* ---- posting ------------------------------------------------------------------- */

static void sock__slot_ready(sock_t *ls, sock__slot_t *slot, int in_callback);

/* The hub's call for a slot: one AcceptEx. */
static unsigned long sock__accept_call(sock_t *ls, sock_op_t *op, void *arg,
                                       unsigned long *bytes)
{
  sock__slot_t *slot = arg;
  DWORD done = 0;
  BOOL ok = sock__sys.AcceptEx(sock__socket(ls), slot->accepted, slot->addrs, 0,
                               SOCK__ADDR_LEN, SOCK__ADDR_LEN, &done, &op->overlapped);
  *bytes = done;
  return ok ? 0 : (unsigned long)WSAGetLastError();
}

static void sock__count_posted(sock__listener_t *l, int delta)
{
  AcquireSRWLockExclusive(&l->w.lock);
  l->n_posted = (unsigned)((int)l->n_posted + delta);
  ReleaseSRWLockExclusive(&l->w.lock);
}

/* Posts one AcceptEx: CO_PENDING, CO_OK (accepted at once and handed on),
 * or why it could not be posted (the slot is then free to post again). */
static int sock__post(sock_t *ls, sock__slot_t *slot)
{
  sock__listener_t *l = sock__listener(ls);
  unsigned long error = 0, bytes = 0;
  int rc = sock__admit(ls);
  if (rc != CO_OK)
    return rc;
  slot->accepted = sock__tcp_socket(sock__family(ls), &rc);
  if (slot->accepted == INVALID_SOCKET)
    return rc;
  sock__op_begin(&slot->op, SOCK__ACCEPT_SLOT, NULL);
  sock__count_posted(l, +1);  /* before the call: its completion counts down */
  rc = sock__hub_call(ls, &slot->op, sock__accept_call, slot, &error, &bytes);
  if (rc == CO_PENDING)
    return CO_PENDING;
  sock__count_posted(l, -1);
  if (rc == CO_OK && error == 0) {
    sock__slot_ready(ls, slot, 0);  /* accepted at once (skip mode) */
    return CO_OK;
  }
  closesocket(slot->accepted);
  slot->accepted = INVALID_SOCKET;
  return rc != CO_OK ? rc : slot->op.error;
}

/* A slot to be posted again. `error`: why it is idle, if it failed. */
static void sock__slot_idle(sock__listener_t *l, sock__slot_t *slot, int error)
{
  AcquireSRWLockExclusive(&l->w.lock);
  slot->next = l->idle;
  l->idle = slot;
  if (error < 0)
    l->post_error = error;
  ReleaseSRWLockExclusive(&l->w.lock);
}

/* Posts the idle slots again. A failure (out of handles, closing) keeps the
 * slot idle for the next try and returns the error. */
static int sock__repost_idle(sock_t *ls)
{
  sock__listener_t *l = sock__listener(ls);
  for (;;) {
    sock__slot_t *slot;
    int rc;
    AcquireSRWLockExclusive(&l->w.lock);
    slot = l->idle;
    if (slot != NULL) {
      l->idle = slot->next;
      l->post_error = CO_OK;
    }
    ReleaseSRWLockExclusive(&l->w.lock);
    if (slot == NULL)
      return CO_OK;
    rc = sock__post(ls, slot);
    if (rc < 0) {
      sock__slot_idle(l, slot, rc);
      return rc;
    }
  }
}

/* ---- handing out --------------------------------------------------------------- */

/* Turns a finished slot into the waiter's result: a wrapped socket and the
 * peer address. Sets op.error. */
static void sock__deliver(sock_t *ls, sock__slot_t *slot, sock_op_t *op)
{
  sock_accept_t *result = op->target.accept;
  SOCKET h = slot->accepted;
  SOCKET lh = sock__socket(ls);
  struct sockaddr *local, *peer;
  int local_len = 0, peer_len = 0;

  slot->accepted = INVALID_SOCKET;
  setsockopt(h, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&lh, sizeof lh);
  ls->rt->get_addrs(slot->addrs, 0, SOCK__ADDR_LEN, SOCK__ADDR_LEN, &local, &local_len,
                    &peer, &peer_len);
  memset(&result->peer, 0, sizeof result->peer);
  memcpy(&result->peer, peer,
         (size_t)peer_len < sizeof result->peer ? (size_t)peer_len : sizeof result->peer);
  op->error = (short)sock__tcp_wrap(ls->rt, h, sock__family(ls), SOCK__KIND_TCP, &result->sock);
  if (op->error == CO_OK)
    sock_set_nodelay(result->sock, 1);
}

/* A slot has a connection: give it to the first waiter, or queue it. In
 * the slot's own completion the waiter wakes right here, as any completion
 * wakes its task; elsewhere on a pool thread. */
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
  sock__slot_idle(l, slot, CO_OK);
  if (in_callback)
    sock__wake_now(ls->rt, waiter);
  else
    sock__wake_later(ls->rt, waiter);
}

/* Every waiting task wakes with `error`, on a pool thread. */
static void sock__flush_waiters(sock__listener_t *l, int error)
{
  sock_op_t *chain;
  AcquireSRWLockExclusive(&l->w.lock);
  chain = sock__waitlist_take_all(&l->w, 0);
  ReleaseSRWLockExclusive(&l->w.lock);
  sock__wake_chain(chain, error);
}

/* A posted AcceptEx failed (the client reset before we accepted, say):
 * post the slot again; if that fails too and no slot is left posted, the
 * waiters would wait for nothing, so they wake with the error. */
static void sock__slot_failed(sock_t *ls, sock__slot_t *slot)
{
  sock__listener_t *l = sock__listener(ls);
  int rc, none_posted;
  closesocket(slot->accepted);
  slot->accepted = INVALID_SOCKET;
  rc = sock__admit(ls);
  if (rc != CO_OK) {
    sock__slot_idle(l, slot, rc);
    sock__flush_waiters(l, CO_ECANCELED);
    return;
  }
  rc = sock__post(ls, slot);
  if (rc >= 0)
    return;
  sock__slot_idle(l, slot, rc);
  AcquireSRWLockExclusive(&l->w.lock);
  none_posted = l->n_posted == 0;
  ReleaseSRWLockExclusive(&l->w.lock);
  if (none_posted)
    sock__flush_waiters(l, rc);
}

/* The listener kind's completions: always a posted AcceptEx. */
static void sock__accept_on_io(sock_t *ls, sock_op_t *op, unsigned long error,
                               unsigned long bytes)
{
  sock__slot_t *slot = (sock__slot_t *)op;
  (void)bytes;
  sock__count_posted(sock__listener(ls), -1);
  if (error != 0) {
    sock__slot_failed(ls, slot);
    return;
  }
  sock__slot_ready(ls, slot, 1);
  sock__repost_idle(ls);  /* the woken loop re-posted when it waited again, or not */
}

/* ---- the public side ------------------------------------------------------------ */

/* Under the list's lock: a connection ready now, no slot left to wait for
 * (the last post's error), or wait. A ready slot travels to the caller in
 * the record's OVERLAPPED, which is the caller's while it is not queued. */
static int sock__accept_try(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake)
{
  sock__listener_t *l = sock__listener_of_list(w);
  sock__slot_t *slot = l->ready;
  (void)wake;
  if (sock__is(&l->sock, SOCK__CANCELLED))  /* under the lock sock_cancel flushes by */
    return CO_ECANCELED;
  if (slot == NULL)
    return l->n_posted > 0 ? CO_PENDING : (l->post_error < 0 ? l->post_error : CO_ENOBUFS);
  l->ready = slot->next;
  if (l->ready == NULL)
    l->ready_tail = NULL;
  op->overlapped.Pointer = slot;
  return CO_OK;
}

int sock_accept_start(sock_op_t *op, sock_t *listener, sock_accept_t *result,
                      co_task_t *task)
{
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__ACCEPT, task);
  if (listener == NULL || sock__kind_id(listener) != SOCK__KIND_LISTENER || result == NULL ||
      task == NULL)
    return sock__refuse(op, CO_EINVAL);
  result->sock = NULL;
  rc = sock__admit(listener);
  if (rc != CO_OK)
    return sock__refuse(op, rc);
  op->target.accept = result;
  sock__retain(listener);  /* the wait's second read may follow its wake */
  /* The connection handed out last time has been served by now: post its
   * slot again. One that completes at once lands in the ready queue. */
  sock__repost_idle(listener);
  rc = sock__queue_wait(op, &sock__listener(listener)->w, 0, listener->rt, sock__accept_try);
  if (rc == CO_OK) {
    sock__slot_t *slot = op->overlapped.Pointer;
    sock__deliver(listener, slot, op);
    sock__slot_idle(sock__listener(listener), slot, CO_OK);
    rc = op->error;
  }
  sock__release(listener);
  return rc;
}

/* ---- the kind ---------------------------------------------------------------------- */

int sock__listener_start(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);  /* allocated (zeroed) by sock__handle_wrap */
  unsigned i;
  int error = CO_OK;
  sock__waitlist_init(&l->w);
  l->slots = sock__sys.calloc(s->rt->accepts_posted, sizeof *l->slots);
  if (l->slots == NULL)
    return CO_ENOMEM;
  l->n_slots = s->rt->accepts_posted;
  for (i = 0; i < l->n_slots; i++)
    l->slots[i].accepted = INVALID_SOCKET;
  for (i = 0; i < l->n_slots && error >= 0; i++)
    error = sock__post(s, &l->slots[i]);
  return error < 0 ? error : CO_OK;
}

/* With the listener's last reference: connections never handed out, and
 * tasks still waiting (when no slot was left posted to flush them). */
static void sock__listener_free(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);
  if (l->slots == NULL)
    return;  /* sock__listener_start failed before anything was posted */
  sock__flush_waiters(l, CO_ECANCELED);
  for (unsigned i = 0; i < l->n_slots; i++)
    if (l->slots[i].accepted != INVALID_SOCKET)
      closesocket(l->slots[i].accepted);
  free(l->slots);
}

/* sock_cancel of a listener: the tasks waiting for a connection too. */
static void sock__listener_cancel(sock_t *s)
{
  sock__flush_waiters(sock__listener(s), CO_ECANCELED);
}

static void sock__listener_close(HANDLE h)
{
  closesocket((SOCKET)h);
}

const sock__kind_t sock__listener_kind = {
  "listener", sizeof(sock__listener_t), sock__listener_close, sock__accept_on_io,
  sock__listener_cancel, sock__listener_free
};

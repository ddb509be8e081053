/*
 * sock/accept.c - the listener kind: accepting connections. A listener
 * keeps several AcceptEx calls posted ("slots"), so connections are taken
 * off the backlog while no task is asking yet. A finished slot goes to the
 * first waiting task, or waits in the ready queue for the next
 * sock_accept_start, which then finishes at once. The accept machinery goes
 * ahead of a new connection: a slot is posted again as soon as its
 * connection has been handed out, before the task that takes it runs its
 * first step. A connection accepted at once (skip mode) in a completion of
 * the listener wakes its waiter right there, so a backlog drains in one
 * callback where the system allows it.
 * A slot that cannot be posted again (out of handles, say) waits idle for
 * the next try; when no slot is left busy (posted, being posted, or in its
 * completion), the waiting tasks wake with that error rather than wait for
 * a connection that cannot come. A slot is always in exactly one place:
 * busy, in the ready queue, or idle; the count of busy slots changes under
 * the same lock as those lists, so a task never parks, nor fails, on a
 * slot that is merely between its completion and its re-post.
 *
 * Under load (measured under Wine 8: 1,000 clients arriving at 1,000/s
 * into closed-loop ping-pong, run_bench.sh's `arrive` point), accepted
 * connections wait in two places. First, for an accept loop: each loop's
 * iteration (taking the connection, starting its first receive) waits on
 * system calls that a saturated wineserver answers slowly, so the loops
 * bound the rate (echo_server served about 200, 290, 550, 830 and 960 of
 * the 1,000 in the 10 s window with 1, 2, 8, 16 and 32 loops). Second, in
 * the completion queue: a slot's completion is queued behind the busy
 * connections' completions before it can be posted again, so with 8 slots
 * posted (and 32 loops) some newcomers still waited there (served 948-1,000
 * by round, median 987, 2026-11-30 09:55Z), and with 32 slots posted, as
 * many as the hand-written baseline keeps, all 1,000 were served in 5 of 6
 * rounds (median 1,000; the baseline 989; round trips/s 1.05x the
 * baseline's, 09:58Z). Hence 32 by default. These did not help: the
 * listener's IO object at high callback priority; setting the connection
 * up (socket object, IO object, options) in the completion; the re-post
 * moved off the loop to a work item. Not one AcceptEx finished at once
 * under Wine (0 of ~700), so the skip-mode drain above never runs there.
 */
#include "sock_internal.h"

#include <stdlib.h>
#include <string.h>

#define SOCK__ADDR_LEN ((DWORD)(sizeof(SOCKADDR_INET) + 16))  /* AcceptEx's rule */

typedef struct sock__slot {
  sock_op_t          op;        /* first: the posted AcceptEx's record */
  SOCKET             accepted;  /* the socket AcceptEx connects */
  struct sock__slot *next;      /* in the ready queue, or the idle list */
  struct sock__slot *all_next;  /* every slot of the listener, to free them */
  char               addrs[2 * SOCK__ADDR_LEN];  /* local and peer address */
} sock__slot_t;

typedef struct sock__listener {
  sock_t          sock;       /* first: a listener is a handle (SOCK__KIND_LISTENER) */
  sock_waitlist_t w;          /* its lock guards what follows; queue 0: waiting tasks */
  sock__slot_t   *ready;      /* accepted, not handed out yet (FIFO) */
  sock__slot_t   *ready_tail;
  sock__slot_t   *idle;       /* handed out or failed, to be posted again */
  sock__slot_t   *all;        /* every slot, to free them */
  unsigned        n_busy;     /* slots posted, being posted, or in their completion */
  int             post_error; /* why the last post failed (CO_OK if it did not) */
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

static sock_op_t *sock__slot_ready(sock_t *ls, sock__slot_t *slot);

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

/* Where a connection accepted at once wakes its waiter: in a completion of
 * the listener (a pool thread that holds nothing: wake it here, as the
 * completion of its accept), or in a task's own call (on a pool thread). */
enum { SOCK__WAKE_LATER = 0, SOCK__WAKE_HERE = 1 };

/* Posts one AcceptEx for a slot the caller counted busy: CO_PENDING (busy
 * until its completion), CO_OK (accepted at once and handed on, its waiter
 * woken as `how` says), or why it could not be posted. For the two latter
 * the caller ends the count. */
static int sock__post(sock_t *ls, sock__slot_t *slot, int how)
{
  unsigned long error = 0, bytes = 0;
  int rc = sock__admit(ls);
  if (rc != CO_OK)
    return rc;
  slot->accepted = sock__new_socket(sock__family(ls), SOCK_STREAM, &rc);
  if (slot->accepted == INVALID_SOCKET)
    return rc;
  sock__op_begin(&slot->op, SOCK__ACCEPT_SLOT, NULL);
  rc = sock__hub_call(ls, &slot->op, sock__accept_call, slot, &error, &bytes);
  if (rc == CO_PENDING)
    return CO_PENDING;
  if (rc == CO_OK && error == 0) {
    sock_op_t *waiter = sock__slot_ready(ls, slot);  /* accepted at once (skip mode) */
    if (waiter != NULL && how == SOCK__WAKE_HERE)
      sock__wake_now(ls->rt, waiter);
    else if (waiter != NULL)
      sock__wake_later(ls->rt, waiter);
    return CO_OK;
  }
  closesocket(slot->accepted);
  slot->accepted = INVALID_SOCKET;
  return rc != CO_OK ? rc : slot->op.error;
}

/* A slot to be posted again (its connection handed out, or its post failed). */
static void sock__slot_idle(sock__listener_t *l, sock__slot_t *slot)
{
  AcquireSRWLockExclusive(&l->w.lock);
  slot->next = l->idle;
  l->idle = slot;
  ReleaseSRWLockExclusive(&l->w.lock);
}

/* An idle slot, now counted busy; NULL if none is idle. */
static sock__slot_t *sock__take_idle(sock__listener_t *l)
{
  sock__slot_t *slot;
  AcquireSRWLockExclusive(&l->w.lock);
  slot = l->idle;
  if (slot != NULL) {
    l->idle = slot->next;
    l->n_busy++;
    l->post_error = CO_OK;
  }
  ReleaseSRWLockExclusive(&l->w.lock);
  return slot;
}

/* A busy slot's count ends (`error`: why its post failed, or CO_OK). If no
 * slot is busy or ready any more after a failure, nothing can hand the
 * waiting tasks a connection: they wake with the error. */
static void sock__busy_done(sock__listener_t *l, int error)
{
  sock_op_t *chain = NULL;
  int why;
  AcquireSRWLockExclusive(&l->w.lock);
  l->n_busy--;
  if (error < 0)
    l->post_error = error;
  why = l->post_error;
  if (l->n_busy == 0 && l->ready == NULL && why < 0)
    chain = sock__waitlist_take_all(&l->w, 0);
  ReleaseSRWLockExclusive(&l->w.lock);
  sock__wake_chain(chain, why);
}

/* Posts a busy slot and ends its count unless the post is pending. */
static int sock__post_busy(sock_t *ls, sock__slot_t *slot, int how)
{
  int rc = sock__post(ls, slot, how);
  if (rc == CO_PENDING)
    return rc;
  if (rc < 0)
    sock__slot_idle(sock__listener(ls), slot);
  sock__busy_done(sock__listener(ls), rc);
  return rc;
}

/* Posts the idle slots again. A failure (out of handles, closing) keeps the
 * slot idle for the next try and returns the error. */
static int sock__repost_idle(sock_t *ls, int how)
{
  sock__slot_t *slot;
  while ((slot = sock__take_idle(sock__listener(ls))) != NULL) {
    int rc = sock__post_busy(ls, slot, how);
    if (rc < 0)
      return rc;
  }
  return CO_OK;
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

/* A slot has a connection: deliver it to the first waiter, whose slot is
 * then idle again, and return that waiter (not yet woken); or queue the
 * slot in the ready queue and return NULL. */
static sock_op_t *sock__slot_ready(sock_t *ls, sock__slot_t *slot)
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
  if (waiter != NULL) {
    sock__deliver(ls, slot, waiter);
    sock__slot_idle(l, slot);
  }
  return waiter;
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

/* The listener kind's completions: always a posted AcceptEx, whose slot
 * stays busy until this has handed it on. A failed one (the client reset
 * before we accepted, say) is posted again at once. A connection goes to a
 * waiter (delivered, not yet woken) or to the ready queue; then the accept
 * machinery goes first: every idle slot (the delivered one too) is posted
 * again, and only then does the waiter's task run its first step, right
 * here. No waiter sees a moment with nothing busy. */
static void sock__accept_on_io(sock_t *ls, sock_op_t *op, unsigned long error,
                               unsigned long bytes)
{
  sock__listener_t *l = sock__listener(ls);
  sock__slot_t *slot = (sock__slot_t *)op;
  sock_op_t *waiter;
  int rc;
  (void)bytes;
  if (error != 0) {
    closesocket(slot->accepted);
    slot->accepted = INVALID_SOCKET;
    sock__post_busy(ls, slot, SOCK__WAKE_HERE);  /* the count passes to the new post */
    return;
  }
  waiter = sock__slot_ready(ls, slot);
  rc = sock__repost_idle(ls, SOCK__WAKE_HERE);
  if (waiter != NULL)
    sock__wake_now(ls->rt, waiter);
  sock__busy_done(l, rc);
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
  if (slot == NULL)  /* (nothing busy and no error cannot happen: see the head comment) */
    return l->n_busy > 0 ? CO_PENDING : (l->post_error < 0 ? l->post_error : CO_ENOBUFS);
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
  sock__retain(listener);  /* a waiting accept's reference, dropped after its wake */
  /* The connection handed out last time has been served by now: post its
   * slot again. One that completes at once lands in the ready queue. */
  sock__repost_idle(listener, SOCK__WAKE_LATER);
  rc = sock__queue_wait(op, &sock__listener(listener)->w, 0, listener->rt, sock__accept_try);
  if (rc == CO_OK) {
    sock__slot_t *slot = op->overlapped.Pointer;
    sock__deliver(listener, slot, op);
    sock__slot_idle(sock__listener(listener), slot);
    sock__repost_idle(listener, SOCK__WAKE_LATER);  /* its slot, before the caller starts the connection */
    rc = op->error;
  }
  if (rc != CO_PENDING)
    sock__release(listener);  /* no wait: the reference was not needed */
  return rc;
}

sock_t *sock__accept_listener(const sock_op_t *op)
{
  return &sock__listener_of_list((sock_waitlist_t *)op->overlapped.Internal)->sock;
}

/* ---- the kind ---------------------------------------------------------------------- */

int sock__listener_start(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);  /* allocated (zeroed) by sock__handle_wrap */
  unsigned i;
  int error;
  sock__waitlist_init(&l->w);
  for (i = 0; i < s->rt->accepts_posted; i++) {  /* all idle: each post takes its turn */
    sock__slot_t *slot = sock__sys.calloc(1, sizeof *slot);
    if (slot == NULL)
      return CO_ENOMEM;
    slot->accepted = INVALID_SOCKET;
    slot->all_next = l->all;
    l->all = slot;
    sock__slot_idle(l, slot);
  }
  error = sock__repost_idle(s, SOCK__WAKE_LATER);
  return error < 0 ? error : CO_OK;
}

/* With the listener's last reference: connections never handed out, and
 * tasks still waiting (when no slot was left posted to flush them). */
static void sock__listener_free(sock_t *s)
{
  sock__listener_t *l = sock__listener(s);
  sock__flush_waiters(l, CO_ECANCELED);
  while (l->all != NULL) {
    sock__slot_t *slot = l->all;
    l->all = slot->all_next;
    if (slot->accepted != INVALID_SOCKET)
      closesocket(slot->accepted);
    free(slot);
  }
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

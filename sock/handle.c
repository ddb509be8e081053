/*
 * sock/handle.c - the object every kind of handle shares: a kernel HANDLE
 * (a SOCKET is one), its thread-pool IO object, a reference count and the
 * cancel flag, in 40 bytes. A kind (a TCP connection, a listener, and the
 * kinds to come) is a row of sock__kinds: how to close its handle, what a
 * completion on it means, what cancelling and freeing it release. Closing
 * never waits: pending operations hold references, and the memory goes
 * with the last of them.
 */
#include "sock_internal.h"

#include <stdlib.h>

/* Indexed by the kind bits of sock.state. */
static const sock__kind_t *const sock__kinds[] = {
  NULL,
  &sock__tcp_kind,       /* SOCK__KIND_TCP */
  &sock__listener_kind,  /* SOCK__KIND_LISTENER */
  [SOCK__KIND_UDP] = &sock__udp_kind,
  [SOCK__KIND_PIPE] = &sock__pipe_kind,
  [SOCK__KIND_FILE] = &sock__file_kind,
  [SOCK__KIND_TLS] = &sock__tls_kind  /* a TLS session over a stream (tls.c) */
};

const sock__kind_t *sock__kind_of(const sock_t *s)
{
  return sock__kinds[sock__kind_id(s)];
}

/* ---- creating ------------------------------------------------------------------- */

/* Counts a new object and lists it in rt->handles, with the owner's reference. */
static void sock__handle_add(sock_runtime_t *rt, sock_t *s, unsigned kind, LONG flags)
{
  s->rt = rt;
  flags |= 1 | (LONG)(kind << SOCK__KIND_SHIFT);  /* the owner's reference */
  sock__rt_lock(rt);
  if (rt->cancel_new)  /* after sock_runtime_cancel_all: born cancelled */
    flags |= SOCK__CANCELLED;
  s->state = flags;
  s->next = rt->handles;
  if (rt->handles != NULL)
    rt->handles->prev = s;
  rt->handles = s;
  sock__rt_unlock(rt);
  InterlockedIncrement(&rt->n_handles);
}

int sock__handle_wrap(sock_runtime_t *rt, HANDLE h, unsigned kind, LONG flags, sock_t **out)
{
  const sock__kind_t *k = sock__kinds[kind];
  sock_t *s;
  *out = NULL;
  if ((HANDLE)(LONG_PTR)(LONG)(LONG_PTR)h != h) {  /* never seen: see sock__os_handle */
    k->close_handle(h);
    return CO_EINVAL;
  }
  s = sock__sys.calloc(1, k->size);
  if (s == NULL) {
    k->close_handle(h);
    return CO_ENOMEM;
  }
  s->io = sock__sys.CreateThreadpoolIo(h, sock__hub_on_io, s, &rt->io_env);
  if (s->io == NULL) {
    int error = sock_error_from_win32(GetLastError());
    k->close_handle(h);
    free(s);
    return error;
  }
  s->handle = (LONG)(LONG_PTR)h;
  sock__handle_add(rt, s, kind, flags);
  *out = s;
  return CO_OK;
}

int sock__handle_make(sock_runtime_t *rt, unsigned kind, sock_t **out)
{
  sock_t *s = sock__sys.calloc(1, sock__kinds[kind]->size);
  *out = NULL;
  if (s == NULL)
    return CO_ENOMEM;
  s->handle = (LONG)(LONG_PTR)INVALID_HANDLE_VALUE;  /* and no IO object: s->io stays NULL */
  sock__handle_add(rt, s, kind, 0);
  *out = s;
  return CO_OK;
}

/* ---- lifetime -------------------------------------------------------------------- */

void sock__retain(sock_t *s)
{
  InterlockedIncrement(&s->state);
}

/* What the object holds besides its handle, and the object. */
static void sock__discard(sock_t *s)
{
  const sock__kind_t *k = sock__kind_of(s);
  sock_runtime_t *rt = s->rt;
  if (k->on_free != NULL)
    k->on_free(s);
  free(s);
  InterlockedDecrement(&rt->n_handles);
}

/* The last reference. Often this runs inside the handle's own IO callback
 * (its task closed it there); CloseThreadpoolIo allows that and frees the
 * IO object once the callback has returned. That is also why IO objects
 * are not in the runtime's cleanup group: closed in its own callback, an
 * object would stay a member until the callback returned, and a shutdown
 * in that moment would release it twice. */
static void sock__free(sock_t *s)
{
  sock_runtime_t *rt = s->rt;
  sock__rt_lock(rt);
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    rt->handles = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  sock__rt_unlock(rt);
  if (s->io != NULL)  /* a kind without a handle of its own has none */
    CloseThreadpoolIo(s->io);
  sock__discard(s);
}

void sock__release(sock_t *s)
{
  if ((InterlockedDecrement(&s->state) & SOCK__REFS) == 0)
    sock__free(s);
}

void sock_close(sock_t *s)
{
  HANDLE h;
  if (s == NULL)
    return;
  if (InterlockedOr(&s->state, SOCK__CLOSED) & SOCK__CLOSED)
    return;  /* closed already (a second close of a live handle) */
  sock__rt_lock(s->rt);  /* the sweeps of cancel_all read handles under it */
  h = sock__os_handle(s);
  s->handle = (LONG)(LONG_PTR)INVALID_HANDLE_VALUE;
  sock__rt_unlock(s->rt);
  if (s->io == NULL) {  /* no handle of its own (a TLS session): its calls run on the */
    sock__rt_lock(s->rt);  /* stream underneath, which the kind's on_cancel cancels */
    sock__kind_of(s)->on_cancel(s);
    sock__rt_unlock(s->rt);
  } else if ((s->state & SOCK__REFS) > 1) {  /* operations pending: they complete as cancelled */
    CancelIoEx(h, NULL);
  }
  sock__kind_of(s)->close_handle(h);  /* (which would abort them too) */
  sock__release(s);
}

/* ---- cancelling ------------------------------------------------------------------- */

/* Cancellation of a handle takes no lock on the issuing side, where a lock
 * would be held across a system call. The flag is set before CancelIoEx,
 * and the issuer (hub.c) reads it before its call and again after a call
 * went pending. A call that reached the kernel before CancelIoEx is
 * cancelled by it; one that reached it after is seen by the second read.
 * sock_close invalidates the handle under rt->lock before closing it, so a
 * handle read under that lock is still this object's. */
void sock__cancel_handle(sock_t *s)
{
  const sock__kind_t *k = sock__kind_of(s);
  SOCK__ASSERT_LOCKED(s->rt);
  InterlockedOr(&s->state, SOCK__CANCELLED);
  if (sock__os_handle(s) != INVALID_HANDLE_VALUE)
    CancelIoEx(sock__os_handle(s), NULL);
  if (k->on_cancel != NULL)
    k->on_cancel(s);
}

void sock__cancel_handles(sock_runtime_t *rt)
{
  SOCK__ASSERT_LOCKED(rt);
  for (sock_t *s = rt->handles; s != NULL; s = s->next)
    sock__cancel_handle(s);
}

void sock_cancel(sock_t *s)
{
  if (s == NULL)
    return;
  sock__rt_lock(s->rt);
  sock__cancel_handle(s);
  sock__rt_unlock(s->rt);
}

/* Handles their owners never closed. No callback of theirs can run
 * (nothing is pending), so their IO objects close at once. */
void sock__free_handles(sock_runtime_t *rt)
{
  while (rt->handles != NULL) {
    sock_t *s = rt->handles;
    rt->handles = s->next;
    if (s->io != NULL) {
      WaitForThreadpoolIoCallbacks(s->io, FALSE);
      CloseThreadpoolIo(s->io);
    }
    if (sock__os_handle(s) != INVALID_HANDLE_VALUE)
      sock__kind_of(s)->close_handle(sock__os_handle(s));
    sock__discard(s);
  }
}

LONG sock__skip_port(HANDLE h)
{
  return SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                                                   FILE_SKIP_SET_EVENT_ON_HANDLE)
             ? SOCK__SKIP_PORT
             : 0;
}

/* ---- names ---------------------------------------------------------------------------- */

WCHAR *sock__widen(const WCHAR *prefix, const char *utf8, int *error)
{
  size_t plen = prefix != NULL ? wcslen(prefix) : 0;
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, NULL, 0);
  WCHAR *w;
  if (n <= 1) {  /* invalid UTF-8, or "" */
    *error = CO_EINVAL;
    return NULL;
  }
  w = sock__sys.calloc(plen + (size_t)n, sizeof(WCHAR));
  if (w == NULL) {
    *error = CO_ENOMEM;
    return NULL;
  }
  if (plen > 0)
    memcpy(w, prefix, plen * sizeof(WCHAR));
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, w + plen, n);
  return w;
}

/*
 * sock/socket.c - the socket object: a SOCKET and its thread-pool IO object,
 * reference-counted so that sock_close never has to wait for pending
 * operations, and the one IO callback through which every completion passes.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the IO callback ---------------------------------------------------------- */

/* Every completion of every socket arrives here, on a pool thread. The
 * OVERLAPPED is the first member of its operation record, so the pointer is
 * the record. `error` is a Win32 code (NO_ERROR on success). */
static void CALLBACK sock__on_io(PTP_CALLBACK_INSTANCE instance, void *context,
                                 void *overlapped, ULONG error, ULONG_PTR bytes,
                                 PTP_IO io)
{
  sock_t *s = context;
  sock_op_t *op = overlapped;
  sock_runtime_t *rt = s->rt;  /* s may be freed by the time we return */
  (void)instance;
  (void)io;
  switch (op->kind) {
  case SOCK__ACCEPT_SLOT:
    sock__listener_on_slot(s, op, error, (unsigned long)bytes);
    break;
  case SOCK__CONNECT:
    sock__connect_on_io(s, op, error);
    break;
  default:
    if (sock__drive_completed(s, op, error, (unsigned long)bytes) != CO_PENDING)
      sock__finish_pending(s, op);
    break;
  }
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

/* ---- creating and wrapping ------------------------------------------------------ */

SOCKET sock__new_handle(int family, int *error)
{
  SOCKET h = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (h == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    /* Windows 7 before SP1 lacks WSA_FLAG_NO_HANDLE_INHERIT. */
    h = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (h != INVALID_SOCKET)
      SetHandleInformation((HANDLE)h, HANDLE_FLAG_INHERIT, 0);
  }
  if (h == INVALID_SOCKET)
    *error = sock_error_from_win32((unsigned long)WSAGetLastError());
  return h;
}

/* Synchronous successes may skip the completion port only where the
 * provider is an installable file system one (base providers are; layered
 * ones may not be), as libuv checks too. The runtime asks once per family. */
int sock__provider_is_ifs(SOCKET h)
{
  WSAPROTOCOL_INFOW info;
  int len = (int)sizeof info;
  if (getsockopt(h, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0)
    return 0;
  return (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
}

static int sock__enable_skip(sock_runtime_t *rt, SOCKET h, int family)
{
  if (!rt->skip_ok[family == AF_INET6])
    return 0;
  return SetFileCompletionNotificationModes(
             (HANDLE)h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) != 0;
}

int sock__wrap(sock_runtime_t *rt, SOCKET handle, int family, size_t size, sock_t **out)
{
  sock_t *s;
  LONG state = 1;  /* the owner's reference */
  *out = NULL;
  if ((SOCKET)(LONG_PTR)(LONG)handle != handle) {  /* never seen: see sock__handle */
    closesocket(handle);
    return CO_EINVAL;
  }
  s = calloc(1, size);
  if (s == NULL) {
    closesocket(handle);
    return CO_ENOMEM;
  }
  s->io = CreateThreadpoolIo((HANDLE)handle, sock__on_io, s, &rt->io_env);
  if (s->io == NULL) {
    int error = sock_error_from_win32(GetLastError());
    closesocket(handle);
    free(s);
    return error;
  }
  s->handle = (LONG)handle;
  s->rt = rt;
  if (family == AF_INET6)
    state |= SOCK__INET6;
  if (sock__enable_skip(rt, handle, family))
    state |= SOCK__SKIP_PORT;
  if (size > sizeof *s)  /* only a listener's struct extends the sock_t */
    state |= SOCK__LISTENING;

  AcquireSRWLockExclusive(&rt->lock);
  if (rt->cancel_new)  /* after sock_runtime_cancel_all: born cancelled */
    state |= SOCK__CANCELLED;
  s->state = state;
  s->next = rt->sockets;
  if (rt->sockets != NULL)
    rt->sockets->prev = s;
  rt->sockets = s;
  ReleaseSRWLockExclusive(&rt->lock);
  InterlockedIncrement(&rt->n_sockets);
  *out = s;
  return CO_OK;
}

/* ---- lifetime -------------------------------------------------------------------- */

void sock__retain(sock_t *s)
{
  InterlockedIncrement(&s->state);
}

/* The last of a socket. Often this runs inside the socket's own IO callback
 * (its task closed it there); CloseThreadpoolIo allows that and frees the
 * object once the callback has returned. That is also why IO objects are
 * not in the runtime's cleanup group: closed in its own callback, an object
 * would stay a member until the callback returned, and a shutdown in that
 * moment would release it twice. */
static void sock__free(sock_t *s)
{
  sock_runtime_t *rt = s->rt;
  AcquireSRWLockExclusive(&rt->lock);
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    rt->sockets = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  ReleaseSRWLockExclusive(&rt->lock);
  CloseThreadpoolIo(s->io);
  if (sock__is(s, SOCK__LISTENING))
    sock__listener_free(s);
  free(s);
  InterlockedDecrement(&rt->n_sockets);
}

void sock__release(sock_t *s)
{
  if ((InterlockedDecrement(&s->state) & SOCK__REFS) == 0)
    sock__free(s);
}

void sock_close(sock_t *s)
{
  SOCKET h;
  if (s == NULL)
    return;
  if (InterlockedOr(&s->state, SOCK__CLOSED) & SOCK__CLOSED)
    return;  /* closed already (a second close of a live socket) */
  AcquireSRWLockExclusive(&s->rt->lock);  /* the sweeps of cancel_all read handles */
  h = sock__handle(s);
  s->handle = (LONG)INVALID_SOCKET;
  ReleaseSRWLockExclusive(&s->rt->lock);
  if ((s->state & SOCK__REFS) > 1)  /* operations pending: they complete as cancelled */
    CancelIoEx((HANDLE)h, NULL);
  closesocket(h);  /* (which would abort them too, as WSA_OPERATION_ABORTED) */
  sock__release(s);
}

/* ---- cancelling a socket ------------------------------------------------------------ */

/* Cancellation of a socket takes no lock on the issuing side, where a lock
 * would be held across a system call. The flag is set before CancelIoEx, and
 * the issuer reads it before its call and again after a call went pending.
 * A call that reached the kernel before CancelIoEx is cancelled by it; one
 * that reached it after is seen by the second read, and cancelled there.
 * (Interlocked operations on both sides order the flag and the calls.) */

/* Under rt->lock: sock_close invalidates the handle under it before closing
 * it, so a handle read here is still this socket's. */
void sock__cancel_socket(sock_t *s)
{
  InterlockedOr(&s->state, SOCK__CANCELLED);
  if (sock__handle(s) != INVALID_SOCKET)
    CancelIoEx((HANDLE)sock__handle(s), NULL);
  if (sock__is(s, SOCK__LISTENING))
    sock__listener_cancel(s);
}

/* After a call went pending: the second read of the flag. */
static void sock__catch_cancel(sock_t *s, sock_op_t *op)
{
  if ((InterlockedOr(&s->state, 0) & SOCK__CANCELLED) == 0)
    return;  /* the usual case: one interlocked read */
  AcquireSRWLockExclusive(&s->rt->lock);
  if (sock__handle(s) != INVALID_SOCKET)
    CancelIoEx((HANDLE)sock__handle(s), &op->overlapped);  /* the address is only a key */
  ReleaseSRWLockExclusive(&s->rt->lock);
}

/* ---- the two halves of every overlapped call on a socket --------------------------- */

/* The task's lock is held across the call, so a canceller of the task sees
 * the call either not yet made or made and registered, never in between. A
 * canceller of the socket takes no lock of ours (above). The reference taken
 * here keeps s alive until the second read of its flag: once the call is
 * pending, its completion may drop the operation's reference at any time. */
sock_task_t *sock__call_begin(sock_t *s, sock_op_t *op, int *reason)
{
  sock_task_t *st = sock__wait_lock(op->task, reason);
  if (*reason == CO_OK && sock__is(s, SOCK__CANCELLED))
    *reason = CO_ECANCELED;
  if (*reason != CO_OK) {
    sock__wait_unlock(st);
    return NULL;
  }
  memset(&op->overlapped, 0, sizeof op->overlapped);
  sock__retain(s);
  sock__pending_add(s->rt);
  StartThreadpoolIo(s->io);  /* before every overlapped call */
  return st;
}

int sock__call_end(sock_task_t *st, sock_t *s, sock_op_t *op, unsigned long error)
{
  int pending = error == ERROR_IO_PENDING ||
                (error == 0 && !sock__is(s, SOCK__SKIP_PORT));  /* queued anyway */
  if (pending) {
    sock__wait_set(st, SOCK__WAIT_IO, s, op);
    sock__wait_unlock(st);
    sock__catch_cancel(s, op);
  } else {
    sock__wait_unlock(st);
    CancelThreadpoolIo(s->io);  /* no completion will come */
    sock__pending_done(s->rt);
  }
  sock__release(s);  /* _begin's: the last one if the call has completed meanwhile */
  return pending ? CO_PENDING : CO_OK;
}

void sock_cancel(sock_t *s)
{
  if (s == NULL)
    return;
  AcquireSRWLockExclusive(&s->rt->lock);
  sock__cancel_socket(s);
  ReleaseSRWLockExclusive(&s->rt->lock);
}

/* ---- listening ---------------------------------------------------------------------- */

/* Resolves a local address to bind: NULL/"" means every address, dual-stack. */
static int sock__resolve_local(const char *host, unsigned short port, sock_addr_t *addr)
{
  struct addrinfo hints, *list = NULL;
  char service[8];
  int rc;
  memset(addr, 0, sizeof *addr);
  if (host == NULL || host[0] == '\0') {
    addr->Ipv6.sin6_family = AF_INET6;
    addr->Ipv6.sin6_port = htons(port);
    return CO_OK;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_PASSIVE;
  snprintf(service, sizeof service, "%u", (unsigned)port);
  rc = getaddrinfo(host, service, &hints, &list);
  if (rc != 0)
    return sock_error_from_win32((unsigned long)rc);
  memcpy(addr, list->ai_addr, list->ai_addrlen < sizeof *addr ? list->ai_addrlen : sizeof *addr);
  freeaddrinfo(list);
  return CO_OK;
}

static int sock__bind_listen(SOCKET h, const sock_addr_t *addr, int backlog)
{
  BOOL on = TRUE, off = FALSE;
  int len = addr->si_family == AF_INET6 ? (int)sizeof addr->Ipv6 : (int)sizeof addr->Ipv4;
  /* Another process cannot steal the port (SO_REUSEADDR would let it). */
  setsockopt(h, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on);
  if (addr->si_family == AF_INET6)  /* dual-stack: IPv4 clients too */
    setsockopt(h, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&off, sizeof off);
  if (bind(h, (const struct sockaddr *)addr, len) != 0 ||
      listen(h, backlog > 0 ? backlog : SOMAXCONN) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_listen(sock_runtime_t *rt, const char *host, unsigned short port,
                int backlog, sock_t **out)
{
  sock_addr_t addr;
  SOCKET h;
  int error;
  *out = NULL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  error = sock__resolve_local(host, port, &addr);
  if (error != CO_OK)
    return error;
  h = sock__new_handle(addr.si_family, &error);
  if (h == INVALID_SOCKET)
    return error;
  error = sock__bind_listen(h, &addr, backlog);
  if (error != CO_OK) {
    closesocket(h);
    return error;
  }
  error = sock__wrap(rt, h, addr.si_family, sock__listener_size(), out);
  if (error != CO_OK)
    return error;
  error = sock__listener_create(*out);
  if (error != CO_OK) {
    sock_close(*out);
    *out = NULL;
  }
  return error;
}

/* ---- small things -------------------------------------------------------------- */

size_t sock_socket_size(void)
{
  return sizeof(sock_t);
}

int sock_local_addr(sock_t *s, sock_addr_t *out)
{
  int len = (int)sizeof *out;
  memset(out, 0, sizeof *out);
  if (getsockname(sock__handle(s), (struct sockaddr *)out, &len) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_set_nodelay(sock_t *s, int on)
{
  BOOL value = on ? TRUE : FALSE;
  if (setsockopt(sock__handle(s), IPPROTO_TCP, TCP_NODELAY, (const char *)&value, sizeof value) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_set_keepalive(sock_t *s, int on)
{
  BOOL value = on ? TRUE : FALSE;
  if (setsockopt(sock__handle(s), SOL_SOCKET, SO_KEEPALIVE, (const char *)&value, sizeof value) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_shutdown_send(sock_t *s)
{
  if (shutdown(sock__handle(s), SD_SEND) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

char *sock_addr_format(const sock_addr_t *addr, char *buf, size_t size)
{
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr->si_family == AF_INET6) {
    inet_ntop(AF_INET6, (void *)&addr->Ipv6.sin6_addr, host, sizeof host);
    snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(addr->Ipv6.sin6_port));
  } else {
    inet_ntop(AF_INET, (void *)&addr->Ipv4.sin_addr, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(addr->Ipv4.sin_port));
  }
  return buf;
}

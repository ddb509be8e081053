/*
 * sock/socket.c - what any socket of the library answers, whatever its
 * kind (a TCP connection, a listener, a UDP socket): its peer's address,
 * its system SOCKET, the buffer sizes, the send and receive attempts that
 * never wait; and adopting a SOCKET made elsewhere. These are the calls a
 * libuv user looks for (uv_tcp_getpeername, uv_fileno, uv_tcp_open,
 * uv_send_buffer_size, uv_try_write ...).
 */
#include "sock_internal.h"

#include <limits.h>
#include <string.h>

/* ---- questions ---------------------------------------------------------------------- */

static int sock__last_error(void)
{
  return sock_error_from_win32((unsigned long)WSAGetLastError());
}

int sock_peer_addr(sock_t *s, sock_addr_t *out)
{
  int len = (int)sizeof *out;
  if (s == NULL || !sock__is_socket(s) || out == NULL)
    return CO_EINVAL;
  memset(out, 0, sizeof *out);
  if (sock__socket(s) == INVALID_SOCKET)
    return CO_ECLOSED;
  return getpeername(sock__socket(s), (struct sockaddr *)out, &len) != 0 ? sock__last_error()
                                                                           : CO_OK;
}

SOCKET sock_os_socket(sock_t *s)
{
  return s != NULL && sock__is_socket(s) ? sock__socket(s) : INVALID_SOCKET;
}

/* One of the buffer sizes: set it when *bytes > 0, then read back what is
 * in force (the system may round it). */
static int sock__buffer_size(sock_t *s, int name, int *bytes)
{
  int value, len = (int)sizeof value;
  if (s == NULL || !sock__is_socket(s) || bytes == NULL || *bytes < 0)
    return CO_EINVAL;
  if (*bytes > 0 && setsockopt(sock__socket(s), SOL_SOCKET, name, (const char *)bytes,
                               sizeof *bytes) != 0)
    return sock__last_error();
  value = 0;
  if (getsockopt(sock__socket(s), SOL_SOCKET, name, (char *)&value, &len) != 0)
    return sock__last_error();
  *bytes = value;
  return CO_OK;
}

int sock_recv_buffer_size(sock_t *s, int *bytes)
{
  return sock__buffer_size(s, SO_RCVBUF, bytes);
}

int sock_send_buffer_size(sock_t *s, int *bytes)
{
  return sock__buffer_size(s, SO_SNDBUF, bytes);
}

/* ---- adopting a SOCKET ------------------------------------------------------------------ */

/* What kind of handle the socket makes, from its type and state; 0 if none. */
static unsigned sock__adopt_kind(SOCKET h, int *family)
{
  WSAPROTOCOL_INFOW info;
  BOOL listening = FALSE;
  int len = (int)sizeof info, blen = (int)sizeof listening;
  if (getsockopt(h, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0)
    return 0;
  *family = info.iAddressFamily;
  if (*family != AF_INET && *family != AF_INET6)
    return 0;
  if (info.iSocketType == SOCK_DGRAM && info.iProtocol == IPPROTO_UDP)
    return SOCK__KIND_UDP;
  if (info.iSocketType != SOCK_STREAM || info.iProtocol != IPPROTO_TCP)
    return 0;
  if (getsockopt(h, SOL_SOCKET, SO_ACCEPTCONN, (char *)&listening, &blen) == 0 &&
      (listening & 0xff) != 0)  /* Windows writes a BOOL, some providers one byte */
    return SOCK__KIND_LISTENER;
  return SOCK__KIND_TCP;
}

int sock_adopt(sock_runtime_t *rt, SOCKET h, sock_t **out)
{
  int family = 0, error;
  unsigned kind;
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (rt == NULL || h == INVALID_SOCKET)
    return CO_EINVAL;
  kind = sock__adopt_kind(h, &family);
  if (kind == 0)
    return CO_EINVAL;  /* not an IPv4/IPv6 TCP or UDP socket: left to the caller */
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  if (kind == SOCK__KIND_UDP)  /* never skip mode on a UDP socket (udp.c) */
    return sock__handle_wrap(rt, (HANDLE)h, SOCK__KIND_UDP,
                             family == AF_INET6 ? SOCK__INET6 : 0, out);
  error = sock__tcp_wrap(rt, h, family, kind, out);
  if (error == CO_OK && kind == SOCK__KIND_LISTENER && (error = sock__listener_start(*out)) != CO_OK) {
    sock_close(*out);
    *out = NULL;
  }
  return error;
}

/* ---- attempts that never wait ----------------------------------------------------------- */

/* Puts the socket in non-blocking mode (overlapped calls do not look at it:
 * they pend as before). Asked each time: the flag costs one call, and a
 * socket adopted or shared may have been switched back. */
static int sock__nonblocking(sock_t *s)
{
  u_long on = 1;
  if (ioctlsocket(sock__socket(s), FIONBIO, &on) != 0)
    return sock__last_error();
  return CO_OK;
}

static int sock__try_args(sock_t *s, const char *buf, size_t len, size_t *moved)
{
  if (moved != NULL)
    *moved = 0;
  if (s == NULL || moved == NULL || (buf == NULL && len > 0) || len > INT_MAX ||
      !sock__is_socket(s) || sock__kind_id(s) == SOCK__KIND_LISTENER)
    return CO_EINVAL;
  if (sock__admit(s) != CO_OK)
    return sock__admit(s);
  return sock__nonblocking(s);
}

int sock_try_send(sock_t *s, const char *buf, size_t len, const sock_addr_t *to, size_t *sent)
{
  WSABUF one;
  DWORD done = 0;
  int rc = sock__try_args(s, buf, len, sent);
  if (rc != CO_OK)
    return rc;
  if (to != NULL && (sock__kind_id(s) != SOCK__KIND_UDP ||
                     (to->si_family != AF_INET && to->si_family != AF_INET6)))
    return CO_EINVAL;
  one.buf = (char *)buf;  /* only read */
  one.len = (ULONG)len;
  if (sock__sys.WSASendTo(sock__socket(s), &one, 1, &done, 0, (const struct sockaddr *)to,
                          to != NULL ? sock__addr_len(to) : 0, NULL, NULL) != 0)
    return sock__last_error();  /* WSAEWOULDBLOCK: CO_EAGAIN */
  *sent = done;
  return CO_OK;
}

int sock_try_recv(sock_t *s, char *buf, size_t len, sock_addr_t *from, size_t *received)
{
  WSABUF one;
  DWORD done = 0, flags = 0;
  INT from_len = (INT)sizeof *from;
  int rc = sock__try_args(s, buf, len, received);
  if (rc != CO_OK)
    return rc;
  if (len == 0 || (from != NULL && sock__kind_id(s) != SOCK__KIND_UDP))
    return CO_EINVAL;
  if (from != NULL)
    memset(from, 0, sizeof *from);
  one.buf = buf;
  one.len = (ULONG)len;
  if (sock__sys.WSARecvFrom(sock__socket(s), &one, 1, &done, &flags, (struct sockaddr *)from,
                            from != NULL ? &from_len : NULL, NULL, NULL) != 0) {
    rc = sock__last_error();  /* WSAEWOULDBLOCK: CO_EAGAIN */
    if (rc == CO_EMSGSIZE)
      *received = len;  /* a datagram longer than len: its first len bytes */
    return rc;
  }
  *received = done;
  if (done == 0 && sock__kind_id(s) == SOCK__KIND_TCP)
    return CO_EOF;
  return CO_OK;
}

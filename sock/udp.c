/*
 * sock/udp.c - the UDP kind of handle: a datagram socket, bound at once,
 * optionally connected to a default peer. Its awaits are one overlapped call
 * each (WSASendTo, WSARecvFrom) through the hub, and a completion is the
 * whole result: there is no "until done" loop as for a stream.
 *
 * What Wine 8 and Windows do, and how it is handled (measured, see the
 * head comment of hub.c for the four outcomes):
 *   - WSASendTo completes at once, every time; a completion follows it all
 *     the same, because UDP sockets never skip the completion port: with
 *     skip mode on, Wine sends no completion for an immediate WSAEMSGSIZE
 *     where Windows may, so a receive could be lost either way.
 *   - A datagram longer than the buffer: WSARecvFrom fails at once with
 *     WSAEMSGSIZE when it was already queued, or its completion reports
 *     ERROR_MORE_DATA; either way a completion delivers the kept bytes.
 *     The hub counts both as pending; the result is op.bytes kept and
 *     op.error CO_EMSGSIZE.
 *   - SIO_UDP_CONNRESET is turned off (Windows would otherwise fail the
 *     next receive with WSAECONNRESET after an ICMP "port unreachable"
 *     from any peer); SOCK_UDP_CONNRESET keeps it on. Wine never reports it.
 *   - The sender's address is written by the kernel when the datagram
 *     arrives, with its length: the length lives in op.len (the buffer's
 *     length is needed only while the call is made).
 */
#include "sock_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#ifndef SIO_UDP_CONNRESET  /* missing from Wine's and older mingw-w64 headers */
#  define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif

/* ---- the kind ----------------------------------------------------------------------- */

static void sock__udp_close(HANDLE h)
{
  closesocket((SOCKET)h);
}

/* A completion is the whole result: the hub recorded a failure already
 * (CO_EMSGSIZE with the kept bytes for a truncated datagram). */
static void sock__udp_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  (void)s;
  (void)error;
  op->bytes = bytes;
  co_wake(op->task);  /* last: the task may free op and close s */
}

const sock__kind_t sock__udp_kind = {
  "udp", sizeof(sock_t), sock__udp_close, sock__udp_on_io, NULL, NULL
};

/* ---- opening ------------------------------------------------------------------------- */

/* The options of `flags`, then bind. */
static int sock__udp_bind(SOCKET h, const sock_addr_t *addr, unsigned flags)
{
  BOOL connreset = (flags & SOCK_UDP_CONNRESET) ? TRUE : FALSE;
  DWORD bytes = 0;
  sock__bind_options(h, addr, (flags & SOCK_UDP_REUSEADDR) != 0,
                     (flags & SOCK_UDP_DUALSTACK) == 0);
  /* Accepted by Wine (it never reports the ICMP error); ignored if refused. */
  WSAIoctl(h, SIO_UDP_CONNRESET, &connreset, sizeof connreset, NULL, 0, &bytes, NULL, NULL);
  if (sock__sys.bind(h, (const struct sockaddr *)addr, sock__addr_len(addr)) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_udp_open(sock_runtime_t *rt, const char *host, unsigned short port, unsigned flags,
                  sock_t **out)
{
  sock_addr_t addr;
  SOCKET h;
  int error;
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (rt == NULL || (flags & ~(unsigned)(SOCK_UDP_DUALSTACK | SOCK_UDP_REUSEADDR |
                                          SOCK_UDP_CONNRESET)) != 0)
    return CO_EINVAL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  /* host "": every address, IPv6 "::" when dual-stack is asked, else IPv4's */
  error = sock__local_addr(host, port, SOCK_DGRAM,
                           (flags & SOCK_UDP_DUALSTACK) ? AF_INET6 : AF_INET, &addr);
  if (error != CO_OK)
    return error;
  h = sock__new_socket(addr.si_family, SOCK_DGRAM, &error);
  if (h == INVALID_SOCKET)
    return error;
  error = sock__udp_bind(h, &addr, flags);
  if (error != CO_OK) {
    closesocket(h);
    return error;
  }
  /* Never skip-on-success (the head comment says why): no SOCK__SKIP_PORT. */
  return sock__handle_wrap(rt, (HANDLE)h, SOCK__KIND_UDP,
                           addr.si_family == AF_INET6 ? SOCK__INET6 : 0, out);
}

int sock_udp_connect(sock_t *s, const sock_addr_t *peer)
{
  sock_addr_t none;
  int rc;
  if (s == NULL || sock__kind_id(s) != SOCK__KIND_UDP)
    return CO_EINVAL;
  if (peer == NULL) {  /* dissolve: an all-zero address of the socket's family (Windows) */
    memset(&none, 0, sizeof none);
    none.si_family = (ADDRESS_FAMILY)sock__family(s);
    rc = connect(sock__socket(s), (const struct sockaddr *)&none, sock__addr_len(&none));
  } else {
    if (peer->si_family != AF_INET && peer->si_family != AF_INET6)
      return CO_EINVAL;
    rc = connect(sock__socket(s), (const struct sockaddr *)peer, sock__addr_len(peer));
  }
  return rc != 0 ? sock_error_from_win32((unsigned long)WSAGetLastError()) : CO_OK;
}

/* ---- the awaits ------------------------------------------------------------------------- */

/* The failure of a call made now. A send with no address on a socket with
 * no peer: Windows says WSAENOTCONN, Wine WSAEINVAL; both become
 * WSAENOTCONN, asking the socket only on this error path. */
static unsigned long sock__udp_error(sock_t *s, const sock_op_t *op, const sock_addr_t *peer)
{
  unsigned long error = (unsigned long)WSAGetLastError();
  sock_addr_t where;
  int len = (int)sizeof where;
  if (error == WSAEINVAL && op->kind == SOCK__UDP_SEND && peer == NULL &&
      getpeername(sock__socket(s), (struct sockaddr *)&where, &len) != 0 &&
      WSAGetLastError() == WSAENOTCONN)
    error = WSAENOTCONN;
  return error;
}

/* What one call needs besides the record: the peer (send: where to; receive:
 * where the sender's address goes), NULL for the connected peer. */
static unsigned long sock__udp_call(sock_t *s, sock_op_t *op, void *arg, unsigned long *bytes)
{
  WSABUF one;
  DWORD done = 0, flags = 0;
  sock_addr_t *peer = arg;
  int rc;
  one.buf = op->target.buf;
  one.len = op->len;
  if (op->kind == SOCK__UDP_SEND) {
    rc = sock__sys.WSASendTo(sock__socket(s), &one, 1, &done, 0,
                             (const struct sockaddr *)peer, peer ? sock__addr_len(peer) : 0,
                             &op->overlapped, NULL);
  } else {
    if (peer != NULL) {
      memset(peer, 0, sizeof *peer);
      op->len = (unsigned long)sizeof *peer;  /* from here on: the sender's length */
    }
    rc = sock__sys.WSARecvFrom(sock__socket(s), &one, 1, &done, &flags,
                               (struct sockaddr *)peer, peer ? (LPINT)&op->len : NULL,
                               &op->overlapped, NULL);
  }
  *bytes = done;
  return rc != 0 ? sock__udp_error(s, op, peer) : 0;
}

/* The largest datagram to `to` (NULL: the connected peer, whose family the
 * socket's may not tell: a dual-stack socket sends IPv4 too). */
static unsigned long sock__udp_max(const sock_t *s, const sock_addr_t *to)
{
  static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (to != NULL && to->si_family == AF_INET6 &&
      memcmp(&to->Ipv6.sin6_addr, v4_mapped, sizeof v4_mapped) != 0)  /* ::ffff:a.b.c.d */
    return SOCK__UDP_MAX_V6;
  (void)s;
  return SOCK__UDP_MAX_V4;
}

static int sock__udp_start(sock_op_t *op, sock_t *s, char *buf, size_t len, sock_addr_t *peer,
                           co_task_t *task, int kind)
{
  unsigned long error = 0, bytes = 0;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, kind, task);
  if (s == NULL || task == NULL || sock__kind_id(s) != SOCK__KIND_UDP ||
      (buf == NULL && len > 0) || len > ULONG_MAX)
    return sock__refuse(op, CO_EINVAL);
  if (kind == SOCK__UDP_RECV && len == 0)
    return sock__refuse(op, CO_EINVAL);
  if (kind == SOCK__UDP_SEND && peer != NULL && peer->si_family != AF_INET &&
      peer->si_family != AF_INET6)
    return sock__refuse(op, CO_EINVAL);
  if (kind == SOCK__UDP_SEND && len > sock__udp_max(s, peer))
    return sock__refuse(op, CO_EMSGSIZE);  /* the system would refuse it too */
  op->target.buf = buf;
  op->len = (unsigned long)len;
  rc = sock__hub_call(s, op, sock__udp_call, peer, &error, &bytes);
  if (rc != CO_OK)
    return rc;  /* CO_PENDING, or refused (op.error set) */
  op->bytes = bytes;  /* finished now: failed at once (op.error set), no completion */
  return op->error;
}

int sock_udp_send_to_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                           const sock_addr_t *to, co_task_t *task)
{
  /* The send only reads buf and to: the casts let one start serve both. */
  return sock__udp_start(op, s, (char *)buf, len, (sock_addr_t *)to, task, SOCK__UDP_SEND);
}

int sock_udp_recv_from_start(sock_op_t *op, sock_t *s, char *buf, size_t len,
                             sock_addr_t *from, co_task_t *task)
{
  return sock__udp_start(op, s, buf, len, from, task, SOCK__UDP_RECV);
}

/* ---- options ---------------------------------------------------------------------------- */

static int sock__udp_option(sock_t *s, int level, int name, int value)
{
  if (s == NULL || sock__kind_id(s) != SOCK__KIND_UDP)
    return CO_EINVAL;
  if (setsockopt(sock__socket(s), level, name, (const char *)&value, sizeof value) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_udp_set_broadcast(sock_t *s, int on)
{
  return sock__udp_option(s, SOL_SOCKET, SO_BROADCAST, on ? 1 : 0);
}

int sock_udp_set_ttl(sock_t *s, int ttl)
{
  if (ttl < 1 || ttl > 255)
    return CO_EINVAL;
  if (s != NULL && sock__is(s, SOCK__INET6))
    return sock__udp_option(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
  return sock__udp_option(s, IPPROTO_IP, IP_TTL, ttl);
}

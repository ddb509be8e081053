/*
 * sock/tcp.c - the TCP kinds of handle: making sockets, wrapping them,
 * listening (the listener's slots are accept.c's), and the options and
 * small questions of a connection. A TCP connection's completions are its
 * stream operations' or, while it connects, connect.c's.
 */
#include "sock_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- the kind ----------------------------------------------------------------------- */

static void sock__tcp_close(HANDLE h)
{
  closesocket((SOCKET)h);
}

static void sock__tcp_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  if (op->kind == SOCK__CONNECT)
    sock__connect_on_io(s, op, error, bytes);
  else
    sock__stream_on_io(s, op, error, bytes);
}

const sock__kind_t sock__tcp_kind = {
  "tcp", sizeof(sock_t), sock__tcp_close, sock__tcp_on_io, NULL, NULL
};

/* ---- making and wrapping sockets ------------------------------------------------------ */

SOCKET sock__new_socket(int family, int type, int *error)
{
  int protocol = type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  SOCKET h = sock__sys.WSASocketW(family, type, protocol, NULL, 0,
                                  WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (h == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    /* Windows 7 before SP1 lacks WSA_FLAG_NO_HANDLE_INHERIT. */
    h = sock__sys.WSASocketW(family, type, protocol, NULL, 0, WSA_FLAG_OVERLAPPED);
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
  return sock__skip_port((HANDLE)h) != 0;
}

int sock__tcp_wrap(sock_runtime_t *rt, SOCKET h, int family, unsigned kind, sock_t **out)
{
  LONG flags = family == AF_INET6 ? SOCK__INET6 : 0;
  if (sock__enable_skip(rt, h, family))
    flags |= SOCK__SKIP_PORT;
  return sock__handle_wrap(rt, (HANDLE)h, kind, flags, out);
}

/* ---- listening ---------------------------------------------------------------------- */

int sock__local_addr(const char *host, unsigned short port, int type, int any_family,
                     sock_addr_t *addr)
{
  struct addrinfo hints, *list = NULL;
  char service[8];
  int rc;
  memset(addr, 0, sizeof *addr);
  if (host == NULL || host[0] == '\0') {
    addr->si_family = (ADDRESS_FAMILY)any_family;
    addr->Ipv4.sin_port = htons(port);  /* the same place in both families */
    return CO_OK;
  }
  if (sock__addr_numeric(host, port, AF_UNSPEC, addr))
    return CO_OK;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = type;
  hints.ai_protocol = type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  hints.ai_flags = AI_PASSIVE;
  snprintf(service, sizeof service, "%u", (unsigned)port);
  rc = sock__sys.getaddrinfo(host, service, &hints, &list);
  if (rc != 0)
    return sock_error_from_win32((unsigned long)rc);
  memcpy(addr, list->ai_addr, list->ai_addrlen < sizeof *addr ? list->ai_addrlen : sizeof *addr);
  freeaddrinfo(list);
  return CO_OK;
}

void sock__bind_options(SOCKET h, const sock_addr_t *addr, int reuse, int v6only)
{
  BOOL on = TRUE, only = v6only ? TRUE : FALSE;
  if (reuse)  /* asked for: others may bind the port too */
    setsockopt(h, SOL_SOCKET, SO_REUSEADDR, (const char *)&on, sizeof on);
  else  /* another process cannot steal the port (SO_REUSEADDR would let it) */
    setsockopt(h, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on);
  if (addr->si_family == AF_INET6)
    setsockopt(h, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&only, sizeof only);
}

static int sock__bind_listen(SOCKET h, const sock_addr_t *addr, int backlog, unsigned flags)
{
  /* dual-stack (IPv4 clients too) unless V6ONLY */
  sock__bind_options(h, addr, (flags & SOCK_LISTEN_REUSEADDR) != 0,
                     (flags & SOCK_LISTEN_V6ONLY) != 0);
  if (sock__sys.bind(h, (const struct sockaddr *)addr, sock__addr_len(addr)) != 0 ||
      sock__sys.listen(h, backlog > 0 ? backlog : SOMAXCONN) != 0)
    return sock_error_from_win32((unsigned long)WSAGetLastError());
  return CO_OK;
}

int sock_listen(sock_runtime_t *rt, const char *host, unsigned short port,
                int backlog, sock_t **out)
{
  return sock_listen_ex(rt, host, port, backlog, 0, out);
}

int sock_listen_ex(sock_runtime_t *rt, const char *host, unsigned short port, int backlog,
                   unsigned flags, sock_t **out)
{
  sock_addr_t addr;
  SOCKET h;
  int error;
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (rt == NULL || (flags & ~(unsigned)(SOCK_LISTEN_V6ONLY | SOCK_LISTEN_REUSEADDR)) != 0)
    return CO_EINVAL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  error = sock__local_addr(host, port, SOCK_STREAM, AF_INET6, &addr);  /* "": every address, dual-stack */
  if (error != CO_OK)
    return error;
  h = sock__new_socket(addr.si_family, SOCK_STREAM, &error);
  if (h == INVALID_SOCKET)
    return error;
  error = sock__bind_listen(h, &addr, backlog, flags);
  if (error != CO_OK) {
    closesocket(h);
    return error;
  }
  error = sock__tcp_wrap(rt, h, addr.si_family, SOCK__KIND_LISTENER, out);
  if (error != CO_OK)
    return error;
  error = sock__listener_start(*out);
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

/* The last Winsock error, translated, for the synchronous calls below. */
static int sock__wsa_result(int rc)
{
  return rc != 0 ? sock_error_from_win32((unsigned long)WSAGetLastError()) : CO_OK;
}

int sock_local_addr(sock_t *s, sock_addr_t *out)
{
  int len = (int)sizeof *out;
  if (s == NULL || !sock__is_socket(s) || out == NULL)
    return CO_EINVAL;
  memset(out, 0, sizeof *out);
  return sock__wsa_result(getsockname(sock__socket(s), (struct sockaddr *)out, &len));
}

int sock_set_nodelay(sock_t *s, int on)
{
  BOOL value = on ? TRUE : FALSE;
  if (s == NULL || !sock__is_socket(s))
    return CO_EINVAL;
  return sock__wsa_result(setsockopt(sock__socket(s), IPPROTO_TCP, TCP_NODELAY,
                                     (const char *)&value, sizeof value));
}

int sock_set_keepalive(sock_t *s, int on)
{
  BOOL value = on ? TRUE : FALSE;
  if (s == NULL || !sock__is_socket(s))
    return CO_EINVAL;
  return sock__wsa_result(setsockopt(sock__socket(s), SOL_SOCKET, SO_KEEPALIVE,
                                     (const char *)&value, sizeof value));
}

int sock_shutdown_send(sock_t *s)
{
  if (s == NULL || !sock__is_socket(s))
    return CO_EINVAL;
  return sock__wsa_result(shutdown(sock__socket(s), SD_SEND));
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

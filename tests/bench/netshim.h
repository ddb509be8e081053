/*
 * tests/bench/netshim.h - the few socket calls the load generator needs, the
 * same on POSIX and Winsock.
 *
 * The load generator runs natively on Linux (fast, outside Wine, so it never
 * competes with the server for the wineserver) and also builds for Windows.
 * The two socket APIs differ in small ways only; this header hides them:
 *
 *   POSIX            Winsock              here
 *   int fd           SOCKET               net_sock_t, NET_BAD_SOCK
 *   close()          closesocket()        net_close()
 *   fcntl O_NONBLOCK ioctlsocket FIONBIO  net_set_nonblocking()
 *   errno            WSAGetLastError()    net_last_error(), NET_E* names
 *   poll()           WSAPoll()            net_poll()
 *   clock_gettime    QueryPerformance*    net_now_ns()
 *
 * Header-only (static functions) so each program that includes it stays one
 * translation unit.
 */
#ifndef COSOCK_BENCH_NETSHIM_H
#define COSOCK_BENCH_NETSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#  ifndef _WIN32_WINNT
#    define _WIN32_WINNT 0x0600 /* Vista: WSAPoll */
#  endif
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <winsock2.h>
#  include <ws2tcpip.h>
#  include <windows.h>

typedef SOCKET net_sock_t;
typedef WSAPOLLFD net_pollfd_t;
#  define NET_BAD_SOCK INVALID_SOCKET
#  define NET_EINPROGRESS WSAEWOULDBLOCK /* a non-blocking connect says this */
#  define NET_EWOULDBLOCK WSAEWOULDBLOCK
#  define NET_EINTR WSAEINTR

static inline int net_startup(void)
{
  WSADATA wsa;
  return WSAStartup(MAKEWORD(2, 2), &wsa) == 0 ? 0 : -1;
}
static inline void net_cleanup(void) { WSACleanup(); }
static inline int net_last_error(void) { return WSAGetLastError(); }
static inline void net_close(net_sock_t s) { closesocket(s); }
static inline int net_set_nonblocking(net_sock_t s)
{
  u_long on = 1;
  return ioctlsocket(s, FIONBIO, &on) == 0 ? 0 : -1;
}
static inline int net_poll(net_pollfd_t *fds, size_t n, int timeout_ms)
{
  return WSAPoll(fds, (ULONG)n, timeout_ms);
}
/* send/recv take int lengths on Winsock */
static inline long net_send(net_sock_t s, const char *p, size_t n)
{
  return (long)send(s, p, (int)n, 0);
}
static inline long net_recv(net_sock_t s, char *p, size_t n)
{
  return (long)recv(s, p, (int)n, 0);
}
static inline uint64_t net_now_ns(void)
{
  static LARGE_INTEGER freq;
  LARGE_INTEGER now;
  if (freq.QuadPart == 0)
    QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  /* split to avoid overflow of now * 1e9 */
  return (uint64_t)(now.QuadPart / freq.QuadPart) * 1000000000u +
         (uint64_t)(now.QuadPart % freq.QuadPart) * 1000000000u / (uint64_t)freq.QuadPart;
}
#else /* POSIX */
#  include <errno.h>
#  include <fcntl.h>
#  include <netdb.h>
#  include <netinet/in.h>
#  include <netinet/tcp.h>
#  include <poll.h>
#  include <sys/socket.h>
#  include <sys/types.h>
#  include <time.h>
#  include <unistd.h>

typedef int net_sock_t;
typedef struct pollfd net_pollfd_t;
#  define NET_BAD_SOCK (-1)
#  define NET_EINPROGRESS EINPROGRESS
#  define NET_EWOULDBLOCK EAGAIN
#  define NET_EINTR EINTR

static inline int net_startup(void) { return 0; }
static inline void net_cleanup(void) {}
static inline int net_last_error(void) { return errno; }
static inline void net_close(net_sock_t s) { close(s); }
static inline int net_set_nonblocking(net_sock_t s)
{
  int flags = fcntl(s, F_GETFL, 0);
  return flags < 0 ? -1 : fcntl(s, F_SETFL, flags | O_NONBLOCK);
}
static inline int net_poll(net_pollfd_t *fds, size_t n, int timeout_ms)
{
  return poll(fds, (nfds_t)n, timeout_ms);
}
/* MSG_NOSIGNAL: a peer reset must be an error, not a SIGPIPE that kills us */
static inline long net_send(net_sock_t s, const char *p, size_t n)
{
  return (long)send(s, p, n, MSG_NOSIGNAL);
}
static inline long net_recv(net_sock_t s, char *p, size_t n)
{
  return (long)recv(s, p, n, 0);
}
static inline uint64_t net_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* True if the last error of a non-blocking call only means "not yet". */
static inline int net_would_block(int err)
{
  return err == NET_EWOULDBLOCK || err == NET_EINTR
#if !defined(_WIN32) && EWOULDBLOCK != EAGAIN
         || err == EWOULDBLOCK
#endif
      ;
}

#endif /* COSOCK_BENCH_NETSHIM_H */

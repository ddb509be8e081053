/*
 * tests/bench/baseline_udp_echo.c - a UDP echo server written directly on the
 * Win32 thread-pool IO API (WSARecvFrom / WSASendTo), no cosock: what
 * examples/udp_echo.c is measured against (tests/bench/run_udp_bench.sh).
 *
 *   baseline_udp_echo [--host H] [--port P] [--receivers N]
 *
 * N slots (default 8, like udp_echo's receive tasks) share one socket; each
 * is an OVERLAPPED, a 64 KiB buffer and the sender's address, and cycles
 * receive -> send back -> receive. The same choices as the library makes,
 * so the comparison is of the framework, not of the settings: no
 * skip-completion-port mode (a completion per call), SIO_UDP_CONNRESET off,
 * SO_EXCLUSIVEADDRUSE. Prints "listening on H:P", stops at end of stdin
 * (closes the socket, waits for the slots' callbacks), prints
 * "baseline_udp_echo: N datagrams echoed" on stderr and exits 0.
 */
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0601
#endif
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIO_UDP_CONNRESET
#  define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif

enum { MAX_SLOTS = 64, BUF_SIZE = 65536 };

typedef struct slot {
  OVERLAPPED    ov;             /* first */
  WSABUF        wsabuf;
  DWORD         flags;
  SOCKADDR_INET from;
  INT           from_len;
  int           sending;        /* which call the slot made: the state machine */
  char          buf[BUF_SIZE];
} slot_t;

static SOCKET sock = INVALID_SOCKET;
static PTP_IO io;
static volatile LONG stopping;
static volatile LONG echoed;
static volatile LONG live;      /* slots with a call out */
static HANDLE all_done;         /* set when the last slot has stopped */

static void slot_stopped(void)
{
  if (InterlockedDecrement(&live) == 0)
    SetEvent(all_done);
}

static void post_recv(slot_t *s)
{
  int e;
  if (stopping) {
    slot_stopped();
    return;
  }
  s->sending = 0;
  s->flags = 0;
  s->from_len = (INT)sizeof s->from;
  s->wsabuf.buf = s->buf;
  s->wsabuf.len = BUF_SIZE;
  memset(&s->ov, 0, sizeof s->ov);
  StartThreadpoolIo(io);  /* before every overlapped call */
  if (WSARecvFrom(sock, &s->wsabuf, 1, NULL, &s->flags, (SOCKADDR *)&s->from, &s->from_len,
                  &s->ov, NULL) != 0) {
    e = WSAGetLastError();
    if (e != WSA_IO_PENDING && e != WSAEMSGSIZE) {  /* WSAEMSGSIZE: a completion comes */
      CancelThreadpoolIo(io);  /* no completion will come */
      slot_stopped();
    }
  }
}

static void CALLBACK on_io(PTP_CALLBACK_INSTANCE inst, void *ctx, void *ov, ULONG err,
                           ULONG_PTR n, PTP_IO pio)
{
  slot_t *s = (slot_t *)ov;  /* the OVERLAPPED is the first member */
  (void)inst;
  (void)ctx;
  (void)pio;
  if (s->sending) {          /* the echo went out: receive again */
    if (err == 0)
      InterlockedIncrement(&echoed);
    post_recv(s);
    return;
  }
  if (err != 0 && err != ERROR_MORE_DATA) {  /* closed (995; 676 under Wine) */
    slot_stopped();
    return;
  }
  s->sending = 1;
  s->wsabuf.len = (ULONG)n;
  memset(&s->ov, 0, sizeof s->ov);
  StartThreadpoolIo(io);
  if (WSASendTo(sock, &s->wsabuf, 1, NULL, 0, (SOCKADDR *)&s->from, s->from_len, &s->ov,
                NULL) != 0 && WSAGetLastError() != WSA_IO_PENDING) {
    CancelThreadpoolIo(io);
    post_recv(s);
  }
}

static int usage(void)
{
  fprintf(stderr, "usage: baseline_udp_echo [--host H] [--port P] [--receivers N]\n");
  return 2;
}

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0, count = 8;
  static slot_t *slots[MAX_SLOTS];
  SOCKADDR_INET addr;
  struct addrinfo hints, *list = NULL;
  char text[INET6_ADDRSTRLEN], service[8], in[256];
  WSADATA wsa;
  BOOL on = TRUE, off = FALSE;
  DWORD bytes = 0, got;
  int len, i;

  for (i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return usage();
    if (strcmp(argv[i], "--host") == 0)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0)
      port = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--receivers") == 0)
      count = strtoul(argv[++i], NULL, 10);
    else
      return usage();
  }
  if (port > 65535 || count < 1 || count > MAX_SLOTS)
    return usage();
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
    return 1;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  snprintf(service, sizeof service, "%lu", port);
  if (getaddrinfo(host, service, &hints, &list) != 0) {
    fprintf(stderr, "baseline_udp_echo: bad --host %s\n", host);
    return 1;
  }
  memset(&addr, 0, sizeof addr);
  memcpy(&addr, list->ai_addr, list->ai_addrlen);
  freeaddrinfo(list);
  sock = WSASocketW(addr.si_family, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
  if (sock == INVALID_SOCKET)
    return 1;
  setsockopt(sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on);
  WSAIoctl(sock, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &bytes, NULL, NULL);
  len = addr.si_family == AF_INET6 ? (int)sizeof addr.Ipv6 : (int)sizeof addr.Ipv4;
  if (bind(sock, (SOCKADDR *)&addr, len) != 0) {
    fprintf(stderr, "baseline_udp_echo: bind: %d\n", WSAGetLastError());
    return 1;
  }
  len = (int)sizeof addr;
  getsockname(sock, (SOCKADDR *)&addr, &len);
  io = CreateThreadpoolIo((HANDLE)sock, on_io, NULL, NULL);
  all_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (io == NULL || all_done == NULL)
    return 1;
  if (addr.si_family == AF_INET6) {
    inet_ntop(AF_INET6, &addr.Ipv6.sin6_addr, text, sizeof text);
    printf("listening on [%s]:%u\n", text, (unsigned)ntohs(addr.Ipv6.sin6_port));
  } else {
    inet_ntop(AF_INET, &addr.Ipv4.sin_addr, text, sizeof text);
    printf("listening on %s:%u\n", text, (unsigned)ntohs(addr.Ipv4.sin_port));
  }
  fflush(stdout);

  live = (LONG)count;
  for (i = 0; i < (int)count; i++) {
    slots[i] = (slot_t *)calloc(1, sizeof *slots[i]);
    if (slots[i] == NULL)
      return 1;
    post_recv(slots[i]);
  }

  while (ReadFile(GetStdHandle(STD_INPUT_HANDLE), in, sizeof in, &got, NULL) && got > 0) {
  }

  InterlockedExchange(&stopping, 1);
  closesocket(sock);  /* every pending receive completes (995, or 676 under Wine) */
  WaitForSingleObject(all_done, 10000);
  WaitForThreadpoolIoCallbacks(io, FALSE);
  CloseThreadpoolIo(io);
  for (i = 0; i < (int)count; i++)
    free(slots[i]);
  fprintf(stderr, "baseline_udp_echo: %ld datagrams echoed\n", (long)echoed);
  WSACleanup();
  return 0;
}

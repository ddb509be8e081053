/*
 * tests/sock/test_socket_calls.c - the calls a libuv user looks for: the
 * peer's address, adopting a SOCKET, buffer sizes, listening choices
 * (IPv6 only, SO_REUSEADDR), send and receive attempts that never wait,
 * and a repeating timer. Each ends with the counters back at zero.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

static sock_addr_t raw_local(SOCKET s)
{
  sock_addr_t a;
  int len = (int)sizeof a;
  memset(&a, 0, sizeof a);
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  return a;
}

static int same_endpoint(const sock_addr_t *a, const sock_addr_t *b)
{
  return a->si_family == b->si_family && a->Ipv4.sin_port == b->Ipv4.sin_port;
}

/* ---- the peer's address, the system socket ------------------------------------------ */

/* A connected TCP socket names its peer (the plain client's own address);
 * a listener and an unconnected UDP socket have none (CO_ENOTCONN); a UDP
 * socket after sock_udp_connect names the address it was given. */
START_TEST(peer_addr_names_the_other_side)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_addr_t peer, want;
  sock_t *conn, *udp = NULL, *listener = NULL;
  SOCKET raw;

  conn = test_pair(rt, &raw);
  want = raw_local(raw);
  ck_assert_int_eq(sock_peer_addr(conn, &peer), CO_OK);
  ck_assert(same_endpoint(&peer, &want));
  ck_assert_int_eq(sock_peer_addr(NULL, &peer), CO_EINVAL);
  ck_assert_int_eq(sock_peer_addr(conn, NULL), CO_EINVAL);
  ck_assert(sock_os_socket(conn) != INVALID_SOCKET);
  ck_assert(sock_os_socket(NULL) == INVALID_SOCKET);

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 4, &listener), CO_OK);
  ck_assert_int_eq(sock_peer_addr(listener, &peer), CO_ENOTCONN);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &udp), CO_OK);
  ck_assert_int_eq(sock_peer_addr(udp, &peer), CO_ENOTCONN);
  ck_assert_int_eq(sock_udp_connect(udp, &want), CO_OK);
  ck_assert_int_eq(sock_peer_addr(udp, &peer), CO_OK);
  ck_assert(same_endpoint(&peer, &want));

  closesocket(raw);
  sock_close(conn);
  sock_close(udp);
  sock_close(listener);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- adopting ------------------------------------------------------------------------ */

typedef struct adopter {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  sock_accept_t acc;
  sock_addr_t   from;
  int           accept;   /* 1: accept on sock, then receive on the connection */
  int           udp;      /* 1: a datagram receive */
  char          buf[32];
  int           error;
  unsigned long bytes;
} adopter_t;

static adopter_t adopter;

static co_state_t adopter_step(co_task_t *t)
{
  adopter_t *a = (adopter_t *)t;
  CO_BEGIN(t);
  if (a->accept) {
    CO_AWAIT(t, sock_accept_start(&a->op, a->sock, &a->acc, t));
    if (a->op.error < 0)
      CO_EXIT(t, a->op.error);
    CO_AWAIT(t, sock_recv_start(&a->op, a->acc.sock, a->buf, sizeof a->buf, t));
    sock_close(a->acc.sock);
  } else if (a->udp) {
    CO_AWAIT(t, sock_udp_recv_from_start(&a->op, a->sock, a->buf, sizeof a->buf, &a->from, t));
  } else {
    CO_AWAIT(t, sock_recv_start(&a->op, a->sock, a->buf, sizeof a->buf, t));
  }
  a->error = a->op.error;
  a->bytes = a->op.bytes;
  CO_END(t);
}

static void adopter_run(sock_runtime_t *rt, sock_t *s, int accept, int udp)
{
  HANDLE done = adopter.tt.done;
  memset(&adopter, 0, sizeof adopter);
  adopter.tt.done = done;
  adopter.sock = s;
  adopter.accept = accept;
  adopter.udp = udp;
  test_spawn(rt, &adopter.tt, adopter_step);
}

static SOCKET overlapped_socket(int type, int proto)
{
  SOCKET h = WSASocketW(AF_INET, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED);
  ck_assert(h != INVALID_SOCKET);
  return h;
}

/* SOCKETs made elsewhere become sockets of the right kind: a bound UDP
 * socket receives datagrams, a listening TCP socket accepts (its AcceptEx
 * calls posted), a connected TCP socket receives. sock_close closes each.
 * Misuse (INVALID_SOCKET, a NULL runtime or out) is CO_EINVAL and leaves
 * the socket alone. */
START_TEST(adopt_turns_sockets_into_the_right_kinds)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  sock_addr_t a;
  SOCKET h, client, peer;
  int len;

  /* UDP */
  h = overlapped_socket(SOCK_DGRAM, IPPROTO_UDP);
  memset(&a, 0, sizeof a);
  a.Ipv4.sin_family = AF_INET;
  a.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(h, (struct sockaddr *)&a, sizeof a.Ipv4), 0);
  ck_assert_int_eq(sock_adopt(NULL, h, &s), CO_EINVAL);
  ck_assert_int_eq(sock_adopt(rt, h, NULL), CO_EINVAL);
  ck_assert_int_eq(sock_adopt(rt, INVALID_SOCKET, &s), CO_EINVAL);
  ck_assert_int_eq(sock_adopt(rt, h, &s), CO_OK);
  ck_assert(sock_os_socket(s) == h);
  a = raw_local(h);
  adopter_run(rt, s, 0, 1);
  test_wait_counters(rt, 1, 1, 1, 5000);
  client = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  ck_assert_int_eq(sendto(client, "dgram", 5, 0, (struct sockaddr *)&a, sizeof a.Ipv4), 5);
  test_wait(&adopter.tt, TEST_WAIT_MS);
  ck_assert_int_eq(adopter.error, CO_OK);
  ck_assert_uint_eq(adopter.bytes, 5);
  closesocket(client);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* A listening TCP socket, then the accepted connection receives. */
  h = overlapped_socket(SOCK_STREAM, IPPROTO_TCP);
  memset(&a, 0, sizeof a);
  a.Ipv4.sin_family = AF_INET;
  a.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(h, (struct sockaddr *)&a, sizeof a.Ipv4), 0);
  ck_assert_int_eq(listen(h, 8), 0);
  a = raw_local(h);
  ck_assert_int_eq(sock_adopt(rt, h, &s), CO_OK);
  adopter_run(rt, s, 1, 0);
  client = test_raw_connect(ntohs(a.Ipv4.sin_port));
  test_raw_send(client, "stream", 6);
  test_wait(&adopter.tt, TEST_WAIT_MS);
  ck_assert_int_eq(adopter.error, CO_OK);
  ck_assert_uint_eq(adopter.bytes, 6);
  closesocket(client);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* A connected TCP socket (made by a plain connect to a plain listener). */
  {
    unsigned short port;
    SOCKET l = test_raw_listen(4, &port);
    h = overlapped_socket(SOCK_STREAM, IPPROTO_TCP);
    memset(&a, 0, sizeof a);
    a.Ipv4.sin_family = AF_INET;
    a.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.Ipv4.sin_port = htons(port);
    ck_assert_int_eq(connect(h, (struct sockaddr *)&a, sizeof a.Ipv4), 0);
    len = (int)sizeof a;
    peer = accept(l, (struct sockaddr *)&a, &len);
    ck_assert(peer != INVALID_SOCKET);
    closesocket(l);
  }
  ck_assert_int_eq(sock_adopt(rt, h, &s), CO_OK);
  adopter_run(rt, s, 0, 0);
  test_raw_send(peer, "conn", 4);
  test_wait(&adopter.tt, TEST_WAIT_MS);
  ck_assert_int_eq(adopter.error, CO_OK);
  ck_assert_uint_eq(adopter.bytes, 4);
  closesocket(peer);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&adopter.tt);
}
END_TEST

/* ---- buffer sizes, listening choices --------------------------------------------------- */

/* Setting a buffer size reads back at least the size asked (the system
 * may round up); 0 only reads it; a negative size and NULL are CO_EINVAL. */
START_TEST(buffer_sizes_are_set_and_read_back)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *udp = NULL;
  int bytes;

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &udp), CO_OK);
  bytes = 0;
  ck_assert_int_eq(sock_recv_buffer_size(udp, &bytes), CO_OK);
  ck_assert_int_gt(bytes, 0);
  bytes = 256 * 1024;
  ck_assert_int_eq(sock_recv_buffer_size(udp, &bytes), CO_OK);
  ck_assert_int_ge(bytes, 256 * 1024);
  bytes = 96 * 1024;
  ck_assert_int_eq(sock_send_buffer_size(udp, &bytes), CO_OK);
  ck_assert_int_ge(bytes, 96 * 1024);
  bytes = -1;
  ck_assert_int_eq(sock_send_buffer_size(udp, &bytes), CO_EINVAL);
  ck_assert_int_eq(sock_send_buffer_size(udp, NULL), CO_EINVAL);
  ck_assert_int_eq(sock_recv_buffer_size(NULL, &bytes), CO_EINVAL);
  sock_close(udp);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* An IPv6 listener on "::" is dual-stack by default (a plain IPv4 client
 * connects) and IPv6-only with SOCK_LISTEN_V6ONLY (the IPv4 client is
 * refused, an IPv6 one connects); SOCK_LISTEN_REUSEADDR sets SO_REUSEADDR
 * where the default sets SO_EXCLUSIVEADDRUSE; an unknown flag is CO_EINVAL. */
START_TEST(listen_ex_v6only_and_reuseaddr)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *l = NULL;
  sock_addr_t a;
  SOCKET c;
  int value, len;

  ck_assert_int_eq(sock_listen_ex(rt, "::", 0, 8, 0x10, &l), CO_EINVAL);
  ck_assert_ptr_null(l);

  ck_assert_int_eq(sock_listen_ex(rt, "::", 0, 8, 0, &l), CO_OK);
  c = test_raw_connect(test_port(l));  /* IPv4: asserts that it connects */
  closesocket(c);
  value = 0;
  len = (int)sizeof value;
  ck_assert_int_eq(getsockopt(sock_os_socket(l), SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (char *)&value,
                              &len), 0);
  ck_assert_int_ne(value & 0xff, 0);
  sock_close(l);

  ck_assert_int_eq(sock_listen_ex(rt, "::", 0, 8, SOCK_LISTEN_V6ONLY | SOCK_LISTEN_REUSEADDR,
                                  &l), CO_OK);
  ck_assert_int_eq(sock_local_addr(l, &a), CO_OK);
  c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  {
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4.sin_port = a.Ipv6.sin6_port;
    ck_assert_msg(connect(c, (struct sockaddr *)&v4, sizeof v4) != 0,
                  "an IPv4 client reached an IPv6-only listener");
  }
  closesocket(c);
  c = socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
  a.Ipv6.sin6_addr = in6addr_loopback;
  ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a.Ipv6), 0);
  closesocket(c);
  value = 0;
  len = (int)sizeof value;
  ck_assert_int_eq(getsockopt(sock_os_socket(l), SOL_SOCKET, SO_REUSEADDR, (char *)&value, &len),
                   0);
  ck_assert_int_ne(value & 0xff, 0);
  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- attempts that never wait --------------------------------------------------------- */

typedef struct udp_waiter {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[32];
  int         error;
  unsigned long bytes;
} udp_waiter_t;

static udp_waiter_t waiter;

static co_state_t udp_waiter_step(co_task_t *t)
{
  udp_waiter_t *w = (udp_waiter_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_udp_recv_from_start(&w->op, w->sock, w->buf, sizeof w->buf, NULL, t));
  w->error = w->op.error;
  w->bytes = w->op.bytes;
  CO_END(t);
}

/* UDP: with nothing queued the receive attempt is CO_EAGAIN at once; a
 * queued datagram is taken with its sender; a long one is CO_EMSGSIZE with
 * its first bytes; a send attempt reaches the peer. After the attempts an
 * await still pends and completes (non-blocking mode does not touch it).
 * Misuse is CO_EINVAL; a failing WSASendTo gives its error. */
START_TEST(try_send_and_recv_on_udp_never_wait)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  sock_addr_t me, from, peer_addr;
  SOCKET peer = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  char buf[64];
  size_t n = 99;
  DWORD timeout = 5000;
  int i;

  setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof timeout);
  memset(&peer_addr, 0, sizeof peer_addr);
  peer_addr.Ipv4.sin_family = AF_INET;
  peer_addr.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(peer, (struct sockaddr *)&peer_addr, sizeof peer_addr.Ipv4), 0);
  peer_addr = raw_local(peer);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  ck_assert_int_eq(sock_local_addr(s, &me), CO_OK);

  ck_assert_int_eq(sock_try_recv(s, buf, sizeof buf, &from, &n), CO_EAGAIN);
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(sendto(peer, "hello", 5, 0, (struct sockaddr *)&me, sizeof me.Ipv4), 5);
  for (i = 0; i < 200; i++) {
    int rc = sock_try_recv(s, buf, sizeof buf, &from, &n);
    if (rc != CO_EAGAIN) {
      ck_assert_int_eq(rc, CO_OK);
      break;
    }
    Sleep(5);
  }
  ck_assert_uint_eq(n, 5);
  ck_assert(memcmp(buf, "hello", 5) == 0);
  ck_assert(same_endpoint(&from, &peer_addr));

  ck_assert_int_eq(sendto(peer, "0123456789", 10, 0, (struct sockaddr *)&me, sizeof me.Ipv4), 10);
  for (i = 0; i < 200; i++) {
    int rc = sock_try_recv(s, buf, 4, NULL, &n);
    if (rc != CO_EAGAIN) {
      ck_assert_int_eq(rc, CO_EMSGSIZE);
      break;
    }
    Sleep(5);
  }
  ck_assert_uint_eq(n, 4);
  ck_assert(memcmp(buf, "0123", 4) == 0);

  ck_assert_int_eq(sock_try_send(s, "back", 4, &peer_addr, &n), CO_OK);
  ck_assert_uint_eq(n, 4);
  ck_assert_int_eq(recv(peer, buf, sizeof buf, 0), 4);
  ck_assert(memcmp(buf, "back", 4) == 0);

  /* An await after the attempts pends and completes. */
  memset(&waiter, 0, sizeof waiter);
  waiter.sock = s;
  test_spawn(rt, &waiter.tt, udp_waiter_step);
  test_wait_counters(rt, 1, 1, 1, 5000);
  ck_assert_int_eq(sendto(peer, "later", 5, 0, (struct sockaddr *)&me, sizeof me.Ipv4), 5);
  test_wait(&waiter.tt, TEST_WAIT_MS);
  ck_assert_int_eq(waiter.error, CO_OK);
  ck_assert_uint_eq(waiter.bytes, 5);

  /* Misuse, and a seam failure. */
  ck_assert_int_eq(sock_try_recv(s, buf, 0, NULL, &n), CO_EINVAL);
  ck_assert_int_eq(sock_try_recv(NULL, buf, 4, NULL, &n), CO_EINVAL);
  ck_assert_int_eq(sock_try_send(s, buf, 4, NULL, NULL), CO_EINVAL);
  sock_fault_nth(SOCK_SYS_WSASENDTO, 1, 1, WSAENOBUFS);
  ck_assert_int_eq(sock_try_send(s, "x", 1, &peer_addr, &n), CO_ENOBUFS);
  sock_fault_reset();

  closesocket(peer);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&waiter.tt);
}
END_TEST

/* TCP: the receive attempt is CO_EAGAIN until data arrives, then takes it;
 * the send attempt reaches the peer; an await after the attempts still
 * pends and completes; after the peer closes, CO_EOF. A
 * listener refuses attempts (CO_EINVAL), and so does an address on TCP. */
START_TEST(try_send_and_recv_on_tcp_never_wait)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  sock_t *s = test_pair(rt, &raw);
  sock_addr_t a;
  char buf[64];
  size_t n;
  int i, rc = CO_EAGAIN;

  ck_assert_int_eq(sock_try_recv(s, buf, sizeof buf, NULL, &n), CO_EAGAIN);
  test_raw_send(raw, "ping", 4);
  for (i = 0; i < 200 && (rc = sock_try_recv(s, buf, sizeof buf, NULL, &n)) == CO_EAGAIN; i++)
    Sleep(5);
  ck_assert_int_eq(rc, CO_OK);
  ck_assert_uint_eq(n, 4);
  ck_assert_int_eq(sock_try_send(s, "pong", 4, NULL, &n), CO_OK);
  ck_assert_uint_eq(n, 4);
  test_raw_recv(raw, buf, 4);
  ck_assert(memcmp(buf, "pong", 4) == 0);
  ck_assert_int_eq(sock_local_addr(s, &a), CO_OK);
  ck_assert_int_eq(sock_try_send(s, "x", 1, &a, &n), CO_EINVAL);
  ck_assert_int_eq(sock_try_recv(s, buf, sizeof buf, &a, &n), CO_EINVAL);
  /* The socket is non-blocking now: an overlapped receive still pends. */
  adopter_run(rt, s, 0, 0);
  test_wait_counters(rt, 1, 1, 1, 5000);
  test_raw_send(raw, "await", 5);
  test_wait(&adopter.tt, TEST_WAIT_MS);
  ck_assert_int_eq(adopter.error, CO_OK);
  ck_assert_uint_eq(adopter.bytes, 5);
  closesocket(raw);
  for (i = 0; i < 200 && (rc = sock_try_recv(s, buf, sizeof buf, NULL, &n)) == CO_EAGAIN; i++)
    Sleep(5);
  ck_assert_int_eq(rc, CO_EOF);
  ck_assert_uint_eq(n, 0);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&adopter.tt);
}
END_TEST

/* ---- a repeating timer ------------------------------------------------------------------ */

typedef struct ticker {
  test_task_t   tt;
  sock_timer_t *timer;
  sock_op_t     op;
  int           waits;      /* how many ticks to wait for */
  int           busy_ms;    /* a sleep after the first tick (missed ticks) */
  int           i;
  unsigned long ticks[8];   /* op.bytes of each wait */
  int           error;      /* what ended the waits (CO_OK after `waits`) */
} ticker_t;

static ticker_t ticker;
static sock_timer_t timer;

static co_state_t ticker_step(co_task_t *t)
{
  ticker_t *k = (ticker_t *)t;
  CO_BEGIN(t);
  for (k->i = 0; k->i < k->waits; k->i++) {
    CO_AWAIT(t, sock_timer_wait_start(&k->op, k->timer, &k->tt.st));
    if (k->op.error < 0)
      break;
    k->ticks[k->i] = k->op.bytes;
    if (k->i == 0 && k->busy_ms > 0) {
      CO_AWAIT(t, sock_sleep_start(&k->op, (unsigned)k->busy_ms, &k->tt.st));
    }
  }
  k->error = k->op.error;
  CO_END(t);
}

static void ticker_run(sock_runtime_t *rt, int waits, int busy_ms)
{
  HANDLE done = ticker.tt.done;
  memset(&ticker, 0, sizeof ticker);
  ticker.tt.done = done;
  ticker.timer = &timer;
  ticker.waits = waits;
  ticker.busy_ms = busy_ms;
  test_spawn(rt, &ticker.tt, ticker_step);
}

/* A 30 ms timer: five waits take about 120-150 ms, one tick each; a task
 * busy for 200 ms after a tick finds the missed ticks counted (op.bytes
 * >= 4, not separate wake-ups); stopping it wakes a waiter with CO_ECLOSED
 * and later waits fail so at once; it is counted with the sockets while it
 * runs. Misuse is CO_EINVAL. */
START_TEST(repeating_timer_ticks_counts_missed_ticks_and_stops)
{
  sock_runtime_t *rt = test_runtime_start();
  ULONGLONG t0;
  int i;

  ck_assert_int_eq(sock_timer_start(&timer, rt, 10, 0), CO_EINVAL);
  ck_assert_int_eq(sock_timer_start(NULL, rt, 10, 10), CO_EINVAL);
  ck_assert_int_eq(sock_timer_start(&timer, NULL, 10, 10), CO_EINVAL);

  t0 = GetTickCount64();
  ck_assert_int_eq(sock_timer_start(&timer, rt, 30, 30), CO_OK);
  test_wait_counters(rt, 1, 0, 0, 1000);
  ticker_run(rt, 5, 0);
  test_wait(&ticker.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ticker.error, CO_OK);
  {
    unsigned long total = 0;
    ULONGLONG took = GetTickCount64() - t0;
    for (i = 0; i < 5; i++) {
      ck_assert_uint_ge(ticker.ticks[i], 1);
      total += ticker.ticks[i];
    }
    printf("%lu ticks of 30 ms in %llu ms\n", total, (unsigned long long)took);
    /* n ticks cannot come sooner than n periods (less the timer's granularity). */
    ck_assert_msg(took + 20 >= 30 * total, "%lu ticks in %llu ms", total,
                  (unsigned long long)took);
  }

  ticker_run(rt, 2, 200);
  test_wait(&ticker.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ticker.error, CO_OK);
  printf("after 200 ms busy: %lu ticks\n", ticker.ticks[1]);
  ck_assert_uint_ge(ticker.ticks[1], 4);

  /* A cancel reaches the wait (a timer that will not tick meanwhile); then
   * stop with a waiter. */
  sock_timer_stop(&timer);
  ck_assert_int_eq(sock_timer_start(&timer, rt, 10000, 10000), CO_OK);
  ticker_run(rt, 1, 0);
  test_wait_counters(rt, 1, 1, 1, 5000);
  sock_task_cancel(&ticker.tt.st);
  test_wait(&ticker.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ticker.error, CO_ECANCELED);

  ticker_run(rt, 1, 0);
  test_wait_counters(rt, 1, 1, 1, 5000);
  sock_timer_stop(&timer);
  test_wait(&ticker.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ticker.error, CO_ECLOSED);
  ticker_run(rt, 1, 0);
  test_wait(&ticker.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ticker.error, CO_ECLOSED);
  sock_timer_stop(&timer);  /* twice: nothing */
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&ticker.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_socket_calls");
  TCase *tc;

  tc = tcase_create("peer_addr_names_the_other_side");
  tcase_add_test(tc, peer_addr_names_the_other_side);
  suite_add_tcase(s, tc);

  tc = tcase_create("adopt_turns_sockets_into_the_right_kinds");
  tcase_add_test(tc, adopt_turns_sockets_into_the_right_kinds);
  suite_add_tcase(s, tc);

  tc = tcase_create("buffer_sizes_are_set_and_read_back");
  tcase_add_test(tc, buffer_sizes_are_set_and_read_back);
  suite_add_tcase(s, tc);

  tc = tcase_create("listen_ex_v6only_and_reuseaddr");
  tcase_add_test(tc, listen_ex_v6only_and_reuseaddr);
  suite_add_tcase(s, tc);

  tc = tcase_create("try_send_and_recv_on_udp_never_wait");
  tcase_add_test(tc, try_send_and_recv_on_udp_never_wait);
  suite_add_tcase(s, tc);

  tc = tcase_create("try_send_and_recv_on_tcp_never_wait");
  tcase_add_test(tc, try_send_and_recv_on_tcp_never_wait);
  suite_add_tcase(s, tc);

  tc = tcase_create("repeating_timer_ticks_counts_missed_ticks_and_stops");
  tcase_add_test(tc, repeating_timer_ticks_counts_missed_ticks_and_stops);
  suite_add_tcase(s, tc);
  return s;
}

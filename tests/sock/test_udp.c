/*
 * tests/sock/test_udp.c - UDP sockets: datagrams echoed and verified over
 * IPv4 and IPv6 loopback, truncation, connected sockets, cancel, close and
 * a deadline with a receive pending, the Nth send or receive failing
 * through the fault seam, bad arguments and options.
 *
 * The other side is a plain blocking Winsock UDP socket on the test thread
 * (with a receive timeout, so a lost datagram fails the test instead of
 * hanging it). Everything a pending operation points at is static.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

/* ctest-timeout: 120 */

/* ---- helpers --------------------------------------------------------------------- */

/* A blocking UDP socket on the loopback of `family`, port 0, with a
 * receive timeout of `timeout_ms`. */
static SOCKET raw_udp(int family, DWORD timeout_ms)
{
  sock_addr_t a;
  SOCKET s = socket(family, SOCK_DGRAM, IPPROTO_UDP);
  ck_assert_msg(s != INVALID_SOCKET, "socket: %d", WSAGetLastError());
  memset(&a, 0, sizeof a);
  a.si_family = (ADDRESS_FAMILY)family;
  if (family == AF_INET6)
    a.Ipv6.sin6_addr = in6addr_loopback;
  else
    a.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, (struct sockaddr *)&a,
                        family == AF_INET6 ? (int)sizeof a.Ipv6 : (int)sizeof a.Ipv4), 0);
  ck_assert_int_eq(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms,
                              sizeof timeout_ms), 0);
  return s;
}

static sock_addr_t addr_of_raw(SOCKET s)
{
  sock_addr_t a;
  int len = (int)sizeof a;
  memset(&a, 0, sizeof a);
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  return a;
}

static sock_addr_t addr_of(sock_t *s)
{
  sock_addr_t a;
  ck_assert_int_eq(sock_local_addr(s, &a), CO_OK);
  return a;
}

static int addr_len(const sock_addr_t *a)
{
  return a->si_family == AF_INET6 ? (int)sizeof a->Ipv6 : (int)sizeof a->Ipv4;
}

static unsigned short addr_port(const sock_addr_t *a)
{
  return ntohs(a->Ipv4.sin_port);  /* the same place in both families */
}

/* ---- An echo server with several receive tasks ---------------------------------------- */

enum { ECHO_TASKS = 4, ECHO_COUNT = 1000, ECHO_MAX = 8000 };

typedef struct udp_echo {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  sock_addr_t   peer;
  char          buf[ECHO_MAX];
  volatile LONG *served;
  int           error;   /* what ended it (CO_ECANCELED on close) */
} udp_echo_t;

static udp_echo_t echoers[ECHO_TASKS];
static volatile LONG echo_served;
static volatile LONG echo_last_family;  /* of the last sender served */

static co_state_t udp_echo_step(co_task_t *t)
{
  udp_echo_t *e = (udp_echo_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_udp_recv_from_start(&e->op, e->sock, e->buf, sizeof e->buf, &e->peer, t));
    if (e->op.error < 0)
      break;
    InterlockedExchange(&echo_last_family, e->peer.si_family);
    CO_AWAIT(t, sock_udp_send_to_start(&e->op, e->sock, e->buf, e->op.bytes, &e->peer, t));
    if (e->op.error < 0)
      break;
    InterlockedIncrement(e->served);
  }
  e->error = e->op.error;
  CO_END(t);
}

static void echo_start(sock_runtime_t *rt, sock_t *s)
{
  int i;
  echo_served = 0;
  for (i = 0; i < ECHO_TASKS; i++) {
    HANDLE done = echoers[i].tt.done;
    memset(&echoers[i], 0, sizeof echoers[i]);
    echoers[i].tt.done = done;
    echoers[i].sock = s;
    echoers[i].served = &echo_served;
    test_spawn(rt, &echoers[i].tt, udp_echo_step);
  }
}

static void echo_stop(sock_runtime_t *rt, sock_t *s)
{
  int i;
  sock_close(s);
  for (i = 0; i < ECHO_TASKS; i++) {
    test_wait(&echoers[i].tt, TEST_WAIT_MS);
    ck_assert_msg(echoers[i].error == CO_ECANCELED, "echo task %d ended with %s", i,
                  co_errname(echoers[i].error));
  }
  test_wait_counters(rt, 0, 0, 0, 5000);
  for (i = 0; i < ECHO_TASKS; i++)
    test_task_free_event(&echoers[i].tt);
}

/* 1,000 datagrams of random sizes 1..8,000 bytes, each echoed by one of
 * four receive tasks sharing the socket, each compared byte for byte with
 * what was sent and coming from the server's address. */
static void echo_many(int family, const char *host)
{
  sock_runtime_t *rt = test_runtime_start();
  static char out[ECHO_MAX], in[ECHO_MAX + 1];
  sock_t *s = NULL;
  sock_addr_t server, from;
  SOCKET raw = raw_udp(family, 5000);
  unsigned long seed = 12345;
  int i, len, from_len;

  ck_assert_int_eq(sock_udp_open(rt, host, 0, 0, &s), CO_OK);
  server = addr_of(s);
  ck_assert_int_eq(server.si_family, family);
  ck_assert_uint_ne(addr_port(&server), 0);
  echo_start(rt, s);
  test_wait_counters(rt, 1, ECHO_TASKS, ECHO_TASKS, 5000);  /* all four receive */

  for (i = 0; i < ECHO_COUNT; i++) {
    int j, n;
    seed = seed * 1103515245u + 12345u;
    len = 1 + (int)((seed >> 8) % ECHO_MAX);
    for (j = 0; j < len; j++)
      out[j] = (char)test_pattern((unsigned long)i, (unsigned long)j);
    ck_assert_int_eq(sendto(raw, out, len, 0, (struct sockaddr *)&server, addr_len(&server)),
                     len);
    from_len = (int)sizeof from;
    n = recvfrom(raw, in, sizeof in, 0, (struct sockaddr *)&from, &from_len);
    ck_assert_msg(n == len, "datagram %d: %d bytes back of %d (error %d)", i, n, len,
                  WSAGetLastError());
    ck_assert_msg(memcmp(in, out, (size_t)len) == 0, "datagram %d: bytes differ", i);
    ck_assert_uint_eq(addr_port(&from), addr_port(&server));
  }
  /* The echo task counts a datagram after its send returned: let the last catch up. */
  for (i = 0; i < 200 && echo_served < ECHO_COUNT; i++)
    Sleep(5);
  ck_assert_int_eq(echo_served, ECHO_COUNT);
  printf("udp %s: %d datagrams echoed and verified\n", host, ECHO_COUNT);
  closesocket(raw);
  echo_stop(rt, s);
  test_runtime_stop(rt);
}

START_TEST(udp_echo_1000_random_datagrams_ipv4)
{
  echo_many(AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(udp_echo_1000_random_datagrams_ipv6)
{
  echo_many(AF_INET6, "::1");
}
END_TEST

/* ---- One receive or send, then the next ---------------------------------------------- */

typedef struct udp_user {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  sock_addr_t   from;
  sock_addr_t  *to;        /* send: where (NULL: the connected peer) */
  size_t        len;       /* bytes to receive into / send */
  int           sending;
  int           rounds;    /* how many operations in a row */
  volatile LONG parked;    /* awaits started */
  int           i;         /* the await in progress */
  int           errors[4];
  unsigned long bytes[4];
  unsigned long win32[4];
  char          buf[4][256];
} udp_user_t;

static udp_user_t user;

static co_state_t udp_user_step(co_task_t *t)
{
  udp_user_t *u = (udp_user_t *)t;
  CO_BEGIN(t);
  for (u->i = 0; u->i < u->rounds; u->i++) {
    InterlockedIncrement(&u->parked);
    if (u->sending)
      CO_AWAIT(t, sock_udp_send_to_start(&u->op, u->sock, u->buf[u->i], u->len, u->to, t));
    else
      CO_AWAIT(t, sock_udp_recv_from_start(&u->op, u->sock, u->buf[u->i], u->len, &u->from, t));
    u->errors[u->i] = u->op.error;
    u->bytes[u->i] = u->op.bytes;
    u->win32[u->i] = u->op.win32_error;
  }
  CO_END(t);
}

static sock_addr_t *user_to;  /* the next user task's destination (NULL: connected peer) */

static void user_start(sock_runtime_t *rt, sock_t *s, int sending, size_t len, int rounds)
{
  HANDLE done = user.tt.done;
  memset(&user, 0, sizeof user);
  user.tt.done = done;
  user.to = user_to;
  user_to = NULL;
  user.sock = s;
  user.sending = sending;
  user.len = len;
  user.rounds = rounds;
  test_spawn(rt, &user.tt, udp_user_step);
}

/* Waits until the user task has started `n` awaits and the runtime counts
 * `pending` operations (the last await is in the kernel). */
static void user_wait_parked(sock_runtime_t *rt, LONG n, long sockets)
{
  DWORD start = GetTickCount();
  while (user.parked < n && GetTickCount() - start < 5000)
    Sleep(2);
  ck_assert_int_ge(user.parked, n);
  test_wait_counters(rt, sockets, 1, 1, 5000);
}

/* A 100-byte datagram into a 10-byte buffer, both ways it can meet the
 * receive: already queued when the receive starts (WSARecvFrom fails at
 * once with WSAEMSGSIZE, and a completion still comes), and arriving while
 * it is pending (the completion says ERROR_MORE_DATA). Each time the first
 * 10 bytes are kept, op.bytes is 10, op.error CO_EMSGSIZE, the sender's
 * address is filled in; the next receive works as usual. */
START_TEST(udp_truncated_datagram_keeps_its_first_bytes_and_says_emsgsize)
{
  sock_runtime_t *rt = test_runtime_start();
  static char big[100];
  sock_t *s = NULL;
  sock_addr_t server, client;
  SOCKET raw = raw_udp(AF_INET, 5000);
  int i, pass;

  for (i = 0; i < 100; i++)
    big[i] = (char)('a' + i % 26);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  server = addr_of(s);
  client = addr_of_raw(raw);
  for (pass = 0; pass < 2; pass++) {
    if (pass == 0) {  /* queued first */
      ck_assert_int_eq(sendto(raw, big, 100, 0, (struct sockaddr *)&server, addr_len(&server)), 100);
      Sleep(50);
      user_start(rt, s, 0, 10, 2);
    } else {          /* pending first */
      user_start(rt, s, 0, 10, 2);
      user_wait_parked(rt, 1, 1);
      ck_assert_int_eq(sendto(raw, big, 100, 0, (struct sockaddr *)&server, addr_len(&server)), 100);
    }
    user_wait_parked(rt, 2, 1);  /* the second receive is pending */
    ck_assert_int_eq(sendto(raw, "hello", 5, 0, (struct sockaddr *)&server, addr_len(&server)), 5);
    test_wait(&user.tt, TEST_WAIT_MS);
    printf("truncated (%s): error %s, bytes %lu, win32 %lu\n",
           pass == 0 ? "queued first" : "pending first", co_errname(user.errors[0]),
           user.bytes[0], user.win32[0]);
    ck_assert_int_eq(user.errors[0], CO_EMSGSIZE);
    ck_assert_uint_eq(user.bytes[0], 10);
    ck_assert_msg(user.win32[0] == ERROR_MORE_DATA || user.win32[0] == WSAEMSGSIZE,
                  "win32 %lu", user.win32[0]);
    ck_assert_msg(memcmp(user.buf[0], big, 10) == 0, "the kept bytes differ");
    ck_assert_int_eq(user.errors[1], CO_OK);
    ck_assert_uint_eq(user.bytes[1], 5);
    ck_assert_msg(memcmp(user.buf[1], "hello", 5) == 0, "the next datagram differs");
    ck_assert_uint_eq(addr_port(&user.from), addr_port(&client));
  }
  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* A zero-byte datagram is a datagram: op.bytes 0 and CO_OK (no end of
 * stream on UDP), both ways. */
START_TEST(udp_empty_datagram_is_received_as_zero_bytes)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  sock_addr_t server;
  SOCKET raw = raw_udp(AF_INET, 5000);
  char in[16];
  int from_len;
  sock_addr_t from;

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  server = addr_of(s);
  user_start(rt, s, 0, 10, 1);
  user_wait_parked(rt, 1, 1);
  ck_assert_int_eq(sendto(raw, in, 0, 0, (struct sockaddr *)&server, addr_len(&server)), 0);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_OK);
  ck_assert_uint_eq(user.bytes[0], 0);

  /* And a zero-byte send reaches the peer as one. */
  {
    static sock_addr_t to;
    to = addr_of_raw(raw);
    user_to = &to;
  }
  user_start(rt, s, 1, 0, 1);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_OK);
  from_len = (int)sizeof from;
  ck_assert_int_eq(recvfrom(raw, in, sizeof in, 0, (struct sockaddr *)&from, &from_len), 0);
  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* ---- Connected sockets ------------------------------------------------------------------- */

/* Two cosock sockets connected to each other: sends with no address reach
 * the peer, receives with no address buffer take its datagrams, and a
 * third socket's datagram to a connected socket is not delivered (the
 * association filters it). Dissolving the association lets it in again;
 * a send with no address on an unconnected socket fails at once. */
START_TEST(udp_connected_sockets_send_and_receive_without_addresses)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *a = NULL, *b = NULL;
  sock_addr_t addr_a, addr_b;
  SOCKET stranger = raw_udp(AF_INET, 5000);

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &a), CO_OK);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &b), CO_OK);
  addr_a = addr_of(a);
  addr_b = addr_of(b);

  /* Not connected yet: no default peer. */
  user_start(rt, a, 1, 5, 1);
  test_wait(&user.tt, TEST_WAIT_MS);
  printf("send without a peer: %s (win32 %lu)\n", co_errname(user.errors[0]), user.win32[0]);
  ck_assert_int_eq(user.errors[0], CO_ENOTCONN);

  ck_assert_int_eq(sock_udp_connect(a, &addr_b), CO_OK);
  ck_assert_int_eq(sock_udp_connect(b, &addr_a), CO_OK);

  /* b receives; the stranger's datagram comes first but is dropped. */
  user_start(rt, b, 0, 64, 1);
  user_wait_parked(rt, 1, 2);
  ck_assert_int_eq(sendto(stranger, "stranger", 8, 0, (struct sockaddr *)&addr_b,
                          addr_len(&addr_b)), 8);
  Sleep(50);
  ck_assert_msg(!test_finished(&user.tt), "a connected socket took a stranger's datagram");
  {
    static udp_user_t sender;
    HANDLE done = sender.tt.done;
    memset(&sender, 0, sizeof sender);
    sender.tt.done = done;
    sender.sock = a;
    sender.sending = 1;
    sender.len = 7;
    sender.rounds = 1;
    memcpy(sender.buf[0], "from a!", 7);
    test_spawn(rt, &sender.tt, udp_user_step);
    test_wait(&sender.tt, TEST_WAIT_MS);
    ck_assert_int_eq(sender.errors[0], CO_OK);
    ck_assert_uint_eq(sender.bytes[0], 7);
    test_task_free_event(&sender.tt);
  }
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_OK);
  ck_assert_uint_eq(user.bytes[0], 7);
  ck_assert_msg(memcmp(user.buf[0], "from a!", 7) == 0, "wrong datagram");
  ck_assert_uint_eq(addr_port(&user.from), addr_port(&addr_a));

  /* Dissolved: the stranger gets through. */
  ck_assert_int_eq(sock_udp_connect(b, NULL), CO_OK);
  user_start(rt, b, 0, 64, 1);
  user_wait_parked(rt, 1, 2);
  ck_assert_int_eq(sendto(stranger, "stranger", 8, 0, (struct sockaddr *)&addr_b,
                          addr_len(&addr_b)), 8);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_OK);
  ck_assert_uint_eq(user.bytes[0], 8);

  closesocket(stranger);
  sock_close(a);
  sock_close(b);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* ---- Cancel, close, deadline ------------------------------------------------------------ */

/* A receive pending, ended three ways: sock_op_cancel (the socket then
 * still receives: the next datagram arrives in the task's second receive),
 * the task's deadline (CO_ETIMEDOUT, after about the time asked), and
 * sock_close (CO_ECANCELED, whatever the system calls it). Nothing is left
 * counted after each. */
START_TEST(udp_pending_receive_ends_on_cancel_deadline_and_close)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  sock_addr_t server;
  SOCKET raw = raw_udp(AF_INET, 5000);
  ULONGLONG t0;

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  server = addr_of(s);

  /* sock_op_cancel: this await only. */
  user_start(rt, s, 0, 64, 2);
  user_wait_parked(rt, 1, 1);
  ck_assert_int_eq(sock_op_cancel(&user.op), 1);
  user_wait_parked(rt, 2, 1);
  ck_assert_int_eq(sendto(raw, "after", 5, 0, (struct sockaddr *)&server, addr_len(&server)), 5);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_ECANCELED);
  ck_assert_int_eq(user.errors[1], CO_OK);
  ck_assert_uint_eq(user.bytes[1], 5);
  test_wait_counters(rt, 1, 0, 0, 5000);

  /* A deadline. */
  user_start(rt, s, 0, 64, 1);
  t0 = GetTickCount64();
  ck_assert_int_eq(sock_deadline_set(&user.tt.st, 150), CO_OK);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_int_eq(user.errors[0], CO_ETIMEDOUT);
  ck_assert_msg(GetTickCount64() - t0 >= 100, "timed out after %llu ms",
                (unsigned long long)(GetTickCount64() - t0));
  test_wait_counters(rt, 1, 0, 0, 5000);

  /* Close with the receive pending. */
  user_start(rt, s, 0, 64, 1);
  user_wait_parked(rt, 1, 1);
  sock_close(s);
  test_wait(&user.tt, TEST_WAIT_MS);
  printf("close with a receive pending: %s (win32 %lu)\n", co_errname(user.errors[0]),
         user.win32[0]);
  ck_assert_int_eq(user.errors[0], CO_ECANCELED);
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* The runtime's stop with receives pending on a socket nobody closed: the
 * tasks wake with CO_ECANCELED and the shutdown frees the socket. */
START_TEST(udp_shutdown_with_receives_pending_cancels_them)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  int i;

  ck_assert_int_eq(sock_udp_open(rt, "::1", 0, 0, &s), CO_OK);
  echo_start(rt, s);
  test_wait_counters(rt, 1, ECHO_TASKS, ECHO_TASKS, 5000);
  test_runtime_stop(rt);
  for (i = 0; i < ECHO_TASKS; i++) {
    test_wait(&echoers[i].tt, 0);
    ck_assert_int_eq(echoers[i].error, CO_ECANCELED);
    test_task_free_event(&echoers[i].tt);
  }
}
END_TEST

/* ---- The fault seam ---------------------------------------------------------------------- */

/* The Nth WSARecvFrom fails at once (WSAECONNRESET), the Nth WSASendTo
 * fails at once (WSAENETUNREACH), a receive's completion reports
 * ERROR_NETNAME_DELETED: each operation ends with the translated error and
 * the raw code, the ones before it work, and nothing is left counted. */
START_TEST(udp_nth_send_or_receive_failing_gives_its_error)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL;
  sock_addr_t server;
  static sock_addr_t to;
  SOCKET raw = raw_udp(AF_INET, 5000);
  char in[64];
  int i;

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  server = addr_of(s);
  to = addr_of_raw(raw);

  /* The third send fails. */
  sock_fault_nth(SOCK_SYS_WSASENDTO, 3, 1, WSAENETUNREACH);
  user_to = &to;
  user_start(rt, s, 1, 10, 4);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_uint_eq(sock_fault_calls(SOCK_SYS_WSASENDTO), 4);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_WSASENDTO), 1);
  sock_fault_reset();
  for (i = 0; i < 4; i++) {
    if (i == 2) {
      ck_assert_int_eq(user.errors[i], CO_ENETUNREACH);
      ck_assert_uint_eq(user.win32[i], WSAENETUNREACH);
    } else {
      ck_assert_int_eq(user.errors[i], CO_OK);
      ck_assert_int_eq(recv(raw, in, sizeof in, 0), 10);
    }
  }

  /* The second receive fails at once. */
  sock_fault_nth(SOCK_SYS_WSARECVFROM, 2, 1, WSAECONNRESET);
  user_start(rt, s, 0, 64, 3);
  user_wait_parked(rt, 1, 1);
  ck_assert_int_eq(sendto(raw, "one", 3, 0, (struct sockaddr *)&server, addr_len(&server)), 3);
  user_wait_parked(rt, 3, 1);
  ck_assert_int_eq(sendto(raw, "three", 5, 0, (struct sockaddr *)&server, addr_len(&server)), 5);
  test_wait(&user.tt, TEST_WAIT_MS);
  sock_fault_reset();
  ck_assert_int_eq(user.errors[0], CO_OK);
  ck_assert_int_eq(user.errors[1], CO_ECONNRESET);
  ck_assert_uint_eq(user.win32[1], WSAECONNRESET);
  ck_assert_int_eq(user.errors[2], CO_OK);
  ck_assert_uint_eq(user.bytes[2], 5);

  /* A receive's completion fails. */
  user_start(rt, s, 0, 64, 1);
  user_wait_parked(rt, 1, 1);
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, ERROR_NETNAME_DELETED);
  ck_assert_int_eq(sendto(raw, "x", 1, 0, (struct sockaddr *)&server, addr_len(&server)), 1);
  test_wait(&user.tt, TEST_WAIT_MS);
  sock_fault_reset();
  ck_assert_int_eq(user.errors[0], CO_ECONNRESET);
  ck_assert_uint_eq(user.win32[0], ERROR_NETNAME_DELETED);

  /* A socket that cannot be made, bound or given an IO object. */
  {
    sock_t *none = s;
    sock_fault_nth(SOCK_SYS_WSASOCKETW, 1, 1, WSAEMFILE);
    ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &none), CO_ENOBUFS);
    ck_assert_ptr_null(none);
    sock_fault_nth(SOCK_SYS_BIND, 1, 1, WSAEADDRINUSE);
    ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &none), CO_EADDRINUSE);
    sock_fault_nth(SOCK_SYS_CREATETHREADPOOLIO, 1, 1, 0);
    ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &none), CO_ENOMEM);
    sock_fault_nth(SOCK_SYS_CALLOC, 1, 1, 0);
    ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &none), CO_ENOMEM);
    sock_fault_reset();
    ck_assert_ptr_null(none);
  }

  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* ---- Bad input and options ----------------------------------------------------------------- */

/* Every misuse is refused at once with CO_EINVAL (or CO_EMSGSIZE for a
 * datagram too long for UDP), op.error set, no completion, nothing counted:
 * a stream operation on a UDP socket, a datagram operation on a TCP
 * socket, a zero-length receive buffer, an unknown flag, a TTL out of
 * range, an address of no known family. */
START_TEST(udp_misuse_is_refused_at_once)
{
  sock_runtime_t *rt = test_runtime_start();
  static sock_op_t op;
  static char buf[70000];
  static test_task_t st;
  sock_t *s = NULL, *tcp = NULL;
  sock_addr_t bad, v4;
  SOCKET raw;

  tcp = test_pair(rt, &raw);  /* first: it expects to be the only socket */
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0x80, &s), CO_EINVAL);
  ck_assert_ptr_null(s);
  ck_assert_int_eq(sock_udp_open(NULL, "127.0.0.1", 0, 0, &s), CO_EINVAL);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, NULL), CO_EINVAL);
  ck_assert_int_eq(sock_udp_open(rt, "no-such-host.invalid", 0, 0, &s), CO_ENOTFOUND);
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &s), CO_OK);
  ck_assert_int_eq(sock_recv_start(&op, s, buf, 10, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(op.error, CO_EINVAL);
  ck_assert_int_eq(sock_udp_recv_from_start(&op, tcp, buf, 10, NULL, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_udp_recv_from_start(&op, s, buf, 0, NULL, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_udp_recv_from_start(&op, s, NULL, 10, NULL, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_udp_recv_from_start(&op, s, buf, 10, NULL, NULL), CO_EINVAL);
  ck_assert_int_eq(sock_udp_recv_from_start(NULL, s, buf, 10, NULL, &st.st.task), CO_EINVAL);
  memset(&bad, 0, sizeof bad);
  bad.si_family = 99;
  ck_assert_int_eq(sock_udp_send_to_start(&op, s, buf, 10, &bad, &st.st.task), CO_EINVAL);
  v4 = addr_of(s);
  ck_assert_int_eq(sock_udp_send_to_start(&op, s, buf, 65508, &v4, &st.st.task), CO_EMSGSIZE);
  ck_assert_int_eq(op.error, CO_EMSGSIZE);
  ck_assert_int_eq(sock_udp_connect(tcp, &v4), CO_EINVAL);
  ck_assert_int_eq(sock_udp_connect(s, &bad), CO_EINVAL);
  ck_assert_int_eq(sock_udp_set_ttl(s, 0), CO_EINVAL);
  ck_assert_int_eq(sock_udp_set_ttl(s, 256), CO_EINVAL);
  ck_assert_int_eq(sock_udp_set_ttl(s, 7), CO_OK);
  ck_assert_int_eq(sock_udp_set_ttl(tcp, 7), CO_EINVAL);
  ck_assert_int_eq(sock_udp_set_broadcast(s, 1), CO_OK);
  ck_assert_int_eq(sock_udp_set_broadcast(NULL, 1), CO_EINVAL);
  test_wait_counters(rt, 2, 0, 0, 5000);
  closesocket(raw);
  sock_close(tcp);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* A dual-stack socket bound to "::" receives an IPv4 datagram (the sender
 * appears as an IPv4-mapped IPv6 address) and answers it; an IPv6 socket
 * opened without the flag refuses an IPv4 destination. */
START_TEST(udp_dualstack_socket_serves_ipv4_too)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *s = NULL, *v6only = NULL;
  sock_addr_t server, to4;
  SOCKET raw = raw_udp(AF_INET, 5000);
  char in[16];

  ck_assert_int_eq(sock_udp_open(rt, NULL, 0, SOCK_UDP_DUALSTACK, &s), CO_OK);
  server = addr_of(s);
  ck_assert_int_eq(server.si_family, AF_INET6);
  memset(&to4, 0, sizeof to4);
  to4.Ipv4.sin_family = AF_INET;
  to4.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to4.Ipv4.sin_port = server.Ipv6.sin6_port;
  echo_start(rt, s);
  test_wait_counters(rt, 1, ECHO_TASKS, ECHO_TASKS, 5000);
  ck_assert_int_eq(sendto(raw, "v4 in", 5, 0, (struct sockaddr *)&to4, (int)sizeof to4.Ipv4), 5);
  ck_assert_int_eq(recv(raw, in, sizeof in, 0), 5);
  ck_assert_msg(memcmp(in, "v4 in", 5) == 0, "echo differs");
  ck_assert_int_eq(echo_last_family, AF_INET6);  /* an IPv4-mapped IPv6 address */
  closesocket(raw);
  echo_stop(rt, s);

  ck_assert_int_eq(sock_udp_open(rt, "::1", 0, 0, &v6only), CO_OK);
  user_to = &to4;
  user_start(rt, v6only, 1, 3, 1);
  test_wait(&user.tt, TEST_WAIT_MS);
  printf("IPv4 destination on an IPv6-only socket: %s (win32 %lu)\n",
         co_errname(user.errors[0]), user.win32[0]);
  ck_assert_int_lt(user.errors[0], 0);
  sock_close(v6only);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* SOCK_UDP_REUSEADDR: a second socket with the flag binds the same port;
 * without it (SO_EXCLUSIVEADDRUSE) the second bind is CO_EADDRINUSE. The
 * options read back from the socket: broadcast on, the TTL set, exclusive
 * use on by default. */
START_TEST(udp_reuseaddr_shares_a_port_and_options_read_back)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *a = NULL, *b = NULL;
  unsigned short port;
  int value, len;

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, 0, &a), CO_OK);
  {
    sock_addr_t where = addr_of(a);
    port = addr_port(&where);
  }
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", port, 0, &b), CO_EADDRINUSE);
  ck_assert_ptr_null(b);
  value = 0;
  len = (int)sizeof value;
  ck_assert_int_eq(getsockopt(sock_os_socket(a), SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (char *)&value,
                              &len), 0);
  ck_assert_int_ne(value & 0xff, 0);
  ck_assert_int_eq(sock_udp_set_broadcast(a, 1), CO_OK);
  value = 0;
  len = (int)sizeof value;
  ck_assert_int_eq(getsockopt(sock_os_socket(a), SOL_SOCKET, SO_BROADCAST, (char *)&value, &len),
                   0);
  ck_assert_int_ne(value & 0xff, 0);
  ck_assert_int_eq(sock_udp_set_ttl(a, 9), CO_OK);
  value = 0;
  len = (int)sizeof value;
  ck_assert_int_eq(getsockopt(sock_os_socket(a), IPPROTO_IP, IP_TTL, (char *)&value, &len), 0);
  ck_assert_int_eq(value, 9);
  sock_close(a);
  test_wait_counters(rt, 0, 0, 0, 5000);

  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", 0, SOCK_UDP_REUSEADDR | SOCK_UDP_CONNRESET, &a),
                   CO_OK);
  {
    sock_addr_t where = addr_of(a);
    port = addr_port(&where);
  }
  ck_assert_int_eq(sock_udp_open(rt, "127.0.0.1", port, SOCK_UDP_REUSEADDR, &b), CO_OK);
  sock_close(a);
  sock_close(b);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_udp");
  TCase *tc;

  tc = tcase_create("udp_echo_1000_random_datagrams_ipv4");
  tcase_add_test(tc, udp_echo_1000_random_datagrams_ipv4);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_echo_1000_random_datagrams_ipv6");
  tcase_add_test(tc, udp_echo_1000_random_datagrams_ipv6);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_truncated_datagram_keeps_its_first_bytes_and_says_emsgsize");
  tcase_add_test(tc, udp_truncated_datagram_keeps_its_first_bytes_and_says_emsgsize);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_empty_datagram_is_received_as_zero_bytes");
  tcase_add_test(tc, udp_empty_datagram_is_received_as_zero_bytes);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_connected_sockets_send_and_receive_without_addresses");
  tcase_add_test(tc, udp_connected_sockets_send_and_receive_without_addresses);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_pending_receive_ends_on_cancel_deadline_and_close");
  tcase_add_test(tc, udp_pending_receive_ends_on_cancel_deadline_and_close);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_shutdown_with_receives_pending_cancels_them");
  tcase_add_test(tc, udp_shutdown_with_receives_pending_cancels_them);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_nth_send_or_receive_failing_gives_its_error");
  tcase_add_test(tc, udp_nth_send_or_receive_failing_gives_its_error);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_misuse_is_refused_at_once");
  tcase_add_test(tc, udp_misuse_is_refused_at_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_reuseaddr_shares_a_port_and_options_read_back");
  tcase_add_test(tc, udp_reuseaddr_shares_a_port_and_options_read_back);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_dualstack_socket_serves_ipv4_too");
  tcase_add_test(tc, udp_dualstack_socket_serves_ipv4_too);
  suite_add_tcase(s, tc);
  return s;
}

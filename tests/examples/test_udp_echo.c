/*
 * tests/examples/test_udp_echo.c - udp_echo end to end: its flags, 300
 * datagrams of every size up to 8,000 bytes from several senders at once,
 * each echo verified and coming from the server's address, IPv6 and
 * dual-stack, and the clean stop (exit 0 only when the counters were back
 * at zero). Clients we did not write (socat, nc -u) are driven by
 * tests/examples/udp_native_clients.sh.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"
#include "../sock/sock_test.h"

enum { EXIT_MS = 20000, SENDERS = 4, PER_SENDER = 75 };

/* --help exits 0 and names every flag; wrong flags exit 2. */
START_TEST(udp_echo_flags)
{
  static const char *const names[] = {"--host", "--port", "--receivers", "--dual-stack",
                                      "--no-stdin", "--verbose", "--help"};
  ex_proc_t *p = ex_run_expect("udp_echo", "--help", EXIT_MS, 0);
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_msg(strstr(ex_stdout(p), names[i]) != NULL, "--help does not mention %s", names[i]);
  ex_free(p);
  p = ex_run_expect("udp_echo", "--bogus", EXIT_MS, 2);
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "unknown flag --bogus"));
  ex_free(p);
  ex_free(ex_run_expect("udp_echo", "--port 70000", EXIT_MS, 2));
  ex_free(ex_run_expect("udp_echo", "--receivers 0", EXIT_MS, 2));
  ex_free(ex_run_expect("udp_echo", "--port", EXIT_MS, 2));
}
END_TEST

typedef struct sender {
  int            family;
  unsigned short port;
  int            id;
  volatile LONG  verified;
  char           error[160];
} sender_t;

/* One sender thread: PER_SENDER datagrams of sizes spread up to 8,000,
 * each echo compared byte for byte. No Check asserts off the test thread. */
static DWORD WINAPI sender_main(LPVOID arg)
{
  sender_t *s = (sender_t *)arg;
  static char outs[SENDERS][8000], ins[SENDERS][8001];
  char *out = outs[s->id], *in = ins[s->id];
  sock_addr_t to;
  DWORD timeout = 5000;
  SOCKET h = socket(s->family, SOCK_DGRAM, IPPROTO_UDP);
  int i, j;
  memset(&to, 0, sizeof to);
  to.si_family = (ADDRESS_FAMILY)s->family;
  if (s->family == AF_INET6) {
    to.Ipv6.sin6_addr = in6addr_loopback;
    to.Ipv6.sin6_port = htons(s->port);
  } else {
    to.Ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.Ipv4.sin_port = htons(s->port);
  }
  setsockopt(h, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof timeout);
  for (i = 0; i < PER_SENDER; i++) {
    int len = 1 + (int)(((unsigned)i * 2654435761u + (unsigned)s->id * 977u) % 8000u);
    int n;
    for (j = 0; j < len; j++)
      out[j] = (char)test_pattern((unsigned long)(s->id * 1000 + i), (unsigned long)j);
    n = sendto(h, out, len, 0, (struct sockaddr *)&to,
               s->family == AF_INET6 ? (int)sizeof to.Ipv6 : (int)sizeof to.Ipv4);
    if (n != len) {
      snprintf(s->error, sizeof s->error, "sender %d: sendto %d of %d (error %d)", s->id, n, len,
               WSAGetLastError());
      break;
    }
    n = recv(h, in, 8001, 0);
    if (n != len || memcmp(in, out, (size_t)len) != 0) {
      snprintf(s->error, sizeof s->error, "sender %d: datagram %d: %d bytes back of %d (error %d)",
               s->id, i, n, len, WSAGetLastError());
      break;
    }
    InterlockedIncrement(&s->verified);
  }
  closesocket(h);
  return 0;
}

static void echo_from_senders(const char *args, int family)
{
  static sender_t senders[SENDERS];
  HANDLE threads[SENDERS];
  unsigned short port;
  WSADATA wsa;
  ex_proc_t *srv;
  int i, code;
  long total = 0;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  srv = ex_start_server("udp_echo", args, &port);
  for (i = 0; i < SENDERS; i++) {
    memset(&senders[i], 0, sizeof senders[i]);
    senders[i].family = family;
    senders[i].port = port;
    senders[i].id = i;
    threads[i] = CreateThread(NULL, 0, sender_main, &senders[i], 0, NULL);
    ck_assert_ptr_nonnull(threads[i]);
  }
  ck_assert(WaitForMultipleObjects(SENDERS, threads, TRUE, 60000) == WAIT_OBJECT_0);
  for (i = 0; i < SENDERS; i++) {
    CloseHandle(threads[i]);
    ck_assert_msg(senders[i].error[0] == '\0', "%s", senders[i].error);
    total += senders[i].verified;
  }
  ck_assert_int_eq(total, SENDERS * PER_SENDER);
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "300 datagrams echoed, 0 errors"));
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "0 sockets, 0 tasks, 0 pending operations"));
  ex_free(srv);
  WSACleanup();
}

/* Four senders at once, 75 datagrams each of sizes up to 8,000 bytes, over
 * IPv4: every echo verified; the server exits 0 at end of stdin. */
START_TEST(udp_echo_verifies_many_senders_ipv4)
{
  echo_from_senders("--port 0 --verbose", AF_INET);
}
END_TEST

/* The same over IPv6 loopback. */
START_TEST(udp_echo_verifies_many_senders_ipv6)
{
  echo_from_senders("--host ::1 --port 0 --verbose", AF_INET6);
}
END_TEST

/* A dual-stack server on "::" answers IPv4 senders. */
START_TEST(udp_echo_dual_stack_serves_ipv4)
{
  echo_from_senders("--host :: --dual-stack --port 0 --verbose --receivers 2", AF_INET);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_udp_echo");
  TCase *tc;

  tc = tcase_create("udp_echo_flags");
  tcase_add_test(tc, udp_echo_flags);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_echo_verifies_many_senders_ipv4");
  tcase_add_test(tc, udp_echo_verifies_many_senders_ipv4);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_echo_verifies_many_senders_ipv6");
  tcase_add_test(tc, udp_echo_verifies_many_senders_ipv6);
  suite_add_tcase(s, tc);

  tc = tcase_create("udp_echo_dual_stack_serves_ipv4");
  tcase_add_test(tc, udp_echo_dual_stack_serves_ipv4);
  suite_add_tcase(s, tc);
  return s;
}

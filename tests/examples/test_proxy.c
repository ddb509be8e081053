/*
 * tests/examples/test_proxy.c - tcp_proxy in front of echo_server, end to end.
 *
 * The test starts echo_server and tcp_proxy (forwarding to it) as programs,
 * and plays the clients itself: 100 concurrent cosock tasks that each verify
 * their echo byte for byte, a plain socket that half-closes, a client of a
 * proxy whose target is gone. Both programs must exit 0 when their stdin is
 * closed (every session cleaned up, counters at zero).
 *
 * ctest-timeout: 120
 */
#include "example_test.h"
#include "../sock/sock_test.h"

enum { EXIT_MS = 20000 };

/* Starts echo_server, and tcp_proxy in front of it; *port is the proxy's. */
static void start_pair(ex_proc_t **srv, ex_proc_t **proxy, unsigned short *port)
{
  unsigned short echo_port;
  char args[128];
  *srv = ex_start_server("echo_server", "--port 0 --verbose", &echo_port);
  snprintf(args, sizeof args, "--port 0 --target-port %u --verbose", echo_port);
  *proxy = ex_start_server("tcp_proxy", args, port);
}

static void stop_pair(ex_proc_t *srv, ex_proc_t *proxy)
{
  int code = ex_stop(proxy, EXIT_MS);
  EX_ASSERT_EXIT(proxy, code, 0);
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ex_free(proxy);
  ex_free(srv);
}

/* ---- Flags ------------------------------------------------------------------ */

START_TEST(tcp_proxy_flags)
{
  static const char *const names[] = {"--host", "--port", "--target-host", "--target-port",
                                      "--no-stdin", "--verbose", "--help"};
  ex_proc_t *p;
  size_t i;
  p = ex_run_expect("tcp_proxy", "--help", EXIT_MS, 0);
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_msg(strstr(ex_stdout(p), names[i]) != NULL, "--help does not mention %s", names[i]);
  ex_free(p);
  p = ex_run_expect("tcp_proxy", "--port 0", EXIT_MS, 2);   /* --target-port is required */
  ex_free(p);
  p = ex_run_expect("tcp_proxy", "--target-port 1 --frobnicate", EXIT_MS, 2);
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "usage: tcp_proxy"));
  ex_free(p);
  p = ex_run_expect("tcp_proxy", "--target-port 0", EXIT_MS, 2);
  ex_free(p);
}
END_TEST

/* ---- 100 concurrent clients ---------------------------------------------------- */

enum { CLIENTS = 100, MESSAGES = 10, MSG_SIZE = 1500 };

typedef struct client {
  test_task_t    tt;          /* first: the runtime's part + a done event */
  unsigned short port;
  unsigned long  id;
  int            m;           /* message number: survives awaits */
  sock_t        *sock;
  sock_op_t      op;
  char           out[MSG_SIZE], in[MSG_SIZE];
  int            error;       /* CO_OK, or the first failure */
  int            mismatch;    /* 1 if an echo differed */
} client_t;

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  int i;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&c->op, c->tt.st.runtime, "127.0.0.1", c->port, &c->sock, t));
  if (c->op.error < 0)
    CO_EXIT(t, c->error = c->op.error);
  for (c->m = 0; c->m < MESSAGES; c->m++) {
    for (i = 0; i < MSG_SIZE; i++)
      c->out[i] = (char)test_pattern(c->id * 1000 + (unsigned long)c->m, (unsigned long)i);
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, sizeof c->out, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, sizeof c->in, t));
    if (c->op.error < 0)
      break;
    if (memcmp(c->in, c->out, sizeof c->in) != 0) {
      c->mismatch = 1;
      break;
    }
  }
  c->error = c->op.error;
  sock_close(c->sock);
  CO_END(t);
}

/* 100 cosock tasks in the test connect through the proxy at once, each
 * ping-pongs 10 messages of 1500 bytes with its own pattern; every byte must
 * come back. Then both programs exit 0 (the proxy served 100 sessions). */
START_TEST(proxy_100_concurrent_clients)
{
  static client_t *clients[CLIENTS];
  ex_proc_t *srv, *proxy;
  unsigned short port;
  sock_runtime_t *rt;
  int i, failed = 0;
  start_pair(&srv, &proxy, &port);
  rt = test_runtime_start();
  for (i = 0; i < CLIENTS; i++) {
    clients[i] = (client_t *)calloc(1, sizeof *clients[i]);
    ck_assert_ptr_nonnull(clients[i]);
    clients[i]->port = port;
    clients[i]->id = (unsigned long)i;
  }
  for (i = 0; i < CLIENTS; i++)   /* all spawned before any is waited for */
    test_spawn(rt, &clients[i]->tt, client_step);
  for (i = 0; i < CLIENTS; i++) {
    test_wait(&clients[i]->tt, 60000);
    if (clients[i]->error != CO_OK || clients[i]->mismatch) {
      if (failed++ == 0)
        fprintf(stderr, "client %d: %s, mismatch %d\n", i, co_errname(clients[i]->error),
                clients[i]->mismatch);
    }
  }
  ck_assert_msg(failed == 0, "%d of %d clients failed; proxy stderr:\n%s", failed, CLIENTS,
                ex_stderr(proxy));
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  for (i = 0; i < CLIENTS; i++) {
    test_task_free_event(&clients[i]->tt);
    free(clients[i]);
  }
  stop_pair(srv, proxy);
}
END_TEST

/* ---- Half-close ------------------------------------------------------------------ */

/* Through the proxy: the client sends 100 KB, shuts down its send side, and
 * still receives the whole echo, then end of stream. The proxy turned the
 * client's end of stream into a shutdown towards the server, kept the other
 * direction going, and passed the server's end of stream back. */
START_TEST(proxy_half_close)
{
  enum { TOTAL = 100000 };
  static char out[TOTAL], in[TOTAL + 1];
  ex_proc_t *srv, *proxy;
  unsigned short port;
  WSADATA wsa;
  SOCKET s;
  DWORD ms = 15000;
  long got = 0, sent = 0;
  int n, i;
  start_pair(&srv, &proxy, &port);
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  for (i = 0; i < TOTAL; i++)
    out[i] = (char)test_pattern(3, (unsigned long)i);
  s = test_raw_connect(port);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  while (sent < TOTAL) {
    n = (int)(TOTAL - sent < 7777 ? TOTAL - sent : 7777);
    test_raw_send(s, out + sent, n);
    sent += n;
  }
  ck_assert_int_eq(shutdown(s, SD_SEND), 0);
  while ((n = recv(s, in + got, (int)(sizeof in - (size_t)got), 0)) > 0)
    got += n;
  ck_assert_msg(n == 0, "recv ended with %d (error %d) after %ld bytes", n, WSAGetLastError(),
                got);
  ck_assert_int_eq(got, TOTAL);
  ck_assert(memcmp(in, out, TOTAL) == 0);
  closesocket(s);
  WSACleanup();
  stop_pair(srv, proxy);
}
END_TEST

/* ---- A target that is not there -------------------------------------------------- */

/* The proxy cannot connect to its target: it logs "connection refused" and
 * closes the client's connection (the client sees it end); then it exits 0. */
START_TEST(proxy_target_refused)
{
  ex_proc_t *proxy;
  unsigned short port, dead_port;
  WSADATA wsa;
  SOCKET l, s;
  DWORD ms = 15000;
  char buf[16], args[96];
  int code;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  l = test_raw_listen(1, &dead_port);
  closesocket(l);                      /* a port where nobody listens now */
  snprintf(args, sizeof args, "--port 0 --target-port %u", dead_port);
  proxy = ex_start_server("tcp_proxy", args, &port);
  s = test_raw_connect(port);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  ck_assert_int_le(recv(s, buf, sizeof buf, 0), 0);  /* end of stream or reset */
  closesocket(s);
  code = ex_stop(proxy, EXIT_MS);
  EX_ASSERT_EXIT(proxy, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(proxy), "connect to the target: connection refused"));
  ex_free(proxy);
  WSACleanup();
}
END_TEST

/* ---- echo_client through the proxy ------------------------------------------------ */

/* The example client through the example proxy: 10 connections, messages
 * larger than the proxy's chunk, every byte verified. */
START_TEST(proxy_with_echo_client)
{
  ex_proc_t *srv, *proxy, *cli;
  unsigned short port;
  int code;
  start_pair(&srv, &proxy, &port);
  cli = ex_start("echo_client", "--port %u --connections 10 --messages 30 --size 40000", port);
  code = ex_wait_exit(cli, 60000);
  EX_ASSERT_EXIT(cli, code, 0);
  ex_free(cli);
  stop_pair(srv, proxy);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_proxy");
  TCase *tc;
  tc = tcase_create("tcp_proxy_flags");
  tcase_add_test(tc, tcp_proxy_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("proxy_100_concurrent_clients");
  tcase_add_test(tc, proxy_100_concurrent_clients);
  suite_add_tcase(s, tc);
  tc = tcase_create("proxy_half_close");
  tcase_add_test(tc, proxy_half_close);
  suite_add_tcase(s, tc);
  tc = tcase_create("proxy_target_refused");
  tcase_add_test(tc, proxy_target_refused);
  suite_add_tcase(s, tc);
  tc = tcase_create("proxy_with_echo_client");
  tcase_add_test(tc, proxy_with_echo_client);
  suite_add_tcase(s, tc);
  return s;
}

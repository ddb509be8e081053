/*
 * tests/examples/test_echo.c - echo_server and echo_client, end to end.
 *
 * Each case starts the real programs (tests/examples/example_test.h) and
 * drives them over loopback: the client against the server with every byte
 * verified, the server against plain sockets of the test (half-close, a
 * connection still open at stop), the client against a server that lies.
 * A server passes only if it exits 0 after its stdin is closed, which it does
 * only when every connection was cleaned up and the runtime's counters were
 * back at zero.
 *
 * The server cases run against another server program too: test_echo_cpp.c
 * defines ECHO_SERVER (its name) and ECHO_SERVER_CASES_ONLY, includes this
 * file and registers them for echo_server_cpp.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"
#include "../sock/sock_test.h"

#ifndef ECHO_SERVER
#  define ECHO_SERVER "echo_server"  /* the server program under test */
#endif

enum { EXIT_MS = 20000 };

/* A receive timeout, so a broken server fails the test instead of hanging it. */
static void raw_timeout(SOCKET s, DWORD ms)
{
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
}

/* Receives until end of stream; returns the byte count (or -1 on error). */
static long raw_recv_to_eof(SOCKET s, char *buf, long cap)
{
  long got = 0;
  for (;;) {
    int n = recv(s, buf + got, (int)(cap - got > 65536 ? 65536 : cap - got), 0);
    if (n == 0)
      return got;
    if (n < 0)
      return -1;
    got += n;
    if (got == cap) {   /* full: the next byte must be end of stream */
      char extra;
      n = recv(s, &extra, 1, 0);
      return n == 0 ? got : -1;
    }
  }
}

/* Sends `total` pattern bytes in uneven chunks, half-closes, and checks that
 * exactly the same bytes come back followed by end of stream. The test's
 * side of "client sends, shuts down its send side, still gets everything". */
static void half_close_round(unsigned short port, long total)
{
  char *out = (char *)malloc((size_t)total), *in = (char *)malloc((size_t)total);
  SOCKET s;
  long i, sent = 0, got;
  ck_assert(out != NULL && in != NULL);
  for (i = 0; i < total; i++)
    out[i] = (char)test_pattern(7, (unsigned long)i);
  s = test_raw_connect(port);
  raw_timeout(s, 15000);
  while (sent < total) {
    int chunk = (int)(1 + (sent * 13) % 5000);
    if (chunk > total - sent)
      chunk = (int)(total - sent);
    test_raw_send(s, out + sent, chunk);
    sent += chunk;
  }
  ck_assert_int_eq(shutdown(s, SD_SEND), 0);
  got = raw_recv_to_eof(s, in, total);
  ck_assert_msg(got == total, "got %ld bytes back before end of stream, sent %ld (error %d)",
                got, total, WSAGetLastError());
  ck_assert_msg(memcmp(in, out, (size_t)total) == 0, "the echo differs from what was sent");
  closesocket(s);
  free(out);
  free(in);
}

/* ---- Flags ------------------------------------------------------------------ */

/* --help exits 0 and names every flag; wrong flags exit 2 with the usage on
 * stderr. */
START_TEST(echo_server_flags)
{
  static const char *const names[] = {"--host", "--port", "--idle-friendly", "--no-stdin",
                                      "--verbose", "--help"};
  ex_proc_t *p = ex_run_expect(ECHO_SERVER, "--help", EXIT_MS, 0);
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_msg(strstr(ex_stdout(p), names[i]) != NULL, "--help does not mention %s", names[i]);
  ex_free(p);
  p = ex_run_expect(ECHO_SERVER, "--bogus", EXIT_MS, 2);
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "unknown flag --bogus"));
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "usage: " ECHO_SERVER));
  ex_free(p);
  ex_free(ex_run_expect(ECHO_SERVER, "--port 70000", EXIT_MS, 2));
  ex_free(ex_run_expect(ECHO_SERVER, "--port -1", EXIT_MS, 2));
  ex_free(ex_run_expect(ECHO_SERVER, "--port", EXIT_MS, 2));
}
END_TEST

#ifndef ECHO_SERVER_CASES_ONLY
START_TEST(echo_client_flags)
{
  static const char *const names[] = {"--host", "--port", "--connections", "--messages",
                                      "--size", "--timeout", "--help"};
  ex_proc_t *p = ex_run_expect("echo_client", "--help", EXIT_MS, 0);
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_msg(strstr(ex_stdout(p), names[i]) != NULL, "--help does not mention %s", names[i]);
  ex_free(p);
  ex_free(ex_run_expect("echo_client", "", EXIT_MS, 2));                    /* --port is required */
  ex_free(ex_run_expect("echo_client", "--port 1 --connections 0", EXIT_MS, 2));
  ex_free(ex_run_expect("echo_client", "--port 1 --size 12x", EXIT_MS, 2));
  ex_free(ex_run_expect("echo_client", "--port 1 extra", EXIT_MS, 2));
}
END_TEST
#endif /* ECHO_SERVER_CASES_ONLY */

/* ---- The pair ------------------------------------------------------------------ */

/* One connection, 500 round trips of 64 bytes, every byte verified; the
 * client prints its rate and exits 0; the server exits 0 at end of stdin
 * and reports its framework bytes. */
START_TEST(echo_pair_one_connection)
{
  unsigned short port;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0 --verbose", &port);
  ex_proc_t *cli = ex_start("echo_client", "--port %u --messages 500", port);
  int code = ex_wait_exit(cli, EXIT_MS);
  EX_ASSERT_EXIT(cli, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(cli), "500 round trips"));
  ck_assert_ptr_nonnull(strstr(ex_stdout(cli), "all bytes verified"));
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "1 connections accepted, 0 errors"));
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "0 sockets, 0 tasks, 0 pending operations"));
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "framework bytes per connection: "));
  ex_free(cli);
  ex_free(srv);
}
END_TEST

/* Several connections at once, messages larger than one receive (the echo
 * comes back in pieces: receive-exactly reassembles it), then a second
 * client run against the same server. */
START_TEST(echo_pair_many_connections)
{
  unsigned short port;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0 --verbose", &port);
  ex_proc_t *cli = ex_start("echo_client", "--port %u --connections 20 --messages 40 --size 10000",
                            port);
  int code = ex_wait_exit(cli, 40000);
  EX_ASSERT_EXIT(cli, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(cli), "800 round trips"));
  ex_free(cli);
  cli = ex_start("echo_client", "--port %u --connections 8 --messages 100 --size 1", port);
  code = ex_wait_exit(cli, 40000);
  EX_ASSERT_EXIT(cli, code, 0);
  ex_free(cli);
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "28 connections accepted, 0 errors"));
  ex_free(srv);
}
END_TEST

/* The same with --idle-friendly (a zero-byte receive before each receive). */
START_TEST(echo_pair_idle_friendly)
{
  unsigned short port;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0 --idle-friendly", &port);
  ex_proc_t *cli = ex_start("echo_client", "--port %u --connections 4 --messages 100 --size 300",
                            port);
  int code = ex_wait_exit(cli, EXIT_MS);
  EX_ASSERT_EXIT(cli, code, 0);
  ex_free(cli);
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ex_free(srv);
}
END_TEST

/* ---- The server against the test's own sockets ------------------------------------ */

/* A client sends 200 KB in uneven chunks, shuts down its send side, and
 * still receives the whole echo, then end of stream. */
START_TEST(echo_server_half_close)
{
  unsigned short port;
  WSADATA wsa;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0", &port);
  int code;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  half_close_round(port, 200000);
  half_close_round(port, 1);
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  WSACleanup();
  ex_free(srv);
}
END_TEST

/* Stop with connections still open: the server cancels them, frees
 * everything and exits 0; the clients see their connection end. */
START_TEST(echo_server_stops_with_open_connections)
{
  unsigned short port;
  WSADATA wsa;
  SOCKET s[3];
  char buf[16];
  int i, code;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0 --verbose", &port);
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  for (i = 0; i < 3; i++) {
    s[i] = test_raw_connect(port);
    raw_timeout(s[i], 15000);
    test_raw_send(s[i], "ping", 4);
    test_raw_recv(s[i], buf, 4);   /* the connection task is surely running */
  }
  code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "3 connections accepted"));
  for (i = 0; i < 3; i++) {
    ck_assert_int_le(recv(s[i], buf, sizeof buf, 0), 0);  /* end of stream or reset */
    closesocket(s[i]);
  }
  WSACleanup();
  ex_free(srv);
}
END_TEST

/* Nothing to do: the server starts, prints its port, and exits 0 when its
 * stdin is closed. */
START_TEST(echo_server_stops_at_end_of_stdin)
{
  unsigned short port;
  ex_proc_t *srv = ex_start_server(ECHO_SERVER, "--port 0", &port);
  int code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "framework bytes per connection"));
  ex_free(srv);
}
END_TEST

#ifndef ECHO_SERVER_CASES_ONLY
/* ---- The client catches what goes wrong --------------------------------------------- */

/* A liar: echoes everything but flips one bit at byte 1000 of the stream. */
static DWORD WINAPI lying_server(LPVOID arg)
{
  SOCKET l = (SOCKET)(ULONG_PTR)arg, c = accept(l, NULL, NULL);
  char buf[4096];
  long offset = 0;
  int n;
  if (c == INVALID_SOCKET)
    return 1;
  while ((n = recv(c, buf, sizeof buf, 0)) > 0) {
    if (offset <= 1000 && 1000 < offset + n)
      buf[1000 - offset] ^= 0x10;
    offset += n;
    if (send(c, buf, n, 0) != n)
      break;
  }
  closesocket(c);
  return 0;
}

/* The client verifies every byte: one flipped bit makes it exit 1 and say
 * which byte; nobody listening makes it exit 1 with "connection refused". */
START_TEST(echo_client_detects_errors)
{
  unsigned short port;
  WSADATA wsa;
  SOCKET l;
  HANDLE th;
  ex_proc_t *cli;
  int code;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  l = test_raw_listen(4, &port);
  th = CreateThread(NULL, 0, lying_server, (LPVOID)(ULONG_PTR)l, 0, NULL);
  ck_assert_ptr_nonnull(th);
  cli = ex_start("echo_client", "--port %u --messages 100 --size 64", port);
  code = ex_wait_exit(cli, EXIT_MS);
  EX_ASSERT_EXIT(cli, code, 1);
  ck_assert_ptr_nonnull(strstr(ex_stderr(cli), "message 15: byte 40 is"));  /* 1000 = 15*64 + 40 */
  ck_assert_ptr_nonnull(strstr(ex_stdout(cli), "FAILED"));
  ex_free(cli);
  ck_assert_int_eq(WaitForSingleObject(th, 10000), WAIT_OBJECT_0);
  CloseHandle(th);
  closesocket(l);  /* now nobody listens on that port */

  cli = ex_start("echo_client", "--port %u", port);
  code = ex_wait_exit(cli, EXIT_MS);
  EX_ASSERT_EXIT(cli, code, 1);
  ck_assert_ptr_nonnull(strstr(ex_stderr(cli), "connection refused"));
  ex_free(cli);
  WSACleanup();
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_echo");
  TCase *tc;
  tc = tcase_create("echo_server_flags");
  tcase_add_test(tc, echo_server_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_client_flags");
  tcase_add_test(tc, echo_client_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_pair_one_connection");
  tcase_add_test(tc, echo_pair_one_connection);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_pair_many_connections");
  tcase_add_test(tc, echo_pair_many_connections);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_pair_idle_friendly");
  tcase_add_test(tc, echo_pair_idle_friendly);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_server_half_close");
  tcase_add_test(tc, echo_server_half_close);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_server_stops_with_open_connections");
  tcase_add_test(tc, echo_server_stops_with_open_connections);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_server_stops_at_end_of_stdin");
  tcase_add_test(tc, echo_server_stops_at_end_of_stdin);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_client_detects_errors");
  tcase_add_test(tc, echo_client_detects_errors);
  suite_add_tcase(s, tc);
  return s;
}
#endif /* ECHO_SERVER_CASES_ONLY */

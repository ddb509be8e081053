/*
 * tests/examples/test_pipe_echo.c - pipe_echo, server and client, end to end.
 *
 * The real programs (tests/examples/example_test.h): a server on a pipe
 * name of the test's own, its client with every message verified (byte and
 * message mode, several connections over two instances, so clients also
 * wait for a free instance), a second server on a taken name, a client of a
 * name nobody serves, and the command line. A server passes only if it
 * exits 0 after its stdin is closed, which it does only when every client
 * was cleaned up and the runtime's counters were back at zero.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"

enum { EXIT_MS = 30000 };

static char name[64];

/* Starts a server on a new name and checks its first line. */
static ex_proc_t *start_pipe_server(const char *extra)
{
  static LONG counter;
  char line[256], want[128];
  ex_proc_t *p;
  snprintf(name, sizeof name, "cosock-e2e-%lu-%ld", (unsigned long)GetCurrentProcessId(),
           (long)InterlockedIncrement(&counter));
  p = ex_start("pipe_echo", "--name %s %s", name, extra);
  ck_assert_msg(ex_wait_line(p, line, sizeof line, EX_START_MS), "no first line; stderr:\n%s",
                ex_stderr(p));
  snprintf(want, sizeof want, "listening on \\\\.\\pipe\\%s", name);
  ck_assert_msg(strcmp(line, want) == 0, "first line \"%s\", expected \"%s\"", line, want);
  return p;
}

static void client_round(const char *mode, int connections, int messages)
{
  char args[256], want[96];
  ex_proc_t *c;
  snprintf(args, sizeof args, "--client --name %s %s --connections %d --messages %d --size 700",
           name, mode, connections, messages);
  c = ex_run_expect("pipe_echo", args, EXIT_MS, 0);
  snprintf(want, sizeof want, "pipe_echo: %d round trips verified", connections * messages);
  ck_assert_msg(strstr(ex_stdout(c), want) != NULL, "client said:\n%s\n%s", ex_stdout(c),
                ex_stderr(c));
  ex_free(c);
}

/* Three clients at once over two instances (one waits for a free one), in
 * byte mode and in message mode: every message comes back right, and the
 * server stops cleanly. */
START_TEST(pipe_echo_clients_verified)
{
  ex_proc_t *s = start_pipe_server("--instances 2");
  int code;
  client_round("", 3, 300);
  client_round("", 1, 1);
  code = ex_stop(s, EXIT_MS);
  EX_ASSERT_EXIT(s, code, 0);
  ex_free(s);

  s = start_pipe_server("--message --instances 2");
  client_round("--message", 2, 300);
  code = ex_stop(s, EXIT_MS);
  EX_ASSERT_EXIT(s, code, 0);
  ex_free(s);
}
END_TEST

/* A second server on a served name exits 1 saying the name is in use; a
 * client of a name nobody serves exits 1 saying so; a bad flag exits 2 and
 * --help 0. */
START_TEST(pipe_echo_taken_name_missing_name_bad_flags)
{
  ex_proc_t *s = start_pipe_server(""), *p;
  char args[128];
  int code;
  snprintf(args, sizeof args, "--name %s", name);
  p = ex_run_expect("pipe_echo", args, EXIT_MS, 1);
  ck_assert_msg(strstr(ex_stderr(p), "CO_EADDRINUSE") != NULL, "stderr:\n%s", ex_stderr(p));
  ex_free(p);
  code = ex_stop(s, EXIT_MS);
  EX_ASSERT_EXIT(s, code, 0);
  ex_free(s);

  snprintf(args, sizeof args, "--client --name cosock-e2e-nobody-%lu --messages 1",
           (unsigned long)GetCurrentProcessId());
  p = ex_run_expect("pipe_echo", args, EXIT_MS, 1);
  ck_assert_msg(strstr(ex_stderr(p), "CO_ENOENT") != NULL, "stderr:\n%s", ex_stderr(p));
  ex_free(p);
  ex_free(ex_run_expect("pipe_echo", "--instances 0", EXIT_MS, 2));
  ex_free(ex_run_expect("pipe_echo", "--bogus", EXIT_MS, 2));
  p = ex_run_expect("pipe_echo", "--help", EXIT_MS, 0);
  ck_assert(strstr(ex_stdout(p), "--client") != NULL);
  ex_free(p);
}
END_TEST

/* A server stopped while two clients are in the middle of their messages
 * still stops cleanly (exit 0); the clients see the end of the stream and
 * exit 1. */
START_TEST(pipe_echo_stops_with_clients_connected)
{
  ex_proc_t *s = start_pipe_server("--verbose"), *c;
  int code;
  c = ex_start("pipe_echo", "--client --name %s --connections 2 --messages 100000000", name);
  Sleep(1500);  /* both connected and echoing (the server's count below says so) */
  code = ex_stop(s, EXIT_MS);
  EX_ASSERT_EXIT(s, code, 0);
  ck_assert_msg(strstr(ex_stderr(s), "2 clients served") != NULL, "stderr:\n%s", ex_stderr(s));
  code = ex_wait_exit(c, EXIT_MS);
  EX_ASSERT_EXIT(c, code, 1);
  ck_assert_msg(strstr(ex_stderr(c), "CO_EOF") != NULL, "client stderr:\n%s", ex_stderr(c));
  ex_free(c);
  ex_free(s);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_pipe_echo");
  TCase *tc = tcase_create("pipe_echo_clients_verified");
  tcase_add_test(tc, pipe_echo_clients_verified);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipe_echo_taken_name_missing_name_bad_flags");
  tcase_add_test(tc, pipe_echo_taken_name_missing_name_bad_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipe_echo_stops_with_clients_connected");
  tcase_add_test(tc, pipe_echo_stops_with_clients_connected);
  suite_add_tcase(s, tc);
  return s;
}

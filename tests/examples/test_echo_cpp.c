/*
 * tests/examples/test_echo_cpp.c - echo_server_cpp (examples/echo_server_cpp.cpp,
 * the co_await version of echo_server), end to end.
 *
 * The server cases of test_echo.c, unchanged, against echo_server_cpp: its
 * flags, echo_client's verified ping-pong over one and many connections (and
 * --idle-friendly), a half-close with 200 KB in flight, a stop with
 * connections open and one with none. The server must exit 0 each time,
 * which it does only when every coroutine ended (its frame freed) and the
 * runtime's counters were back at zero. Registered only where
 * echo_server_cpp is built (C++20 coroutines: tests/CMakeLists.txt).
 *
 * ctest-timeout: 90
 */
#define ECHO_SERVER "echo_server_cpp"
#define ECHO_SERVER_CASES_ONLY
#include "test_echo.c"

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_echo_cpp");
  TCase *tc;
  tc = tcase_create("echo_server_flags");
  tcase_add_test(tc, echo_server_flags);
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
  return s;
}

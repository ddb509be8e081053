/*
 * tests/examples/test_echo.c - echo_server and echo_client, end to end.
 */
#include "example_test.h"

/* --help exits 0 and describes the flags; a bad flag exits 2 with a usage. */
START_TEST(echo_server_flags)
{
  ex_proc_t *p;
  ck_assert_int_eq(ex_run("echo_server", "--help", 20000, &p), 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--port"));
  ex_free(p);
  ck_assert_int_eq(ex_run("echo_server", "--bogus", 20000, &p), 2);
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "usage"));
  ex_free(p);
}
END_TEST

/* The server prints its port, and exits 0 when its stdin is closed. */
START_TEST(echo_server_stops_at_end_of_stdin)
{
  unsigned short port;
  ex_proc_t *srv = ex_start_server("echo_server", "--port 0", &port);
  ck_assert_int_eq(ex_stop(srv, 20000), 0);
  ck_assert_ptr_nonnull(strstr(ex_stderr(srv), "framework bytes per connection"));
  ex_free(srv);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_echo");
  TCase *tc = tcase_create("echo_server_flags");
  tcase_add_test(tc, echo_server_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("echo_server_stops_at_end_of_stdin");
  tcase_add_test(tc, echo_server_stops_at_end_of_stdin);
  suite_add_tcase(s, tc);
  return s;
}

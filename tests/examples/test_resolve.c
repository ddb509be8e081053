/*
 * tests/examples/test_resolve.c - the resolve example end to end: localhost
 * and numeric addresses print one address a line and exit 0; a .invalid
 * name exits 2 with the error's text; the flags.
 *
 * ctest-timeout: 60
 */
#include "example_test.h"

enum { EXIT_MS = 20000 };

START_TEST(resolve_prints_one_address_a_line)
{
  ex_proc_t *p = ex_run_expect("resolve", "localhost 80", EXIT_MS, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "127.0.0.1:80\r\n"));
  ex_free(p);
  p = ex_run_expect("resolve", "localhost --family 4", EXIT_MS, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "127.0.0.1\r\n"));
  ck_assert_ptr_null(strstr(ex_stdout(p), ":"));  /* no IPv6, no port */
  ex_free(p);
  p = ex_run_expect("resolve", "::1 443 --family 6", EXIT_MS, 0);
  ck_assert_str_eq(ex_stdout(p), "[::1]:443\r\n");
  ex_free(p);
  p = ex_run_expect("resolve", "10.1.2.3", EXIT_MS, 0);
  ck_assert_str_eq(ex_stdout(p), "10.1.2.3\r\n");
  ex_free(p);
}
END_TEST

START_TEST(resolve_unknown_name_exits_2_with_the_error)
{
  ex_proc_t *p = ex_run_expect("resolve", "no-such-host.invalid", EXIT_MS, 2);
  ck_assert_str_eq(ex_stdout(p), "");
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "host name not found (CO_ENOTFOUND"));
  ex_free(p);
  p = ex_run_expect("resolve", "127.0.0.1 --family 6", EXIT_MS, 2);
  ck_assert_ptr_nonnull(strstr(ex_stderr(p), "CO_ENOTFOUND"));
  ex_free(p);
}
END_TEST

START_TEST(resolve_flags)
{
  ex_proc_t *p = ex_run_expect("resolve", "--help", EXIT_MS, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--family"));
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--timeout"));
  ex_free(p);
  ex_free(ex_run_expect("resolve", "", EXIT_MS, 2));               /* NAME is missing */
  ex_free(ex_run_expect("resolve", "localhost --family 5", EXIT_MS, 2));
  ex_free(ex_run_expect("resolve", "localhost 70000", EXIT_MS, 2));
  ex_free(ex_run_expect("resolve", "localhost --bogus", EXIT_MS, 2));
  ex_free(ex_run_expect("resolve", "a 1 extra", EXIT_MS, 2));
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_resolve");
  TCase *tc;

  tc = tcase_create("resolve_prints_one_address_a_line");
  tcase_add_test(tc, resolve_prints_one_address_a_line);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_unknown_name_exits_2_with_the_error");
  tcase_add_test(tc, resolve_unknown_name_exits_2_with_the_error);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_flags");
  tcase_add_test(tc, resolve_flags);
  suite_add_tcase(s, tc);
  return s;
}

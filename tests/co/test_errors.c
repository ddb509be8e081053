/*
 * tests/co/test_errors.c - the one error space: every code has a distinct
 * name and text, and unknown codes are named as such.
 */
#include <check.h>
#include <co/co.h>
#include <string.h>

static const struct {
  int code;
  const char *name;
} table[] = {
#define ROW(name, value, text) {name, #name},
    CO_ERROR_TABLE(ROW)
#undef ROW
};
enum { TABLE_SIZE = sizeof table / sizeof table[0] };

/* Every error is negative, has its own name and text, and the texts are all
 * different (a log line must tell them apart). */
START_TEST(every_error_has_distinct_name_and_text)
{
  for (int i = 0; i < TABLE_SIZE; i++) {
    ck_assert_int_lt(table[i].code, 0);
    ck_assert_str_eq(co_errname(table[i].code), table[i].name);
    ck_assert_str_ne(co_strerror(table[i].code), "unknown error code");
    for (int j = 0; j < i; j++) {
      ck_assert_int_ne(table[i].code, table[j].code);
      ck_assert_str_ne(co_strerror(table[i].code), co_strerror(table[j].code));
    }
  }
}
END_TEST

START_TEST(success_pending_and_unknown_codes_have_text)
{
  ck_assert_str_eq(co_strerror(CO_OK), "success");
  ck_assert_str_eq(co_strerror(CO_PENDING), "pending");
  ck_assert_str_eq(co_strerror(-12345), "unknown error code");
  ck_assert_str_eq(co_errname(-12345), "CO_E?");
  ck_assert_str_eq(co_strerror(CO_ETIMEDOUT), "timed out");
  ck_assert_str_eq(co_strerror(CO_EOF), "end of stream");
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("co_errors");
  TCase *tc = tcase_create("error_codes_and_texts");
  tcase_add_test(tc, every_error_has_distinct_name_and_text);
  tcase_add_test(tc, success_pending_and_unknown_codes_have_text);
  suite_add_tcase(s, tc);
  return s;
}

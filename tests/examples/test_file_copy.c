/*
 * tests/examples/test_file_copy.c - file_copy end to end.
 *
 * The real program (tests/examples/example_test.h) copies a file of the
 * test's with several chunk sizes and reads in flight, the last chunk
 * short; the copy must equal the source and no temporary file may remain.
 * A missing source, a destination in a missing folder and a bad command
 * line must fail with their exit codes and leave nothing behind.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"

enum { EXIT_MS = 30000, SOURCE_SIZE = 5 * 1000 * 1000 + 123 };

static char src[64], dst[64];

static void names(void)
{
  snprintf(src, sizeof src, "cosock-fc-%lu-src.bin", (unsigned long)GetCurrentProcessId());
  snprintf(dst, sizeof dst, "cosock-fc-%lu-dst.bin", (unsigned long)GetCurrentProcessId());
}

static void make_source(void)
{
  static unsigned char buf[SOURCE_SIZE];
  FILE *f = fopen(src, "wb");
  ck_assert_ptr_nonnull(f);
  for (long i = 0; i < SOURCE_SIZE; i++)
    buf[i] = (unsigned char)(i * 7 ^ (i >> 9) ^ (i >> 17));
  ck_assert_uint_eq(fwrite(buf, 1, SOURCE_SIZE, f), SOURCE_SIZE);
  fclose(f);
}

static int same_files(const char *a, const char *b)
{
  static unsigned char x[65536], y[65536];
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa != NULL && fb != NULL;
  while (same) {
    size_t n = fread(x, 1, sizeof x, fa), m = fread(y, 1, sizeof y, fb);
    same = n == m && memcmp(x, y, n) == 0;
    if (n == 0)
      break;
  }
  if (fa)
    fclose(fa);
  if (fb)
    fclose(fb);
  return same;
}

/* Files whose name starts with `prefix` in the current folder. */
static int count_files(const char *prefix)
{
  WIN32_FIND_DATAA fd;
  char pattern[96];
  int n = 0;
  HANDLE h;
  snprintf(pattern, sizeof pattern, "%s*", prefix);
  h = FindFirstFileA(pattern, &fd);
  if (h == INVALID_HANDLE_VALUE)
    return 0;
  do
    n++;
  while (FindNextFileA(h, &fd));
  FindClose(h);
  return n;
}

/* Copies with 1, 4 and 16 in flight and chunks that do not divide the
 * size: the copy equals the source, replaces an older destination, and no
 * temporary file remains. */
START_TEST(file_copy_copies_every_byte)
{
  static const char *const runs[] = {"--in-flight 1", "--in-flight 4 --chunk 65536",
                                     "--chunk 4096 --in-flight 16"};
  char args[256];
  names();
  make_source();
  for (int i = 0; i < 3; i++) {
    ex_proc_t *p;
    snprintf(args, sizeof args, "%s %s %s", src, dst, runs[i]);
    p = ex_run_expect("file_copy", args, EXIT_MS, 0);
    ck_assert_msg(strstr(ex_stdout(p), "5000123 bytes") != NULL, "stdout:\n%s", ex_stdout(p));
    ex_free(p);
    ck_assert_msg(same_files(src, dst), "the copy differs (%s)", runs[i]);
    ck_assert_int_eq(count_files(dst), 1);  /* no DST.part-... left */
  }
  DeleteFileA(src);
  DeleteFileA(dst);
}
END_TEST

/* A missing source and an unwritable destination: exit 1 with the reason,
 * nothing written; a bad command line: exit 2. */
START_TEST(file_copy_failures_leave_nothing)
{
  char args[256];
  ex_proc_t *p;
  names();
  DeleteFileA(src);
  snprintf(args, sizeof args, "%s %s", src, dst);
  p = ex_run_expect("file_copy", args, EXIT_MS, 1);
  ck_assert_msg(strstr(ex_stderr(p), "CO_ENOENT") != NULL, "stderr:\n%s", ex_stderr(p));
  ex_free(p);
  ck_assert_int_eq(count_files(dst), 0);

  make_source();
  snprintf(args, sizeof args, "%s no-such-folder-%lu\\%s", src,
           (unsigned long)GetCurrentProcessId(), dst);
  p = ex_run_expect("file_copy", args, EXIT_MS, 1);
  ck_assert_msg(strstr(ex_stderr(p), "CO_ENOENT") != NULL, "stderr:\n%s", ex_stderr(p));
  ex_free(p);

  ex_free(ex_run_expect("file_copy", src, EXIT_MS, 2));
  snprintf(args, sizeof args, "%s %s --in-flight 0", src, dst);
  ex_free(ex_run_expect("file_copy", args, EXIT_MS, 2));
  ck_assert_int_eq(count_files(dst), 0);
  DeleteFileA(src);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_file_copy");
  TCase *tc = tcase_create("file_copy_copies_every_byte");
  tcase_add_test(tc, file_copy_copies_every_byte);
  suite_add_tcase(s, tc);
  tc = tcase_create("file_copy_failures_leave_nothing");
  tcase_add_test(tc, file_copy_failures_leave_nothing);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tests/examples/test_https.c - https_get end to end, against native
 * `openssl s_server` processes started for each case by
 * tests/sock/tls_servers.sh (ports and paths in COSOCK_TLS_*).
 *
 * What https_get promises: the body on stdout (or --output) and the status
 * line on stderr; exit 0 on a 2xx, 1 on another status, 2 on a bad
 * argument, 3 on a TLS or certificate failure with a message naming it.
 * Without the servers the program says "SKIPPED" and exits 77.
 *
 * ctest-timeout: 90
 */
#include "example_test.h"

enum { RUN_MS = 30000, BODY_LEN = 1024 * 1024 };

static unsigned short env_port(const char *name)
{
  const char *v = getenv(name);
  ck_assert_msg(v != NULL && atoi(v) > 0, "%s is not set", name);
  return (unsigned short)atoi(v);
}

/* COSOCK_TLS_DIR + "/" + file, as Wine sees it (Z:\...). */
static const char *tls_path(const char *file)
{
  static char out[4][MAX_PATH];
  static int next;
  char *p = out[next++ % 4];
  const char *dir = getenv("COSOCK_TLS_DIR");
  ck_assert_ptr_nonnull(dir);
  snprintf(p, MAX_PATH, "%s%s/%s", dir[0] == '/' ? "Z:" : "", dir, file);
  for (char *c = p; *c != '\0'; c++)
    if (*c == '/')
      *c = '\\';
  return p;
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = malloc(BODY_LEN + 1);
  ck_assert_msg(f != NULL, "cannot open %s", path);
  ck_assert_ptr_nonnull(buf);
  *len = fread(buf, 1, BODY_LEN + 1, f);
  fclose(f);
  return buf;
}

static ex_proc_t *get(const char *port_var, const char *path, const char *flags, int expected)
{
  char args[1024];
  snprintf(args, sizeof args, "https://localhost:%u%s %s", env_port(port_var), path, flags);
  return ex_run_expect("https_get", args, RUN_MS, expected);
}

/* 1 MiB through --output with the CA file: the same bytes as the file served. */
START_TEST(https_get_with_ca_writes_the_body)
{
  char flags[700], out[MAX_PATH];
  size_t want_len, got_len;
  char *want, *got;
  ex_proc_t *p;
  snprintf(out, sizeof out, "%s", tls_path("out.bin"));
  snprintf(flags, sizeof flags, "--ca %s --output %s", tls_path("ca.pem"), out);
  DeleteFileA(out);
  p = get("COSOCK_TLS_PORT_GOOD", "/body.bin", flags, 0);
  ck_assert_msg(strstr(ex_stderr(p), "HTTP/1.0 200 ok") != NULL, "stderr: %s", ex_stderr(p));
  ex_free(p);
  want = read_file(tls_path("body.bin"), &want_len);
  got = read_file(out, &got_len);
  ck_assert_uint_eq(got_len, BODY_LEN);
  ck_assert_uint_eq(want_len, BODY_LEN);
  ck_assert_msg(memcmp(want, got, BODY_LEN) == 0, "the body differs");
  free(want);
  free(got);
  DeleteFileA(out);
}
END_TEST

/* A pinned fingerprint, a chunked body to stdout, a 404 (exit 1). */
START_TEST(https_get_pin_chunked_and_status)
{
  char flags[300];
  ex_proc_t *p;
  snprintf(flags, sizeof flags, "--pin %s", getenv("COSOCK_TLS_PIN"));
  p = get("COSOCK_TLS_PORT_HTTP", "/chunked.http", flags, 0);
  ck_assert_str_eq(ex_stdout(p), "hello, tls!\n");
  ex_free(p);
  p = get("COSOCK_TLS_PORT_HTTP", "/notfound.http", flags, 1);
  ck_assert_str_eq(ex_stdout(p), "not found");
  ck_assert_msg(strstr(ex_stderr(p), "404 Not Found") != NULL, "stderr: %s", ex_stderr(p));
  ex_free(p);
}
END_TEST

/* Refusals: exit 3 and the reason; --insecure takes them all. */
START_TEST(https_get_refuses_bad_certificates)
{
  struct { const char *port; const char *reason; } bad[] = {
    { "COSOCK_TLS_PORT_SELF", "CO_ECERTUNTRUSTED" },
    { "COSOCK_TLS_PORT_WRONG", "CO_ECERTNAME" },
    { "COSOCK_TLS_PORT_EXPIRED", "CO_ECERTEXPIRED" },
  };
  char flags[700];
  snprintf(flags, sizeof flags, "--ca %s", tls_path("ca.pem"));
  for (int i = 0; i < 3; i++) {
    ex_proc_t *p = get(bad[i].port, "/body.bin", flags, 3);
    ck_assert_msg(strstr(ex_stderr(p), bad[i].reason) != NULL, "%s: %s", bad[i].port,
                  ex_stderr(p));
    ck_assert_str_eq(ex_stdout(p), "");
    ex_free(p);
    p = get(bad[i].port, "/body.bin", "--insecure", 0);
    ck_assert_msg(strstr(ex_stderr(p), "200 ok") != NULL, "stderr: %s", ex_stderr(p));
    ex_free(p);
  }
  /* The system's store does not know the test CA. */
  ex_free(get("COSOCK_TLS_PORT_GOOD", "/body.bin", "", 3));
}
END_TEST

START_TEST(https_get_bad_arguments_exit_2)
{
  ex_free(ex_run_expect("https_get", "", RUN_MS, 2));
  ex_free(ex_run_expect("https_get", "http://localhost/", RUN_MS, 2));
  ex_free(ex_run_expect("https_get", "https://localhost:99999/", RUN_MS, 2));
  ex_free(ex_run_expect("https_get", "https://localhost/ --bogus", RUN_MS, 2));
  ex_free(ex_run_expect("https_get", "https://localhost/ --insecure --pin 00", RUN_MS, 2));
  ex_free(ex_run_expect("https_get", "--help", RUN_MS, 0));
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("https");
  TCase *tc;
  if (getenv("COSOCK_TLS_PORT_GOOD") == NULL) {
    printf("https test SKIPPED: no TLS servers (run through tests/sock/tls_servers.sh, which "
           "needs a native openssl)\n");
    exit(77);
  }
  tc = tcase_create("https_get_ca");
  tcase_add_test(tc, https_get_with_ca_writes_the_body);
  suite_add_tcase(s, tc);
  tc = tcase_create("https_get_pin_chunked_status");
  tcase_add_test(tc, https_get_pin_chunked_and_status);
  suite_add_tcase(s, tc);
  tc = tcase_create("https_get_refusals");
  tcase_add_test(tc, https_get_refuses_bad_certificates);
  suite_add_tcase(s, tc);
  tc = tcase_create("https_get_bad_arguments");
  tcase_add_test(tc, https_get_bad_arguments_exit_2);
  suite_add_tcase(s, tc);
  return s;
}

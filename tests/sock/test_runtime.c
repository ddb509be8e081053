/*
 * tests/sock/test_runtime.c - the runtime itself: a private pool with thread
 * limits, bad configuration and bad arguments refused with clear errors, and
 * the list of live tasks with where each is parked.
 */
#include "sock_test.h"

/* ---- a private pool ------------------------------------------------------------ */

typedef struct {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[8];
  DWORD       thread;  /* the thread the completion ran on */
  int         error;
} reader_t;

static co_state_t reader_step(co_task_t *t)
{
  reader_t *r = (reader_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&r->op, r->sock, r->buf, sizeof r->buf, t));
  r->thread = GetCurrentThreadId();
  r->error = r->op.error;
  sock_close(r->sock);
  CO_END(t);
}

/* A runtime with its own pool (1 to 2 threads) runs completions on a pool
 * thread, not on the test's, and shuts down cleanly. */
START_TEST(private_pool_runs_completions)
{
  static reader_t r;
  sock_runtime_t *rt = NULL;
  sock_runtime_config_t config = {1, 2, 2};
  SOCKET raw;
  WSADATA wsa;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
  ck_assert_int_eq(sock_runtime_create(&rt, &config), CO_OK);
  memset(&r, 0, sizeof r);
  r.sock = test_pair(rt, &raw);
  test_spawn(rt, &r.tt, reader_step);
  Sleep(20);
  test_raw_send(raw, "x", 1);
  test_wait(&r.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(r.error), "CO_OK");
  ck_assert_uint_ne(r.thread, GetCurrentThreadId());
  closesocket(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------- */

/* Bad configuration and bad arguments give CO_EINVAL (and the record says
 * so), never a crash; a port in use gives CO_EADDRINUSE. */
START_TEST(bad_arguments_are_refused_clearly)
{
  static sock_op_t op;
  static sock_task_t st;
  static char buf[4];
  static sock_accept_t acc;
  sock_runtime_t *rt = NULL;
  sock_runtime_config_t bad = {4, 2, 0};
  sock_t *a = NULL, *b = NULL;
  sock_addr_t addr;

  ck_assert_int_eq(sock_runtime_create(&rt, &bad), CO_EINVAL);
  ck_assert_ptr_null(rt);
  rt = test_runtime_start();
  ck_assert_int_eq(sock_recv_start(NULL, NULL, buf, 1, &st.task), CO_EINVAL);
  ck_assert_int_eq(sock_recv_start(&op, NULL, buf, 1, &st.task), CO_EINVAL);
  ck_assert_int_eq(op.error, CO_EINVAL);
  ck_assert_int_eq(sock_send_all_start(&op, NULL, NULL, 5, &st.task), CO_EINVAL);
  a = (sock_t *)&st;  /* stale: a refused connect still sets *out to NULL */
  ck_assert_int_eq(sock_connect_start(&op, rt, "", 80, &a, &st.task), CO_EINVAL);
  ck_assert_ptr_null(a);
  a = (sock_t *)&st;
  ck_assert_int_eq(sock_connect_start(&op, rt, "localhost", 0, &a, &st.task), CO_EINVAL);
  ck_assert_ptr_null(a);
  ck_assert_int_eq(sock_accept_start(&op, NULL, &acc, &st.task), CO_EINVAL);
  ck_assert_int_eq(sock_read_line_start(&op, NULL, &st.task), CO_EINVAL);
  ck_assert_int_eq(sock_chan_send_start(&op, NULL, NULL, &st), CO_EINVAL);
  ck_assert_int_eq(sock_chan_try_send(NULL, NULL), CO_EINVAL);

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 4, &a), CO_OK);
  ck_assert_int_eq(sock_local_addr(a, &addr), CO_OK);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", ntohs(addr.Ipv4.sin_port), 4, &b),
                   CO_EADDRINUSE);
  ck_assert_ptr_null(b);
  ck_assert_int_eq(sock_listen(rt, "no-such-host.invalid", 0, 4, &b), CO_ENOTFOUND);
  sock_close(a);
  sock_close(NULL);  /* ignored */
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- the stackless thread dump --------------------------------------------------- */

typedef struct {
  test_task_t tt;
  sock_op_t   op;
  int         line;  /* where it parks */
} dumped_t;

static co_state_t dumped_step(co_task_t *t)
{
  dumped_t *d = (dumped_t *)t;
  CO_BEGIN(t);
  d->line = __LINE__; CO_AWAIT(t, sock_sleep_start(&d->op, 60000, sock_task_of(t)));
  CO_END(t);
}

/* sock_runtime_dump lists each live task and, in debug builds, the file and
 * line of the await it is parked in. */
START_TEST(dump_lists_live_tasks_and_where_they_wait)
{
  static dumped_t d;
  char text[1024] = "";
  char expected[64];
  sock_runtime_t *rt = test_runtime_start();
  FILE *f = tmpfile();
  size_t n;
  ck_assert_ptr_nonnull(f);
  test_spawn(rt, &d.tt, dumped_step);
  sock_runtime_dump(rt, f);
  rewind(f);
  n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  ck_assert_msg(strstr(text, "waiting") != NULL, "dump: %s", text);
#if CO_DEBUG
  snprintf(expected, sizeof expected, "test_runtime.c:%d", d.line);
  ck_assert_msg(strstr(text, expected) != NULL, "dump lacks %s: %s", expected, text);
#else
  (void)expected;
#endif
  sock_task_cancel(&d.tt.st);
  test_wait(&d.tt, TEST_WAIT_MS);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* ---- stopping every task ----------------------------------------------------------- */

static volatile LONG stopped_hooks;

typedef struct {
  sock_task_t st;
  sock_op_t   op;
} napper_t;

static co_state_t napper_step(co_task_t *t)
{
  napper_t *n = (napper_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_sleep_start(&n->op, 60000, sock_task_of(t)));
  CO_END(t);
}

static void napper_done(co_task_t *t)
{
  (void)t;
  InterlockedIncrement(&stopped_hooks);
}

/* A server's stop: sock_runtime_cancel_all wakes every parked task, and
 * sock_runtime_wait_tasks returns once all have finished (hooks included);
 * while they are parked it times out and says so. Tasks spawned after the
 * stop start cancelled. */
START_TEST(cancel_all_then_wait_for_every_task)
{
  static napper_t nappers[10];
  sock_runtime_t *rt = test_runtime_start();
  stopped_hooks = 0;
  for (int i = 0; i < 10; i++)
    sock_spawn(rt, &nappers[i].st, napper_step, napper_done);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, 50), 0);
  sock_runtime_cancel_all(rt);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, TEST_WAIT_MS), 1);
  ck_assert_int_eq(stopped_hooks, 10);
  /* A task spawned after the stop starts cancelled: its first wait fails. */
  sock_spawn(rt, &nappers[0].st, napper_step, napper_done);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, TEST_WAIT_MS), 1);
  ck_assert_int_eq(stopped_hooks, 11);
  ck_assert_str_eq(co_errname(nappers[0].op.error), "CO_ECANCELED");
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_runtime");
  TCase *tc;

  tc = tcase_create("private_pool_runs_completions");
  tcase_add_test(tc, private_pool_runs_completions);
  suite_add_tcase(s, tc);

  tc = tcase_create("bad_arguments_are_refused");
  tcase_add_test(tc, bad_arguments_are_refused_clearly);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel_all_then_wait_for_every_task");
  tcase_add_test(tc, cancel_all_then_wait_for_every_task);
  suite_add_tcase(s, tc);

  tc = tcase_create("dump_lists_live_tasks");
  tcase_add_test(tc, dump_lists_live_tasks_and_where_they_wait);
  suite_add_tcase(s, tc);
  return s;
}

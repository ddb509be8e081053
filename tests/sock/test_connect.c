/*
 * tests/sock/test_connect.c - how a connect fails, and resolving names.
 *
 * A connect that fails hands out no socket and leaves nothing counted.
 */
#include "sock_test.h"

typedef struct dialer {
  test_task_t    tt;
  const char    *host;
  unsigned short port;
  sock_op_t      op;
  sock_t        *sock;       /* set only on success */
  int            entries;    /* times the step function was entered */
  int            pended;     /* the connect went through a completion */
  int            error;
  unsigned long  win32;
} dialer_t;

static dialer_t dialer;

static co_state_t dialer_step(co_task_t *t)
{
  dialer_t *d = (dialer_t *)t;
  d->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&d->op, d->tt.st.runtime, d->host, d->port,
                                 &d->sock, t));
  d->pended = d->entries > 1;  /* woken by a completion */
  d->error = d->op.error;
  d->win32 = d->op.win32_error;
  CO_END(t);
}

static void dial(sock_runtime_t *rt, const char *host, unsigned short port)
{
  HANDLE done = dialer.tt.done;
  memset(&dialer, 0, sizeof dialer);
  dialer.tt.done = done;
  dialer.host = host;
  dialer.port = port;
  test_spawn(rt, &dialer.tt, dialer_step);
  test_wait(&dialer.tt, 30000);
  printf("connect %s:%u -> %s, result %s (win32 %lu)\n", host, port,
         dialer.pended ? "pended" : "finished at once", co_errname(dialer.error),
         dialer.win32);
}

/* Nobody listens on the port (a port we bound and released): the connect
 * fails with CO_ECONNREFUSED, no socket comes out, nothing is left counted. */
START_TEST(connect_to_closed_port_is_refused)
{
  sock_runtime_t *rt = test_runtime_start();
  unsigned short port;
  SOCKET raw = test_raw_listen(1, &port);
  closesocket(raw);

  dial(rt, "127.0.0.1", port);
  ck_assert_msg(dialer.error == CO_ECONNREFUSED, "got %s (win32 %lu)",
                co_errname(dialer.error), dialer.win32);
  ck_assert_ptr_null(dialer.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&dialer.tt);
}
END_TEST

/* A name under .invalid (RFC 6761: never resolves) fails with
 * CO_ENOTFOUND, no socket comes out, nothing is left counted. */
START_TEST(connect_to_unknown_name_is_enotfound)
{
  sock_runtime_t *rt = test_runtime_start();

  dial(rt, "no-such-host.invalid", 80);
  ck_assert_msg(dialer.error == CO_ENOTFOUND, "got %s (win32 %lu)",
                co_errname(dialer.error), dialer.win32);
  ck_assert_ptr_null(dialer.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&dialer.tt);
}
END_TEST

/* "localhost" resolves (to ::1 and/or 127.0.0.1); with the listener on
 * 127.0.0.1 only, the connect succeeds whatever order the addresses come
 * in: every resolved address is tried in turn. */
START_TEST(connect_by_name_tries_every_address)
{
  sock_runtime_t *rt = test_runtime_start();
  static test_acceptor_t acceptor;
  sock_t *listener = NULL;

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &listener), CO_OK);
  memset(&acceptor, 0, sizeof acceptor);
  acceptor.listener = listener;
  test_spawn(rt, &acceptor.tt, test_acceptor_step);

  dial(rt, "localhost", test_port(listener));
  ck_assert_msg(dialer.error == CO_OK, "got %s (win32 %lu)",
                co_errname(dialer.error), dialer.win32);
  ck_assert_ptr_nonnull(dialer.sock);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_int_eq(acceptor.error, CO_OK);

  sock_close(dialer.sock);
  sock_close(acceptor.acc.sock);
  sock_close(listener);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&dialer.tt);
  test_task_free_event(&acceptor.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_connect");
  TCase *tc;

  tc = tcase_create("connect_to_closed_port_is_refused");
  tcase_add_test(tc, connect_to_closed_port_is_refused);
  suite_add_tcase(s, tc);

  tc = tcase_create("connect_to_unknown_name_is_enotfound");
  tcase_add_test(tc, connect_to_unknown_name_is_enotfound);
  suite_add_tcase(s, tc);

  tc = tcase_create("connect_by_name_tries_every_address");
  tcase_add_test(tc, connect_by_name_tries_every_address);
  suite_add_tcase(s, tc);
  return s;
}

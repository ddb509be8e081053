/*
 * tests/sock/test_resolve.c - name resolution as an await: localhost,
 * numeric addresses (no lookup at all), a name under .invalid, cancel and a
 * deadline abandoning a lookup in flight (the task resumes at once, the
 * request stays counted until the system's lookup ends), the runtime's
 * shutdown with lookups in flight, lookups failing through the fault seam,
 * bad arguments. There is no DNS here: only localhost, numeric addresses
 * and .invalid names (RFC 6761). A lookup in flight is made slow with
 * sock_fault_delay_lookups.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

/* ctest-timeout: 60 */

enum { MAX_ADDRS = 8 };

typedef struct resolver {
  test_task_t    tt;
  const char    *host;
  int            family;
  unsigned       deadline;   /* ms, 0: none */
  sock_op_t      op;
  sock_addr_t    addrs[MAX_ADDRS];
  int            entries;    /* times the step function ran */
  int            pended;     /* woken by a completion */
  int            error;
  unsigned long  count;
  unsigned long  win32;
  ULONGLONG      woke_ms;    /* GetTickCount64 when it resumed */
} resolver_t;

static resolver_t resolvers[8];

static co_state_t resolver_step(co_task_t *t)
{
  resolver_t *r = (resolver_t *)t;
  r->entries++;
  CO_BEGIN(t);
  if (r->deadline > 0 && sock_deadline_set(&r->tt.st, r->deadline) != CO_OK)
    CO_EXIT(t, CO_ENOMEM);
  CO_AWAIT(t, sock_resolve_start(&r->op, r->tt.st.runtime, r->host, 8080, r->family, r->addrs,
                                 MAX_ADDRS, t));
  r->woke_ms = GetTickCount64();
  r->pended = r->entries > 1;
  r->error = r->op.error;
  r->count = r->op.bytes;
  r->win32 = r->op.win32_error;
  CO_END(t);
}

static resolver_t *resolve_spawn(sock_runtime_t *rt, int i, const char *host, int family,
                                 unsigned deadline)
{
  resolver_t *r = &resolvers[i];
  HANDLE done = r->tt.done;
  memset(r, 0, sizeof *r);
  r->tt.done = done;
  r->host = host;
  r->family = family;
  r->deadline = deadline;
  test_spawn(rt, &r->tt, resolver_step);
  return r;
}

static void free_events(void)
{
  int i;
  for (i = 0; i < 8; i++)
    test_task_free_event(&resolvers[i].tt);
}

static int has_loopback_v4(const resolver_t *r)
{
  unsigned long i;
  for (i = 0; i < r->count; i++)
    if (r->addrs[i].si_family == AF_INET &&
        r->addrs[i].Ipv4.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
        ntohs(r->addrs[i].Ipv4.sin_port) == 8080)
      return 1;
  return 0;
}

/* "localhost" (any family, and IPv4 only) resolves through a lookup (the
 * task is woken by its completion) to 127.0.0.1, with the port given. */
START_TEST(resolve_localhost_gives_loopback)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r = resolve_spawn(rt, 0, "localhost", AF_UNSPEC, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  printf("localhost: %s, %lu addresses (win32 %lu)\n", co_errname(r->error), r->count, r->win32);
  ck_assert_int_eq(r->error, CO_OK);
  ck_assert_int_eq(r->pended, 1);
  ck_assert_uint_ge(r->count, 1);
  ck_assert_msg(has_loopback_v4(r), "127.0.0.1:8080 not among the results");

  r = resolve_spawn(rt, 1, "localhost", AF_INET, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_OK);
  ck_assert_msg(has_loopback_v4(r), "127.0.0.1:8080 not among the IPv4 results");
  for (unsigned long i = 0; i < r->count; i++)
    ck_assert_int_eq(r->addrs[i].si_family, AF_INET);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free_events();
}
END_TEST

/* A numeric address finishes inside its start (no lookup: the seam's
 * GetAddrInfoExW, armed to fail, is never called): "127.0.0.1" and "::1",
 * each as exactly one address; a numeric address of the other family than
 * the one asked is CO_ENOTFOUND, also at once. */
START_TEST(resolve_numeric_address_needs_no_lookup)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r;
  sock_fault_nth(SOCK_SYS_GETADDRINFOEXW, 1, 0, WSATRY_AGAIN);

  r = resolve_spawn(rt, 0, "127.0.0.1", AF_UNSPEC, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_OK);
  ck_assert_int_eq(r->pended, 0);
  ck_assert_uint_eq(r->count, 1);
  ck_assert(has_loopback_v4(r));

  r = resolve_spawn(rt, 1, "::1", AF_INET6, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_OK);
  ck_assert_int_eq(r->pended, 0);
  ck_assert_uint_eq(r->count, 1);
  ck_assert_int_eq(r->addrs[0].si_family, AF_INET6);
  ck_assert(memcmp(&r->addrs[0].Ipv6.sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0);
  ck_assert_uint_eq(ntohs(r->addrs[0].Ipv6.sin6_port), 8080);

  r = resolve_spawn(rt, 2, "127.0.0.1", AF_INET6, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_ENOTFOUND);
  ck_assert_int_eq(r->pended, 0);
  ck_assert_uint_eq(r->count, 0);

  ck_assert_uint_eq(sock_fault_calls(SOCK_SYS_GETADDRINFOEXW), 0);
  sock_fault_reset();
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free_events();
}
END_TEST

/* A name under .invalid never resolves: CO_ENOTFOUND through a completion,
 * the raw WSAHOST_NOT_FOUND kept, no address, nothing left counted. */
START_TEST(resolve_invalid_name_is_enotfound)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r = resolve_spawn(rt, 0, "no-such-host.invalid", AF_UNSPEC, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  printf("no-such-host.invalid: %s (win32 %lu)\n", co_errname(r->error), r->win32);
  ck_assert_int_eq(r->error, CO_ENOTFOUND);
  ck_assert_uint_eq(r->win32, WSAHOST_NOT_FOUND);
  ck_assert_int_eq(r->pended, 1);
  ck_assert_uint_eq(r->count, 0);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free_events();
}
END_TEST

enum { SLOW_MS = 400 };

/* With the lookup held 400 ms: sock_op_cancel finds it (returns 1), the
 * task resumes at once with CO_ECANCELED (long before the lookup ends), the
 * request stays counted as pending until its routine has run, then the
 * counters are back at zero. The same by sock_task_cancel. */
START_TEST(resolve_cancel_abandons_the_lookup_at_once)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r;
  ULONGLONG t0;
  int how;

  sock_fault_delay_lookups(SLOW_MS);
  for (how = 0; how < 2; how++) {
    r = resolve_spawn(rt, how, "localhost", AF_UNSPEC, 0);
    test_wait_counters(rt, 0, 1, 1, 5000);  /* parked in the lookup */
    t0 = GetTickCount64();
    if (how == 0)
      ck_assert_int_eq(sock_op_cancel(&r->op), 1);
    else
      sock_task_cancel(&r->tt.st);
    test_wait(&r->tt, TEST_WAIT_MS);
    ck_assert_int_eq(r->error, CO_ECANCELED);
    ck_assert_msg(r->woke_ms - t0 < SLOW_MS / 2, "resumed after %llu ms",
                  (unsigned long long)(r->woke_ms - t0));
    ck_assert_uint_eq(r->count, 0);
    test_wait_counters(rt, 0, 0, 1, 1000);  /* the request is still out */
    test_wait_counters(rt, 0, 0, 0, 5000);  /* and frees itself */
    ck_assert_msg(GetTickCount64() - t0 >= SLOW_MS / 2, "the request ended too soon");
  }
  sock_fault_reset();
  test_runtime_stop(rt);
  free_events();
}
END_TEST

/* A deadline of 60 ms on a lookup held 400 ms: CO_ETIMEDOUT after about
 * 60 ms, the request counted until it ends, counters back at zero. */
START_TEST(resolve_deadline_ends_the_await_at_once)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r;
  ULONGLONG t0 = GetTickCount64();

  sock_fault_delay_lookups(SLOW_MS);
  r = resolve_spawn(rt, 0, "localhost", AF_UNSPEC, 60);
  test_wait(&r->tt, TEST_WAIT_MS);
  printf("deadline: %s after %llu ms\n", co_errname(r->error),
         (unsigned long long)(r->woke_ms - t0));
  ck_assert_int_eq(r->error, CO_ETIMEDOUT);
  ck_assert_msg(r->woke_ms - t0 >= 40 && r->woke_ms - t0 < SLOW_MS / 2 + 60,
                "resumed after %llu ms", (unsigned long long)(r->woke_ms - t0));
  test_wait_counters(rt, 0, 0, 1, 1000);
  test_wait_counters(rt, 0, 0, 0, 5000);
  sock_fault_reset();
  test_runtime_stop(rt);
  free_events();
}
END_TEST

/* Shutting the runtime down with four lookups in flight: every task
 * resumes with CO_ECANCELED, and the shutdown returns only after the
 * requests have ended (it waited for them), with no crash after it. */
START_TEST(resolve_shutdown_waits_for_lookups_in_flight)
{
  sock_runtime_t *rt = test_runtime_start();
  ULONGLONG t0;
  int i;

  sock_fault_delay_lookups(SLOW_MS);
  for (i = 0; i < 4; i++)
    resolve_spawn(rt, i, i % 2 ? "localhost" : "no-such-host.invalid", AF_UNSPEC, 0);
  test_wait_counters(rt, 0, 4, 4, 5000);
  t0 = GetTickCount64();
  test_runtime_stop(rt);
  printf("shutdown with 4 lookups in flight took %llu ms\n",
         (unsigned long long)(GetTickCount64() - t0));
  ck_assert_msg(GetTickCount64() - t0 >= SLOW_MS / 2, "shutdown did not wait for the lookups");
  for (i = 0; i < 4; i++) {
    test_wait(&resolvers[i].tt, 0);
    ck_assert_int_eq(resolvers[i].error, CO_ECANCELED);
  }
  Sleep(50);  /* a routine running after the shutdown would crash here */
  sock_fault_reset();
  free_events();
}
END_TEST

/* A lookup that cannot start: GetAddrInfoExW failing at once
 * (WSATRY_AGAIN: CO_EAGAIN with the raw code), the request not allocated
 * (CO_ENOMEM): the start finishes with the error, nothing counted. */
START_TEST(resolve_failing_at_once_gives_its_error)
{
  sock_runtime_t *rt = test_runtime_start();
  resolver_t *r;

  sock_fault_nth(SOCK_SYS_GETADDRINFOEXW, 1, 1, WSATRY_AGAIN);
  r = resolve_spawn(rt, 0, "localhost", AF_UNSPEC, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_EAGAIN);
  ck_assert_uint_eq(r->win32, WSATRY_AGAIN);
  ck_assert_int_eq(r->pended, 0);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_GETADDRINFOEXW), 1);

  sock_fault_nth(SOCK_SYS_CALLOC, 1, 1, 0);
  r = resolve_spawn(rt, 1, "localhost", AF_UNSPEC, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_ENOMEM);
  ck_assert_int_eq(r->pended, 0);
  sock_fault_reset();

  /* And the next lookup works. */
  r = resolve_spawn(rt, 2, "localhost", AF_INET, 0);
  test_wait(&r->tt, TEST_WAIT_MS);
  ck_assert_int_eq(r->error, CO_OK);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free_events();
}
END_TEST

/* Bad input is refused at once with CO_EINVAL: no runtime, host NULL or
 * empty, no storage, a family that is not AF_UNSPEC/AF_INET/AF_INET6, a
 * name longer than 255 bytes, a name that is not UTF-8. */
START_TEST(resolve_misuse_is_refused_at_once)
{
  sock_runtime_t *rt = test_runtime_start();
  static sock_op_t op;
  static sock_addr_t a[2];
  static test_task_t st;
  static char longname[300];

  memset(longname, 'a', sizeof longname - 1);
  ck_assert_int_eq(sock_resolve_start(NULL, rt, "x", 1, AF_UNSPEC, a, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, NULL, "x", 1, AF_UNSPEC, a, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(op.error, CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, NULL, 1, AF_UNSPEC, a, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "", 1, AF_UNSPEC, a, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "x", 1, AF_UNSPEC, NULL, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "x", 1, AF_UNSPEC, a, 0, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "x", 1, 7, a, 2, &st.st.task), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "x", 1, AF_UNSPEC, a, 2, NULL), CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, longname, 1, AF_UNSPEC, a, 2, &st.st.task),
                   CO_EINVAL);
  ck_assert_int_eq(sock_resolve_start(&op, rt, "bad\xff\xfename", 1, AF_UNSPEC, a, 2, &st.st.task),
                   CO_EINVAL);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
}
END_TEST

/* sock_addr_parse: numeric IPv4 and IPv6 addresses with their port, at
 * once; a name, an empty string or NULL is CO_EINVAL with *out zeroed. */
START_TEST(resolve_addr_parse_takes_numeric_addresses_only)
{
  sock_addr_t a;
  char text[64];
  ck_assert_int_eq(sock_addr_parse("127.0.0.1", 8080, &a), CO_OK);
  ck_assert_str_eq(sock_addr_format(&a, text, sizeof text), "127.0.0.1:8080");
  ck_assert_int_eq(sock_addr_parse("::1", 53, &a), CO_OK);
  ck_assert_str_eq(sock_addr_format(&a, text, sizeof text), "[::1]:53");
  ck_assert_int_eq(sock_addr_parse("localhost", 1, &a), CO_EINVAL);
  ck_assert_int_eq(a.si_family, 0);
  ck_assert_int_eq(sock_addr_parse("", 1, &a), CO_EINVAL);
  ck_assert_int_eq(sock_addr_parse("1.2.3.256", 1, &a), CO_EINVAL);
  ck_assert_int_eq(sock_addr_parse(NULL, 1, &a), CO_EINVAL);
  ck_assert_int_eq(sock_addr_parse("1.2.3.4", 1, NULL), CO_EINVAL);
}
END_TEST

/* Resolve, then connect to the address: sock_connect_addr_start with the
 * address sock_resolve_start gave connects to a listener. */
typedef struct addr_dialer {
  test_task_t    tt;
  sock_op_t      op;
  sock_addr_t    addrs[MAX_ADDRS];
  unsigned short port;
  sock_t        *sock;
  int            resolve_error;
  int            error;
} addr_dialer_t;

static addr_dialer_t addr_dialer;

static co_state_t addr_dialer_step(co_task_t *t)
{
  addr_dialer_t *d = (addr_dialer_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_resolve_start(&d->op, d->tt.st.runtime, "localhost", d->port, AF_INET,
                                 d->addrs, MAX_ADDRS, t));
  d->resolve_error = d->op.error;
  if (d->op.error < 0)
    CO_EXIT(t, d->op.error);
  CO_AWAIT(t, sock_connect_addr_start(&d->op, d->tt.st.runtime, &d->addrs[0], &d->sock, t));
  d->error = d->op.error;
  sock_close(d->sock);
  CO_END(t);
}

START_TEST(resolve_then_connect_to_the_address)
{
  sock_runtime_t *rt = test_runtime_start();
  static test_acceptor_t acceptor;
  sock_t *listener = NULL;

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &listener), CO_OK);
  memset(&acceptor, 0, sizeof acceptor);
  acceptor.listener = listener;
  test_spawn(rt, &acceptor.tt, test_acceptor_step);
  memset(&addr_dialer, 0, sizeof addr_dialer);
  addr_dialer.port = test_port(listener);
  test_spawn(rt, &addr_dialer.tt, addr_dialer_step);
  test_wait(&addr_dialer.tt, TEST_WAIT_MS);
  ck_assert_int_eq(addr_dialer.resolve_error, CO_OK);
  ck_assert_int_eq(addr_dialer.error, CO_OK);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_int_eq(acceptor.error, CO_OK);
  sock_close(acceptor.acc.sock);
  sock_close(listener);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&addr_dialer.tt);
  test_task_free_event(&acceptor.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_resolve");
  TCase *tc;

  tc = tcase_create("resolve_localhost_gives_loopback");
  tcase_add_test(tc, resolve_localhost_gives_loopback);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_numeric_address_needs_no_lookup");
  tcase_add_test(tc, resolve_numeric_address_needs_no_lookup);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_invalid_name_is_enotfound");
  tcase_add_test(tc, resolve_invalid_name_is_enotfound);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_cancel_abandons_the_lookup_at_once");
  tcase_add_test(tc, resolve_cancel_abandons_the_lookup_at_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_deadline_ends_the_await_at_once");
  tcase_add_test(tc, resolve_deadline_ends_the_await_at_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_shutdown_waits_for_lookups_in_flight");
  tcase_add_test(tc, resolve_shutdown_waits_for_lookups_in_flight);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_failing_at_once_gives_its_error");
  tcase_add_test(tc, resolve_failing_at_once_gives_its_error);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_misuse_is_refused_at_once");
  tcase_add_test(tc, resolve_misuse_is_refused_at_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_addr_parse_takes_numeric_addresses_only");
  tcase_add_test(tc, resolve_addr_parse_takes_numeric_addresses_only);
  suite_add_tcase(s, tc);

  tc = tcase_create("resolve_then_connect_to_the_address");
  tcase_add_test(tc, resolve_then_connect_to_the_address);
  suite_add_tcase(s, tc);
  return s;
}

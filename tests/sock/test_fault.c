/*
 * tests/sock/test_fault.c - sock/'s error paths, run through the syscall seam
 * (sock/sock_fault.h): a Win32 call or a completion is made to fail on
 * demand, and the task that made the operation must see the documented
 * error at its await, nothing may crash or hang, and the live counters must
 * come back to zero (nothing leaks). Also the regressions found with the
 * seam: a lost accept slot, a deadlock between sock_cancel and a close in
 * the woken task, a crash on cancelling a never-spawned task, and the wrong
 * error from starts made during the runtime's shutdown.
 *
 * The seam is the process's: every case resets it in a checked fixture,
 * before the test and after it, which Check runs even when an assertion
 * failed (it longjmps back to the runner). So a fault never outlives its
 * case. Everything a pending operation points at is static or on the heap.
 * The two cases that end in sock_runtime_shutdown cannot read the counters
 * afterwards (they go with the runtime): they check instead that every task
 * had finished when it returned and that no step runs after it.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

/* ---- Shared helpers ------------------------------------------------------------ */

static void fault_clear(void)
{
  sock_fault_reset();
}

/* A runtime whose listeners keep `accepts_posted` AcceptEx calls posted. */
static sock_runtime_t *runtime_with_slots(unsigned accepts_posted)
{
  sock_runtime_t *rt = NULL;
  sock_runtime_config_t config;
  WSADATA wsa;
  memset(&config, 0, sizeof config);
  config.accepts_posted = accepts_posted;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);  /* test_runtime_stop's */
  ck_assert_int_eq(sock_runtime_create(&rt, &config), CO_OK);
  ck_assert_ptr_nonnull(rt);
  return rt;
}

/* Waits until *counter reaches `target`, or `ms` passed; 1 if it did. */
static int wait_count(volatile LONG *counter, LONG target, DWORD ms)
{
  DWORD start = GetTickCount();
  while (InterlockedCompareExchange(counter, 0, 0) < target) {
    if (GetTickCount() - start > ms)
      return 0;
    Sleep(1);
  }
  return 1;
}

/* Waits until `call` has failed `n` times since it was armed. */
static int wait_failures(sock_syscall_t call, unsigned long n, DWORD ms)
{
  DWORD start = GetTickCount();
  while (sock_fault_failures(call) < n) {
    if (GetTickCount() - start > ms)
      return 0;
    Sleep(1);
  }
  return 1;
}

/* The local port of a plain socket. */
static unsigned short raw_local_port(SOCKET s)
{
  struct sockaddr_in a;
  int len = sizeof a;
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  return ntohs(a.sin_port);
}

/* Whether a plain socket sees its connection end (end of stream or a reset)
 * within `ms`, rather than data or a time-out. */
static int raw_sees_end(SOCKET s, DWORD ms)
{
  char c;
  int n;
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
  n = recv(s, &c, 1, 0);
  return n == 0 || (n < 0 && WSAGetLastError() != WSAETIMEDOUT);
}

/* ---- A plain co task the test thread can wait for -------------------------------- */

/* The head of every plain task here: its first member is the co_task_t (not
 * a sock_task_t: the runtime neither counts nor lists it), and an event its
 * completion hook sets. */
typedef struct plain {
  co_task_t task;
  HANDLE    done;
} plain_t;

static void plain_done(co_task_t *t)
{
  SetEvent(((plain_t *)t)->done);
}

/* Starts a plain task: its first step runs here, on the test thread. */
static void plain_start(plain_t *p, co_step_fn step)
{
  if (p->done == NULL)
    p->done = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(p->done);
  ResetEvent(p->done);
  co_task_init(&p->task, step, plain_done);
  co_resume(&p->task);
}

static int plain_finished(plain_t *p)
{
  return WaitForSingleObject(p->done, 0) == WAIT_OBJECT_0;
}

static void plain_free_event(plain_t *p)
{
  if (p->done != NULL)
    CloseHandle(p->done);
  p->done = NULL;
}

/* ---- Receives and sends whose call or completion fails ---------------------- */

typedef struct stream_user {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  char          buf[64];
  int           entries;       /* times the step function was entered */
  int           first_pended;  /* the first await went through a completion */
  int           first_error;
  unsigned long first_win32;
  unsigned long first_bytes;
  int           second_pended;
  int           second_error;
  unsigned long second_bytes;
} stream_user_t;

static stream_user_t user;

static void user_reset(void)
{
  HANDLE done = user.tt.done;
  memset(&user, 0, sizeof user);
  user.tt.done = done;
}

/* Two receives on one socket, then close. */
static co_state_t recv_twice_step(co_task_t *t)
{
  stream_user_t *u = (stream_user_t *)t;
  u->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&u->op, u->sock, u->buf, sizeof u->buf, t));
  u->first_pended = u->entries > 1;
  u->first_error = u->op.error;
  u->first_win32 = u->op.win32_error;
  u->first_bytes = u->op.bytes;
  u->entries = 1;
  CO_AWAIT(t, sock_recv_start(&u->op, u->sock, u->buf, sizeof u->buf, t));
  u->second_pended = u->entries > 1;
  u->second_error = u->op.error;
  u->second_bytes = u->op.bytes;
  sock_close(u->sock);
  CO_END(t);
}

/* A receive whose WSARecv fails at once (WSAECONNRESET) finishes inside its
 * start with CO_ECONNRESET and the raw code, without a completion; the
 * socket is not harmed: the next receive on it gets the peer's data. */
START_TEST(recv_call_failure_reports_reset_and_socket_still_works)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  user_reset();
  user.sock = test_pair(rt, &raw);
  sock_fault_nth(SOCK_SYS_WSARECV, 1, 1, WSAECONNRESET);
  test_spawn(rt, &user.tt, recv_twice_step);
  /* The first receive failed inside sock_spawn; the second waits. */
  ck_assert_msg(!user.first_pended, "the failed receive went through a completion");
  ck_assert_msg(user.first_error == CO_ECONNRESET, "the receive ended with %s (win32 %lu)",
                co_errname(user.first_error), user.first_win32);
  ck_assert_uint_eq(user.first_win32, WSAECONNRESET);
  ck_assert_uint_eq(user.first_bytes, 0);
  test_wait_counters(rt, 1, 1, 1, 5000);

  test_raw_send(raw, "ping", 4);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_msg(user.second_pended, "the second receive did not pend");
  ck_assert_msg(user.second_error == CO_OK, "the second receive ended with %s",
                co_errname(user.second_error));
  ck_assert_uint_eq(user.second_bytes, 4);
  ck_assert_int_eq(memcmp(user.buf, "ping", 4), 0);
  ck_assert_uint_eq(sock_fault_calls(SOCK_SYS_WSARECV), 2);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_WSARECV), 1);
  sock_fault_reset();
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

static co_state_t send_twice_step(co_task_t *t)
{
  stream_user_t *u = (stream_user_t *)t;
  u->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_send_all_start(&u->op, u->sock, "lost", 4, t));
  u->first_pended = u->entries > 1;
  u->first_error = u->op.error;
  u->first_win32 = u->op.win32_error;
  u->first_bytes = u->op.bytes;
  u->entries = 1;
  CO_AWAIT(t, sock_send_all_start(&u->op, u->sock, "kept", 4, t));
  u->second_pended = u->entries > 1;
  u->second_error = u->op.error;
  u->second_bytes = u->op.bytes;
  sock_close(u->sock);
  CO_END(t);
}

/* A send whose WSASend fails at once (its usual error, WSAECONNRESET)
 * finishes inside its start with CO_ECONNRESET, 0 bytes sent; nothing of it
 * reaches the peer, and the next send on the socket goes through. */
START_TEST(send_call_failure_reports_reset_and_sends_nothing)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  char got[4];

  user_reset();
  user.sock = test_pair(rt, &raw);
  sock_fault_nth(SOCK_SYS_WSASEND, 1, 1, 0);
  test_spawn(rt, &user.tt, send_twice_step);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_msg(!user.first_pended, "the failed send went through a completion");
  ck_assert_msg(user.first_error == CO_ECONNRESET, "the send ended with %s (win32 %lu)",
                co_errname(user.first_error), user.first_win32);
  ck_assert_uint_eq(user.first_win32, WSAECONNRESET);
  ck_assert_uint_eq(user.first_bytes, 0);
  ck_assert_msg(user.second_error == CO_OK, "the second send ended with %s",
                co_errname(user.second_error));
  ck_assert_uint_eq(user.second_bytes, 4);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_WSASEND), 1);

  /* The peer gets "kept" and then the end: no byte of "lost". */
  test_raw_recv(raw, got, 4);
  ck_assert_int_eq(memcmp(got, "kept", 4), 0);
  ck_assert(raw_sees_end(raw, 5000));
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

static co_state_t recv_once_step(co_task_t *t)
{
  stream_user_t *u = (stream_user_t *)t;
  u->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&u->op, u->sock, u->buf, sizeof u->buf, t));
  u->first_pended = u->entries > 1;
  u->first_error = u->op.error;
  u->first_win32 = u->op.win32_error;
  sock_close(u->sock);
  CO_END(t);
}

/* A pending receive whose completion reports ERROR_NETNAME_DELETED (how a
 * reset reaches a completion) wakes its task with CO_ECONNRESET and that
 * raw code; the task closes the socket and nothing is left. */
START_TEST(recv_completion_failure_reports_reset_at_the_await)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  user_reset();
  user.sock = test_pair(rt, &raw);
  test_spawn(rt, &user.tt, recv_once_step);
  test_wait_counters(rt, 1, 1, 1, 5000);  /* the receive is pending */
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, ERROR_NETNAME_DELETED);
  test_raw_send(raw, "x", 1);
  test_wait(&user.tt, TEST_WAIT_MS);
  ck_assert_msg(user.first_pended, "the receive did not pend");
  ck_assert_msg(user.first_error == CO_ECONNRESET, "the receive ended with %s (win32 %lu)",
                co_errname(user.first_error), user.first_win32);
  ck_assert_uint_eq(user.first_win32, ERROR_NETNAME_DELETED);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_COMPLETION), 1);
  test_wait_counters(rt, 0, 0, 0, 5000);

  closesocket(raw);
  test_runtime_stop(rt);
  test_task_free_event(&user.tt);
}
END_TEST

/* ---- Connect: every step that can fail ----------------------------------------- */

/* What one connect did. A plain task and a sock_task_t run the same step. */
typedef struct connect_result {
  sock_op_t     op;
  sock_t       *sock;     /* set only on success */
  int           entries;  /* times the step function was entered */
  int           pended;   /* the connect went through a completion */
  int           error;
  unsigned long win32;
} connect_result_t;

typedef struct plain_connector {
  plain_t          p;     /* first: a plain co task */
  connect_result_t r;
} plain_connector_t;

typedef struct task_connector {
  test_task_t      tt;    /* first: a sock_task_t */
  connect_result_t r;
} task_connector_t;

static plain_connector_t plain_connector;
static task_connector_t  task_connector;
static sock_runtime_t   *connect_rt;
static unsigned short    connect_port;
static const char       *connect_host = "127.0.0.1";

static connect_result_t *connect_result_of(co_task_t *t)
{
  if (sock_task_of(t) != NULL)
    return &((task_connector_t *)t)->r;
  return &((plain_connector_t *)t)->r;
}

static co_state_t connect_step(co_task_t *t)
{
  connect_result_t *r = connect_result_of(t);
  r->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&r->op, connect_rt, connect_host, connect_port, &r->sock, t));
  r->pended = r->entries > 1;
  r->error = r->op.error;
  r->win32 = r->op.win32_error;
  if (r->sock != NULL)  /* not expected: keep nothing open */
    sock_close(r->sock);
  CO_END(t);
}

enum { ANY_WIN32 = -1 };

static void check_connect(const char *who, const connect_result_t *r, int error, long win32,
                          int pended)
{
  ck_assert_msg(r->error == error, "%s: the connect ended with %s (win32 %lu), not %s", who,
                co_errname(r->error), r->win32, co_errname(error));
  if (win32 != ANY_WIN32)
    ck_assert_msg(r->win32 == (unsigned long)win32, "%s: win32 %lu, not %ld", who, r->win32,
                  win32);
  ck_assert_msg(r->pended == pended, "%s: the connect %s", who,
                pended ? "finished inside its start" : "went through a completion");
  ck_assert_msg(r->sock == NULL, "%s: a failed connect handed out a socket", who);
}

/* Runs the connect in a plain co task, then in a sock_task_t (with the
 * fault armed by the caller for every call), checks what each saw, and
 * that nothing is left. A plain listener is the target, so that without the
 * fault each connect would succeed. */
static void connect_both(sock_runtime_t *rt, int error, long win32, int pended)
{
  HANDLE done;

  done = plain_connector.p.done;
  memset(&plain_connector, 0, sizeof plain_connector);
  plain_connector.p.done = done;
  plain_start(&plain_connector.p, connect_step);
  ck_assert_msg(WaitForSingleObject(plain_connector.p.done, TEST_WAIT_MS) == WAIT_OBJECT_0,
                "the plain task's connect did not end");
  check_connect("plain task", &plain_connector.r, error, win32, pended);

  done = task_connector.tt.done;
  memset(&task_connector, 0, sizeof task_connector);
  task_connector.tt.done = done;
  test_spawn(rt, &task_connector.tt, connect_step);
  test_wait(&task_connector.tt, TEST_WAIT_MS);
  check_connect("sock_task_t", &task_connector.r, error, win32, pended);

  test_wait_counters(rt, 0, 0, 0, 5000);
}

static SOCKET connect_target;

static sock_runtime_t *connect_setup(void)
{
  sock_runtime_t *rt = test_runtime_start();
  connect_rt = rt;
  connect_target = test_raw_listen(16, &connect_port);
  return rt;
}

static void connect_teardown(sock_runtime_t *rt)
{
  closesocket(connect_target);
  test_runtime_stop(rt);
  plain_free_event(&plain_connector.p);
  test_task_free_event(&task_connector.tt);
}

/* The lookup of a name failing with WSAHOST_NOT_FOUND: the connect pends
 * (names are resolved from a pool thread) and ends with CO_ENOTFOUND and
 * the raw code, for a plain task and for a sock_task_t. */
START_TEST(connect_name_not_found_gives_enotfound)
{
  sock_runtime_t *rt = connect_setup();
  sock_fault_nth(SOCK_SYS_GETADDRINFOEXW, 1, 0, WSAHOST_NOT_FOUND);
  connect_host = "localhost";
  connect_both(rt, CO_ENOTFOUND, WSAHOST_NOT_FOUND, 1);
  connect_host = "127.0.0.1";
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_GETADDRINFOEXW), 2);
  sock_fault_reset();
  connect_teardown(rt);
}
END_TEST

/* Out of memory before anything is under way: the connect's job cannot be
 * allocated (calloc), or its resolution cannot be submitted to the pool
 * (TrySubmitThreadpoolCallback): the start fails at once with CO_ENOMEM, no
 * completion comes, for a plain task and for a sock_task_t. */
START_TEST(connect_start_out_of_memory_fails_at_once_with_enomem)
{
  sock_runtime_t *rt = connect_setup();
  sock_fault_nth(SOCK_SYS_CALLOC, 1, 0, 0);
  connect_both(rt, CO_ENOMEM, 0, 0);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_CALLOC), 2);
  sock_fault_reset();

  sock_fault_nth(SOCK_SYS_TRYSUBMITTHREADPOOLCALLBACK, 1, 0, 0);
  connect_both(rt, CO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY, 0);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_TRYSUBMITTHREADPOOLCALLBACK), 2);
  sock_fault_reset();
  connect_teardown(rt);
}
END_TEST

/* Out of socket handles (WSASocketW fails with WSAEMFILE for the attempt):
 * the connect ends with CO_ENOBUFS and the raw WSAEMFILE, for a plain task
 * and for a sock_task_t. */
START_TEST(connect_out_of_socket_handles_gives_enobufs)
{
  sock_runtime_t *rt = connect_setup();
  sock_fault_nth(SOCK_SYS_WSASOCKETW, 1, 0, WSAEMFILE);
  /* The raw code is not kept for a socket that could not be made. */
  connect_both(rt, CO_ENOBUFS, WSAEMFILE, 1);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_WSASOCKETW), 2);
  sock_fault_reset();
  connect_teardown(rt);
}
END_TEST

/* ConnectEx failing, at once (WSAECONNREFUSED) or in its completion
 * (ERROR_SEM_TIMEOUT): the connect ends with that error translated and the
 * raw code, its attempt socket is closed, for a plain task and for a
 * sock_task_t. */
START_TEST(connect_connectex_failure_gives_its_error)
{
  sock_runtime_t *rt = connect_setup();
  sock_fault_nth(SOCK_SYS_CONNECTEX, 1, 0, 0);
  connect_both(rt, CO_ECONNREFUSED, WSAECONNREFUSED, 1);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_CONNECTEX), 2);
  sock_fault_reset();

  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 0, ERROR_SEM_TIMEOUT);
  connect_both(rt, CO_ETIMEDOUT, ERROR_SEM_TIMEOUT, 1);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_COMPLETION), 2);
  sock_fault_reset();
  connect_teardown(rt);
}
END_TEST

/* ---- Listening and timers out of resources ------------------------------------ */

typedef struct listen_fault {
  sock_syscall_t call;
  unsigned long  nth;
  unsigned long  error;   /* 0: the call's usual failure */
  int            expect;
  const char    *what;
} listen_fault_t;

static const listen_fault_t listen_faults[] = {
  { SOCK_SYS_GETADDRINFO, 1, WSAHOST_NOT_FOUND, CO_ENOTFOUND, "resolving the address" },
  { SOCK_SYS_WSASOCKETW, 1, WSAEMFILE, CO_ENOBUFS, "the listening socket" },
  { SOCK_SYS_BIND, 1, 0, CO_EADDRINUSE, "bind" },
  { SOCK_SYS_LISTEN, 1, 0, CO_ENOBUFS, "listen" },
  { SOCK_SYS_CALLOC, 1, 0, CO_ENOMEM, "the sock_t" },
  { SOCK_SYS_CREATETHREADPOOLIO, 1, 0, CO_ENOMEM, "the IO object" },
  { SOCK_SYS_CALLOC, 2, 0, CO_ENOMEM, "the accept slots" },
  { SOCK_SYS_WSASOCKETW, 2, WSAEMFILE, CO_ENOBUFS, "the first slot's socket" },
  { SOCK_SYS_ACCEPTEX, 1, WSAENOBUFS, CO_ENOBUFS, "the first AcceptEx" },
  { SOCK_SYS_ACCEPTEX, 2, WSAENOBUFS, CO_ENOBUFS, "the second AcceptEx (one posted)" }
};

/* sock_listen fails cleanly whichever of its calls fails: it returns the
 * call's error translated (CO_ENOMEM for calloc and CreateThreadpoolIo),
 * *out stays NULL, no socket stays counted, and the port is free again at
 * once (the socket was closed: a new listener binds it, exclusively). */
START_TEST(listen_fails_cleanly_when_any_call_fails)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *l = NULL;
  unsigned short port;
  size_t i;

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &l), CO_OK);
  port = test_port(l);
  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);

  for (i = 0; i < sizeof listen_faults / sizeof listen_faults[0]; i++) {
    const listen_fault_t *f = &listen_faults[i];
    int rc;
    l = (sock_t *)&rc;  /* anything but NULL: the call must clear it */
    sock_fault_nth(f->call, f->nth, 1, f->error);
    /* A numeric address is not looked up: the lookup's failure needs a name. */
    rc = sock_listen(rt, f->call == SOCK_SYS_GETADDRINFO ? "localhost" : "127.0.0.1", port, 16,
                     &l);
    sock_fault_reset();
    ck_assert_msg(rc == f->expect, "%s failing: sock_listen returned %s, not %s", f->what,
                  co_errname(rc), co_errname(f->expect));
    ck_assert_msg(l == NULL, "%s failing: *out is not NULL", f->what);
    ck_assert_msg(sock_fault_failures(f->call) == 1, "%s: %lu failures", f->what,
                  sock_fault_failures(f->call));
    test_wait_counters(rt, 0, 0, 0, 5000);

    rc = sock_listen(rt, "127.0.0.1", port, 16, &l);
    ck_assert_msg(rc == CO_OK, "after %s failed, the port is not free: %s", f->what,
                  co_errname(rc));
    sock_close(l);
    test_wait_counters(rt, 0, 0, 0, 5000);
  }
  test_runtime_stop(rt);
}
END_TEST

typedef struct timer_user {
  test_task_t tt;
  sock_op_t   op;
  int         entries;
  int         deadline_calloc;  /* sock_deadline_set with calloc failing */
  int         deadline_timer;   /* ... with CreateThreadpoolTimer failing */
  int         sleep_calloc;     /* the sleep's op.error, calloc failing */
  int         sleep_calloc_pended;
  int         sleep_timer;      /* ... CreateThreadpoolTimer failing */
  int         sleep_timer_pended;
  int         deadline_ok;      /* after the reset */
  int         sleep_ok;
  int         sleep_ok_pended;
} timer_user_t;

static timer_user_t timer_user;

/* Until its last sleep pends, the step runs inside sock_spawn on the test
 * thread: arming the seam here is arming it from the test. */
static co_state_t timer_user_step(co_task_t *t)
{
  timer_user_t *u = (timer_user_t *)t;
  sock_task_t *st = sock_task_of(t);
  u->entries++;
  CO_BEGIN(t);
  sock_fault_nth(SOCK_SYS_CALLOC, 1, 1, 0);
  u->deadline_calloc = sock_deadline_set(st, 5000);
  sock_fault_nth(SOCK_SYS_CREATETHREADPOOLTIMER, 1, 1, 0);
  u->deadline_timer = sock_deadline_set(st, 5000);

  sock_fault_nth(SOCK_SYS_CALLOC, 1, 1, 0);
  u->entries = 1;
  CO_AWAIT(t, sock_sleep_start(&u->op, 10, st));
  u->sleep_calloc_pended = u->entries > 1;
  u->sleep_calloc = u->op.error;

  sock_fault_nth(SOCK_SYS_CREATETHREADPOOLTIMER, 1, 1, 0);
  u->entries = 1;
  CO_AWAIT(t, sock_sleep_start(&u->op, 10, st));
  u->sleep_timer_pended = u->entries > 1;
  u->sleep_timer = u->op.error;

  sock_fault_reset();
  u->deadline_ok = sock_deadline_set(st, 5000);
  u->entries = 1;
  CO_AWAIT(t, sock_sleep_start(&u->op, 10, st));
  u->sleep_ok_pended = u->entries > 1;
  u->sleep_ok = u->op.error;
  sock_deadline_clear(st);
  CO_END(t);
}

/* A task's timer cannot be made (calloc, or CreateThreadpoolTimer, fails):
 * sock_deadline_set returns CO_ENOMEM, and sock_sleep_start fails at once
 * with CO_ENOMEM (no completion). Once memory is back, the same task sets a
 * deadline and sleeps normally. */
START_TEST(timer_failure_gives_enomem_and_task_recovers)
{
  sock_runtime_t *rt = test_runtime_start();
  HANDLE done = timer_user.tt.done;
  memset(&timer_user, 0, sizeof timer_user);
  timer_user.tt.done = done;
  test_spawn(rt, &timer_user.tt, timer_user_step);
  test_wait(&timer_user.tt, TEST_WAIT_MS);
  ck_assert_str_eq(co_errname(timer_user.deadline_calloc), "CO_ENOMEM");
  ck_assert_str_eq(co_errname(timer_user.deadline_timer), "CO_ENOMEM");
  ck_assert_str_eq(co_errname(timer_user.sleep_calloc), "CO_ENOMEM");
  ck_assert_msg(!timer_user.sleep_calloc_pended, "the refused sleep pended");
  ck_assert_str_eq(co_errname(timer_user.sleep_timer), "CO_ENOMEM");
  ck_assert_msg(!timer_user.sleep_timer_pended, "the refused sleep pended");
  ck_assert_str_eq(co_errname(timer_user.deadline_ok), "CO_OK");
  ck_assert_str_eq(co_errname(timer_user.sleep_ok), "CO_OK");
  ck_assert_msg(timer_user.sleep_ok_pended, "the last sleep did not pend");
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&timer_user.tt);
}
END_TEST

/* ---- Accepting: a slot's completion or its re-post fails ----------------------- */

typedef struct acceptor {
  test_task_t    tt;
  sock_t        *listener;
  sock_op_t      op;
  sock_accept_t  acc;
  int            try_again;     /* after a failure, accept once more at once */
  int            entries;
  int            pended;
  int            error;
  unsigned long  win32;
  int            got;           /* a socket came out */
  unsigned short peer_port;
  int            again_pended;
  int            again_error;
  int            again_got;
  unsigned short again_peer_port;
} acceptor_t;

static acceptor_t acceptor, acceptor2;

static void acceptor_reset(acceptor_t *a, sock_t *listener, int try_again)
{
  HANDLE done = a->tt.done;
  memset(a, 0, sizeof *a);
  a->tt.done = done;
  a->listener = listener;
  a->try_again = try_again;
}

/* Takes what an accept delivered (its peer port), and closes it. */
static int acceptor_take(acceptor_t *a, unsigned short *peer_port)
{
  if (a->acc.sock == NULL)
    return 0;
  *peer_port = ntohs(a->acc.peer.Ipv4.sin_port);
  sock_close(a->acc.sock);
  a->acc.sock = NULL;
  return 1;
}

static co_state_t acceptor_step(co_task_t *t)
{
  acceptor_t *a = (acceptor_t *)t;
  a->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&a->op, a->listener, &a->acc, t));
  a->pended = a->entries > 1;
  a->error = a->op.error;
  a->win32 = a->op.win32_error;
  a->got = acceptor_take(a, &a->peer_port);
  if (a->error < 0 && a->try_again) {
    a->entries = 1;
    CO_AWAIT(t, sock_accept_start(&a->op, a->listener, &a->acc, t));
    a->again_pended = a->entries > 1;
    a->again_error = a->op.error;
    a->again_got = acceptor_take(a, &a->again_peer_port);
  }
  CO_END(t);
}

/* Starts an acceptor on a fresh listener and waits until it is parked: the
 * listener's slots are posted and the task waits in the listener's queue. */
static sock_t *listener_with_waiter(sock_runtime_t *rt, unsigned slots, acceptor_t *a,
                                    int try_again, unsigned short *port)
{
  sock_t *l = NULL;
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &l), CO_OK);
  *port = test_port(l);
  acceptor_reset(a, l, try_again);
  test_spawn(rt, &a->tt, acceptor_step);
  test_wait_counters(rt, 1, 1, (long)slots + 1, 5000);
  return l;
}

/* A posted AcceptEx whose completion fails (ERROR_NETNAME_DELETED: the
 * client reset before we took it) costs that connection only: its socket is
 * closed (the client sees the end), the slot is posted again, and the task
 * waiting to accept is not woken by the failure but by the next client,
 * which it gets. One slot only, so that the next client can only be taken
 * by the re-posted slot. */
START_TEST(accept_completion_failure_reposts_the_slot)
{
  sock_runtime_t *rt = runtime_with_slots(1);
  unsigned short port;
  SOCKET c1, c2;
  sock_t *l = listener_with_waiter(rt, 1, &acceptor, 0, &port);

  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, 0);
  c1 = test_raw_connect(port);
  ck_assert_msg(wait_failures(SOCK_SYS_COMPLETION, 1, 5000), "the AcceptEx did not complete");
  ck_assert_msg(raw_sees_end(c1, 5000), "the client of the failed accept was not closed");
  ck_assert_msg(!test_finished(&acceptor.tt), "the accept ended with %s on a slot's failure",
                co_errname(acceptor.error));
  test_wait_counters(rt, 1, 1, 2, 5000);  /* the slot is posted again */

  c2 = test_raw_connect(port);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_msg(acceptor.error == CO_OK, "the accept ended with %s (win32 %lu)",
                co_errname(acceptor.error), acceptor.win32);
  ck_assert(acceptor.pended);
  ck_assert(acceptor.got);
  ck_assert_uint_eq(acceptor.peer_port, raw_local_port(c2));
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_COMPLETION), 1);

  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  closesocket(c1);
  closesocket(c2);
  test_runtime_stop(rt);
  test_task_free_event(&acceptor.tt);
}
END_TEST

/* The connection an AcceptEx took cannot be wrapped (CreateThreadpoolIo
 * fails for it): the waiting task wakes with CO_ENOMEM and no socket, the
 * client sees its connection closed, and the task's next accept gets the
 * next client. */
START_TEST(accepted_connection_without_io_object_gives_enomem)
{
  sock_runtime_t *rt = runtime_with_slots(1);
  unsigned short port;
  SOCKET c1, c2;
  sock_t *l = listener_with_waiter(rt, 1, &acceptor, 1, &port);

  sock_fault_nth(SOCK_SYS_CREATETHREADPOOLIO, 1, 1, 0);
  c1 = test_raw_connect(port);
  ck_assert_msg(raw_sees_end(c1, 5000), "the client of the failed accept was not closed");
  c2 = test_raw_connect(port);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_msg(acceptor.error == CO_ENOMEM, "the accept ended with %s (win32 %lu)",
                co_errname(acceptor.error), acceptor.win32);
  ck_assert(!acceptor.got);
  ck_assert_msg(acceptor.again_error == CO_OK, "the next accept ended with %s",
                co_errname(acceptor.again_error));
  ck_assert(acceptor.again_got);
  ck_assert_uint_eq(acceptor.again_peer_port, raw_local_port(c2));
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_CREATETHREADPOOLIO), 1);

  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  closesocket(c1);
  closesocket(c2);
  test_runtime_stop(rt);
  test_task_free_event(&acceptor.tt);
}
END_TEST

/* The regression "lost accept slot", with `repost` failing every call from
 * the moment the listener's only posted AcceptEx completes with an error:
 * the slot cannot be posted again, so no connection can come, and the task
 * parked in sock_accept_start must wake with the re-post's error (not hang);
 * an accept started now fails at once with it. After the reset, a new
 * sock_accept_start posts the slot again and accepts a new client. */
static void lost_slot_case(sock_syscall_t repost, unsigned long repost_error, int expect)
{
  sock_runtime_t *rt = runtime_with_slots(1);
  unsigned short port;
  SOCKET c1, c2;
  sock_t *l = listener_with_waiter(rt, 1, &acceptor, 1, &port);

  sock_fault_nth(repost, 1, 0, repost_error);       /* first: the completion re-posts */
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, 0);
  c1 = test_raw_connect(port);
  ck_assert_msg(WaitForSingleObject(acceptor.tt.done, 5000) == WAIT_OBJECT_0,
                "the task waiting to accept hangs after its only slot was lost");
  ck_assert(acceptor.pended);
  ck_assert_msg(acceptor.error == expect, "the accept woke with %s (win32 %lu), not %s",
                co_errname(acceptor.error), acceptor.win32, co_errname(expect));
  ck_assert(!acceptor.got);
  ck_assert_msg(!acceptor.again_pended && acceptor.again_error == expect,
                "an accept with no slot postable %s with %s, not at once with %s",
                acceptor.again_pended ? "pended and ended" : "ended",
                co_errname(acceptor.again_error), co_errname(expect));
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_COMPLETION), 1);
  ck_assert_uint_ge(sock_fault_failures(repost), 2);
  ck_assert(raw_sees_end(c1, 5000));
  test_wait_counters(rt, 1, 0, 0, 5000);  /* nothing posted, nobody waiting */

  sock_fault_reset();
  acceptor_reset(&acceptor2, l, 0);
  test_spawn(rt, &acceptor2.tt, acceptor_step);
  test_wait_counters(rt, 1, 1, 2, 5000);  /* the slot is posted again; the task waits */
  c2 = test_raw_connect(port);
  test_wait(&acceptor2.tt, TEST_WAIT_MS);
  ck_assert_msg(acceptor2.error == CO_OK, "the accept after the reset ended with %s",
                co_errname(acceptor2.error));
  ck_assert(acceptor2.got);
  ck_assert_uint_eq(acceptor2.peer_port, raw_local_port(c2));

  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  closesocket(c1);
  closesocket(c2);
  test_runtime_stop(rt);
  test_task_free_event(&acceptor.tt);
  test_task_free_event(&acceptor2.tt);
}

/* The re-post fails for want of a socket (WSASocketW: WSAEMFILE): the
 * parked accept wakes with CO_ENOBUFS. */
START_TEST(lost_slot_out_of_sockets_wakes_parked_accept)
{
  lost_slot_case(SOCK_SYS_WSASOCKETW, WSAEMFILE, CO_ENOBUFS);
}
END_TEST

/* The re-post fails in AcceptEx itself (WSAENOBUFS): the parked accept wakes
 * with CO_ENOBUFS. */
START_TEST(lost_slot_acceptex_failure_wakes_parked_accept)
{
  lost_slot_case(SOCK_SYS_ACCEPTEX, WSAENOBUFS, CO_ENOBUFS);
}
END_TEST

/* The same loss on the other path: the only slot's connection goes to the
 * first of two waiting tasks, and the slot cannot be posted again (out of
 * sockets). The second task must wake with CO_ENOBUFS, not wait for a
 * connection that cannot come; after the reset a new accept gets a client. */
START_TEST(lost_slot_after_a_delivery_wakes_the_next_waiter)
{
  sock_runtime_t *rt = runtime_with_slots(1);
  unsigned short port;
  SOCKET c1, c2;
  sock_t *l = listener_with_waiter(rt, 1, &acceptor, 0, &port);

  acceptor_reset(&acceptor2, l, 0);
  test_spawn(rt, &acceptor2.tt, acceptor_step);
  test_wait_counters(rt, 1, 2, 3, 5000);  /* one slot posted, two tasks waiting */

  sock_fault_nth(SOCK_SYS_WSASOCKETW, 1, 0, WSAEMFILE);
  c1 = test_raw_connect(port);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_msg(acceptor.error == CO_OK, "the first waiter's accept ended with %s",
                co_errname(acceptor.error));
  ck_assert(acceptor.got);
  ck_assert_uint_eq(acceptor.peer_port, raw_local_port(c1));
  ck_assert_msg(WaitForSingleObject(acceptor2.tt.done, 5000) == WAIT_OBJECT_0,
                "the second waiter hangs after the only slot could not be posted again");
  ck_assert(acceptor2.pended);
  ck_assert_msg(acceptor2.error == CO_ENOBUFS, "the second waiter woke with %s (win32 %lu)",
                co_errname(acceptor2.error), acceptor2.win32);
  ck_assert(!acceptor2.got);
  ck_assert_uint_ge(sock_fault_failures(SOCK_SYS_WSASOCKETW), 1);
  test_wait_counters(rt, 1, 0, 0, 5000);

  sock_fault_reset();
  acceptor_reset(&acceptor, l, 0);
  test_spawn(rt, &acceptor.tt, acceptor_step);
  test_wait_counters(rt, 1, 1, 2, 5000);
  c2 = test_raw_connect(port);
  test_wait(&acceptor.tt, TEST_WAIT_MS);
  ck_assert_msg(acceptor.error == CO_OK, "the accept after the reset ended with %s",
                co_errname(acceptor.error));
  ck_assert_uint_eq(acceptor.peer_port, raw_local_port(c2));

  sock_close(l);
  test_wait_counters(rt, 0, 0, 0, 5000);
  closesocket(c1);
  closesocket(c2);
  test_runtime_stop(rt);
  test_task_free_event(&acceptor.tt);
  test_task_free_event(&acceptor2.tt);
}
END_TEST

/* ---- sock_cancel of a listener, and a close in the woken task ------------------- */

typedef struct plain_acceptor {
  plain_t       p;          /* first: a plain co task */
  sock_t       *listener;
  sock_op_t     op;
  sock_accept_t acc;
  int           entries;
  int           error;
  DWORD         thread;     /* where the task resumed after its await */
} plain_acceptor_t;

static plain_acceptor_t plain_acceptor;

static co_state_t closing_acceptor_step(co_task_t *t)
{
  plain_acceptor_t *a = (plain_acceptor_t *)t;
  a->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&a->op, a->listener, &a->acc, t));
  a->thread = GetCurrentThreadId();
  a->error = a->op.error;
  if (a->acc.sock != NULL)  /* not expected: keep nothing open */
    sock_close(a->acc.sock);
  sock_close(a->listener);  /* the cleanup that deadlocked */
  CO_END(t);
}

/* The other thread: cancels `cancel_target` each time it is told to. */
static HANDLE         canceller_go, canceller_done;
static sock_t        *cancel_target;
static volatile DWORD canceller_thread;
static volatile LONG  canceller_quit;

static DWORD WINAPI canceller(LPVOID arg)
{
  (void)arg;
  for (;;) {
    WaitForSingleObject(canceller_go, INFINITE);
    if (InterlockedCompareExchange(&canceller_quit, 0, 0))
      return 0;
    canceller_thread = GetCurrentThreadId();
    sock_cancel(cancel_target);
    SetEvent(canceller_done);
  }
}

enum { CANCEL_CLOSE_ROUNDS = 200 };

/* The regression "deadlock", 200 times: a plain co task parked in
 * sock_accept_start on a fresh listener; another thread calls
 * sock_cancel(listener); the task wakes with CO_ECANCELED on a pool thread
 * (not on the canceller's, inside sock_cancel, under the runtime's lock),
 * closes the listener in its cleanup and ends. Every round ends within 5 s
 * and leaves nothing behind. */
START_TEST(listener_cancel_then_close_in_woken_task_never_deadlocks)
{
  sock_runtime_t *rt = runtime_with_slots(1);
  HANDLE thread;
  DWORD start = GetTickCount();
  int round;

  canceller_go = CreateEventW(NULL, FALSE, FALSE, NULL);
  canceller_done = CreateEventW(NULL, FALSE, FALSE, NULL);
  canceller_quit = 0;
  thread = CreateThread(NULL, 0, canceller, NULL, 0, NULL);
  ck_assert_ptr_nonnull(thread);

  for (round = 0; round < CANCEL_CLOSE_ROUNDS; round++) {
    sock_t *l = NULL;
    HANDLE done = plain_acceptor.p.done;
    memset(&plain_acceptor, 0, sizeof plain_acceptor);
    plain_acceptor.p.done = done;
    ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &l), CO_OK);
    plain_acceptor.listener = l;
    plain_start(&plain_acceptor.p, closing_acceptor_step);
    ck_assert_msg(!plain_finished(&plain_acceptor.p), "round %d: the accept did not wait",
                  round);

    cancel_target = l;
    SetEvent(canceller_go);
    ck_assert_msg(WaitForSingleObject(canceller_done, 5000) == WAIT_OBJECT_0,
                  "round %d: sock_cancel did not return", round);
    ck_assert_msg(WaitForSingleObject(plain_acceptor.p.done, 5000) == WAIT_OBJECT_0,
                  "round %d: the task did not end after sock_cancel (deadlock?)", round);
    ck_assert_msg(plain_acceptor.entries == 2, "round %d: %d entries", round,
                  plain_acceptor.entries);
    ck_assert_msg(plain_acceptor.error == CO_ECANCELED, "round %d: the accept ended with %s",
                  round, co_errname(plain_acceptor.error));
    ck_assert_msg(plain_acceptor.thread != canceller_thread,
                  "round %d: the task resumed inside sock_cancel, on the canceller's thread",
                  round);
    test_wait_counters(rt, 0, 0, 0, 5000);
  }
  printf("cancel then close: %d rounds in %lu ms\n", CANCEL_CLOSE_ROUNDS,
         (unsigned long)(GetTickCount() - start));

  InterlockedExchange(&canceller_quit, 1);
  SetEvent(canceller_go);
  ck_assert(WaitForSingleObject(thread, 5000) == WAIT_OBJECT_0);
  CloseHandle(thread);
  CloseHandle(canceller_go);
  CloseHandle(canceller_done);
  test_runtime_stop(rt);
  plain_free_event(&plain_acceptor.p);
}
END_TEST

/* ---- sock_task_cancel on a struct never spawned --------------------------------- */

typedef struct sleeper {
  test_task_t tt;
  sock_op_t   op;
  int         entries;
  int         pended;
  int         error;
} sleeper_t;

static sleeper_t never_spawned;  /* zero-initialised */

static co_state_t sleeper_step(co_task_t *t)
{
  sleeper_t *s = (sleeper_t *)t;
  s->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_sleep_start(&s->op, 20, sock_task_of(t)));
  s->pended = s->entries > 1;
  s->error = s->op.error;
  CO_END(t);
}

/* The regression "crash": sock_task_cancel on a zero-initialised
 * sock_task_t that was never given to sock_spawn does nothing (it has no
 * runtime, hence no lock, to use); sock_spawn then starts it afresh, and its
 * sleep is not cancelled. */
START_TEST(task_cancel_before_spawn_is_ignored)
{
  sock_runtime_t *rt = test_runtime_start();
  memset(&never_spawned, 0, sizeof never_spawned);
  sock_task_cancel(&never_spawned.tt.st);
  sock_task_cancel(NULL);
  test_spawn(rt, &never_spawned.tt, sleeper_step);
  test_wait(&never_spawned.tt, TEST_WAIT_MS);
  ck_assert_msg(never_spawned.pended, "the sleep did not pend");
  ck_assert_msg(never_spawned.error == CO_OK, "the sleep ended with %s",
                co_errname(never_spawned.error));
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&never_spawned.tt);
}
END_TEST

/* ---- Every start during the shutdown -------------------------------------------- */

enum {
  LATE_SLEEP, LATE_EVENT, LATE_SEM, LATE_CHAN_SEND, LATE_CHAN_RECV, LATE_WAITGROUP,
  LATE_RECV, LATE_SEND, LATE_ACCEPT, LATE_CONNECT, LATE_LISTEN, LATE_STARTS
};

static const char *const late_names[LATE_STARTS] = {
  "sock_sleep_start", "sock_event_wait_start", "sock_sem_acquire_start",
  "sock_chan_send_start", "sock_chan_recv_start", "sock_waitgroup_wait_start",
  "sock_recv_start", "sock_send_start", "sock_accept_start", "sock_connect_start",
  "sock_listen"
};

enum { NOT_CALLED = 12345 };

typedef struct late {
  test_task_t      tt;
  sock_op_t        op;                  /* the sleep shutdown ends */
  int              entries;
  int              sleep_pended;
  int              sleep_error;
  sock_op_t        ops[LATE_STARTS];
  int              rc[LATE_STARTS];     /* what each start returned */
  int              error[LATE_STARTS];  /* op.error after each await */
  sock_t          *sock;                /* connected, a byte waiting to be read */
  sock_t          *listener;
  unsigned short   port;                /* the listener's: a connect would work */
  sock_event_t     ev;                  /* set: a wait would pass */
  sock_sem_t       sem;                 /* a permit free */
  sock_chan_t      empty;               /* room to send */
  void            *empty_slots[2];
  sock_chan_t      full;                /* an item to receive */
  void            *full_slots[2];
  void            *item;
  sock_waitgroup_t wg;                  /* at zero: a wait would pass */
  sock_accept_t    acc;
  sock_t          *connected;
  sock_t          *listened;
  char             buf[8];
} late_t;

static late_t late;

/* Stores what start `i` returned. Every start here must finish at once; if
 * one pended, this store could race with its completion, but the test fails
 * then anyway (and the completion touches neither rc[] nor this). */
static int late_keep(late_t *l, int i, int rc)
{
  l->rc[i] = rc;
  return rc;
}

/* Parked in a long sleep until shutdown cancels it; then, inside the
 * shutdown's drain, it tries every start once, each of which would finish
 * at once (or pend) were the runtime not shutting down. */
static co_state_t late_step(co_task_t *t)
{
  late_t *l = (late_t *)t;
  sock_task_t *st = sock_task_of(t);
  sock_runtime_t *rt = l->tt.st.runtime;
  l->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_sleep_start(&l->op, 60000, st));
  l->sleep_pended = l->entries > 1;
  l->sleep_error = l->op.error;

  CO_AWAIT(t, late_keep(l, LATE_SLEEP, sock_sleep_start(&l->ops[LATE_SLEEP], 10, st)));
  CO_AWAIT(t, late_keep(l, LATE_EVENT, sock_event_wait_start(&l->ops[LATE_EVENT], &l->ev, st)));
  CO_AWAIT(t, late_keep(l, LATE_SEM, sock_sem_acquire_start(&l->ops[LATE_SEM], &l->sem, st)));
  CO_AWAIT(t, late_keep(l, LATE_CHAN_SEND,
                        sock_chan_send_start(&l->ops[LATE_CHAN_SEND], &l->empty, l, st)));
  CO_AWAIT(t, late_keep(l, LATE_CHAN_RECV,
                        sock_chan_recv_start(&l->ops[LATE_CHAN_RECV], &l->full, &l->item, st)));
  CO_AWAIT(t, late_keep(l, LATE_WAITGROUP,
                        sock_waitgroup_wait_start(&l->ops[LATE_WAITGROUP], &l->wg, st)));
  CO_AWAIT(t, late_keep(l, LATE_RECV, sock_recv_start(&l->ops[LATE_RECV], l->sock, l->buf,
                                                      sizeof l->buf, t)));
  CO_AWAIT(t, late_keep(l, LATE_SEND, sock_send_start(&l->ops[LATE_SEND], l->sock, "x", 1, t)));
  CO_AWAIT(t, late_keep(l, LATE_ACCEPT,
                        sock_accept_start(&l->ops[LATE_ACCEPT], l->listener, &l->acc, t)));
  CO_AWAIT(t, late_keep(l, LATE_CONNECT,
                        sock_connect_start(&l->ops[LATE_CONNECT], rt, "127.0.0.1", l->port,
                                           &l->connected, t)));
  l->rc[LATE_LISTEN] = sock_listen(rt, "127.0.0.1", 0, 4, &l->listened);
  {
    int i;
    for (i = 0; i < LATE_LISTEN; i++)
      l->error[i] = l->ops[i].error;
    l->error[LATE_LISTEN] = l->rc[LATE_LISTEN];
  }
  /* Not expected: keep nothing open. */
  if (l->acc.sock != NULL)
    sock_close(l->acc.sock);
  if (l->connected != NULL)
    sock_close(l->connected);
  if (l->listened != NULL)
    sock_close(l->listened);
  sock_close(l->sock);
  sock_close(l->listener);
  CO_END(t);
}

/* The regression "wrong error": while sock_runtime_shutdown runs, every
 * start fails at once with CO_ESHUTDOWN (not CO_ECANCELED, not CO_OK even
 * where the wait would pass at once): a sock_task_t woken from its sleep by
 * the shutdown (with CO_ECANCELED) tries each of them inside the drain. The
 * task has finished when the shutdown returns. */
START_TEST(every_start_during_shutdown_gives_eshutdown)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  HANDLE done = late.tt.done;
  int i;

  memset(&late, 0, sizeof late);
  late.tt.done = done;
  for (i = 0; i < LATE_STARTS; i++)
    late.rc[i] = late.error[i] = NOT_CALLED;
  sock_event_init(&late.ev, 1);
  sock_sem_init(&late.sem, 1);
  sock_chan_init(&late.empty, late.empty_slots, 2);
  sock_chan_init(&late.full, late.full_slots, 2);
  ck_assert_int_eq(sock_chan_try_send(&late.full, &late), CO_OK);
  sock_waitgroup_init(&late.wg);
  late.sock = test_pair(rt, &raw);
  test_raw_send(raw, "d", 1);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &late.listener), CO_OK);
  late.port = test_port(late.listener);
  test_spawn(rt, &late.tt, late_step);
  Sleep(20);
  ck_assert_msg(!test_finished(&late.tt), "the sleep did not wait");

  sock_runtime_shutdown(rt);
  ck_assert_msg(test_finished(&late.tt), "the task had not finished when shutdown returned");
  ck_assert(late.sleep_pended);
  ck_assert_msg(late.sleep_error == CO_ECANCELED, "shutdown woke the sleep with %s",
                co_errname(late.sleep_error));
  for (i = 0; i < LATE_STARTS; i++) {
    ck_assert_msg(late.rc[i] == CO_ESHUTDOWN && late.error[i] == CO_ESHUTDOWN,
                  "%s during shutdown returned %s, op.error %s", late_names[i],
                  late.rc[i] == CO_PENDING ? "CO_PENDING" : co_errname(late.rc[i]),
                  co_errname(late.error[i]));
  }
  ck_assert_ptr_null(late.acc.sock);
  ck_assert_ptr_null(late.connected);
  ck_assert_ptr_null(late.listened);

  closesocket(raw);
  WSACleanup();  /* test_runtime_start's own reference */
  test_task_free_event(&late.tt);
}
END_TEST

/* ---- Random faults while a cancel races --------------------------------------- */

enum { RACE_ITERATIONS = 30 };

typedef struct echoer {
  plain_t       p;        /* first: a plain co task */
  sock_t       *sock;     /* the test's: it closes it after the task ended */
  sock_op_t     op;
  char          buf[64];
  long          rounds;
  int           error;
  unsigned long win32;
} echoer_t;

static echoer_t      echoer;
static test_pinger_t race;  /* the other side of the race */

/* Echoes until an operation fails, and ends; it does not close the socket
 * (the test cancels it, so it must stay valid until the task has ended). */
static co_state_t echoer_step(co_task_t *t)
{
  echoer_t *e = (echoer_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&e->op, e->sock, e->buf, sizeof e->buf, t));
    if (e->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&e->op, e->sock, e->buf, e->op.bytes, t));
    if (e->op.error < 0)
      break;
    e->rounds++;
  }
  e->error = e->op.error;
  e->win32 = e->op.win32_error;
  CO_END(t);
}

/* 30 times: a plain task echoes as fast as a client thread sends while
 * WSARecv and WSASend fail at random (p = 0.05, their usual WSAECONNRESET),
 * and the test thread cancels the socket 0-3 ms after the first echo. The
 * task always ends, with CO_ECANCELED (the cancel came first) or
 * CO_ECONNRESET (a fault did), never anything else; nothing crashes and the
 * counters come back to zero every time. */
START_TEST(random_faults_racing_sock_cancel_end_the_task_cleanly)
{
  sock_runtime_t *rt = test_runtime_start();
  unsigned long mask = (1UL << SOCK_SYS_WSARECV) | (1UL << SOCK_SYS_WSASEND);
  int i, by_cancel = 0, by_fault = 0;
  long total_rounds = 0;

  for (i = 0; i < RACE_ITERATIONS; i++) {
    HANDLE client, done = echoer.p.done;
    DWORD start;
    memset(&echoer, 0, sizeof echoer);
    echoer.p.done = done;
    race.rounds = 0;
    race.stop = 0;
    echoer.sock = test_pair(rt, &race.raw);

    sock_fault_random(0.05, mask, (unsigned long)i + 1);
    plain_start(&echoer.p, echoer_step);
    client = CreateThread(NULL, 0, test_pinger_main, &race, 0, NULL);
    ck_assert_ptr_nonnull(client);
    start = GetTickCount();
    while (race.rounds < 1 && !plain_finished(&echoer.p) &&
           GetTickCount() - start < 5000)
      Sleep(1);
    ck_assert_msg(race.rounds >= 1 || plain_finished(&echoer.p),
                  "iteration %d: no echo and no end", i);
    Sleep((DWORD)(i % 4));

    InterlockedExchange(&race.stop, 1);
    sock_cancel(echoer.sock);
    ck_assert_msg(WaitForSingleObject(echoer.p.done, TEST_WAIT_MS) == WAIT_OBJECT_0,
                  "iteration %d: the task did not end (%ld rounds)", i, echoer.rounds);
    sock_fault_reset();
    if (echoer.error == CO_ECANCELED)
      by_cancel++;
    else if (echoer.error == CO_ECONNRESET && echoer.win32 == WSAECONNRESET)
      by_fault++;
    else
      ck_abort_msg("iteration %d: the task ended with %s (win32 %lu)", i,
                   co_errname(echoer.error), echoer.win32);
    total_rounds += echoer.rounds;

    sock_close(echoer.sock);
    ck_assert_msg(WaitForSingleObject(client, TEST_WAIT_MS) == WAIT_OBJECT_0,
                  "iteration %d: the client did not see the close", i);
    CloseHandle(client);
    closesocket(race.raw);
    test_wait_counters(rt, 0, 0, 0, 5000);
  }
  printf("faults racing a cancel: %d iterations, %d ended by the cancel, %d by a fault, "
         "%ld rounds echoed\n", RACE_ITERATIONS, by_cancel, by_fault, total_rounds);
  test_runtime_stop(rt);
  plain_free_event(&echoer.p);
}
END_TEST

/* ---- Shutdown while faults fly ------------------------------------------------- */

enum { PINGERS = 20 };

typedef struct pinger {
  sock_task_t   st;       /* first: the runtime's part */
  unsigned long id;
  sock_op_t     op;
  sock_t       *sock;
  char          out[8];
  char          in[8];
  long          rounds;
  int           error;    /* what ended it */
} pinger_t;

static pinger_t           pingers[PINGERS];
static test_echo_server_t ping_server;
static unsigned short     ping_port;
static volatile LONG      pingers_ready;     /* echoed once */
static volatile LONG      pingers_finished;
static volatile LONG      pinger_steps;
static volatile LONG      pinger_mismatches;
static volatile LONG      pinger_reconnects; /* after a connection failed */

/* Whether an error means "stop" rather than "this connection failed". */
static int pinger_stops(int error)
{
  return error == CO_ECANCELED || error == CO_ESHUTDOWN;
}

/* Connects and echoes 8-byte messages; when a connection fails (a fault
 * here or on the server's side), closes it and connects again, so traffic
 * and faults go on until the shutdown stops it. */
static co_state_t pinger_step(co_task_t *t)
{
  pinger_t *c = (pinger_t *)t;
  int k;
  InterlockedIncrement(&pinger_steps);
  CO_BEGIN(t);
  for (k = 0; k < (int)sizeof c->out; k++)
    c->out[k] = (char)test_pattern(c->id, (unsigned long)k);
  for (;;) {
    CO_AWAIT(t, sock_connect_start(&c->op, c->st.runtime, "127.0.0.1", ping_port, &c->sock, t));
    if (c->op.error < 0) {
      if (pinger_stops(c->op.error))
        break;
      InterlockedIncrement(&pinger_reconnects);
      continue;
    }
    for (;;) {
      CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, sizeof c->out, t));
      if (c->op.error < 0)
        break;
      CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, sizeof c->in, t));
      if (c->op.error < 0)
        break;
      if (memcmp(c->in, c->out, sizeof c->in) != 0)
        InterlockedIncrement(&pinger_mismatches);
      if (++c->rounds == 1)
        InterlockedIncrement(&pingers_ready);
    }
    sock_close(c->sock);
    c->sock = NULL;
    if (pinger_stops(c->op.error))
      break;
    InterlockedIncrement(&pinger_reconnects);
  }
  c->error = c->op.error;
  CO_END(t);
}

static void pinger_done(co_task_t *t)
{
  (void)t;
  InterlockedIncrement(&pingers_finished);
}

/* 20 connections echoing flat out while WSARecv, WSASend and completions
 * fail at random (p = 0.02; a client whose connection failed connects
 * again), then sock_runtime_shutdown with all 20 clients alive: it returns,
 * every task (clients, the accept loop, its connections) has finished by
 * then, no echo ever came back wrong, and no step runs after it returned. */
START_TEST(shutdown_racing_random_faults_returns)
{
  sock_runtime_t *rt = test_runtime_start();
  unsigned long mask = (1UL << SOCK_SYS_WSARECV) | (1UL << SOCK_SYS_WSASEND) |
                       (1UL << SOCK_SYS_COMPLETION);
  unsigned long failures;
  LONG steps_after, reconnects;
  int i;

  memset(pingers, 0, sizeof pingers);
  pingers_ready = pingers_finished = pinger_steps = pinger_mismatches = 0;
  pinger_reconnects = 0;
  ping_port = test_echo_server_start(rt, &ping_server, 128);
  for (i = 0; i < PINGERS; i++) {
    pingers[i].id = (unsigned long)i;
    sock_spawn(rt, &pingers[i].st, pinger_step, pinger_done);
  }
  ck_assert_msg(wait_count(&pingers_ready, PINGERS, 10000), "%ld of %d connections echoed",
                (long)pingers_ready, PINGERS);

  sock_fault_random(0.02, mask, 2024);
  Sleep(200);
  ck_assert_msg(pingers_finished == 0, "%ld clients ended before the shutdown",
                (long)pingers_finished);
  reconnects = pinger_reconnects;
  test_runtime_stop(rt);
  sock_fault_reset();
  failures = sock_fault_failures(SOCK_SYS_WSARECV) + sock_fault_failures(SOCK_SYS_WSASEND) +
             sock_fault_failures(SOCK_SYS_COMPLETION);

  steps_after = pinger_steps + ping_server.steps;
  ck_assert_msg(pingers_finished == PINGERS, "%ld of %d clients finished by shutdown",
                (long)pingers_finished, PINGERS);
  ck_assert_msg(test_finished(&ping_server.tt), "the accept loop had not finished");
  ck_assert_msg(ping_server.conns_finished == ping_server.accepted,
                "%ld of %ld server connections finished by shutdown",
                (long)ping_server.conns_finished, (long)ping_server.accepted);
  ck_assert_int_eq(pinger_mismatches, 0);
  ck_assert_msg(failures > 0, "no fault fired");
  printf("shutdown racing faults: %lu faults (WSARecv %lu, WSASend %lu, completion %lu), "
         "%ld reconnects before the shutdown, %ld connections accepted\n",
         failures, sock_fault_failures(SOCK_SYS_WSARECV),
         sock_fault_failures(SOCK_SYS_WSASEND), sock_fault_failures(SOCK_SYS_COMPLETION),
         (long)reconnects, (long)ping_server.accepted);
  Sleep(100);
  ck_assert_msg(pinger_steps + ping_server.steps == steps_after,
                "%ld steps ran after shutdown returned",
                (long)(pinger_steps + ping_server.steps - steps_after));
  test_task_free_event(&ping_server.tt);
}
END_TEST

/* ---- The suite --------------------------------------------------------------------- */

/* Every case resets the seam before it runs and after it ends (even failed). */
static void add_case(Suite *s, TCase *tc, const TTest *test)
{
  tcase_add_checked_fixture(tc, fault_clear, fault_clear);
  tcase_add_test(tc, test);
  suite_add_tcase(s, tc);
}

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_fault");

  add_case(s, tcase_create("recv_call_failure_reports_reset_and_socket_still_works"),
           recv_call_failure_reports_reset_and_socket_still_works);
  add_case(s, tcase_create("send_call_failure_reports_reset_and_sends_nothing"),
           send_call_failure_reports_reset_and_sends_nothing);
  add_case(s, tcase_create("recv_completion_failure_reports_reset_at_the_await"),
           recv_completion_failure_reports_reset_at_the_await);
  add_case(s, tcase_create("connect_name_not_found_gives_enotfound"),
           connect_name_not_found_gives_enotfound);
  add_case(s, tcase_create("connect_start_out_of_memory_fails_at_once_with_enomem"),
           connect_start_out_of_memory_fails_at_once_with_enomem);
  add_case(s, tcase_create("connect_out_of_socket_handles_gives_enobufs"),
           connect_out_of_socket_handles_gives_enobufs);
  add_case(s, tcase_create("connect_connectex_failure_gives_its_error"),
           connect_connectex_failure_gives_its_error);
  add_case(s, tcase_create("listen_fails_cleanly_when_any_call_fails"),
           listen_fails_cleanly_when_any_call_fails);
  add_case(s, tcase_create("timer_failure_gives_enomem_and_task_recovers"),
           timer_failure_gives_enomem_and_task_recovers);
  add_case(s, tcase_create("accept_completion_failure_reposts_the_slot"),
           accept_completion_failure_reposts_the_slot);
  add_case(s, tcase_create("accepted_connection_without_io_object_gives_enomem"),
           accepted_connection_without_io_object_gives_enomem);
  add_case(s, tcase_create("lost_slot_out_of_sockets_wakes_parked_accept"),
           lost_slot_out_of_sockets_wakes_parked_accept);
  add_case(s, tcase_create("lost_slot_acceptex_failure_wakes_parked_accept"),
           lost_slot_acceptex_failure_wakes_parked_accept);
  add_case(s, tcase_create("lost_slot_after_a_delivery_wakes_the_next_waiter"),
           lost_slot_after_a_delivery_wakes_the_next_waiter);
  add_case(s, tcase_create("listener_cancel_then_close_in_woken_task_never_deadlocks"),
           listener_cancel_then_close_in_woken_task_never_deadlocks);
  add_case(s, tcase_create("task_cancel_before_spawn_is_ignored"),
           task_cancel_before_spawn_is_ignored);
  add_case(s, tcase_create("every_start_during_shutdown_gives_eshutdown"),
           every_start_during_shutdown_gives_eshutdown);
  add_case(s, tcase_create("random_faults_racing_sock_cancel_end_the_task_cleanly"),
           random_faults_racing_sock_cancel_end_the_task_cleanly);
  add_case(s, tcase_create("shutdown_racing_random_faults_returns"),
           shutdown_racing_random_faults_returns);
  return s;
}

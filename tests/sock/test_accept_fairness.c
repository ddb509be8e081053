/*
 * tests/sock/test_accept_fairness.c - new connections get in while old ones
 * keep the pool busy.
 *
 * An echo server on the library (accept loops that spawn one echo task per
 * connection) serves 50 clients in a tight ping-pong, each on a thread of
 * its own, while 200 more clients arrive: every one of the 200 must get
 * its first echo (within a generous bound: this is not a timed test), and
 * the busy clients must keep being served meanwhile.
 *
 * ctest-timeout: 180
 */
#include "sock_test.h"

enum {
  BUSY = 50,           /* clients in a closed-loop ping-pong */
  ARRIVING = 200,      /* clients that connect while they run */
  LOOPS = 8,           /* accept loops */
  FIRST_ECHO_MS = 60000 /* the bound on one newcomer's first echo */
};

/* ---- the server ----------------------------------------------------------------- */

typedef struct loop {
  test_task_t   tt;
  sock_t       *listener;
  sock_op_t     op;
  sock_accept_t acc;
} loop_t;

static loop_t loops[LOOPS];
static test_echo_server_t counters;  /* not run: its counters serve the echo tasks */

static co_state_t loop_step(co_task_t *t)
{
  loop_t *l = (loop_t *)t;
  test_echo_conn_t *c;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&l->op, l->listener, &l->acc, t));
    if (l->op.error == CO_ECANCELED || l->op.error == CO_ESHUTDOWN)
      break;
    if (l->op.error < 0)
      continue;
    c = (test_echo_conn_t *)calloc(1, sizeof *c);
    if (c == NULL) {
      sock_close(l->acc.sock);
      continue;
    }
    c->server = &counters;
    c->sock = l->acc.sock;
    InterlockedIncrement(&counters.accepted);
    sock_spawn(l->tt.st.runtime, &c->st, test_echo_conn_step, test_echo_conn_done);
  }
  CO_END(t);
}

/* ---- the clients ------------------------------------------------------------------ */

static unsigned short port;
static volatile LONG stop_busy;
static volatile LONG busy_round_trips;
static volatile LONG busy_failures;

/* One busy client: 64-byte round trips as fast as the server answers. */
static DWORD WINAPI busy_main(void *arg)
{
  char out[64], in[64];
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  struct sockaddr_in a;
  int one = 1;
  (void)arg;
  memset(out, 'b', sizeof out);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s == INVALID_SOCKET || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    InterlockedIncrement(&busy_failures);
    return 0;
  }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  while (!stop_busy) {
    int got = 0;
    if (send(s, out, sizeof out, 0) != (int)sizeof out)
      break;
    while (got < (int)sizeof in) {
      int n = recv(s, in + got, (int)sizeof in - got, 0);
      if (n <= 0)
        break;
      got += n;
    }
    if (got != (int)sizeof in)
      break;
    InterlockedIncrement(&busy_round_trips);
  }
  if (!stop_busy)
    InterlockedIncrement(&busy_failures);
  closesocket(s);
  return 0;
}

static SOCKET newcomers[ARRIVING];

/* Connects a newcomer and sends its first byte; INVALID_SOCKET on failure. */
static SOCKET newcomer_connect(char byte)
{
  struct sockaddr_in a;
  DWORD timeout = FIRST_ECHO_MS;
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET)
    return s;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof timeout);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0 || send(s, &byte, 1, 0) != 1) {
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

/* While 50 clients keep the server busy, 200 newcomers connect (one every
 * millisecond or so) and each sends one byte: every newcomer gets its byte
 * back, the busy clients go on being served throughout, and after the stop
 * nothing is left. */
START_TEST(newcomers_get_their_first_echo_while_others_are_busy)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *listener = NULL;
  HANDLE busy[BUSY];
  LONG before, during;
  int i, echoed = 0, failed_connect = 0;

  memset(&counters, 0, sizeof counters);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, SOMAXCONN, &listener), CO_OK);
  port = test_port(listener);
  for (i = 0; i < LOOPS; i++) {
    loops[i].listener = listener;
    test_spawn(rt, &loops[i].tt, loop_step);
  }
  stop_busy = 0;
  busy_round_trips = 0;
  busy_failures = 0;
  for (i = 0; i < BUSY; i++) {
    busy[i] = CreateThread(NULL, 0, busy_main, NULL, 0, NULL);
    ck_assert_ptr_nonnull(busy[i]);
  }
  while (counters.accepted < BUSY)
    Sleep(10);
  Sleep(500);  /* the pool is saturated by now */

  before = busy_round_trips;
  for (i = 0; i < ARRIVING; i++) {
    newcomers[i] = newcomer_connect((char)i);
    if (newcomers[i] == INVALID_SOCKET)
      failed_connect++;
    Sleep(1);
  }
  for (i = 0; i < ARRIVING; i++) {
    char byte = 0;
    if (newcomers[i] != INVALID_SOCKET && recv(newcomers[i], &byte, 1, 0) == 1 &&
        byte == (char)i)
      echoed++;
  }
  during = busy_round_trips - before;
  printf("newcomers echoed: %d of %d (%d failed to connect); busy round trips meanwhile: %ld; "
         "connections accepted: %ld\n", echoed, ARRIVING, failed_connect, (long)during,
         (long)counters.accepted);

  stop_busy = 1;
  WaitForMultipleObjects(BUSY, busy, TRUE, 30000);
  for (i = 0; i < BUSY; i++)
    CloseHandle(busy[i]);
  for (i = 0; i < ARRIVING; i++)
    if (newcomers[i] != INVALID_SOCKET)
      closesocket(newcomers[i]);
  ck_assert_int_eq(failed_connect, 0);
  ck_assert_int_eq(echoed, ARRIVING);
  ck_assert_msg(during > 0, "the busy clients were not served while the newcomers came");
  ck_assert_int_eq(busy_failures, 0);

  sock_close(listener);  /* the loops end with CO_ECANCELED */
  for (i = 0; i < LOOPS; i++) {
    test_wait(&loops[i].tt, TEST_WAIT_MS);
    test_task_free_event(&loops[i].tt);
  }
  test_wait_counters(rt, 0, 0, 0, 30000);
  test_runtime_stop(rt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_accept_fairness");
  TCase *tc = tcase_create("newcomers_get_their_first_echo_while_others_are_busy");
  tcase_add_test(tc, newcomers_get_their_first_echo_while_others_are_busy);
  suite_add_tcase(s, tc);
  return s;
}

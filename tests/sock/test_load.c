/*
 * tests/sock/test_load.c - 1,000 concurrent connections, 100 echoes each.
 *
 * An accept loop spawns one echo task per connection; 1,000 client tasks
 * connect at once and each sends 100 messages of 64 bytes, waiting for each
 * echo and checking every byte (the content depends on the connection and
 * the message, so a crossed or stale buffer shows). Prints the round trips
 * per second. Under Wine every socket call goes through the single-threaded
 * wineserver: about 4,000 round trips per second on 2 idle cores (25 s),
 * under half that when other tests share the cores. Its ctest TIMEOUT must
 * be well above the default 60 s: 300 s, and RUN_SERIAL; it gives up by
 * itself after 200 s.
 * ctest-timeout: 300 (1,000 connections under Wine: 25 s on an idle machine, 70 s shared)
 */
#include "sock_test.h"

enum { CONNS = 1000, MESSAGES = 100, MSG_SIZE = 64 };

typedef struct client {
  sock_task_t   st;        /* first: the runtime's part */
  unsigned long id;
  int           i;         /* messages echoed */
  sock_op_t     op;
  sock_t       *sock;
  char          out[MSG_SIZE];
  char          in[MSG_SIZE];
  int           error;     /* the first error, or CO_OK */
} client_t;

static client_t          *clients;           /* CONNS of them, on the heap */
static test_echo_server_t server;
static unsigned short     server_port;
static volatile LONG      clients_left;
static volatile LONG      clients_connected;
static volatile LONG      mismatches;
static volatile LONG      failures;
static HANDLE             all_done;           /* set by the last client */
static LARGE_INTEGER      connected_at;       /* when the last connect completed */

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  int k;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&c->op, c->st.runtime, "127.0.0.1", server_port,
                                 &c->sock, t));
  if (c->op.error < 0)
    CO_EXIT(t, c->error = c->op.error);
  if (InterlockedIncrement(&clients_connected) == CONNS)
    QueryPerformanceCounter(&connected_at);

  for (c->i = 0; c->i < MESSAGES; c->i++) {
    for (k = 0; k < MSG_SIZE; k++)
      c->out[k] = (char)test_pattern(c->id, (unsigned long)(c->i * MSG_SIZE + k));
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, MSG_SIZE, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, MSG_SIZE, t));
    if (c->op.error < 0)
      break;
    if (memcmp(c->in, c->out, MSG_SIZE) != 0)
      InterlockedIncrement(&mismatches);
  }
  c->error = c->op.error;
  sock_close(c->sock);
  CO_END(t);
}

static void client_done(co_task_t *t)
{
  client_t *c = (client_t *)t;
  if (c->error < 0 || c->i != MESSAGES)
    InterlockedIncrement(&failures);
  if (InterlockedDecrement(&clients_left) == 0)
    SetEvent(all_done);
}

/* 1,000 connections at once, 100 round trips of 64 bytes on each, every
 * byte checked; then everything is closed and nothing is left counted. */
START_TEST(thousand_connections_echo_100_messages)
{
  sock_runtime_t *rt = test_runtime_start();
  LARGE_INTEGER freq, t0, t1;
  double total_s, echo_s;
  DWORD wait;
  int i, first_bad = -1;

  clients = (client_t *)calloc(CONNS, sizeof *clients);
  ck_assert_ptr_nonnull(clients);
  all_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  ck_assert_ptr_nonnull(all_done);
  clients_left = CONNS;
  clients_connected = mismatches = failures = 0;
  server_port = test_echo_server_start(rt, &server, 1024);

  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&t0);
  for (i = 0; i < CONNS; i++) {
    clients[i].id = (unsigned long)i;
    sock_spawn(rt, &clients[i].st, client_step, client_done);
  }
  wait = WaitForSingleObject(all_done, 200000);
  QueryPerformanceCounter(&t1);
  ck_assert_msg(wait == WAIT_OBJECT_0, "%ld of %d clients still running after 200 s",
                (long)clients_left, CONNS);

  total_s = (double)(t1.QuadPart - t0.QuadPart) / (double)freq.QuadPart;
  echo_s = (double)(t1.QuadPart - connected_at.QuadPart) / (double)freq.QuadPart;
  printf("1000 connections x 100 echoes of %d bytes: %.2f s in all "
         "(%.0f round trips/s); after the last connect: %.2f s\n",
         MSG_SIZE, total_s, (double)CONNS * MESSAGES / total_s, echo_s);

  for (i = 0; i < CONNS; i++)
    if (clients[i].error < 0 || clients[i].i != MESSAGES) {
      first_bad = i;
      break;
    }
  ck_assert_msg(failures == 0, "%ld clients failed; client %d: %s (win32 %lu) after %d echoes",
                (long)failures, first_bad,
                first_bad >= 0 ? co_errname(clients[first_bad].error) : "-",
                first_bad >= 0 ? clients[first_bad].op.win32_error : 0ul,
                first_bad >= 0 ? clients[first_bad].i : 0);
  ck_assert_int_eq(mismatches, 0);
  ck_assert_int_eq(server.accepted, CONNS);

  /* Every client closed its socket, so every server task sees end of
   * stream and ends; then close the listener and nothing is left. */
  sock_close(server.listener);
  test_wait(&server.tt, TEST_WAIT_MS);
  test_wait_counters(rt, 0, 0, 0, 30000);
  ck_assert_int_eq(server.conns_finished, CONNS);
  test_runtime_stop(rt);

  CloseHandle(all_done);
  test_task_free_event(&server.tt);
  free(clients);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_load");
  TCase *tc = tcase_create("thousand_connections_echo_100_messages");
  tcase_add_test(tc, thousand_connections_echo_100_messages);
  suite_add_tcase(s, tc);
  return s;
}

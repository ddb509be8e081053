/*
 * tests/sock/test_echo.c - accept, connect and echo on loopback.
 *
 * A server task accepts one connection and echoes it until end of stream
 * (receive what came, send all of it back). The client side is two tasks on
 * one connected socket, because a task has one await at a time and a big echo
 * needs both directions moving: a writer that sends with single WSASends
 * (sock_send_start, which may send less than asked) and a reader that receives
 * whatever arrives (sock_recv_start, which may deliver less than asked). The
 * reader checks every byte and then sees end of stream, once the writer's
 * half-close has travelled through the server.
 */
#include "sock_test.h"

enum { BIG = 1 << 20 };

/* ---- The server: accept one connection, echo it until end of stream ------ */

typedef struct server {
  test_task_t   tt;
  sock_t       *listener;
  sock_op_t     op;
  sock_accept_t acc;
  char          buf[4096];
  unsigned long echoed;       /* bytes sent back */
  int           accept_error;
  int           end_error;    /* what ended the echo loop: CO_EOF expected */
} server_t;

static co_state_t server_step(co_task_t *t)
{
  server_t *s = (server_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
  s->accept_error = s->op.error;
  if (s->op.error < 0)
    CO_EXIT(t, s->op.error);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&s->op, s->acc.sock, s->buf, sizeof s->buf, t));
    if (s->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&s->op, s->acc.sock, s->buf, s->op.bytes, t));
    if (s->op.error < 0)
      break;
    s->echoed += s->op.bytes;
  }
  s->end_error = s->op.error;
  sock_close(s->acc.sock);
  CO_END(t);
}

/* ---- The client: connect, then a writer and a reader --------------------- */

typedef struct connector {
  test_task_t    tt;
  const char    *host;
  unsigned short port;
  sock_op_t      op;
  sock_t        *sock;    /* the connected socket, on success */
  int            error;
} connector_t;

static co_state_t connector_step(co_task_t *t)
{
  connector_t *c = (connector_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&c->op, c->tt.st.runtime, c->host, c->port,
                                 &c->sock, t));
  c->error = c->op.error;
  CO_END(t);
}

typedef struct writer {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  const char   *data;
  unsigned long total;
  unsigned long sent;
  unsigned long sends;       /* WSASends it took */
  int           error;
  int           shutdown_error;
} writer_t;

static co_state_t writer_step(co_task_t *t)
{
  writer_t *w = (writer_t *)t;
  CO_BEGIN(t);
  while (w->sent < w->total) {
    CO_AWAIT(t, sock_send_start(&w->op, w->sock, w->data + w->sent,
                                w->total - w->sent, t));
    if (w->op.error < 0)
      break;
    w->sent += w->op.bytes;  /* a partial send carries on from here */
    w->sends++;
  }
  w->error = w->op.error;
  w->shutdown_error = sock_shutdown_send(w->sock);
  CO_END(t);
}

typedef struct reader {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  char         *data;
  unsigned long capacity;    /* a little more than expected: extra bytes show */
  unsigned long got;
  unsigned long recvs;       /* receives that delivered data */
  int           error;       /* what ended it: CO_EOF expected */
} reader_t;

static co_state_t reader_step(co_task_t *t)
{
  reader_t *r = (reader_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&r->op, r->sock, r->data + r->got,
                                r->capacity - r->got, t));
    if (r->op.error < 0)
      break;
    r->got += r->op.bytes;  /* a partial receive carries on from here */
    r->recvs++;
    if (r->got == r->capacity)
      break;
  }
  r->error = r->op.error;
  CO_END(t);
}

/* ---- One echo run ----------------------------------------------------------- */

static server_t    server;
static connector_t conn;
static writer_t    writer;
static reader_t    reader;
static char        out_data[BIG];
static char        in_data[BIG + 64];

/* Echoes `total` bytes through a server on host:0 and checks them all. */
static void run_echo(const char *host, unsigned long total)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *listener = NULL;
  unsigned long i;

  memset(&server, 0, sizeof server);
  memset(&conn, 0, sizeof conn);
  memset(&writer, 0, sizeof writer);
  memset(&reader, 0, sizeof reader);
  for (i = 0; i < total; i++)
    out_data[i] = (char)test_pattern(1, i);
  memset(in_data, 0, sizeof in_data);

  ck_assert_int_eq(sock_listen(rt, host, 0, 16, &listener), CO_OK);
  server.listener = listener;
  test_spawn(rt, &server.tt, server_step);

  conn.host = host;
  conn.port = test_port(listener);
  test_spawn(rt, &conn.tt, connector_step);
  test_wait(&conn.tt, TEST_WAIT_MS);
  ck_assert_msg(conn.error == CO_OK, "connect: %s (win32 %lu)",
                co_errname(conn.error), conn.op.win32_error);
  ck_assert_ptr_nonnull(conn.sock);

  writer.sock = conn.sock;
  writer.data = out_data;
  writer.total = total;
  reader.sock = conn.sock;
  reader.data = in_data;
  reader.capacity = total + 64;
  test_spawn(rt, &reader.tt, reader_step);
  test_spawn(rt, &writer.tt, writer_step);

  test_wait(&writer.tt, 30000);
  test_wait(&reader.tt, 30000);
  test_wait(&server.tt, TEST_WAIT_MS);

  ck_assert_int_eq(server.accept_error, CO_OK);
  ck_assert_int_eq(writer.error, CO_OK);
  ck_assert_int_eq(writer.shutdown_error, CO_OK);
  ck_assert_uint_eq(writer.sent, total);
  ck_assert_msg(server.end_error == CO_EOF, "server loop ended with %s",
                co_errname(server.end_error));
  ck_assert_uint_eq(server.echoed, total);
  ck_assert_msg(reader.error == CO_EOF, "reader ended with %s (win32 %lu)",
                co_errname(reader.error), reader.op.win32_error);
  ck_assert_uint_eq(reader.got, total);
  ck_assert_msg(memcmp(in_data, out_data, total) == 0, "echoed bytes differ");
  if (total == BIG) {
    printf("echo 1 MiB: %lu sends, %lu receives on the client\n",
           writer.sends, reader.recvs);
    /* A 4 KiB server buffer means the echo arrives in many pieces. */
    ck_assert_uint_gt(reader.recvs, 1);
  }

  if (host != NULL && strcmp(host, "::1") == 0) {
    char text[64];
    sock_addr_format(&server.acc.peer, text, sizeof text);
    ck_assert_int_eq(server.acc.peer.si_family, AF_INET6);
    ck_assert_msg(strncmp(text, "[::1]:", 6) == 0, "peer formatted as %s", text);
  } else {
    char text[64];
    sock_addr_format(&server.acc.peer, text, sizeof text);
    ck_assert_int_eq(server.acc.peer.si_family, AF_INET);
    ck_assert_msg(strncmp(text, "127.0.0.1:", 10) == 0, "peer formatted as %s", text);
  }

  sock_close(conn.sock);
  sock_close(listener);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&server.tt);
  test_task_free_event(&conn.tt);
  test_task_free_event(&writer.tt);
  test_task_free_event(&reader.tt);
}

/* One byte there and back: accept, connect, receive, send, half-close and end
 * of stream all work, and nothing is left counted afterwards. */
START_TEST(echo_one_byte)
{
  run_echo("127.0.0.1", 1);
}
END_TEST

/* 1 MiB there and back, every byte checked: partial sends and partial
 * receives are carried on from where they stopped, with both directions
 * busy at once. */
START_TEST(echo_one_mebibyte)
{
  run_echo("127.0.0.1", BIG);
}
END_TEST

/* The same over IPv6 loopback: listen and connect on "::1", and the
 * accepted peer's address is an IPv6 one, formatted "[::1]:port". */
START_TEST(ipv6_loopback_echo)
{
  run_echo("::1", 4096 + 17);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_echo");
  TCase *tc;

  tc = tcase_create("echo_one_byte");
  tcase_add_test(tc, echo_one_byte);
  suite_add_tcase(s, tc);

  tc = tcase_create("echo_one_mebibyte");
  tcase_add_test(tc, echo_one_mebibyte);
  suite_add_tcase(s, tc);

  tc = tcase_create("ipv6_loopback_echo");
  tcase_add_test(tc, ipv6_loopback_echo);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tests/cpp/cpp_sock.cpp - a TCP echo over cosock, from C++ (Windows targets).
 *
 * A sock runtime, a listener on 127.0.0.1 (a free port), a server task that
 * accepts one connection and echoes it line by line until end of stream, and
 * a client task that connects, sends a few lines, checks every echo, then
 * half-closes and sees the end of stream come back. Both are sock_task_t
 * tasks written with the macros; the test thread waits on their completion
 * hooks (Win32 events) and ends with the runtime's counters back at zero.
 */
#include <check.h>
#include <sock/sock.h>
#include <sock/sock_fault.h>  // every public header, from C++

#include <stdio.h>
#include <string.h>

void cpp_sock_add_cases(Suite *suite);

namespace {

enum { MESSAGES = 5, WAIT_MS = 10000 };

struct server {
  sock_task_t   st;          // first: the runtime's part (and the co_task_t)
  HANDLE        done;
  sock_t       *listener;
  sock_op_t     op;
  sock_accept_t acc;
  sock_reader_t reader;
  char          line[256];
  char          echo[257];   // the line and its '\n', being sent back
  size_t        echo_len;
  int           lines;       // lines echoed
  int           end_error;   // what ended the loop: CO_EOF expected
};

struct client {
  sock_task_t    st;
  HANDLE         done;
  unsigned short port;
  sock_t        *sock;
  sock_op_t      op;
  sock_reader_t  reader;
  char           line[256];
  char           out[64];
  int            sent;       // messages sent and echoed back intact
  int            error;      // the first failure, or CO_OK
  int            end_error;  // the receive after the half-close: CO_EOF expected
};

server srv;  // static: pending operations must never point into a test's stack
client cli;

void set_done(co_task_t *t)
{
  // One hook for both tasks, told apart by address.
  if (t == &srv.st.task)
    SetEvent(srv.done);
  else
    SetEvent(cli.done);
}

co_state_t server_step(co_task_t *t)
{
  server *s = reinterpret_cast<server *>(t);
  CO_BEGIN(t);
  CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
  if (s->op.error < 0)
    CO_EXIT(t, s->op.error);
  sock_reader_init(&s->reader, s->acc.sock, s->line, sizeof s->line);
  for (;;) {
    CO_AWAIT(t, sock_read_line_start(&s->op, &s->reader, t));
    if (s->op.error < 0)
      break;
    {
      // Copy the line out (the next read reuses the reader's buffer) and
      // put its '\n' back. A braced local: it spans no wait.
      size_t len = 0;
      const char *text = sock_reader_line(&s->reader, &len);
      memcpy(s->echo, text, len);
      s->echo[len] = '\n';
      s->echo_len = len + 1;
    }
    CO_AWAIT(t, sock_send_all_start(&s->op, s->acc.sock, s->echo, s->echo_len, t));
    if (s->op.error < 0)
      break;
    s->lines++;
  }
  s->end_error = s->op.error;
  sock_close(s->acc.sock);
  CO_END(t);
}

co_state_t client_step(co_task_t *t)
{
  client *c = reinterpret_cast<client *>(t);
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&c->op, c->st.runtime, "127.0.0.1", c->port, &c->sock, t));
  if (c->op.error < 0) {
    c->error = c->op.error;
    CO_EXIT(t, c->op.error);
  }
  sock_reader_init(&c->reader, c->sock, c->line, sizeof c->line);
  for (c->sent = 0; c->sent < MESSAGES; c->sent++) {
    snprintf(c->out, sizeof c->out, "message %d from C++\n", c->sent);
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, strlen(c->out), t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if (c->op.error < 0)
      break;
    {
      size_t len = 0;
      const char *echo = sock_reader_line(&c->reader, &len);
      if (len + 1 != strlen(c->out) || memcmp(echo, c->out, len) != 0) {
        c->error = CO_EPROTO;  // an echo that is not what was sent
        break;
      }
    }
  }
  if (c->error == CO_OK && c->op.error < 0)
    c->error = c->op.error;
  if (c->error == CO_OK) {
    sock_shutdown_send(c->sock);  // the server sees end of stream and closes
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    c->end_error = c->op.error;
  }
  sock_close(c->sock);
  CO_END(t);
}

bool counters_back_to_zero(sock_runtime_t *rt, sock_counters_t *last)
{
  for (int i = 0; i < 400; i++) {
    sock_runtime_counters(rt, last);
    if (last->sockets == 0 && last->tasks == 0 && last->pending_ops == 0)
      return true;
    Sleep(5);
  }
  return false;
}

}  // namespace

START_TEST(tcp_echo)
{
  sock_runtime_t *rt = nullptr;
  sock_fault_reset();  // real system calls (and sock_fault.h links from C++)
  ck_assert_int_eq(sock_runtime_create(&rt, nullptr), CO_OK);
  memset(&srv, 0, sizeof srv);
  memset(&cli, 0, sizeof cli);
  srv.done = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  cli.done = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ck_assert(srv.done != nullptr && cli.done != nullptr);

  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, 16, &srv.listener), CO_OK);
  sock_addr_t addr;
  ck_assert_int_eq(sock_local_addr(srv.listener, &addr), CO_OK);
  cli.port = ntohs(addr.si_family == AF_INET6 ? addr.Ipv6.sin6_port : addr.Ipv4.sin_port);
  ck_assert_uint_ne(cli.port, 0);

  sock_spawn(rt, &srv.st, server_step, set_done);
  sock_spawn(rt, &cli.st, client_step, set_done);
  ck_assert_msg(WaitForSingleObject(cli.done, WAIT_MS) == WAIT_OBJECT_0, "client hung");
  ck_assert_msg(WaitForSingleObject(srv.done, WAIT_MS) == WAIT_OBJECT_0, "server hung");

  ck_assert_msg(cli.error == CO_OK, "client: %s", co_errname(cli.error));
  ck_assert_int_eq(cli.sent, MESSAGES);
  ck_assert_msg(cli.end_error == CO_EOF, "client end: %s", co_errname(cli.end_error));
  ck_assert_int_eq(co_status(&srv.st.task), CO_OK);
  ck_assert_int_eq(srv.lines, MESSAGES);
  ck_assert_msg(srv.end_error == CO_EOF, "server end: %s", co_errname(srv.end_error));

  sock_close(srv.listener);
  sock_counters_t c;
  ck_assert_msg(counters_back_to_zero(rt, &c), "counters: sockets=%ld tasks=%ld ops=%ld",
                c.sockets, c.tasks, c.pending_ops);
  sock_runtime_shutdown(rt);
  CloseHandle(srv.done);
  CloseHandle(cli.done);
  printf("cpp_headers: TCP echo OK: %d lines echoed and verified, counters at zero\n",
         srv.lines);
}
END_TEST

void cpp_sock_add_cases(Suite *suite)
{
  TCase *tc = tcase_create("tcp_echo");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, tcp_echo);
  suite_add_tcase(suite, tc);
}

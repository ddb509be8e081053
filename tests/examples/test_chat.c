/*
 * tests/examples/test_chat.c - chat_server, end to end.
 *
 * Each case starts the real chat_server (tests/examples/example_test.h) and
 * connects line clients of its own over loopback (plain blocking sockets).
 * What they prove: a line goes to every client but its sender; a client that
 * never reads does not slow the others down and is dropped, with a notice
 * to the others; a line over the limit drops its sender; and the server
 * still exits 0 (every client cleaned up, counters at zero) when stopped.
 *
 * ctest-timeout: 120
 */
#include "example_test.h"
#include "../sock/sock_test.h"

enum { EXIT_MS = 20000, LINE_MS = 10000 };

/* ---- A line client over a blocking socket ----------------------------------- */

typedef struct client {
  SOCKET s;
  int    len;            /* bytes in buf not yet returned as lines */
  char   buf[1 << 15];
  char   line[1 << 14];  /* the last line read, NUL-terminated, no "\n" */
} client_t;

/* Static, not on the stack: a failed assertion longjmps out of the test. */
static client_t clients[3];

static void set_timeout(client_t *c, DWORD ms)
{
  setsockopt(c->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
}

/* Connects; with `tiny_window`, a receive buffer as small as the system
 * allows (set before connecting, so the window is small from the start). */
static client_t *client_open(int which, unsigned short port, int tiny_window)
{
  static int started;
  client_t *c = &clients[which];
  struct sockaddr_in a;
  WSADATA wsa;
  int one = 1, small = 1024;
  if (!started) {
    ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    started = 1;
  }
  c->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ck_assert(c->s != INVALID_SOCKET);
  if (tiny_window)
    setsockopt(c->s, SOL_SOCKET, SO_RCVBUF, (const char *)&small, sizeof small);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(c->s, (struct sockaddr *)&a, sizeof a) == 0, "connect: %d",
                WSAGetLastError());
  setsockopt(c->s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  c->len = 0;
  set_timeout(c, LINE_MS);
  return c;
}

static void client_close(client_t *c)
{
  closesocket(c->s);
  c->s = INVALID_SOCKET;
}

/* One send for the line and its newline: the server may drop a client as
 * soon as it has read too much of a line, and a second send would then meet
 * the reset of a closed connection. */
static void say(client_t *c, const char *text)
{
  static char line[4096];
  size_t n = strlen(text);
  ck_assert_uint_lt(n, sizeof line);
  memcpy(line, text, n);
  line[n] = '\n';
  test_raw_send(c->s, line, (int)n + 1);
}

/* Reads the next line into c->line. Returns 1, or 0 at end of stream or on
 * an error or the receive timeout (then c->line holds what there was). */
static int next_line(client_t *c)
{
  for (;;) {
    char *nl = memchr(c->buf, '\n', (size_t)c->len);
    int n;
    if (nl != NULL) {
      int len = (int)(nl - c->buf);
      ck_assert_int_lt(len, (int)sizeof c->line);
      memcpy(c->line, c->buf, (size_t)len);
      c->line[len] = '\0';
      memmove(c->buf, nl + 1, (size_t)(c->len - len - 1));
      c->len -= len + 1;
      return 1;
    }
    ck_assert_int_lt(c->len, (int)sizeof c->buf);
    n = recv(c->s, c->buf + c->len, (int)sizeof c->buf - c->len, 0);
    if (n <= 0) {
      c->buf[c->len] = '\0';
      snprintf(c->line, sizeof c->line, "%.*s", c->len, c->buf);
      return 0;
    }
    c->len += n;
  }
}

/* Reads lines until one equals `expected`, skipping notices ("* ...") unless
 * `expected` is one; any other line is a failure. */
static void expect_line(client_t *c, const char *expected)
{
  for (;;) {
    ck_assert_msg(next_line(c), "waiting for \"%s\": connection ended or timed out (%d)",
                  expected, WSAGetLastError());
    if (strcmp(c->line, expected) == 0)
      return;
    ck_assert_msg(c->line[0] == '*', "got \"%s\" while waiting for \"%s\"", c->line, expected);
  }
}

static ex_proc_t *start(const char *args, unsigned short *port)
{
  return ex_start_server("chat_server", args, port);
}

static void stop(ex_proc_t *srv)
{
  int code = ex_stop(srv, EXIT_MS);
  EX_ASSERT_EXIT(srv, code, 0);
  ex_free(srv);
}

/* Connects client `which` and waits for its welcome, so that the names are
 * given in order: user1, user2, user3. */
static client_t *join(int which, unsigned short port, int tiny_window)
{
  client_t *c = client_open(which, port, tiny_window);
  ck_assert_msg(next_line(c), "no welcome line");
  ck_assert_msg(strncmp(c->line, "* welcome, you are user", 23) == 0, "welcome: %s", c->line);
  return c;
}

/* ---- The cases ----------------------------------------------------------------- */

START_TEST(chat_flags)
{
  ex_proc_t *p;
  p = ex_run_expect("chat_server", "--help", EXIT_MS, 0);
  ck_assert_ptr_nonnull(strstr(ex_stdout(p), "--queue"));
  ex_free(p);
  p = ex_run_expect("chat_server", "--queue 0", EXIT_MS, 2);
  ex_free(p);
  p = ex_run_expect("chat_server", "--bogus", EXIT_MS, 2);
  ex_free(p);
}
END_TEST

/* Three clients: each line reaches the two others and never its sender;
 * joins and leaves are announced. */
START_TEST(chat_lines_go_to_everyone_but_the_sender)
{
  unsigned short port;
  ex_proc_t *srv = start("--port 0 --verbose", &port);
  client_t *a = join(0, port, 0), *b = join(1, port, 0), *c = join(2, port, 0);

  expect_line(a, "* user2 joined");
  expect_line(a, "* user3 joined");
  expect_line(b, "* user3 joined");

  say(a, "hello from a");
  expect_line(b, "user1: hello from a");
  expect_line(c, "user1: hello from a");
  say(b, "hi from b");
  /* a's next line is b's: its own line never came back to it. */
  ck_assert(next_line(a));
  ck_assert_str_eq(a->line, "user2: hi from b");
  expect_line(c, "user2: hi from b");
  say(c, "and c");
  ck_assert(next_line(a));
  ck_assert_str_eq(a->line, "user3: and c");
  ck_assert(next_line(b));
  ck_assert_str_eq(b->line, "user3: and c");

  /* c leaves: the others are told; c sees the end of its stream. */
  shutdown(c->s, SD_SEND);
  ck_assert(!next_line(c));
  ck_assert(next_line(a));
  ck_assert_str_eq(a->line, "* user3 left");
  ck_assert(next_line(b));
  ck_assert_str_eq(b->line, "* user3 left");
  client_close(c);
  client_close(a);
  client_close(b);
  stop(srv);
}
END_TEST

/* A client that never reads: the two others keep talking without delay
 * while its queue fills, then it is dropped and they are told. */
START_TEST(chat_slow_client_is_dropped)
{
  unsigned short port;
  static char big[4001];
  int i, dropped = 0;
  DWORD worst = 0, t0;
  ex_proc_t *srv = start("--port 0 --queue 8 --max-line 8192 --send-timeout-ms 5000", &port);
  client_t *a = join(0, port, 0), *b = join(1, port, 0), *slow = join(2, port, 1);
  expect_line(a, "* user3 joined");
  expect_line(b, "* user3 joined");

  memset(big, 'x', 4000);
  for (i = 0; i < 20000 && !dropped; i++) {
    char expected[32];
    snprintf(big, 40, "%08d", i);
    big[8] = 'x';
    t0 = GetTickCount();
    say(a, big);
    /* b gets each line promptly, whatever the slow one does. */
    for (;;) {
      ck_assert_msg(next_line(b), "line %d did not reach b (%d)", i, WSAGetLastError());
      if (strncmp(b->line, "* user3 was dropped", 19) == 0) {
        dropped = 1;
        continue;
      }
      break;
    }
    snprintf(expected, sizeof expected, "user1: %08d", i);
    ck_assert_msg(strncmp(b->line, expected, strlen(expected)) == 0 && strlen(b->line) == 4007,
                  "b got \"%.40s...\" for line %d", b->line, i);
    if (GetTickCount() - t0 > worst)
      worst = GetTickCount() - t0;
  }
  ck_assert_msg(dropped, "the slow client was not dropped after %d lines", i);
  ck_assert_msg(worst < 2000, "a line took %lu ms to reach b while a client was slow",
                (unsigned long)worst);

  /* The room goes on without it... */
  say(b, "still here?");
  expect_line(a, "user2: still here?");
  say(a, "yes");
  expect_line(b, "user1: yes");

  /* ...and the slow client's connection was closed: reading what is left
   * ends in end of stream (or a reset), never a timeout. */
  for (;;) {
    int n = recv(slow->s, slow->buf, (int)sizeof slow->buf, 0);
    if (n > 0)
      continue;
    ck_assert_msg(n == 0 || WSAGetLastError() != WSAETIMEDOUT,
                  "the dropped client's connection stayed open");
    break;
  }
  client_close(slow);
  client_close(a);
  client_close(b);
  {
    int code = ex_stop(srv, EXIT_MS);
    EX_ASSERT_EXIT(srv, code, 0);
    /* The server logged why (queue full, or a send past its deadline). */
    ck_assert_msg(strstr(ex_stderr(srv), "user3") != NULL &&
                  strstr(ex_stderr(srv), "dropped") != NULL, "stderr:\n%s", ex_stderr(srv));
    printf("slow client dropped after %d lines of 4000 bytes; slowest line to b: %lu ms\n%s",
           i, (unsigned long)worst, ex_stderr(srv));
    ex_free(srv);
  }
}
END_TEST

/* A line longer than --max-line drops its sender (and only it). */
START_TEST(chat_line_too_long_drops_sender)
{
  unsigned short port;
  static char line[300];
  ex_proc_t *srv = start("--port 0 --max-line 100", &port);
  client_t *a = join(0, port, 0), *b = join(1, port, 0);
  expect_line(a, "* user2 joined");
  memset(line, 'y', 200);
  say(b, line);
  expect_line(b, "* you were dropped: line too long");
  ck_assert(!next_line(b));
  expect_line(a, "* user2 was dropped: line too long");
  client_close(b);
  client_close(a);
  stop(srv);
}
END_TEST

/* Stop while clients are connected, one of them in the middle of a line:
 * the server still cleans up everything and exits 0. */
START_TEST(chat_stop_with_clients)
{
  unsigned short port;
  client_t *a, *b;
  ex_proc_t *srv = start("--port 0 --verbose", &port);
  a = join(0, port, 0);
  b = join(1, port, 0);
  test_raw_send(b->s, "half a li", 9);
  Sleep(100);
  stop(srv);
  client_close(a);
  client_close(b);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("examples_chat");
  TCase *tc;
  tc = tcase_create("chat_flags");
  tcase_add_test(tc, chat_flags);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_lines_go_to_everyone_but_the_sender");
  tcase_add_test(tc, chat_lines_go_to_everyone_but_the_sender);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_slow_client_is_dropped");
  tcase_add_test(tc, chat_slow_client_is_dropped);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_line_too_long_drops_sender");
  tcase_add_test(tc, chat_line_too_long_drops_sender);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_stop_with_clients");
  tcase_add_test(tc, chat_stop_with_clients);
  suite_add_tcase(s, tc);
  return s;
}

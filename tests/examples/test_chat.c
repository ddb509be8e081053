/*
 * tests/examples/test_chat.c - chat_server, end to end.
 *
 * Each case starts the real chat_server (tests/examples/example_test.h) and
 * connects line clients of its own over loopback (plain blocking sockets).
 * What they prove: a line goes to every client but its sender; a burst from
 * one sender reaches every reader that keeps up, all of it and in order (the
 * sender is slowed down, never dropped), while a client that never reads is
 * dropped; such a client holds the others up for at most --send-timeout-ms,
 * then it is dropped, with a notice to the others; a line over the limit
 * drops its sender; and the server still exits 0 (every client cleaned up,
 * counters at zero) when stopped.
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
static client_t clients[4];

static void set_timeout(client_t *c, DWORD ms)
{
  setsockopt(c->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
}

/* Connects; with `rcvbuf` > 0, a receive buffer of that size (set before
 * connecting, so the window is small from the start; the system may round
 * it up). */
static client_t *client_open(int which, unsigned short port, int rcvbuf)
{
  static int started;
  client_t *c = &clients[which];
  struct sockaddr_in a;
  WSADATA wsa;
  int one = 1;
  if (!started) {
    ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    started = 1;
  }
  c->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ck_assert(c->s != INVALID_SOCKET);
  if (rcvbuf > 0)
    setsockopt(c->s, SOL_SOCKET, SO_RCVBUF, (const char *)&rcvbuf, sizeof rcvbuf);
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
  if (n >= sizeof line)
    return;  /* not reached (the assertion jumps out), but the compiler cannot
                know that: Check's failure function is not marked noreturn */
  memcpy(line, text, n);
  line[n] = '\n';
  test_raw_send(c->s, line, (int)n + 1);
}

/* Reads the next line into c->line, with no assertion (reader threads use
 * it: a failed assertion must happen on the test's own thread). Returns 1;
 * 0 at end of stream or on an error or the receive timeout (then c->line
 * holds what there was); -1 for a line longer than c->line. */
static int read_line(client_t *c)
{
  for (;;) {
    char *nl = memchr(c->buf, '\n', (size_t)c->len);
    int n;
    if (nl != NULL) {
      int len = (int)(nl - c->buf);
      if (len >= (int)sizeof c->line)
        return -1;
      memcpy(c->line, c->buf, (size_t)len);
      c->line[len] = '\0';
      memmove(c->buf, nl + 1, (size_t)(c->len - len - 1));
      c->len -= len + 1;
      return 1;
    }
    if (c->len >= (int)sizeof c->line)
      return -1;  /* no newline in more than a line's worth */
    n = recv(c->s, c->buf + c->len, (int)sizeof c->buf - c->len, 0);
    if (n <= 0) {
      snprintf(c->line, sizeof c->line, "%.*s", c->len, c->buf);
      return 0;
    }
    c->len += n;
  }
}

/* read_line, on the test's thread: a line too long fails the test. */
static int next_line(client_t *c)
{
  int rc = read_line(c);
  ck_assert_msg(rc >= 0, "a line longer than %d bytes", (int)sizeof c->line);
  return rc;
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
static client_t *join(int which, unsigned short port, int rcvbuf)
{
  client_t *c = client_open(which, port, rcvbuf);
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

/* A client that never reads: once its queue is full, a sender waits for
 * room in it (backpressure), so the two others are held up, but for no
 * longer than --send-timeout-ms: then it is dropped and they are told.
 * (Before backpressure, a full queue dropped it at once and nobody waited;
 * the bound was 2 s. Now the stall itself is the point: at most the send
 * timeout plus STALL_SLACK_MS, a generous allowance for Wine.) */
enum { SLOW_SEND_TIMEOUT_MS = 1000, STALL_SLACK_MS = 3000 };

START_TEST(chat_slow_client_is_dropped)
{
  unsigned short port;
  static char big[4001];
  int i, dropped = 0;
  DWORD worst = 0, t0;
  char args[128];
  ex_proc_t *srv;
  client_t *a, *b, *slow;
  snprintf(args, sizeof args, "--port 0 --queue 8 --max-line 8192 --send-timeout-ms %d",
           (int)SLOW_SEND_TIMEOUT_MS);
  srv = start(args, &port);
  a = join(0, port, 0);
  b = join(1, port, 0);
  slow = join(2, port, 1024);
  expect_line(a, "* user3 joined");
  expect_line(b, "* user3 joined");

  memset(big, 'x', 4000);
  for (i = 0; i < 20000 && !dropped; i++) {
    char expected[32];
    snprintf(big, 40, "%08d", i);
    big[8] = 'x';
    t0 = GetTickCount();
    say(a, big);
    /* b gets each line, at worst once the slow one is dropped. */
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
  ck_assert_msg(worst < SLOW_SEND_TIMEOUT_MS + STALL_SLACK_MS,
                "a line took %lu ms to reach b while a client was slow (send timeout %d ms)",
                (unsigned long)worst, (int)SLOW_SEND_TIMEOUT_MS);

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

/* ---- A burst: readers that keep up, and one that never reads ---------------------- */

enum {
  BURST_LINES = 2000,        /* at least this many lines, sent as fast as possible */
  BURST_LINE_BYTES = 210,    /* each, with its newline: 420 KB for 2,000 */
  BURST_MAX_LINES = 100000,  /* failure bound: the non-reader is dropped before */
  BURST_SEND_TIMEOUT_MS = 2000,
  BURST_THREAD_MS = 40000    /* failure bound for the readers to finish */
};

/* A reader thread's result: the test's thread asserts on it. */
typedef struct burst_reader {
  client_t *c;
  HANDLE    thread;
  int       received;    /* numbered lines, each the one expected next */
  int       final_seen;  /* "user1: final" arrived after them */
  char      error[200];  /* the first thing that went wrong, "" if none */
} burst_reader_t;

static burst_reader_t burst_readers[2];

/* The text of burst line i: its number, a space, 'x' up to the length. */
static void burst_text(int i, char *text, size_t size)
{
  int n = snprintf(text, size, "%05d ", i);
  memset(text + n, 'x', (size_t)BURST_LINE_BYTES - 1 - (size_t)n);
  text[BURST_LINE_BYTES - 1] = '\0';
}

/* Reads everything as it arrives: every burst line in order, then the
 * final line. Notices ("* ...") are skipped, except a drop notice. */
static DWORD WINAPI burst_read(LPVOID arg)
{
  burst_reader_t *br = (burst_reader_t *)arg;
  client_t *c = br->c;
  static const char prefix[] = "user1: ";
  const size_t plen = sizeof prefix - 1;
  for (;;) {
    char *end;
    long number;
    int rc = read_line(c);
    if (rc <= 0) {
      snprintf(br->error, sizeof br->error, "after %d lines: %s (error %d; \"%.40s\")",
               br->received, rc == 0 ? "end of stream or timeout" : "a line too long",
               WSAGetLastError(), c->line);
      return 0;
    }
    if (c->line[0] == '*') {
      if (strncmp(c->line, "* you were dropped", 18) != 0)
        continue;
      snprintf(br->error, sizeof br->error, "after %d lines: \"%s\"", br->received, c->line);
      return 0;
    }
    if (strcmp(c->line, "user1: final") == 0) {
      br->final_seen = 1;
      return 0;
    }
    number = strncmp(c->line, prefix, plen) == 0 ? strtol(c->line + plen, &end, 10) : -1;
    if (number != br->received || strlen(c->line) != plen + BURST_LINE_BYTES - 1) {
      snprintf(br->error, sizeof br->error, "expected line %d, got \"%.40s...\" (%u bytes)",
               br->received, c->line, (unsigned)strlen(c->line));
      return 0;
    }
    br->received++;
  }
}

/* Reads the notices that reached the sender, without waiting for more than
 * the rest of a line: 1 once user4's drop was among them. The sender's own
 * lines never come back to it, and it is never dropped. */
static int sender_saw_drop(client_t *c, int wait)
{
  for (;;) {
    u_long ready = 0;
    if (!wait && memchr(c->buf, '\n', (size_t)c->len) == NULL &&
        (ioctlsocket(c->s, FIONREAD, &ready) != 0 || ready == 0))
      return 0;
    ck_assert_msg(next_line(c), "the sender got no notice of user4's drop (%d)",
                  WSAGetLastError());
    ck_assert_msg(strncmp(c->line, "* you were dropped", 18) != 0, "sender: %s", c->line);
    ck_assert_msg(c->line[0] == '*', "the sender got \"%.40s\"", c->line);
    if (strncmp(c->line, "* user4 was dropped: too slow", 29) == 0)
      return 1;
  }
}

/* One client sends 2,000 lines as fast as it can; two others read them as
 * they arrive, each on its own thread; a fourth never reads. The readers
 * that keep up get every line, in order: a full queue makes the sender
 * wait, it does not drop the reader. The one that never reads is dropped
 * (after --send-timeout-ms without progress), and the sender, though it
 * outran everyone, is not: it can still talk, and it is told of the drop.
 * Not timed: the timeouts only bound a failure. `queue` is the server's
 * --queue, 0 for its default; with `must_wait`, the server must report that
 * a sender waited for room at least once. */
static void burst_run(unsigned queue, int must_wait)
{
  unsigned short port;
  static char text[BURST_LINE_BYTES];
  char args[128];
  client_t *sender, *quiet;
  ex_proc_t *srv;
  DWORD t0, burst_ms, send_timeout = 20000;
  long quiet_bytes = 0;
  int i, n, lines, quiet_dropped = 0;

  n = snprintf(args, sizeof args, "--port 0 --verbose --send-timeout-ms %d",
               (int)BURST_SEND_TIMEOUT_MS);
  if (queue > 0)
    snprintf(args + n, sizeof args - (size_t)n, " --queue %u", queue);
  srv = start(args, &port);
  sender = join(0, port, 0);
  burst_readers[0].c = join(1, port, 0);
  burst_readers[1].c = join(2, port, 0);
  quiet = join(3, port, 4096);  /* a small window: it stalls the sooner */
  /* A failure bound for the sender's blocking sends (backpressure slows
   * them down; they never need this long). */
  setsockopt(sender->s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&send_timeout,
             sizeof send_timeout);

  for (i = 0; i < 2; i++) {
    burst_readers[i].received = 0;
    burst_readers[i].final_seen = 0;
    burst_readers[i].error[0] = '\0';
    burst_readers[i].thread = CreateThread(NULL, 0, burst_read, &burst_readers[i], 0, NULL);
    ck_assert_msg(burst_readers[i].thread != NULL, "CreateThread: %lu", GetLastError());
  }

  /* 2,000 lines, and more until user4 is dropped: how much a connection
   * that is not read absorbs (the server's send buffer, which the system
   * grows) depends on the system. */
  t0 = GetTickCount();
  for (lines = 0; lines < BURST_MAX_LINES && (lines < BURST_LINES || !quiet_dropped); lines++) {
    burst_text(lines, text, sizeof text);
    say(sender, text);
    if (lines % 64 == 0 && !quiet_dropped)
      quiet_dropped = sender_saw_drop(sender, 0);
  }
  burst_ms = GetTickCount() - t0;
  say(sender, "final");  /* the sender was not dropped: it still talks */

  for (i = 0; i < 2; i++) {
    burst_reader_t *br = &burst_readers[i];
    ck_assert_msg(WaitForSingleObject(br->thread, BURST_THREAD_MS) == WAIT_OBJECT_0,
                  "reader %d still reading after %d ms (%d lines)", i, (int)BURST_THREAD_MS,
                  br->received);
    CloseHandle(br->thread);
    br->thread = NULL;
    ck_assert_msg(br->error[0] == '\0', "reader user%d: %s", i + 2, br->error);
    ck_assert_int_eq(br->received, lines);
    ck_assert(br->final_seen);
  }

  /* The sender is told that user4 was dropped, and never that it was. */
  if (!quiet_dropped)
    quiet_dropped = sender_saw_drop(sender, 1);

  /* The one that never read: its connection was closed. Reading what is
   * left ends in end of stream (or a reset), never a timeout. */
  for (;;) {
    n = recv(quiet->s, quiet->buf, (int)sizeof quiet->buf, 0);
    if (n <= 0)
      break;
    quiet_bytes += n;
  }
  ck_assert_msg(n == 0 || WSAGetLastError() != WSAETIMEDOUT,
                "the non-reader was not dropped (%ld bytes reached it)", quiet_bytes);

  client_close(quiet);
  client_close(burst_readers[0].c);
  client_close(burst_readers[1].c);
  client_close(sender);
  {
    int code = ex_stop(srv, EXIT_MS);
    const char *err, *stats;
    long waits;
    EX_ASSERT_EXIT(srv, code, 0);
    err = ex_stderr(srv);
    stats = strstr(err, " dropped, ");  /* "..., 1 dropped, 12 waits for room ..." */
    waits = stats != NULL ? strtol(stats + 10, NULL, 10) : -1;
    /* Only user4 was dropped, and the server says why. */
    ck_assert_msg(strstr(err, "user4 (") != NULL && strstr(err, "4 clients joined, 1 dropped"),
                  "stderr:\n%s", err);
    ck_assert_msg(strstr(err, "user1 (") == NULL && strstr(err, "user2 (") == NULL &&
                  strstr(err, "user3 (") == NULL, "stderr:\n%s", err);
    ck_assert_msg(waits >= 0, "no statistics on stderr:\n%s", err);
    /* Backpressure happened: a full queue made the sender wait. */
    ck_assert_msg(!must_wait || waits > 0, "the sender never waited; stderr:\n%s", err);
    printf("burst of %d lines of %d bytes sent in %lu ms, %ld waits for room; the non-reader "
           "got %ld bytes before it was dropped\n%s",
           lines, (int)BURST_LINE_BYTES, (unsigned long)burst_ms, waits, quiet_bytes, err);
    ex_free(srv);
  }
}

/* The default queue (64): the gather send lets the readers keep up with
 * few waits, if any. */
START_TEST(chat_burst_readers_keep_up_non_reader_dropped)
{
  burst_run(0, 0);
}
END_TEST

/* A queue of 2: the sender waits for room all the time (backpressure does
 * the work), and still every line reaches the readers, in order. */
START_TEST(chat_burst_small_queue_sender_waits)
{
  burst_run(2, 1);
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
  tc = tcase_create("chat_burst_readers_keep_up_non_reader_dropped");
  tcase_add_test(tc, chat_burst_readers_keep_up_non_reader_dropped);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_burst_small_queue_sender_waits");
  tcase_add_test(tc, chat_burst_small_queue_sender_waits);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_line_too_long_drops_sender");
  tcase_add_test(tc, chat_line_too_long_drops_sender);
  suite_add_tcase(s, tc);
  tc = tcase_create("chat_stop_with_clients");
  tcase_add_test(tc, chat_stop_with_clients);
  suite_add_tcase(s, tc);
  return s;
}

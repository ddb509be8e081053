/*
 * tests/sock/test_stream.c - receiving a byte stream: exact counts, lines,
 * end of stream and a reset peer.
 *
 * The other side of each connection is a plain blocking Winsock socket driven
 * by the test thread, so the test decides exactly how the bytes are cut into
 * sends (TCP_NODELAY on, pauses between sends) and how the connection ends
 * (half-close, or SO_LINGER {1, 0} + close for a reset).
 */
#include "sock_test.h"

/* ---- Receive exactly N bytes across many small sends ----------------------- */

enum { EXACT_LEN = 1000, EXACT_CHUNK = 5 };

typedef struct exact {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[EXACT_LEN];
  size_t      want;
  int         error;
} exact_t;

static exact_t exact;

static co_state_t exact_step(co_task_t *t)
{
  exact_t *e = (exact_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_exactly_start(&e->op, e->sock, e->buf, e->want, t));
  e->error = e->op.error;
  CO_END(t);
}

/* 1,000 bytes sent as 200 sends of 5 bytes with pauses between them: one
 * receive-exactly gathers all of them, in order, and only then completes. */
START_TEST(recv_exactly_across_small_sends)
{
  sock_runtime_t *rt = test_runtime_start();
  static char data[EXACT_LEN];
  SOCKET raw;
  int i;

  memset(&exact, 0, sizeof exact);
  exact.sock = test_pair(rt, &raw);
  exact.want = EXACT_LEN;
  for (i = 0; i < EXACT_LEN; i++)
    data[i] = (char)test_pattern(2, (unsigned long)i);
  test_spawn(rt, &exact.tt, exact_step);

  for (i = 0; i < EXACT_LEN; i += EXACT_CHUNK) {
    test_raw_send(raw, data + i, EXACT_CHUNK);
    if (i % 50 == 0)
      Sleep(2);
    /* Not done before the last byte was sent. */
    if (i + EXACT_CHUNK < EXACT_LEN)
      ck_assert_msg(!test_finished(&exact.tt), "completed after %d bytes", i + EXACT_CHUNK);
  }
  test_wait(&exact.tt, TEST_WAIT_MS);
  ck_assert_msg(exact.error == CO_OK, "recv_exactly: %s", co_errname(exact.error));
  ck_assert_uint_eq(exact.op.bytes, EXACT_LEN);
  ck_assert_msg(memcmp(exact.buf, data, EXACT_LEN) == 0, "bytes differ");

  closesocket(raw);
  sock_close(exact.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&exact.tt);
}
END_TEST

/* ---- Reading lines ----------------------------------------------------------- */

enum { MAX_LINES = 8 };

typedef struct liner {
  test_task_t   tt;
  sock_reader_t reader;
  sock_op_t     op;
  char         *storage;   /* the reader's buffer (static, sized per test) */
  size_t        size;
  int           want;      /* lines to read */
  int           count;     /* lines read */
  char          lines[MAX_LINES][64];
  size_t        lens[MAX_LINES];
  int           error;     /* what ended the reading: CO_OK if `want` lines came */
  unsigned long eof_bytes; /* op.bytes when it ended with CO_EOF */
  int           again_error; /* after CO_EMSGSIZE: what one more read gives */
} liner_t;

static liner_t liner;

static co_state_t liner_step(co_task_t *t)
{
  liner_t *l = (liner_t *)t;
  CO_BEGIN(t);
  for (l->count = 0; l->count < l->want; l->count++) {
    CO_AWAIT(t, sock_read_line_start(&l->op, &l->reader, t));
    if (l->op.error < 0)
      break;
    {
      size_t len = 0;
      const char *line = sock_reader_line(&l->reader, &len);
      l->lens[l->count] = len;
      memcpy(l->lines[l->count], line, len < 63 ? len : 63);
    }
  }
  l->error = l->op.error;
  l->eof_bytes = l->op.bytes;
  if (l->error == CO_EMSGSIZE) {
    CO_AWAIT(t, sock_read_line_start(&l->op, &l->reader, t));
    l->again_error = l->op.error;
  }
  CO_END(t);
}

static void liner_start(sock_runtime_t *rt, sock_t *s, char *storage, size_t size, int want)
{
  memset(&liner, 0, sizeof liner);
  liner.storage = storage;
  liner.size = size;
  liner.want = want;
  sock_reader_init(&liner.reader, s, storage, size);
  test_spawn(rt, &liner.tt, liner_step);
}

static void send_slowly(SOCKET raw, const char *piece)
{
  test_raw_send(raw, piece, (int)strlen(piece));
  Sleep(30);  /* long enough for each piece to arrive on its own */
}

/* Lines cut across packets in every awkward place (inside a word, between
 * "\r" and "\n", several lines in one packet): each read gives one whole
 * line, "\r\n" and "\n" both end a line, and the "\r" is dropped. */
START_TEST(read_line_across_split_packets)
{
  sock_runtime_t *rt = test_runtime_start();
  static char storage[64];
  SOCKET raw;
  sock_t *s = test_pair(rt, &raw);

  liner_start(rt, s, storage, sizeof storage, 5);
  send_slowly(raw, "hel");
  send_slowly(raw, "lo\r");
  ck_assert(!test_finished(&liner.tt));
  send_slowly(raw, "\nwor");
  send_slowly(raw, "ld\n");
  send_slowly(raw, "one\ntwo\n\n");
  test_wait(&liner.tt, TEST_WAIT_MS);

  ck_assert_msg(liner.error == CO_OK, "read_line: %s after %d lines",
                co_errname(liner.error), liner.count);
  ck_assert_int_eq(liner.count, 5);
  ck_assert_str_eq(liner.lines[0], "hello");
  ck_assert_uint_eq(liner.lens[0], 5);
  ck_assert_str_eq(liner.lines[1], "world");
  ck_assert_str_eq(liner.lines[2], "one");
  ck_assert_str_eq(liner.lines[3], "two");
  ck_assert_str_eq(liner.lines[4], "");
  ck_assert_uint_eq(liner.lens[4], 0);
  ck_assert_uint_eq(sock_reader_buffered(&liner.reader), 0);

  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&liner.tt);
}
END_TEST

/* A 16-byte buffer holds a line of 15 bytes (the limit the header states:
 * size - 1), and a longer line, even one that arrives in pieces, fails with
 * CO_EMSGSIZE instead of overflowing or waiting for ever. The reader is then
 * full of that line's start, and the next read fails the same way at once. */
START_TEST(read_line_too_long_is_emsgsize)
{
  sock_runtime_t *rt = test_runtime_start();
  static char storage[16];
  SOCKET raw;
  sock_t *s = test_pair(rt, &raw);

  liner_start(rt, s, storage, sizeof storage, 2);
  send_slowly(raw, "0123456789abcde\n");    /* 15 bytes: fits */
  send_slowly(raw, "0123456789");
  send_slowly(raw, "abcdefXYZ\n");          /* 19 bytes: does not */
  test_wait(&liner.tt, TEST_WAIT_MS);

  ck_assert_int_eq(liner.count, 1);
  ck_assert_str_eq(liner.lines[0], "0123456789abcde");
  ck_assert_uint_eq(liner.lens[0], 15);
  ck_assert_msg(liner.error == CO_EMSGSIZE, "second line gave %s",
                co_errname(liner.error));
  ck_assert_msg(liner.again_error == CO_EMSGSIZE, "a read after CO_EMSGSIZE gave %s",
                co_errname(liner.again_error));
  ck_assert_uint_eq(sock_reader_buffered(&liner.reader), sizeof storage);
  ck_assert_msg(memcmp(storage, "0123456789abcdef", sizeof storage) == 0,
                "the reader does not hold the long line's start");

  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&liner.tt);
}
END_TEST

/* ---- End of stream --------------------------------------------------------- */

typedef struct ender {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[32];
  int         exact_error;   /* recv_exactly(6) of "abcdef" */
  int         recv_error;    /* a plain receive after the peer's half-close */
  unsigned long recv_bytes;
  int         recv_again_error;  /* and another one */
  int         send_error;        /* a send after the peer's half-close */
} ender_t;

static ender_t ender;

static co_state_t ender_step(co_task_t *t)
{
  ender_t *e = (ender_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_exactly_start(&e->op, e->sock, e->buf, 6, t));
  e->exact_error = e->op.error;
  CO_AWAIT(t, sock_recv_start(&e->op, e->sock, e->buf, sizeof e->buf, t));
  e->recv_error = e->op.error;
  e->recv_bytes = e->op.bytes;
  CO_AWAIT(t, sock_recv_start(&e->op, e->sock, e->buf, sizeof e->buf, t));
  e->recv_again_error = e->op.error;
  CO_AWAIT(t, sock_send_all_start(&e->op, e->sock, "bye", 3, t));
  e->send_error = e->op.error;
  CO_END(t);
}

/* The peer half-closes: after the data, a receive gives CO_EOF with 0 bytes
 * (every time it is asked again); a receive-exactly cut short gives CO_EOF
 * and the bytes that did come; a line cut short gives CO_EOF and the length
 * of the unfinished line. The socket still sends after the peer's
 * half-close, and the peer gets it. */
START_TEST(end_of_stream_is_eof)
{
  sock_runtime_t *rt = test_runtime_start();
  static char storage[64];
  SOCKET raw;
  sock_t *s;
  char back[8];

  /* 1. recv after the data: CO_EOF, 0 bytes, twice. */
  memset(&ender, 0, sizeof ender);
  ender.sock = s = test_pair(rt, &raw);
  test_spawn(rt, &ender.tt, ender_step);
  test_raw_send(raw, "abcdef", 6);
  Sleep(20);
  ck_assert_int_eq(shutdown(raw, SD_SEND), 0);
  test_wait(&ender.tt, TEST_WAIT_MS);
  ck_assert_int_eq(ender.exact_error, CO_OK);
  ck_assert_msg(memcmp(ender.buf, "abcdef", 6) == 0, "data differs");
  ck_assert_msg(ender.recv_error == CO_EOF, "recv after FIN: %s",
                co_errname(ender.recv_error));
  ck_assert_uint_eq(ender.recv_bytes, 0);
  ck_assert_msg(ender.recv_again_error == CO_EOF, "second recv after FIN: %s",
                co_errname(ender.recv_again_error));
  /* Half-closed by the peer, the socket still sends, and the peer gets it. */
  ck_assert_int_eq(ender.send_error, CO_OK);
  test_raw_recv(raw, back, 3);
  ck_assert_msg(memcmp(back, "bye", 3) == 0, "peer got other bytes");
  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* 2. recv_exactly(10) when only 3 bytes come. */
  memset(&exact, 0, sizeof exact);
  exact.sock = s = test_pair(rt, &raw);
  exact.want = 10;
  test_spawn(rt, &exact.tt, exact_step);
  test_raw_send(raw, "xyz", 3);
  Sleep(20);
  ck_assert_int_eq(shutdown(raw, SD_SEND), 0);
  test_wait(&exact.tt, TEST_WAIT_MS);
  ck_assert_msg(exact.error == CO_EOF, "short recv_exactly: %s", co_errname(exact.error));
  ck_assert_uint_eq(exact.op.bytes, 3);
  ck_assert_msg(memcmp(exact.buf, "xyz", 3) == 0, "data differs");
  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* 3. a line, then an unfinished one. */
  s = test_pair(rt, &raw);
  liner_start(rt, s, storage, sizeof storage, 2);
  test_raw_send(raw, "full\npart", 9);
  Sleep(20);
  ck_assert_int_eq(shutdown(raw, SD_SEND), 0);
  test_wait(&liner.tt, TEST_WAIT_MS);
  ck_assert_int_eq(liner.count, 1);
  ck_assert_str_eq(liner.lines[0], "full");
  ck_assert_msg(liner.error == CO_EOF, "unfinished line: %s", co_errname(liner.error));
  ck_assert_uint_eq(liner.eof_bytes, 4);
  /* The unfinished line's bytes stay in the buffer, where the header says. */
  ck_assert_uint_eq(sock_reader_buffered(&liner.reader), 4);
  ck_assert_msg(memcmp(liner.reader.buf + liner.reader.start, "part", 4) == 0,
                "the unfinished line is not at buf + start");
  closesocket(raw);
  sock_close(s);
  test_wait_counters(rt, 0, 0, 0, 5000);

  test_runtime_stop(rt);
  test_task_free_event(&ender.tt);
  test_task_free_event(&exact.tt);
  test_task_free_event(&liner.tt);
}
END_TEST

/* ---- A reset peer ------------------------------------------------------------ */

typedef struct victim {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[64];
  int         recv_error;
  unsigned long recv_win32;
  int         send_error;
  unsigned long send_win32;
} victim_t;

static victim_t victim;

static co_state_t victim_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_recv_start(&v->op, v->sock, v->buf, sizeof v->buf, t));
  v->recv_error = v->op.error;
  v->recv_win32 = v->op.win32_error;
  CO_AWAIT(t, sock_send_all_start(&v->op, v->sock, "after reset", 11, t));
  v->send_error = v->op.error;
  v->send_win32 = v->op.win32_error;
  CO_END(t);
}

/* The peer sets SO_LINGER {1, 0} and closes, which sends a reset: the
 * pending receive completes with CO_ECONNRESET (not CO_EOF), and a send
 * afterwards fails instead of hanging. */
START_TEST(peer_reset_is_econnreset)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;

  memset(&victim, 0, sizeof victim);
  victim.sock = test_pair(rt, &raw);
  test_spawn(rt, &victim.tt, victim_step);
  test_wait_counters(rt, 1, 1, 1, 5000);  /* the receive is pending */
  test_raw_reset(raw);
  test_wait(&victim.tt, TEST_WAIT_MS);

  printf("peer reset: recv %s (win32 %lu), send %s (win32 %lu)\n",
         co_errname(victim.recv_error), victim.recv_win32,
         co_errname(victim.send_error), victim.send_win32);
  ck_assert_msg(victim.recv_error == CO_ECONNRESET, "recv after reset: %s (win32 %lu)",
                co_errname(victim.recv_error), victim.recv_win32);
  ck_assert_msg(victim.send_error < 0, "send after reset succeeded");

  sock_close(victim.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&victim.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_stream");
  TCase *tc;

  tc = tcase_create("recv_exactly_across_small_sends");
  tcase_add_test(tc, recv_exactly_across_small_sends);
  suite_add_tcase(s, tc);

  tc = tcase_create("read_line_across_split_packets");
  tcase_add_test(tc, read_line_across_split_packets);
  suite_add_tcase(s, tc);

  tc = tcase_create("read_line_too_long_is_emsgsize");
  tcase_add_test(tc, read_line_too_long_is_emsgsize);
  suite_add_tcase(s, tc);

  tc = tcase_create("end_of_stream_is_eof");
  tcase_add_test(tc, end_of_stream_is_eof);
  suite_add_tcase(s, tc);

  tc = tcase_create("peer_reset_is_econnreset");
  tcase_add_test(tc, peer_reset_is_econnreset);
  suite_add_tcase(s, tc);
  return s;
}

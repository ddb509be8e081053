/*
 * tests/sock/test_pipe.c - named pipes: server instances and clients, the
 * stream operations on a pipe (the TCP ones, unchanged), message mode,
 * cancelling, closing and timing out a pending read, a busy server, a
 * taken name, a client that leaves, the security descriptor, and error
 * paths through the seam.
 *
 * The other side of a pipe is either cosock's own end (a pair made with
 * sock_pipe_create + sock_pipe_wait_client_start and sock_pipe_open_start)
 * or a plain blocking pipe handle driven by the test thread, so the test
 * decides how bytes and messages are cut and when the peer leaves. Each
 * test uses a name of its own (the process id and a counter). Everything a
 * pending operation points at is static or on the heap.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

#include <aclapi.h>
#include <sddl.h>

/* ctest-timeout: 60 */

/* ---- Names and the plain other side --------------------------------------------- */

static char pipe_name[64];

static const char *new_pipe_name(void)
{
  static LONG counter;
  snprintf(pipe_name, sizeof pipe_name, "cosock-test-%lu-%ld",
           (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&counter));
  return pipe_name;
}

static HANDLE raw_open(const char *name)
{
  WCHAR path[128] = L"\\\\.\\pipe\\";
  HANDLE h;
  MultiByteToWideChar(CP_UTF8, 0, name, -1, path + wcslen(path), 100);
  h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  ck_assert_msg(h != INVALID_HANDLE_VALUE, "open %s: %lu", name, GetLastError());
  return h;
}

static void raw_write(HANDLE h, const void *buf, DWORD len)
{
  DWORD n = 0;
  ck_assert_msg(WriteFile(h, buf, len, &n, NULL) && n == len, "write: %lu", GetLastError());
}

static void raw_read_exactly(HANDLE h, char *buf, DWORD len)
{
  while (len > 0) {
    DWORD n = 0;
    ck_assert_msg(ReadFile(h, buf, len, &n, NULL) || GetLastError() == ERROR_MORE_DATA,
                  "read: %lu", GetLastError());
    buf += n;
    len -= n;
  }
}

/* ---- One task for one operation at a time ------------------------------------------- */

enum op_mode {
  DO_WAIT_CLIENT, DO_OPEN, DO_RECV, DO_RECV_EXACTLY, DO_SEND_ALL, DO_READ_LINE,
  DO_WAIT_READABLE, DO_SENDV
};

typedef struct one {
  test_task_t    tt;
  sock_runtime_t *rt;
  enum op_mode   mode;
  sock_t        *sock;       /* what it works on (DO_OPEN: what it got) */
  unsigned       flags;      /* DO_OPEN */
  unsigned       deadline;   /* ms, 0 = none */
  sock_op_t      op;
  sock_reader_t  reader;
  WSABUF         bufs[3];
  char          *buf;
  size_t         len;
  volatile LONG  parked;
  int            error;
  unsigned long  bytes, win32;
  int            more;
  int            close_after;  /* close sock when done */
} one_t;

static co_state_t one_step(co_task_t *t)
{
  one_t *o = (one_t *)t;
  CO_BEGIN(t);
  if (o->deadline > 0)
    sock_deadline_set(&o->tt.st, o->deadline);
  InterlockedIncrement(&o->parked);
  if (o->mode == DO_WAIT_CLIENT)
    CO_AWAIT(t, sock_pipe_wait_client_start(&o->op, o->sock, t));
  else if (o->mode == DO_OPEN)
    CO_AWAIT(t, sock_pipe_open_start(&o->op, o->rt, pipe_name, o->flags, &o->sock, t));
  else if (o->mode == DO_RECV)
    CO_AWAIT(t, sock_recv_start(&o->op, o->sock, o->buf, o->len, t));
  else if (o->mode == DO_RECV_EXACTLY)
    CO_AWAIT(t, sock_recv_exactly_start(&o->op, o->sock, o->buf, o->len, t));
  else if (o->mode == DO_SEND_ALL)
    CO_AWAIT(t, sock_send_all_start(&o->op, o->sock, o->buf, o->len, t));
  else if (o->mode == DO_READ_LINE)
    CO_AWAIT(t, sock_read_line_start(&o->op, &o->reader, t));
  else if (o->mode == DO_WAIT_READABLE)
    CO_AWAIT(t, sock_wait_readable_start(&o->op, o->sock, t));
  else
    CO_AWAIT(t, sock_sendv_start(&o->op, o->sock, o->bufs, 3, t));
  o->error = o->op.error;
  o->bytes = o->op.bytes;
  o->win32 = o->op.win32_error;
  o->more = sock_pipe_message_more(&o->op);
  if (o->close_after)
    sock_close(o->sock);
  CO_END(t);
}

static one_t ones[3];

static one_t *one_start(sock_runtime_t *rt, int i, enum op_mode mode, sock_t *s, char *buf,
                        size_t len)
{
  one_t *o = &ones[i];
  HANDLE done = o->tt.done;
  memset(o, 0, sizeof *o);
  o->tt.done = done;
  o->rt = rt;
  o->mode = mode;
  o->sock = s;
  o->buf = buf;
  o->len = len;
  if (mode == DO_READ_LINE)
    sock_reader_init(&o->reader, s, buf, len);
  test_spawn(rt, &o->tt, one_step);
  return o;
}

static one_t *one_run(sock_runtime_t *rt, int i, enum op_mode mode, sock_t *s, char *buf,
                      size_t len)
{
  one_t *o = one_start(rt, i, mode, s, buf, len);
  test_wait(&o->tt, TEST_WAIT_MS);
  return o;
}

/* Waits until task i has parked in its await and a little more. */
static void one_parked(int i)
{
  DWORD start = GetTickCount();
  while (InterlockedCompareExchange(&ones[i].parked, 0, 0) == 0) {
    ck_assert_msg(GetTickCount() - start < 5000, "the task never started its await");
    Sleep(1);
  }
  Sleep(50);
}

static void ones_free(void)
{
  for (int i = 0; i < 3; i++)
    test_task_free_event(&ones[i].tt);
}

/* A server instance of a new name (config flags) awaiting its client. */
static sock_t *server_for(sock_runtime_t *rt, unsigned flags)
{
  sock_pipe_config_t c;
  sock_t *server = NULL;
  memset(&c, 0, sizeof c);
  c.flags = flags;
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &server), CO_OK);
  ck_assert_ptr_nonnull(server);
  return server;
}

/* A connected pair of cosock ends: *server and *client. */
static void pipe_pair(sock_runtime_t *rt, unsigned flags, sock_t **server, sock_t **client)
{
  one_t *w, *o;
  *server = server_for(rt, flags);
  w = one_start(rt, 0, DO_WAIT_CLIENT, *server, NULL, 0);
  ones[1].flags = flags;
  o = &ones[1];
  {
    HANDLE done = o->tt.done;
    memset(o, 0, sizeof *o);
    o->tt.done = done;
  }
  o->rt = rt;
  o->mode = DO_OPEN;
  o->flags = flags;
  test_spawn(rt, &o->tt, one_step);
  test_wait(&w->tt, TEST_WAIT_MS);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(w->error == CO_OK, "wait_client: %s", co_errname(w->error));
  ck_assert_msg(o->error == CO_OK, "open: %s (%lu)", co_errname(o->error), o->win32);
  ck_assert_ptr_nonnull(o->sock);
  *client = o->sock;
}

/* ---- 1,000 messages of random sizes through the TCP echo handler ------------------- */

enum { ECHO_MESSAGES = 1000, ECHO_MAX = 8000 };

typedef struct echo_conn {  /* tests/sock/sock_test.h's echo handler, on a pipe */
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  char        buf[4096];
  int         error;
} echo_conn_t;

static co_state_t echo_conn_step(co_task_t *t)
{
  echo_conn_t *c = (echo_conn_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->buf, sizeof c->buf, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->buf, c->op.bytes, t));
    if (c->op.error < 0)
      break;
  }
  c->error = c->op.error;
  sock_close(c->sock);
  CO_END(t);
}

typedef struct echo_client {
  test_task_t tt;
  sock_t     *sock;
  sock_op_t   op;
  int         i;
  size_t      len;
  unsigned    seed;
  char        out[ECHO_MAX], in[ECHO_MAX];
  int         verified, error;
} echo_client_t;

static co_state_t echo_client_step(co_task_t *t)
{
  echo_client_t *c = (echo_client_t *)t;
  CO_BEGIN(t);
  for (c->i = 0; c->i < ECHO_MESSAGES; c->i++) {
    c->seed = c->seed * 1103515245u + 12345u;
    c->len = 1 + (c->seed >> 8) % ECHO_MAX;
    for (size_t k = 0; k < c->len; k++)
      c->out[k] = (char)test_pattern((unsigned long)c->i, (unsigned long)k);
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, c->len, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, c->len, t));
    if (c->op.error < 0)
      break;
    if (memcmp(c->in, c->out, c->len) == 0)
      c->verified++;
  }
  c->error = c->op.error;
  sock_close(c->sock);
  CO_END(t);
}

static echo_conn_t echo_conn;
static echo_client_t echo_client;

/* The echo handler written for TCP serves a pipe unchanged: 1,000 messages
 * of 1 to 8,000 bytes (each larger than the handler's 4 KiB buffer in half
 * the cases) come back byte for byte; the server sees CO_EOF when the
 * client closes. */
static void echo_messages(unsigned flags)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *server, *client;
  pipe_pair(rt, flags, &server, &client);
  memset(&echo_conn, 0, sizeof echo_conn);
  memset(&echo_client, 0, sizeof echo_client);
  echo_conn.sock = server;
  echo_client.sock = client;
  echo_client.seed = 7;
  test_spawn(rt, &echo_conn.tt, echo_conn_step);
  test_spawn(rt, &echo_client.tt, echo_client_step);
  test_wait(&echo_client.tt, 30000);
  test_wait(&echo_conn.tt, TEST_WAIT_MS);
  ck_assert_msg(echo_client.error == CO_OK, "client: %s", co_errname(echo_client.error));
  ck_assert_int_eq(echo_client.verified, ECHO_MESSAGES);
  ck_assert_msg(echo_conn.error == CO_EOF, "server ended with %s", co_errname(echo_conn.error));
  ck_assert_uint_eq(echo_conn.op.win32_error, ERROR_BROKEN_PIPE);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&echo_conn.tt);
  test_task_free_event(&echo_client.tt);
  ones_free();
}

START_TEST(pipe_echo_1000_random_messages_byte_mode)
{
  echo_messages(0);
}
END_TEST

START_TEST(pipe_echo_1000_random_messages_message_mode)
{
  echo_messages(SOCK_PIPE_MESSAGE);
}
END_TEST

/* ---- A 16 MiB byte stream --------------------------------------------------------------- */

enum { STREAM_TOTAL = 16 << 20, STREAM_CHUNK = 1 << 20 };

typedef struct streamer {
  test_task_t   tt;
  sock_t       *sock;
  sock_op_t     op;
  unsigned long done;     /* bytes sent or received */
  unsigned long bad;      /* received bytes that differ from the pattern */
  int           error;
  char         *buf;      /* STREAM_CHUNK bytes */
} streamer_t;

static streamer_t sender, receiver;

static co_state_t sender_step(co_task_t *t)
{
  streamer_t *s = (streamer_t *)t;
  CO_BEGIN(t);
  for (s->done = 0; s->done < STREAM_TOTAL; s->done += STREAM_CHUNK) {
    for (unsigned long k = 0; k < STREAM_CHUNK; k++)
      s->buf[k] = (char)test_pattern(1, s->done + k);
    CO_AWAIT(t, sock_send_all_start(&s->op, s->sock, s->buf, STREAM_CHUNK, t));
    if (s->op.error < 0)
      break;
  }
  s->error = s->op.error;
  sock_close(s->sock);  /* the receiver sees the end of the stream */
  CO_END(t);
}

static co_state_t receiver_step(co_task_t *t)
{
  streamer_t *s = (streamer_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_recv_start(&s->op, s->sock, s->buf, STREAM_CHUNK, t));
    if (s->op.error < 0)
      break;
    for (unsigned long k = 0; k < s->op.bytes; k++)
      if ((unsigned char)s->buf[k] != test_pattern(1, s->done + k))
        s->bad++;
    s->done += s->op.bytes;
  }
  s->error = s->op.error;
  sock_close(s->sock);
  CO_END(t);
}

/* 16 MiB from a client to a server in 1 MiB send-alls (each larger than the
 * pipe's buffer, so writes go pending until the reader drains them): every
 * byte arrives in order, and the end comes as CO_EOF. */
START_TEST(pipe_byte_stream_16mib_verified)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *server, *client;
  pipe_pair(rt, 0, &server, &client);
  memset(&sender, 0, sizeof sender);
  memset(&receiver, 0, sizeof receiver);
  sender.buf = malloc(STREAM_CHUNK);
  receiver.buf = malloc(STREAM_CHUNK);
  ck_assert(sender.buf != NULL && receiver.buf != NULL);
  sender.sock = client;
  receiver.sock = server;
  test_spawn(rt, &receiver.tt, receiver_step);
  test_spawn(rt, &sender.tt, sender_step);
  test_wait(&sender.tt, 30000);
  test_wait(&receiver.tt, 30000);
  ck_assert_msg(sender.error == CO_OK, "sender: %s", co_errname(sender.error));
  ck_assert_msg(receiver.error == CO_EOF, "receiver: %s", co_errname(receiver.error));
  ck_assert_uint_eq(receiver.done, STREAM_TOTAL);
  ck_assert_uint_eq(receiver.bad, 0);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  free(sender.buf);
  free(receiver.buf);
  test_task_free_event(&sender.tt);
  test_task_free_event(&receiver.tt);
  ones_free();
}
END_TEST

/* ---- Lines, gather send, wait-readable ----------------------------------------------------- */

/* read_line over a pipe: lines cut across writes, "\r\n" and "\n", and an
 * unfinished last line that ends with CO_EOF and its length. */
START_TEST(pipe_read_line_across_writes)
{
  sock_runtime_t *rt = test_runtime_start();
  static char storage[64];
  sock_t *server = server_for(rt, 0);
  one_t *w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  HANDLE raw = raw_open(pipe_name);
  one_t *o;
  test_wait(&w->tt, TEST_WAIT_MS);
  ck_assert_int_eq(w->error, CO_OK);

  o = one_start(rt, 1, DO_READ_LINE, server, storage, sizeof storage);
  raw_write(raw, "hel", 3);
  Sleep(30);
  ck_assert(!test_finished(&o->tt));
  raw_write(raw, "lo\r\nwor", 7);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_str_eq(sock_reader_line(&o->reader, NULL), "hello");

  /* The same reader again: "wor" is buffered already. */
  o->mode = DO_READ_LINE;
  test_spawn(rt, &o->tt, one_step);
  raw_write(raw, "ld\nlast", 7);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_str_eq(sock_reader_line(&o->reader, NULL), "world");

  test_spawn(rt, &o->tt, one_step);
  CloseHandle(raw);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_EOF, "after the peer left: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 4);
  ck_assert_uint_eq(sock_reader_buffered(&o->reader), 4);

  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* A gather send writes every buffer, in order; a wait-readable on a byte
 * pipe waits until data is there, and the receive after it finds it. */
START_TEST(pipe_sendv_and_wait_readable)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[32];
  sock_t *server = server_for(rt, 0);
  one_t *w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  HANDLE raw = raw_open(pipe_name);
  one_t *o;
  test_wait(&w->tt, TEST_WAIT_MS);

  o = one_start(rt, 1, DO_WAIT_READABLE, server, NULL, 0);
  one_parked(1);
  ck_assert_msg(!test_finished(&o->tt), "wait_readable ended with no data");
  raw_write(raw, "ping", 4);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_int_eq(o->error, CO_OK);
  o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_uint_eq(o->bytes, 4);
  ck_assert(memcmp(got, "ping", 4) == 0);

  o = &ones[2];
  {
    HANDLE done = o->tt.done;
    memset(o, 0, sizeof *o);
    o->tt.done = done;
  }
  o->mode = DO_SENDV;
  o->sock = server;
  o->bufs[0].buf = (char *)"one,";
  o->bufs[0].len = 4;
  o->bufs[1].buf = NULL;
  o->bufs[1].len = 0;
  o->bufs[2].buf = (char *)"two";
  o->bufs[2].len = 3;
  test_spawn(rt, &o->tt, one_step);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_uint_eq(o->bytes, 7);
  raw_read_exactly(raw, got, 7);
  ck_assert(memcmp(got, "one,two", 7) == 0);

  CloseHandle(raw);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* ---- Message mode ---------------------------------------------------------------------- */

/* A 5,000-byte message read with a 1,000-byte buffer comes in five parts:
 * each CO_OK, the first four saying more follows, the last one not; the
 * next message starts afresh. Receive-exactly goes across messages. */
START_TEST(pipe_message_mode_delivers_parts)
{
  sock_runtime_t *rt = test_runtime_start();
  static char msg[5000], got[1000];
  sock_t *server = server_for(rt, SOCK_PIPE_MESSAGE);
  one_t *w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  HANDLE raw = raw_open(pipe_name);
  int part;
  test_wait(&w->tt, TEST_WAIT_MS);
  for (int i = 0; i < (int)sizeof msg; i++)
    msg[i] = (char)test_pattern(3, (unsigned long)i);

  {  /* wait-readable: pending until a message is there, and it takes none of it */
    one_t *o = one_start(rt, 1, DO_WAIT_READABLE, server, NULL, 0);
    one_parked(1);
    ck_assert_msg(!test_finished(&o->tt), "wait_readable ended with no message");
    raw_write(raw, msg, sizeof msg);
    test_wait(&o->tt, TEST_WAIT_MS);
    ck_assert_msg(o->error == CO_OK, "wait_readable: %s", co_errname(o->error));
    ck_assert_uint_eq(o->bytes, 0);
  }
  raw_write(raw, "tail", 4);
  for (part = 0; part < 5; part++) {
    one_t *o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
    ck_assert_msg(o->error == CO_OK, "part %d: %s", part, co_errname(o->error));
    ck_assert_uint_eq(o->bytes, 1000);
    ck_assert_msg(memcmp(got, msg + part * 1000, 1000) == 0, "part %d differs", part);
    ck_assert_msg(o->more == (part < 4), "part %d: more=%d", part, o->more);
  }
  {
    one_t *o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
    ck_assert_int_eq(o->error, CO_OK);
    ck_assert_uint_eq(o->bytes, 4);
    ck_assert_int_eq(o->more, 0);
  }
  raw_write(raw, "abc", 3);
  raw_write(raw, "defg", 4);
  {
    one_t *o = one_run(rt, 1, DO_RECV_EXACTLY, server, got, 7);
    ck_assert_int_eq(o->error, CO_OK);
    ck_assert(memcmp(got, "abcdefg", 7) == 0);
  }
  CloseHandle(raw);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* ---- A pending read: cancelled, closed, timed out ------------------------------------------ */

static sock_t *connected_server(sock_runtime_t *rt, HANDLE *raw)
{
  sock_t *server = server_for(rt, 0);
  one_t *w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  *raw = raw_open(pipe_name);
  test_wait(&w->tt, TEST_WAIT_MS);
  ck_assert_int_eq(w->error, CO_OK);
  return server;
}

/* sock_op_cancel ends the pending read with CO_ECANCELED; the pipe goes on:
 * the next read gets the data written after. */
START_TEST(pipe_pending_read_op_cancel)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[16];
  HANDLE raw;
  sock_t *server = connected_server(rt, &raw);
  one_t *o = one_start(rt, 1, DO_RECV, server, got, sizeof got);
  one_parked(1);
  ck_assert(!test_finished(&o->tt));
  ck_assert_int_eq(sock_op_cancel(&o->op), 1);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "cancelled read: %s", co_errname(o->error));
  raw_write(raw, "after", 5);
  o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_uint_eq(o->bytes, 5);
  CloseHandle(raw);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* sock_close from another thread ends the pending read with CO_ECANCELED
 * (Wine reports ERROR_HANDLES_CLOSED, Windows the abort), and the peer sees
 * the pipe broken. */
START_TEST(pipe_pending_read_closed)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[16];
  HANDLE raw;
  DWORD n;
  sock_t *server = connected_server(rt, &raw);
  one_t *o = one_start(rt, 1, DO_RECV, server, got, sizeof got);
  one_parked(1);
  sock_close(server);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "read on a closed pipe: %s", co_errname(o->error));
  {
    BOOL ok = ReadFile(raw, got, 1, &n, NULL);
    DWORD error = GetLastError();
    ck_assert(!ok);
    ck_assert_uint_eq(error, ERROR_BROKEN_PIPE);
  }
  CloseHandle(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* A task deadline ends the pending read with CO_ETIMEDOUT, after it and not
 * long after. */
START_TEST(pipe_pending_read_deadline)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[16];
  HANDLE raw;
  sock_t *server = connected_server(rt, &raw);
  one_t *o = &ones[1];
  ULONGLONG start;
  HANDLE done = o->tt.done;
  memset(o, 0, sizeof *o);
  o->tt.done = done;
  o->mode = DO_RECV;
  o->sock = server;
  o->buf = got;
  o->len = sizeof got;
  o->deadline = 150;
  o->close_after = 1;
  start = GetTickCount64();
  test_spawn(rt, &o->tt, one_step);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ETIMEDOUT, "read past its deadline: %s", co_errname(o->error));
  ck_assert_msg(GetTickCount64() - start >= 140, "ended after %llu ms",
                (unsigned long long)(GetTickCount64() - start));
  CloseHandle(raw);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* sock_cancel on a pipe end ends its pending read with CO_ECANCELED and
 * refuses every later operation on it; sock_op_cancel ends a client's wait
 * for a busy pipe, which then holds nothing. */
START_TEST(pipe_handle_cancel_and_open_cancel)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[16];
  sock_pipe_config_t c;
  HANDLE raw;
  sock_t *server = connected_server(rt, &raw), *busy = NULL;
  one_t *o = one_start(rt, 1, DO_RECV, server, got, sizeof got);
  one_parked(1);
  sock_cancel(server);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "read on a cancelled pipe: %s", co_errname(o->error));
  raw_write(raw, "late", 4);
  o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
  ck_assert_msg(o->error == CO_ECANCELED, "a read after sock_cancel: %s", co_errname(o->error));
  CloseHandle(raw);
  sock_close(server);

  memset(&c, 0, sizeof c);
  c.max_instances = 1;
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &busy), CO_OK);
  o = one_start(rt, 0, DO_WAIT_CLIENT, busy, NULL, 0);
  raw = raw_open(pipe_name);
  test_wait(&o->tt, TEST_WAIT_MS);
  o = &ones[1];
  {
    HANDLE done = o->tt.done;
    memset(o, 0, sizeof *o);
    o->tt.done = done;
  }
  o->rt = rt;
  o->mode = DO_OPEN;
  test_spawn(rt, &o->tt, one_step);
  one_parked(1);
  ck_assert(!test_finished(&o->tt));
  ck_assert_int_eq(sock_op_cancel(&o->op), 1);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "a cancelled open: %s", co_errname(o->error));
  ck_assert_ptr_null(o->sock);
  CloseHandle(raw);
  sock_close(busy);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* ---- Busy servers, taken names, leaving clients ---------------------------------------------- */

/* A server with one instance, in use: a client's open waits (it does not
 * fail with ERROR_PIPE_BUSY) until the server disconnects the first client
 * and awaits the next, then connects and talks. */
START_TEST(pipe_busy_server_client_waits_for_instance)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[8];
  sock_pipe_config_t c;
  sock_t *server = NULL;
  one_t *w, *o;
  HANDLE first;
  memset(&c, 0, sizeof c);
  c.max_instances = 1;
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &server), CO_OK);
  w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  first = raw_open(pipe_name);
  test_wait(&w->tt, TEST_WAIT_MS);

  o = &ones[1];
  {
    HANDLE done = o->tt.done;
    memset(o, 0, sizeof *o);
    o->tt.done = done;
  }
  o->rt = rt;
  o->mode = DO_OPEN;
  test_spawn(rt, &o->tt, one_step);
  Sleep(200);
  ck_assert_msg(!test_finished(&o->tt), "open of a busy pipe ended: %s", co_errname(o->error));

  ck_assert_int_eq(sock_pipe_disconnect(server), CO_OK);
  CloseHandle(first);
  w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  test_wait(&o->tt, TEST_WAIT_MS);
  test_wait(&w->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_OK, "open: %s", co_errname(o->error));
  ck_assert_int_eq(w->error, CO_OK);
  {
    sock_t *client = o->sock;
    one_t *r = one_start(rt, 2, DO_RECV_EXACTLY, client, got, 2);
    one_t *s = one_run(rt, 0, DO_SEND_ALL, server, (char *)"hi", 2);
    ck_assert_int_eq(s->error, CO_OK);
    test_wait(&r->tt, TEST_WAIT_MS);
    ck_assert_int_eq(r->error, CO_OK);
    ck_assert(memcmp(got, "hi", 2) == 0);
    sock_close(client);
  }
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* A client waiting for a busy pipe stops at its task's deadline with
 * CO_ETIMEDOUT, holding nothing. */
START_TEST(pipe_busy_server_open_deadline)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_pipe_config_t c;
  sock_t *server = NULL;
  one_t *w, *o;
  HANDLE first;
  memset(&c, 0, sizeof c);
  c.max_instances = 1;
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &server), CO_OK);
  w = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  first = raw_open(pipe_name);
  test_wait(&w->tt, TEST_WAIT_MS);
  o = &ones[1];
  {
    HANDLE done = o->tt.done;
    memset(o, 0, sizeof *o);
    o->tt.done = done;
  }
  o->rt = rt;
  o->mode = DO_OPEN;
  o->deadline = 150;
  test_spawn(rt, &o->tt, one_step);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ETIMEDOUT, "open past its deadline: %s", co_errname(o->error));
  ck_assert_ptr_null(o->sock);
  CloseHandle(first);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* A name served already cannot be created again (CO_EADDRINUSE), while more
 * instances of it can; bad names and configs are CO_EINVAL, a missing name
 * is CO_ENOENT for a client. */
START_TEST(pipe_name_taken_and_bad_names)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_pipe_config_t c;
  sock_t *server = server_for(rt, 0), *again = (sock_t *)1, *more = NULL;
  char full[96];
  one_t *o;
  ck_assert_int_eq(sock_pipe_create(rt, pipe_name, NULL, &again), CO_EADDRINUSE);
  ck_assert_ptr_null(again);
  snprintf(full, sizeof full, "\\\\.\\pipe\\%s", pipe_name);
  ck_assert_int_eq(sock_pipe_create(rt, full, NULL, &again), CO_EADDRINUSE);
  ck_assert_int_eq(sock_pipe_create_instance(server, &more), CO_OK);
  ck_assert_ptr_nonnull(more);
  sock_close(more);

  ck_assert_int_eq(sock_pipe_create(rt, "", NULL, &again), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_create(rt, "a\\b", NULL, &again), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_create(rt, NULL, NULL, &again), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_create(NULL, "x", NULL, &again), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_create(rt, "x", NULL, NULL), CO_EINVAL);
  memset(&c, 0, sizeof c);
  c.max_instances = 300;
  ck_assert_int_eq(sock_pipe_create(rt, "cosock-test-bad", &c, &again), CO_EINVAL);
  c.max_instances = 0;
  c.flags = 0x80;
  ck_assert_int_eq(sock_pipe_create(rt, "cosock-test-bad", &c, &again), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_create_instance(NULL, &more), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_disconnect(NULL), CO_EINVAL);
  ck_assert_int_eq(sock_pipe_wait_client_start(NULL, server, NULL), CO_EINVAL);

  snprintf(pipe_name, sizeof pipe_name, "cosock-test-nobody-%lu",
           (unsigned long)GetCurrentProcessId());
  o = one_run(rt, 1, DO_OPEN, NULL, NULL, 0);
  ck_assert_msg(o->error == CO_ENOENT, "open of a missing pipe: %s", co_errname(o->error));
  ck_assert_ptr_null(o->sock);

  /* Neither the pipe's socket calls nor the stream calls on a file. */
  ck_assert_int_eq(sock_shutdown_send(server), CO_EINVAL);
  ck_assert_int_eq(sock_set_nodelay(server, 1), CO_EINVAL);
  {
    sock_addr_t peer;
    int size = 0;
    size_t moved = 1;
    ck_assert_int_eq(sock_peer_addr(server, &peer), CO_EINVAL);
    ck_assert(sock_os_socket(server) == INVALID_SOCKET);
    ck_assert_int_eq(sock_recv_buffer_size(server, &size), CO_EINVAL);
    ck_assert_int_eq(sock_try_send(server, "x", 1, NULL, &moved), CO_EINVAL);
    ck_assert_uint_eq(moved, 0);
  }
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* A client that writes part of what the server waits for and closes: the
 * receive-exactly ends with CO_EOF and the bytes that came (the raw code is
 * ERROR_BROKEN_PIPE); a send after that fails with CO_ECONNRESET. A client
 * that opened and closed before the server awaited it is let go, and the
 * next client is served. */
START_TEST(pipe_client_leaves_mid_stream)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[1000];
  HANDLE raw;
  sock_t *server = connected_server(rt, &raw), *inst = NULL;
  one_t *o = one_start(rt, 1, DO_RECV_EXACTLY, server, got, sizeof got);
  raw_write(raw, got, 300);
  Sleep(30);
  CloseHandle(raw);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_EOF, "recv_exactly: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 300);
  ck_assert_uint_eq(o->win32, ERROR_BROKEN_PIPE);
  o = one_run(rt, 1, DO_SEND_ALL, server, got, 10);
  ck_assert_msg(o->error == CO_ECONNRESET, "send to a gone client: %s (%lu)",
                co_errname(o->error), o->win32);

  /* A new instance (the disconnected one takes no client until it awaits
   * one): a client comes and goes before the wait, then one that stays. */
  ck_assert_int_eq(sock_pipe_disconnect(server), CO_OK);
  ck_assert_int_eq(sock_pipe_create_instance(server, &inst), CO_OK);
  raw = raw_open(pipe_name);
  CloseHandle(raw);
  o = one_start(rt, 0, DO_WAIT_CLIENT, inst, NULL, 0);
  one_parked(0);
  ck_assert_msg(!test_finished(&o->tt), "wait_client took the client that left: %s",
                co_errname(o->error));
  raw = raw_open(pipe_name);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_OK, "wait_client: %s (%lu)", co_errname(o->error), o->win32);
  raw_write(raw, "ok", 2);
  o = one_run(rt, 1, DO_RECV, inst, got, sizeof got);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_uint_eq(o->bytes, 2);
  CloseHandle(raw);
  sock_close(inst);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* ---- Security ---------------------------------------------------------------------------- */

/* The DACL of a pipe, as SDDL, read through a client's handle (LocalFree it). */
static WCHAR *dacl_of(const char *name)
{
  HANDLE raw = raw_open(name);
  PSECURITY_DESCRIPTOR sd = NULL;
  PACL dacl = NULL;
  WCHAR *text = NULL;
  DWORD rc = GetSecurityInfo(raw, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
                             &dacl, NULL, &sd);
  ck_assert_msg(rc == ERROR_SUCCESS, "GetSecurityInfo: %lu", rc);
  ck_assert(ConvertSecurityDescriptorToStringSecurityDescriptorW(
      sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, NULL));
  LocalFree(sd);
  CloseHandle(raw);
  return text;
}

/* By default only SYSTEM and the creating user get access (a protected
 * DACL of exactly two entries); a descriptor of the caller's replaces it. */
START_TEST(pipe_security_default_and_custom)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_pipe_config_t c;
  sock_t *server = server_for(rt, 0), *custom = NULL;
  union { TOKEN_USER user; char bytes[256]; } tu;
  HANDLE token;
  DWORD len;
  WCHAR *sid, *text, want[160];
  PSECURITY_DESCRIPTOR sd;

  ck_assert(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token));
  ck_assert(GetTokenInformation(token, TokenUser, &tu, sizeof tu, &len));
  ck_assert(ConvertSidToStringSidW(tu.user.User.Sid, &sid));
  CloseHandle(token);
  wcscpy(want, L"D:P(A;;GA;;;SY)(A;;GA;;;");
  wcscat(want, sid);
  wcscat(want, L")");
  text = dacl_of(pipe_name);
  ck_assert_msg(wcscmp(text, want) == 0, "default DACL %ls, expected %ls", text, want);
  LocalFree(text);
  LocalFree(sid);
  sock_close(server);

  ck_assert(ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;;GA;;;WD)",
                                                                 SDDL_REVISION_1, &sd, NULL));
  memset(&c, 0, sizeof c);
  c.security_descriptor = sd;
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &custom), CO_OK);
  LocalFree(sd);  /* copied: the pipe does not need it any more */
  ck_assert_int_eq(sock_pipe_create_instance(custom, &server), CO_OK);
  text = dacl_of(pipe_name);
  ck_assert_msg(wcscmp(text, L"D:P(A;;GA;;;WD)") == 0, "custom DACL %ls", text);
  LocalFree(text);
  sock_close(server);
  sock_close(custom);

  /* An absolute descriptor (its DACL elsewhere in memory) is copied as well. */
  {
    static SECURITY_DESCRIPTOR abs_sd;
    static union { ACL acl; char bytes[256]; } dacl;
    static union { SID sid; char bytes[SECURITY_MAX_SID_SIZE]; } world;
    DWORD sid_len = sizeof world;
    ck_assert(CreateWellKnownSid(WinWorldSid, NULL, &world, &sid_len));
    ck_assert(InitializeAcl(&dacl.acl, sizeof dacl, ACL_REVISION));
    ck_assert(AddAccessAllowedAce(&dacl.acl, ACL_REVISION, GENERIC_READ, &world));
    ck_assert(InitializeSecurityDescriptor(&abs_sd, SECURITY_DESCRIPTOR_REVISION));
    ck_assert(SetSecurityDescriptorDacl(&abs_sd, TRUE, &dacl.acl, FALSE));
    c.security_descriptor = &abs_sd;
    ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &custom), CO_OK);
    memset(&abs_sd, 0, sizeof abs_sd);  /* copied: the pipe does not need it any more */
    memset(&dacl, 0, sizeof dacl);
    ck_assert_int_eq(sock_pipe_create_instance(custom, &server), CO_OK);
    text = dacl_of(pipe_name);
    ck_assert_msg(wcscmp(text, L"D:(A;;GR;;;WD)") == 0, "absolute DACL read back as %ls", text);
    LocalFree(text);
    sock_close(server);
    sock_close(custom);
  }

  c.security_descriptor = (void *)"not a descriptor";
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), &c, &custom), CO_EINVAL);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* ---- Error paths through the seam ---------------------------------------------------------- */

static void fault_clear(void)
{
  sock_fault_reset();
}

/* CreateNamedPipeW, CreateFileW, ConnectNamedPipe, ReadFile and WriteFile
 * failing: each start reports the documented error, nothing leaks. */
START_TEST(pipe_system_calls_failing)
{
  sock_runtime_t *rt = test_runtime_start();
  static char got[16];
  sock_t *server = NULL;
  one_t *o;
  HANDLE raw;

  sock_fault_nth(SOCK_SYS_CREATENAMEDPIPEW, 1, 1, 0);
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), NULL, &server), CO_ENOBUFS);
  ck_assert_ptr_null(server);
  sock_fault_nth(SOCK_SYS_CALLOC, 1, 1, 0);
  ck_assert_int_eq(sock_pipe_create(rt, new_pipe_name(), NULL, &server), CO_ENOMEM);
  sock_fault_reset();

  server = server_for(rt, 0);
  sock_fault_nth(SOCK_SYS_CONNECTNAMEDPIPE, 1, 1, ERROR_NOT_ENOUGH_MEMORY);
  o = one_run(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  ck_assert_int_eq(o->error, CO_ENOMEM);
  ck_assert_uint_eq(o->win32, ERROR_NOT_ENOUGH_MEMORY);

  sock_fault_nth(SOCK_SYS_CREATEFILEW, 1, 1, ERROR_ACCESS_DENIED);
  o = one_run(rt, 1, DO_OPEN, NULL, NULL, 0);
  ck_assert_int_eq(o->error, CO_EACCES);
  ck_assert_ptr_null(o->sock);

  o = one_start(rt, 0, DO_WAIT_CLIENT, server, NULL, 0);
  raw = raw_open(pipe_name);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_int_eq(o->error, CO_OK);
  sock_fault_nth(SOCK_SYS_READFILE, 1, 1, ERROR_NO_SYSTEM_RESOURCES);
  o = one_run(rt, 1, DO_RECV, server, got, sizeof got);
  ck_assert_int_eq(o->error, CO_ENOBUFS);
  sock_fault_nth(SOCK_SYS_WRITEFILE, 1, 1, 0);  /* ERROR_NO_DATA: the reader is gone */
  o = one_run(rt, 1, DO_SEND_ALL, server, got, 4);
  ck_assert_int_eq(o->error, CO_ECONNRESET);
  ck_assert_uint_eq(o->win32, ERROR_NO_DATA);
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, ERROR_BROKEN_PIPE);  /* the peer left */
  o = one_start(rt, 1, DO_RECV, server, got, sizeof got);
  raw_write(raw, "x", 1);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_EOF, "a receive seeing the peer leave: %s", co_errname(o->error));
  sock_fault_reset();
  CloseHandle(raw);
  sock_close(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  ones_free();
}
END_TEST

/* One case: its own ctest (the name must be a literal: CosockTesting.cmake),
 * with the seam reset before and after. */
static void add_case(Suite *s, TCase *tc, const TTest *test)
{
  tcase_add_checked_fixture(tc, fault_clear, fault_clear);
  tcase_add_test(tc, test);
  suite_add_tcase(s, tc);
}

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_pipe");
  add_case(s, tcase_create("pipe_echo_1000_random_messages_byte_mode"),
           pipe_echo_1000_random_messages_byte_mode);
  add_case(s, tcase_create("pipe_echo_1000_random_messages_message_mode"),
           pipe_echo_1000_random_messages_message_mode);
  add_case(s, tcase_create("pipe_byte_stream_16mib_verified"), pipe_byte_stream_16mib_verified);
  add_case(s, tcase_create("pipe_read_line_across_writes"), pipe_read_line_across_writes);
  add_case(s, tcase_create("pipe_sendv_and_wait_readable"), pipe_sendv_and_wait_readable);
  add_case(s, tcase_create("pipe_message_mode_delivers_parts"), pipe_message_mode_delivers_parts);
  add_case(s, tcase_create("pipe_pending_read_op_cancel"), pipe_pending_read_op_cancel);
  add_case(s, tcase_create("pipe_pending_read_closed"), pipe_pending_read_closed);
  add_case(s, tcase_create("pipe_pending_read_deadline"), pipe_pending_read_deadline);
  add_case(s, tcase_create("pipe_handle_cancel_and_open_cancel"),
           pipe_handle_cancel_and_open_cancel);
  add_case(s, tcase_create("pipe_busy_server_client_waits_for_instance"),
           pipe_busy_server_client_waits_for_instance);
  add_case(s, tcase_create("pipe_busy_server_open_deadline"), pipe_busy_server_open_deadline);
  add_case(s, tcase_create("pipe_name_taken_and_bad_names"), pipe_name_taken_and_bad_names);
  add_case(s, tcase_create("pipe_client_leaves_mid_stream"), pipe_client_leaves_mid_stream);
  add_case(s, tcase_create("pipe_security_default_and_custom"), pipe_security_default_and_custom);
  add_case(s, tcase_create("pipe_system_calls_failing"), pipe_system_calls_failing);
  return s;
}

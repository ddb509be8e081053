/*
 * tests/sock/test_tls.c - TLS client sessions (Schannel) against native
 * `openssl s_server` processes.
 *
 * tests/sock/tls_servers.sh starts the servers for each case and stops
 * them after it (ports and paths in COSOCK_TLS_* variables); certificates
 * are made at test time by openssl: a CA, certificates it signed for the
 * right name, a wrong name and an expired one, and a self-signed one. The
 * other peers (garbage, silence, a relay that drops close_notify) are plain
 * blocking sockets on threads of this process. Only TLS 1.2 can be
 * negotiated here (Wine 8's Schannel has no TLS 1.3).
 *
 * Without the servers (no openssl, or run by hand) the program says
 * "SKIPPED" and exits 77, which ctest reports as skipped.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

/* ctest-timeout: 60 */

enum { BODY_LEN = 1024 * 1024, TLS_WAIT_MS = 30000 };

/* ---- The servers ---------------------------------------------------------------- */

static unsigned short env_port(const char *name)
{
  const char *v = getenv(name);
  ck_assert_msg(v != NULL && atoi(v) > 0, "%s is not set", name);
  return (unsigned short)atoi(v);
}

/* COSOCK_TLS_DIR + "/" + file, as Wine sees it (Z:\...). */
static const char *tls_path(const char *file)
{
  static char out[4][MAX_PATH];
  static int next;
  char *p = out[next++ % 4];
  const char *dir = getenv("COSOCK_TLS_DIR");
  ck_assert_ptr_nonnull(dir);
  snprintf(p, MAX_PATH, "%s%s/%s", dir[0] == '/' ? "Z:" : "", dir, file);
  for (char *c = p; *c != '\0'; c++)
    if (*c == '/')
      *c = '\\';
  return p;
}

static char *read_whole(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf;
  ck_assert_msg(f != NULL, "cannot open %s", path);
  buf = malloc(BODY_LEN + 1);
  ck_assert_ptr_nonnull(buf);
  *len = fread(buf, 1, BODY_LEN + 1, f);
  fclose(f);
  return buf;
}

/* ---- A client task: connect, handshake, then one of a few scripts --------------- */

enum script {
  JUST_HANDSHAKE,  /* handshake, then close */
  GET_BODY,        /* GET /body.bin, headers by lines, body to the end of the stream */
  REVERSE_LINES,   /* s_server -rev: gather-send lines, read each reversed, shutdown */
  READ_AND_PARK,   /* one receive that waits (to be cancelled) */
  DUPLEX           /* a writer task sends lines while this one reads them back */
};

typedef struct client {
  test_task_t       tt;
  sock_op_t         op;
  sock_t           *tcp, *tls;
  sock_tls_config_t cfg;
  enum script       script;
  unsigned short    port;
  unsigned          deadline_ms;     /* 0: none */
  int               hs_error;        /* the handshake's op.error */
  unsigned long     hs_win32;
  int               error;           /* the last step's */
  unsigned long     win32;
  sock_reader_t     reader;
  char              line[512];
  char              status[128];
  char             *body;            /* GET_BODY: BODY_LEN + 1 bytes */
  size_t            body_len;
  int               lines_ok;        /* REVERSE_LINES: lines that came back right */
  int               end_error;       /* how the stream ended */
  WSABUF            bufs[3];
  char              small[64];
  sock_tls_info_t   info;
  void            (*after_connect)(void);    /* arms a fault, or NULL */
  void            (*after_handshake)(void);
} client_t;

static client_t cl;

/* ---- The writer of the DUPLEX script: a second task on the same session ---------- */

enum { DUPLEX_LINES = 300 };

typedef struct writer {
  test_task_t  tt;
  sock_op_t    op;
  sock_t      *tls;
  int          i;
  int          error;
  char         line[64];
} writer_t;

static writer_t wr;
static sock_event_t wr_done;

static int duplex_line(int i, char *out, size_t size)
{
  return snprintf(out, size, "%05d-the quick brown fox-%d\n", i, i * 7919);
}

static co_state_t writer_step(co_task_t *t)
{
  writer_t *w = (writer_t *)t;
  CO_BEGIN(t);
  for (w->i = 0; w->i < DUPLEX_LINES; w->i++) {
    CO_AWAIT(t, sock_send_all_start(&w->op, w->tls, w->line,
                                    (size_t)duplex_line(w->i, w->line, sizeof w->line), t));
    if ((w->error = w->op.error) != CO_OK)
      break;
  }
  sock_event_set(&wr_done);
  CO_END(t);
}

/* Whether `got` is line i reversed (s_server -rev). */
static int duplex_check(int i, const char *got)
{
  char want[64];
  int n = duplex_line(i, want, sizeof want) - 1;  /* without the newline */
  if ((int)strlen(got) != n)
    return 0;
  for (int k = 0; k < n; k++)
    if (got[k] != want[n - 1 - k])
      return 0;
  return 1;
}

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  CO_BEGIN(t);
  if (c->deadline_ms > 0)
    sock_deadline_set(&c->tt.st, c->deadline_ms);
  CO_AWAIT(t, sock_connect_start(&c->op, c->tt.st.runtime, "127.0.0.1", c->port, &c->tcp, t));
  ck_assert_msg(c->op.error == CO_OK, "connect: %s", co_errname(c->op.error));
  if (c->after_connect != NULL)
    c->after_connect();
  CO_AWAIT(t, sock_tls_client_start(&c->op, c->tcp, &c->cfg, &c->tls, t));
  c->tcp = NULL;  /* the session's now, closed with it or already */
  c->hs_error = c->op.error;
  c->hs_win32 = c->op.win32_error;
  if (c->op.error != CO_OK)
    CO_EXIT(t, c->op.error);
  sock_tls_get_info(c->tls, &c->info);
  if (c->after_handshake != NULL)
    c->after_handshake();

  if (c->script == GET_BODY) {
    static const char req[] = "GET /body.bin HTTP/1.0\r\n\r\n";
    CO_AWAIT(t, sock_send_all_start(&c->op, c->tls, req, sizeof req - 1, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    sock_reader_init(&c->reader, c->tls, c->line, sizeof c->line);
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    snprintf(c->status, sizeof c->status, "%s", sock_reader_line(&c->reader, NULL));
    do {  /* the other header lines, to the empty one */
      CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
      if ((c->error = c->op.error) != CO_OK)
        goto done;
    } while (c->reader.line_len > 0);
    c->body_len = sock_reader_buffered(&c->reader);
    memcpy(c->body, c->reader.buf + c->reader.start, c->body_len);
    for (;;) {  /* the body, to the end of the stream */
      CO_AWAIT(t, sock_recv_start(&c->op, c->tls, c->body + c->body_len,
                                  BODY_LEN + 1 - c->body_len, t));
      if (c->op.error != CO_OK)
        break;
      c->body_len += c->op.bytes;
      if (c->body_len > BODY_LEN)
        break;
    }
    c->end_error = c->op.error;
    c->win32 = c->op.win32_error;
  } else if (c->script == REVERSE_LINES) {
    static char p0[] = "hello", p1[] = " tls ", p2[] = "world\n";  /* one line, three pieces */
    c->bufs[0].buf = p0;
    c->bufs[0].len = 5;
    c->bufs[1].buf = p1;
    c->bufs[1].len = 5;
    c->bufs[2].buf = p2;
    c->bufs[2].len = 6;
    CO_AWAIT(t, sock_sendv_start(&c->op, c->tls, c->bufs, 3, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    sock_reader_init(&c->reader, c->tls, c->line, sizeof c->line);
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    if (strcmp(sock_reader_line(&c->reader, NULL), "dlrow slt olleh") == 0)
      c->lines_ok++;
    CO_AWAIT(t, sock_send_all_start(&c->op, c->tls, "abc\n", 4, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->tls, c->small, 4, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    if (memcmp(c->small, "cba\n", 4) == 0)
      c->lines_ok++;
    CO_AWAIT(t, sock_tls_shutdown_start(&c->op, c->tls, t));
    if ((c->error = c->op.error) != CO_OK)
      goto done;
    CO_AWAIT(t, sock_send_start(&c->op, c->tls, "x", 1, t));
    c->end_error = c->op.error;  /* after close_notify: CO_ENOTCONN */
  } else if (c->script == DUPLEX) {
    wr.tls = c->tls;
    sock_event_init(&wr_done, 0);
    test_spawn(c->tt.st.runtime, &wr.tt, writer_step);  /* writes while we read */
    sock_reader_init(&c->reader, c->tls, c->line, sizeof c->line);
    for (c->lines_ok = 0; c->lines_ok < DUPLEX_LINES; c->lines_ok++) {
      CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
      if ((c->error = c->op.error) != CO_OK ||
          !duplex_check(c->lines_ok, sock_reader_line(&c->reader, NULL)))
        break;
    }
    CO_AWAIT(t, sock_event_wait_start(&c->op, &wr_done, &c->tt.st));
  } else if (c->script == READ_AND_PARK) {
    CO_AWAIT(t, sock_recv_start(&c->op, c->tls, c->small, sizeof c->small, t));
    c->error = c->op.error;
    if (c->error == CO_ECANCELED && !c->tt.st.cancelled) {
      /* sock_op_cancel ends one await only: the session goes on. */
      CO_AWAIT(t, sock_send_all_start(&c->op, c->tls, "xyz\n", 4, t));
      CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->tls, c->small, 4, t));
      if (c->op.error == CO_OK && memcmp(c->small, "zyx\n", 4) == 0)
        c->lines_ok++;
    }
  }
done:
  sock_close(c->tls);
  c->tls = NULL;
  CO_END(t);
}

static sock_runtime_t *rt;

static void tls_setup(void)
{
  rt = test_runtime_start();
  memset(&cl, 0, sizeof cl);
  cl.body = malloc(BODY_LEN + 1);
  cl.cfg.host = "localhost";
  cl.cfg.ca_file = tls_path("ca.pem");
}

static void tls_teardown(void)
{
  sock_fault_reset();
  test_wait_counters(rt, 0, 0, 0, 5000);  /* every session and connection gone */
  test_runtime_stop(rt);
  test_task_free_event(&cl.tt);
  free(cl.body);
}

/* Runs the client against `port` with cl.cfg and cl.script, to the end. */
static void run_client(unsigned short port)
{
  cl.port = port;
  cl.hs_error = 1;
  test_spawn(rt, &cl.tt, client_step);
  test_wait(&cl.tt, TLS_WAIT_MS);
}

static void expect_refused(unsigned short port, int error)
{
  cl.script = JUST_HANDSHAKE;
  run_client(port);
  ck_assert_msg(cl.hs_error == error, "handshake: %s (win32 0x%lx), expected %s",
                co_errname(cl.hs_error), cl.hs_win32, co_errname(error));
  ck_assert_ptr_null(cl.tls);
  test_wait_counters(rt, 0, 0, 0, 5000);  /* the refused connection is closed */
}

static void check_body(void)
{
  size_t len;
  char *want = read_whole(tls_path("body.bin"), &len);
  ck_assert_uint_eq(len, BODY_LEN);
  ck_assert_str_eq(cl.status, "HTTP/1.0 200 ok");
  ck_assert_uint_eq(cl.body_len, BODY_LEN);
  ck_assert_msg(memcmp(cl.body, want, BODY_LEN) == 0, "the body differs from body.bin");
  free(want);
}

/* ---- Verified GETs ------------------------------------------------------------------ */

/* A GET over TLS 1.2 with the test CA's file: 1 MiB of body, byte for byte,
 * read through the line reader and receives; the server's close_notify ends
 * the stream as CO_EOF. ALPN offers two protocols and the server picks one. */
START_TEST(tls_get_with_ca_file_gives_the_whole_body)
{
  cl.script = GET_BODY;
  cl.cfg.alpn = "h2,http/1.1";
  run_client(env_port("COSOCK_TLS_PORT_GOOD"));
  ck_assert_msg(cl.hs_error == CO_OK, "handshake: %s (0x%lx)", co_errname(cl.hs_error),
                cl.hs_win32);
  ck_assert_str_eq(cl.info.version, "TLS 1.2");
  ck_assert_str_eq(cl.info.alpn, "http/1.1");  /* the server's choice of the two offered */
  ck_assert_uint_ge(cl.info.cipher_bits, 128);
  ck_assert_msg(cl.error == CO_OK, "GET: %s", co_errname(cl.error));
  check_body();
  ck_assert_msg(cl.end_error == CO_EOF, "end: %s", co_errname(cl.end_error));
}
END_TEST

/* The same with the certificate pinned by its SHA-256 (no host name, no CA);
 * a pin of another certificate is refused as untrusted, a malformed one
 * refused at the start. */
START_TEST(tls_get_with_pinned_fingerprint)
{
  static char other[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  cl.script = GET_BODY;
  cl.cfg.host = NULL;
  cl.cfg.ca_file = NULL;
  cl.cfg.pin_sha256 = getenv("COSOCK_TLS_PIN");
  ck_assert_ptr_nonnull(cl.cfg.pin_sha256);
  run_client(env_port("COSOCK_TLS_PORT_GOOD"));
  ck_assert_msg(cl.hs_error == CO_OK, "handshake: %s (0x%lx)", co_errname(cl.hs_error),
                cl.hs_win32);
  check_body();
  ck_assert_int_eq(cl.end_error, CO_EOF);

  cl.cfg.pin_sha256 = other;
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_ECERTUNTRUSTED);
  cl.cfg.pin_sha256 = "00:11:zz";
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
}
END_TEST

/* ---- Refusals ------------------------------------------------------------------------------ */

/* A self-signed certificate is not trusted with the CA file; the test CA's
 * own certificate is not trusted without it (the system store by default). */
START_TEST(tls_untrusted_certificate_is_refused)
{
  expect_refused(env_port("COSOCK_TLS_PORT_SELF"), CO_ECERTUNTRUSTED);
  ck_assert_uint_eq(cl.hs_win32, (unsigned long)CERT_E_UNTRUSTEDROOT);
  cl.cfg.ca_file = NULL;
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_ECERTUNTRUSTED);
}
END_TEST

/* A certificate for wrong.example, or ours asked for another name. */
START_TEST(tls_wrong_host_name_is_refused)
{
  expect_refused(env_port("COSOCK_TLS_PORT_WRONG"), CO_ECERTNAME);
  ck_assert_uint_eq(cl.hs_win32, (unsigned long)CERT_E_CN_NO_MATCH);
  cl.cfg.host = "other.example";
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_ECERTNAME);
}
END_TEST

START_TEST(tls_expired_certificate_is_refused)
{
  expect_refused(env_port("COSOCK_TLS_PORT_EXPIRED"), CO_ECERTEXPIRED);
  ck_assert_uint_eq(cl.hs_win32, (unsigned long)CERT_E_EXPIRED);
}
END_TEST

/* insecure_skip_verify takes every one of them. */
START_TEST(tls_insecure_accepts_every_certificate)
{
  const char *ports[] = { "COSOCK_TLS_PORT_SELF", "COSOCK_TLS_PORT_WRONG",
                          "COSOCK_TLS_PORT_EXPIRED" };
  cl.cfg.insecure_skip_verify = 1;
  cl.cfg.ca_file = NULL;
  for (int i = 0; i < 3; i++) {
    cl.script = GET_BODY;
    run_client(env_port(ports[i]));
    ck_assert_msg(cl.hs_error == CO_OK, "%s: %s", ports[i], co_errname(cl.hs_error));
    check_body();
    test_wait_counters(rt, 0, 0, 0, 5000);
  }
}
END_TEST

/* Bad input: a clear error, the connection closed, nothing left. */
START_TEST(tls_bad_arguments_are_refused)
{
  cl.cfg.ca_file = "Z:\\no\\such\\ca.pem";
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
  ck_assert_msg(cl.hs_win32 == ERROR_PATH_NOT_FOUND || cl.hs_win32 == ERROR_FILE_NOT_FOUND,
                "win32 %lu", cl.hs_win32);
  cl.cfg.ca_file = tls_path("body.bin");  /* a file with no certificate */
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
  cl.cfg.ca_file = NULL;
  cl.cfg.host = NULL;  /* nothing to check against */
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
  cl.cfg.host = "";    /* no name either: the system's check would accept any name */
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
  cl.cfg.host = "localhost";
  cl.cfg.alpn = ",";
  expect_refused(env_port("COSOCK_TLS_PORT_GOOD"), CO_EINVAL);
  {
    sock_op_t op;
    sock_t *out = (sock_t *)&op;
    memset(&op, 0, sizeof op);
    ck_assert_int_eq(sock_tls_client_start(&op, NULL, &cl.cfg, &out, &cl.tt.st.task), CO_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(op.error, CO_EINVAL);
    ck_assert_int_eq(sock_tls_shutdown_start(&op, NULL, &cl.tt.st.task), CO_EINVAL);
    ck_assert_int_eq(sock_tls_get_info(NULL, &cl.info), CO_EINVAL);
  }
}
END_TEST

/* ---- Peers that are not TLS servers ------------------------------------------------------------ */

typedef struct raw_peer {
  SOCKET         listener;
  unsigned short port;
  int            mode;      /* 0: send garbage and close; 1: say nothing; 2: relay */
  unsigned short relay_to;  /* mode 2: the s_server port */
  HANDLE         thread;
  volatile LONG  dropped;   /* mode 2: alert records not passed on */
} raw_peer_t;

static raw_peer_t peer;

static int send_all_raw(SOCKET s, const char *b, int n)
{
  while (n > 0) {
    int k = send(s, b, n, 0);
    if (k <= 0)
      return -1;
    b += k;
    n -= k;
  }
  return 0;
}

/* Relays a TLS connection until the server's first alert record (its
 * close_notify), which it drops before hanging up: so the client sees all
 * the data and then the end of TCP without close_notify. */
static void relay(SOCKET client, unsigned short port)
{
  static char buf[1 << 17];
  SOCKET server = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  struct sockaddr_in a;
  size_t held = 0;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(server, (struct sockaddr *)&a, sizeof a) != 0)
    goto out;
  for (;;) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(client, &r);
    FD_SET(server, &r);
    if (select(0, &r, NULL, NULL, NULL) <= 0)
      break;
    if (FD_ISSET(client, &r)) {
      char up[4096];
      int n = recv(client, up, sizeof up, 0);
      if (n <= 0 || send_all_raw(server, up, n) != 0)
        break;
    }
    if (FD_ISSET(server, &r)) {
      int n = recv(server, buf + held, (int)(sizeof buf - held), 0);
      if (n <= 0)
        break;
      held += (size_t)n;
      for (;;) {  /* whole records only */
        size_t len;
        if (held < 5)
          break;
        len = 5 + (((size_t)(unsigned char)buf[3] << 8) | (unsigned char)buf[4]);
        if (held < len)
          break;
        if (buf[0] == 21) {  /* the close_notify: drop it and hang up */
          InterlockedIncrement(&peer.dropped);
          goto out;
        }
        if (send_all_raw(client, buf, (int)len) != 0)
          goto out;
        memmove(buf, buf + len, held - len);
        held -= len;
      }
    }
  }
out:
  closesocket(server);
}

static DWORD WINAPI peer_main(LPVOID arg)
{
  SOCKET c = accept(peer.listener, NULL, NULL);
  (void)arg;
  if (c == INVALID_SOCKET)
    return 0;
  if (peer.mode == 0) {
    static const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    char in[2048];
    recv(c, in, sizeof in, 0);  /* the ClientHello */
    send_all_raw(c, junk, sizeof junk - 1);
    shutdown(c, SD_SEND);
    while (recv(c, in, sizeof in, 0) > 0) {
    }
  } else if (peer.mode == 1) {
    char in[2048];
    while (recv(c, in, sizeof in, 0) > 0) {  /* until the client gives up */
    }
  } else {
    relay(c, peer.relay_to);
  }
  closesocket(c);
  return 0;
}

static void peer_start(int mode)
{
  peer.mode = mode;
  peer.listener = test_raw_listen(4, &peer.port);
  peer.thread = CreateThread(NULL, 0, peer_main, NULL, 0, NULL);
  ck_assert_ptr_nonnull(peer.thread);
}

static void peer_stop(void)
{
  closesocket(peer.listener);
  ck_assert_int_eq(WaitForSingleObject(peer.thread, 10000), WAIT_OBJECT_0);
  CloseHandle(peer.thread);
}

/* A server that answers the ClientHello with HTTP: a handshake failure. */
START_TEST(tls_garbage_instead_of_a_handshake_fails)
{
  peer_start(0);
  expect_refused(peer.port, CO_ETLS);
  ck_assert_msg((cl.hs_win32 & 0xffff0000UL) == 0x80090000UL, "win32 0x%lx", cl.hs_win32);
  peer_stop();
}
END_TEST

/* A server that accepts and never answers: the task's deadline ends the
 * handshake (its pending receive cancelled) with CO_ETIMEDOUT. */
START_TEST(tls_handshake_deadline_against_a_silent_server)
{
  DWORD start;
  peer_start(1);
  cl.deadline_ms = 300;
  start = GetTickCount();
  expect_refused(peer.port, CO_ETIMEDOUT);
  ck_assert_uint_ge(GetTickCount() - start, 250);
  peer_stop();
}
END_TEST

/* The same GET through a relay that drops the server's close_notify: the
 * body is whole, and the end of TCP without it is CO_ECONNABORTED (a
 * truncation, not a clean end of stream). */
START_TEST(tls_close_without_close_notify_is_not_eof)
{
  peer.relay_to = env_port("COSOCK_TLS_PORT_GOOD");
  peer_start(2);
  cl.script = GET_BODY;
  run_client(peer.port);
  ck_assert_msg(cl.hs_error == CO_OK, "handshake: %s", co_errname(cl.hs_error));
  check_body();
  ck_assert_msg(cl.end_error == CO_ECONNABORTED, "end: %s", co_errname(cl.end_error));
  ck_assert_uint_eq(cl.win32, ERROR_HANDLE_EOF);
  ck_assert_int_ge(peer.dropped, 1);
  peer_stop();
}
END_TEST

/* ---- Streams, close, cancel ---------------------------------------------------------------- */

/* s_server -rev: a gather send of one line in three pieces comes back
 * reversed through the line reader, a send-all through receive-exactly;
 * close_notify is sent, and a send after it is refused. */
START_TEST(tls_stream_operations_and_close_notify)
{
  cl.script = REVERSE_LINES;
  run_client(env_port("COSOCK_TLS_PORT_REV"));
  ck_assert_msg(cl.hs_error == CO_OK, "handshake: %s", co_errname(cl.hs_error));
  ck_assert_msg(cl.error == CO_OK, "stream: %s", co_errname(cl.error));
  ck_assert_int_eq(cl.lines_ok, 2);
  ck_assert_int_eq(cl.end_error, CO_ENOTCONN);
}
END_TEST

/* Full duplex: a writer task sends 300 lines while the reader task reads
 * them back reversed, on one session at the same time. */
START_TEST(tls_reader_and_writer_at_once)
{
  cl.script = DUPLEX;
  run_client(env_port("COSOCK_TLS_PORT_REV"));
  ck_assert_msg(cl.hs_error == CO_OK, "handshake: %s", co_errname(cl.hs_error));
  test_wait(&wr.tt, TLS_WAIT_MS);
  ck_assert_msg(wr.error == CO_OK, "writer: %s", co_errname(wr.error));
  ck_assert_msg(cl.error == CO_OK, "reader: %s", co_errname(cl.error));
  ck_assert_int_eq(cl.lines_ok, DUPLEX_LINES);
  test_task_free_event(&wr.tt);
}
END_TEST

/* A receive parked on a session ends with CO_ECANCELED: by sock_op_cancel
 * (the session goes on: a round trip after it works), and by
 * sock_task_cancel (the task ends). */
START_TEST(tls_cancel_mid_read)
{
  cl.script = READ_AND_PARK;
  cl.port = env_port("COSOCK_TLS_PORT_REV");
  test_spawn(rt, &cl.tt, client_step);
  for (int i = 0; i < 2000 && cl.tls == NULL; i++)
    Sleep(5);
  ck_assert_ptr_nonnull(cl.tls);
  Sleep(100);  /* the receive is parked */
  ck_assert(!test_finished(&cl.tt));
  ck_assert_int_eq(sock_op_cancel(&cl.op), 1);
  test_wait(&cl.tt, TLS_WAIT_MS);
  ck_assert_int_eq(cl.error, CO_ECANCELED);
  ck_assert_int_eq(cl.lines_ok, 1);
  test_wait_counters(rt, 0, 0, 0, 5000);

  memset(&cl.op, 0, sizeof cl.op);
  cl.tls = NULL;
  test_spawn(rt, &cl.tt, client_step);
  for (int i = 0; i < 2000 && cl.tls == NULL; i++)
    Sleep(5);
  ck_assert_ptr_nonnull(cl.tls);
  Sleep(100);
  sock_task_cancel(&cl.tt.st);
  test_wait(&cl.tt, TLS_WAIT_MS);
  ck_assert_int_eq(cl.error, CO_ECANCELED);
  ck_assert_int_eq(cl.lines_ok, 1);  /* no round trip after a task cancel */
}
END_TEST

/* ---- The seam ------------------------------------------------------------------------------ */

/* EncryptMessage failing: the send fails with CO_ETLS and Schannel's code. */
START_TEST(tls_seam_encrypt_failure)
{
  cl.script = REVERSE_LINES;
  sock_fault_nth(SOCK_SYS_ENCRYPTMESSAGE, 1, 1, 0);
  run_client(env_port("COSOCK_TLS_PORT_REV"));
  ck_assert_int_eq(cl.hs_error, CO_OK);
  ck_assert_int_eq(cl.error, CO_ETLS);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_ENCRYPTMESSAGE), 1);
}
END_TEST

/* DecryptMessage failing: the read fails with CO_ETLS, and so does every
 * later one (the stream is lost). */
START_TEST(tls_seam_decrypt_failure)
{
  cl.script = GET_BODY;
  sock_fault_nth(SOCK_SYS_DECRYPTMESSAGE, 1, 1, 0);
  run_client(env_port("COSOCK_TLS_PORT_GOOD"));
  ck_assert_int_eq(cl.hs_error, CO_OK);
  ck_assert_msg(cl.error == CO_ETLS, "GET: %s", co_errname(cl.error));
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_DECRYPTMESSAGE), 1);
}
END_TEST

static void arm_recv_reset(void)
{
  sock_fault_nth(SOCK_SYS_WSARECV, 1, 1, WSAECONNRESET);
}

static void arm_completions(void)
{
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 0, ERROR_NETNAME_DELETED);
}

static unsigned long calloc_nth;

static void arm_calloc(void)
{
  sock_fault_nth(SOCK_SYS_CALLOC, calloc_nth, 1, 0);
}

/* The socket calls underneath: a send of the handshake, a receive of the
 * handshake, a receive of data, a completion; the handshake's Schannel
 * calls; the chain; an allocation. Each failure is the operation's error,
 * and nothing is left behind. */
START_TEST(tls_seam_socket_and_schannel_failures)
{
  unsigned short good = env_port("COSOCK_TLS_PORT_GOOD");
  sock_fault_nth(SOCK_SYS_WSASEND, 1, 1, WSAECONNRESET);
  expect_refused(good, CO_ECONNRESET);
  sock_fault_nth(SOCK_SYS_WSARECV, 1, 1, WSAECONNABORTED);
  expect_refused(good, CO_ECONNABORTED);
  /* Every completion after connect's: a receive of the handshake is one
   * (unless every call of it finished at once, as skip mode allows). */
  cl.after_connect = arm_completions;
  cl.script = JUST_HANDSHAKE;
  run_client(good);
  if (sock_fault_failures(SOCK_SYS_COMPLETION) > 0)
    ck_assert_msg(cl.hs_error == CO_ECONNRESET, "handshake: %s", co_errname(cl.hs_error));
  else
    ck_assert_int_eq(cl.hs_error, CO_OK);
  cl.after_connect = NULL;
  sock_fault_reset();
  test_wait_counters(rt, 0, 0, 0, 5000);
  sock_fault_nth(SOCK_SYS_ACQUIRECREDENTIALSHANDLEW, 1, 0, 0);
  expect_refused(good, CO_ETLS);
  ck_assert_uint_eq(cl.hs_win32, (unsigned long)SEC_E_NO_CREDENTIALS);
  sock_fault_reset();
  sock_fault_nth(SOCK_SYS_INITIALIZESECURITYCONTEXTW, 2, 1, 0);
  expect_refused(good, CO_ETLS);
  sock_fault_reset();
  sock_fault_nth(SOCK_SYS_CERTGETCERTIFICATECHAIN, 1, 1, (unsigned long)CERT_E_CHAINING);
  expect_refused(good, CO_ECERTUNTRUSTED);
  sock_fault_reset();

  /* A data receive: the GET's body read fails. */
  cl.script = GET_BODY;
  cl.after_handshake = arm_recv_reset;
  run_client(good);
  ck_assert_int_eq(cl.hs_error, CO_OK);
  ck_assert_msg(cl.error == CO_ECONNRESET || cl.end_error == CO_ECONNRESET, "%s / %s",
                co_errname(cl.error), co_errname(cl.end_error));
  cl.after_handshake = NULL;
  sock_fault_reset();
  test_wait_counters(rt, 0, 0, 0, 5000);

  /* Each of the session's allocations (the object, the host name, the CA
   * file's text and its certificate, the receive buffer) failing in turn. */
  cl.after_connect = arm_calloc;
  for (calloc_nth = 1; calloc_nth <= 5; calloc_nth++) {
    expect_refused(good, CO_ENOMEM);
    ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_CALLOC), 1);
    sock_fault_reset();
  }
}
END_TEST

static void add_case(Suite *s, TCase *tc, const TTest *test)
{
  tcase_add_checked_fixture(tc, tls_setup, tls_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test);
  suite_add_tcase(s, tc);
}

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("tls");
  if (getenv("COSOCK_TLS_PORT_GOOD") == NULL) {
    printf("tls test SKIPPED: no TLS servers (run through tests/sock/tls_servers.sh, which "
           "needs a native openssl)\n");
    exit(77);
  }
  add_case(s, tcase_create("tls_get_ca_file"), tls_get_with_ca_file_gives_the_whole_body);
  add_case(s, tcase_create("tls_get_pinned"), tls_get_with_pinned_fingerprint);
  add_case(s, tcase_create("tls_untrusted"), tls_untrusted_certificate_is_refused);
  add_case(s, tcase_create("tls_wrong_host"), tls_wrong_host_name_is_refused);
  add_case(s, tcase_create("tls_expired"), tls_expired_certificate_is_refused);
  add_case(s, tcase_create("tls_insecure"), tls_insecure_accepts_every_certificate);
  add_case(s, tcase_create("tls_bad_arguments"), tls_bad_arguments_are_refused);
  add_case(s, tcase_create("tls_garbage"), tls_garbage_instead_of_a_handshake_fails);
  add_case(s, tcase_create("tls_deadline"), tls_handshake_deadline_against_a_silent_server);
  add_case(s, tcase_create("tls_no_close_notify"), tls_close_without_close_notify_is_not_eof);
  add_case(s, tcase_create("tls_stream_close_notify"), tls_stream_operations_and_close_notify);
  add_case(s, tcase_create("tls_cancel"), tls_cancel_mid_read);
  add_case(s, tcase_create("tls_full_duplex"), tls_reader_and_writer_at_once);
  add_case(s, tcase_create("tls_seam_encrypt"), tls_seam_encrypt_failure);
  add_case(s, tcase_create("tls_seam_decrypt"), tls_seam_decrypt_failure);
  add_case(s, tcase_create("tls_seam_calls"), tls_seam_socket_and_schannel_failures);
  return s;
}

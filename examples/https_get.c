/*
 * https_get.c - one HTTPS GET over cosock's TLS client (Schannel), as
 * straight-line code.
 *
 * What it teaches: TLS is a stream like any other.
 *   - Connect (sock_connect_start), then one more await turns the TCP
 *     connection into a TLS session (sock_tls_client_start): the handshake
 *     and the certificate check, secure by default (the system's trust store
 *     and the host name), or against a CA file, a pinned SHA-256, or nothing
 *     at all (--insecure, said out loud).
 *   - Then the same stream operations as on TCP: send-all the request, read
 *     the status line and headers with the line reader, receive the body.
 *     Schannel's record layer (EncryptMessage, DecryptMessage, incomplete
 *     records, several records per read, close_notify) is underneath.
 *   - A TLS or certificate failure is an error code of its own
 *     (CO_ECERTUNTRUSTED, CO_ECERTNAME, CO_ECERTEXPIRED, CO_ETLS), with
 *     Schannel's raw code beside it.
 *
 *     https_get URL [--ca FILE | --pin SHA256 | --insecure] [--output FILE]
 *     cmake/wine-run.sh build/mingw/examples/https_get.exe https://localhost:4433/ --ca ca.pem
 *
 * It prints the status line to stderr and the body to stdout (or --output),
 * follows no redirect, and exits 0 on a 2xx status, 1 on another status or
 * a connection failure, 2 on a bad argument, 3 on a TLS or certificate
 * failure (with a message naming the reason). Ctrl+C cancels it.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>

enum { EXIT_STATUS = 1, EXIT_USAGE = 2, EXIT_TLS = 3 };

typedef struct get {
  sock_task_t       task;      /* first: the runtime's part (Ctrl+C cancels it) */
  sock_op_t         op;
  sock_t           *tcp, *tls;
  sock_tls_config_t cfg;
  sock_reader_t     reader;
  char              line[8192];  /* the longest header line */
  char              buf[65536];  /* the body, a piece at a time */
  unsigned long     status;      /* the HTTP status */
  int               chunked;     /* Transfer-Encoding: chunked */
  long long         left;        /* body bytes still to come (-1: to the end) */
  int               exit_code;
} get_t;

static struct {
  sock_runtime_t *rt;
  char            host[256];
  unsigned short  port;
  const char     *path;
  const char     *ca, *pin, *output;
  int             insecure;
  unsigned long   timeout_ms;
  FILE           *out;
  HANDLE          done;
} g;

/* ---- pieces ------------------------------------------------------------------- */

/* https://host[:port][/path] */
static int parse_url(const char *url)
{
  const char *p, *end;
  size_t len;
  unsigned long port = 443;
  if (strncmp(url, "https://", 8) != 0)
    return 0;
  p = url + 8;
  end = p + strcspn(p, ":/");
  len = (size_t)(end - p);
  if (len == 0 || len >= sizeof g.host)
    return 0;
  memcpy(g.host, p, len);
  g.host[len] = '\0';
  if (*end == ':') {
    char *stop;
    port = strtoul(end + 1, &stop, 10);
    if (port == 0 || port > 65535 || (*stop != '\0' && *stop != '/'))
      return 0;
    end = stop;
  }
  g.port = (unsigned short)port;
  g.path = *end == '/' ? end : "/";
  return 1;
}

/* What an error means for the exit code: a TLS or certificate failure is 3. */
static int exit_code_of(int error)
{
  switch (error) {
  case CO_ECERTUNTRUSTED:
  case CO_ECERTNAME:
  case CO_ECERTEXPIRED:
  case CO_ETLS:
    return EXIT_TLS;
  default:
    return EXIT_STATUS;
  }
}

static int write_body(const char *data, size_t len)
{
  return fwrite(data, 1, len, g.out) == len;
}

/* A header line of the response: the ones that say where the body ends. */
static void header(get_t *c, const char *line)
{
  if (_strnicmp(line, "Content-Length:", 15) == 0)
    c->left = _atoi64(line + 15);
  else if (_strnicmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") != NULL)
    c->chunked = 1;
}

/* ---- the task ------------------------------------------------------------------ */

#define FAIL(c, what)                          \
  do {                                         \
    cli_log_op((what), &(c)->op);              \
    (c)->exit_code = exit_code_of((c)->op.error); \
    goto done;                                 \
  } while (0)

static co_state_t get_step(co_task_t *t)
{
  get_t *c = (get_t *)t;
  size_t n = 0;
  CO_BEGIN(t);
  if (g.timeout_ms > 0)
    sock_deadline_set(&c->task, (unsigned)g.timeout_ms);

  /* The connection, then the session over it: two awaits. */
  CO_AWAIT(t, sock_connect_start(&c->op, g.rt, g.host, g.port, &c->tcp, t));
  if (c->op.error < 0)
    FAIL(c, "connect");
  CO_AWAIT(t, sock_tls_client_start(&c->op, c->tcp, &c->cfg, &c->tls, t));
  if (c->op.error < 0)
    FAIL(c, "TLS handshake");  /* the connection is closed already */

  /* The request, as on any stream. */
  n = (size_t)snprintf(c->buf, sizeof c->buf,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cosock-https_get\r\n"
                       "Accept: */*\r\nConnection: close\r\n\r\n", g.path, g.host);
  CO_AWAIT(t, sock_send_all_start(&c->op, c->tls, c->buf, n, t));
  if (c->op.error < 0)
    FAIL(c, "send");

  /* The status line and the headers, by lines. */
  sock_reader_init(&c->reader, c->tls, c->line, sizeof c->line);
  CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
  if (c->op.error < 0)
    FAIL(c, "status line");
  fprintf(stderr, "%s\n", sock_reader_line(&c->reader, NULL));
  {
    const char *sp = strchr(sock_reader_line(&c->reader, NULL), ' ');
    c->status = sp != NULL ? strtoul(sp + 1, NULL, 10) : 0;
  }
  c->left = -1;
  for (;;) {
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if (c->op.error < 0)
      FAIL(c, "headers");
    if (c->reader.line_len == 0)
      break;
    header(c, sock_reader_line(&c->reader, NULL));
  }

  /* The body: chunk by chunk, Content-Length bytes, or to the end of the stream. */
  for (;;) {
    if (c->chunked) {
      if (c->left <= 0) {  /* the next chunk's size line (after the last chunk's CRLF) */
        if (c->left == 0) {
          CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
          if (c->op.error < 0)
            FAIL(c, "chunk");
        }
        CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
        if (c->op.error < 0)
          FAIL(c, "chunk size");
        c->left = strtoll(sock_reader_line(&c->reader, NULL), NULL, 16);
        if (c->left == 0)
          break;  /* the last chunk (trailers are not read) */
      }
    } else if (c->left == 0) {
      break;
    }
    /* Bytes the reader holds already come first. */
    n = sock_reader_buffered(&c->reader);
    if (n > 0) {
      if (c->left >= 0 && (long long)n > c->left)
        n = (size_t)c->left;
      if (!write_body(c->reader.buf + c->reader.start, n))
        goto write_failed;
      c->reader.start += n;
    } else {
      n = sizeof c->buf;
      if (c->left >= 0 && (long long)n > c->left)
        n = (size_t)c->left;
      CO_AWAIT(t, sock_recv_start(&c->op, c->tls, c->buf, n, t));
      if (c->op.error == CO_EOF && c->left < 0 && !c->chunked)
        break;  /* the body ends with the stream */
      if (c->op.error < 0)
        FAIL(c, "body");
      if (!write_body(c->buf, c->op.bytes))
        goto write_failed;
      n = c->op.bytes;
    }
    if (c->left > 0)
      c->left -= (long long)n;
    if (c->chunked && c->left == 0)
      continue;
  }
  c->exit_code = c->status >= 200 && c->status < 300 ? 0 : EXIT_STATUS;

  /* TLS's own end: close_notify, then the session (and its connection). */
  CO_AWAIT(t, sock_tls_shutdown_start(&c->op, c->tls, t));
  goto done;
write_failed:
  fprintf(stderr, "https_get: cannot write the body (errno %d)\n", errno);
  c->exit_code = EXIT_STATUS;
done:
  sock_close(c->tls);
  CO_END(t);
}

static void get_done(co_task_t *t)
{
  (void)t;
  SetEvent(g.done);
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  static get_t get;
  HANDLE waits[2];
  int rc, ways;
  const char *summary =
      "https_get URL [flags]: GET an https:// URL; the status line goes to stderr, the body to\n"
      "stdout. Exit 0 on a 2xx status, 1 otherwise, 2 on a bad argument, 3 on a TLS failure.";
  const cli_flag_t flags[] = {
    {"--ca", CLI_STRING, "FILE", "trust the CA certificates of this PEM file (instead of the "
     "system's)", &g.ca, 0, 0},
    {"--pin", CLI_STRING, "SHA256", "accept only the certificate with this SHA-256 (hex)",
     &g.pin, 0, 0},
    {"--insecure", CLI_SWITCH, NULL, "accept any certificate: no verification at all",
     &g.insecure, 0, 0},
    {"--output", CLI_STRING, "FILE", "write the body there (default: stdout)", &g.output, 0, 0},
    {"--timeout", CLI_NUMBER, "MS", "deadline for the whole request (default 30000; 0: none)",
     &g.timeout_ms, 0, 86400000},
  };

  g.timeout_ms = 30000;
  if (argc >= 2 && argv[1][0] != '-') {  /* the URL first, then the flags */
    if (!parse_url(argv[1])) {
      fprintf(stderr, "https_get: not an https:// URL: %s\n", argv[1]);
      return EXIT_USAGE;
    }
    argv[1] = argv[0];
    argc--;
    argv++;
  }
  cli_parse(argc, argv, "https_get", summary, flags, sizeof flags / sizeof flags[0]);
  ways = (g.ca != NULL) + (g.pin != NULL) + (g.insecure != 0);
  if (g.path == NULL || ways > 1) {
    fprintf(stderr, "https_get: %s (try --help)\n",
            g.path == NULL ? "a URL is required" : "--ca, --pin and --insecure exclude each other");
    return EXIT_USAGE;
  }
  g.out = stdout;
  if (g.output != NULL && (g.out = fopen(g.output, "wb")) == NULL) {
    fprintf(stderr, "https_get: cannot open %s\n", g.output);
    return EXIT_USAGE;
  }
  if (g.output == NULL)
    _setmode(_fileno(stdout), _O_BINARY);  /* the body's bytes as they are */
  if (!cli_stop_init(0))
    return 1;
  g.done = CreateEventW(NULL, TRUE, FALSE, NULL);
  rc = sock_runtime_create(&g.rt, NULL);
  if (g.done == NULL || rc != CO_OK) {
    cli_log_error("starting the runtime", rc, GetLastError());
    return 1;
  }

  get.cfg.host = g.host;
  get.cfg.ca_file = g.ca;
  get.cfg.pin_sha256 = g.pin;
  get.cfg.insecure_skip_verify = g.insecure;
  get.exit_code = EXIT_STATUS;
  sock_spawn(g.rt, &get.task, get_step, get_done);

  waits[0] = g.done;
  waits[1] = cli_stop_event();
  if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) != WAIT_OBJECT_0) {
    fprintf(stderr, "https_get: interrupted\n");
    sock_runtime_cancel_all(g.rt);
    sock_runtime_wait_tasks(g.rt, 10000);
  }
  sock_runtime_shutdown(g.rt);
  if (g.out != stdout)
    fclose(g.out);
  else
    fflush(stdout);
  cli_stop_exiting();
  return get.exit_code;
}

/*
 * tests/bench/tls_bench.c - cosock's side of the TLS benchmark
 * (tests/bench/run_tls_bench.sh): one connection, one task.
 *
 *   tls_bench --port P --mode download [--path /big.bin] [--tls 1]
 *       GET path from `openssl s_server -WWW` and read the body to the end of
 *       the stream (the server's close_notify); times from the request to
 *       the end: "download bytes=N seconds=S mib_per_s=M".
 *   tls_bench --port P --mode pingpong [--rounds N] [--size 64] [--tls 0|1]
 *       N round trips of a size-byte line (newline included) against
 *       `openssl s_server -rev` (TLS) or a plain line echo (--tls 0): send
 *       all, receive exactly size bytes back: "pingpong rounds=N us_per_rt=U".
 *
 * The handshake is not timed. Certificates are not checked (--tls 1 uses
 * insecure_skip_verify: the benchmark measures the record layer).
 */
#include <co/co.h>
#include <sock/sock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench {
  sock_task_t       task;
  sock_op_t         op;
  sock_t           *tcp, *tls, *s;
  sock_tls_config_t cfg;
  char              buf[65536];
  char              line[256];
  unsigned long     i;
  long long         bytes;
  LARGE_INTEGER     t0, t1;
  int               error;
} bench_t;

static struct {
  sock_runtime_t *rt;
  unsigned short  port;
  int             download, tls;
  const char     *path;
  unsigned long   rounds, size;
  HANDLE          done;
} g;

static co_state_t bench_step(co_task_t *t)
{
  bench_t *b = (bench_t *)t;
  size_t n;
  CO_BEGIN(t);
  CO_AWAIT(t, sock_connect_start(&b->op, g.rt, "127.0.0.1", g.port, &b->tcp, t));
  if (b->op.error < 0)
    CO_EXIT(t, b->error = b->op.error);
  b->s = b->tcp;
  if (g.tls) {
    CO_AWAIT(t, sock_tls_client_start(&b->op, b->tcp, &b->cfg, &b->tls, t));
    if (b->op.error < 0)
      CO_EXIT(t, b->error = b->op.error);
    b->s = b->tls;
  }
  QueryPerformanceCounter(&b->t0);
  if (g.download) {
    n = (size_t)snprintf(b->buf, sizeof b->buf, "GET %s HTTP/1.0\r\n\r\n", g.path);
    CO_AWAIT(t, sock_send_all_start(&b->op, b->s, b->buf, n, t));
    for (;;) {
      CO_AWAIT(t, sock_recv_start(&b->op, b->s, b->buf, sizeof b->buf, t));
      if (b->op.error < 0)
        break;
      b->bytes += b->op.bytes;
    }
    if (b->op.error != CO_EOF)
      b->error = b->op.error;
  } else {
    memset(b->line, 'a', g.size - 1);
    b->line[g.size - 1] = '\n';
    for (b->i = 0; b->i < g.rounds; b->i++) {
      CO_AWAIT(t, sock_send_all_start(&b->op, b->s, b->line, g.size, t));
      if (b->op.error < 0)
        break;
      CO_AWAIT(t, sock_recv_exactly_start(&b->op, b->s, b->buf, g.size, t));
      if (b->op.error < 0)
        break;
    }
    b->error = b->op.error;
  }
  QueryPerformanceCounter(&b->t1);
  sock_close(b->s);
  CO_END(t);
}

static void bench_done(co_task_t *t)
{
  (void)t;
  SetEvent(g.done);
}

static const char *arg(int argc, char **argv, const char *name, const char *dflt)
{
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return dflt;
}

int main(int argc, char **argv)
{
  static bench_t b;
  LARGE_INTEGER freq;
  double seconds;
  g.port = (unsigned short)atoi(arg(argc, argv, "--port", "0"));
  g.download = strcmp(arg(argc, argv, "--mode", "download"), "download") == 0;
  g.tls = atoi(arg(argc, argv, "--tls", "1"));
  g.path = arg(argc, argv, "--path", "/big.bin");
  g.rounds = strtoul(arg(argc, argv, "--rounds", "2000"), NULL, 10);
  g.size = strtoul(arg(argc, argv, "--size", "64"), NULL, 10);
  if (g.port == 0 || g.size < 2 || g.size > sizeof b.line) {
    fprintf(stderr, "usage: tls_bench --port P --mode download|pingpong [--tls 0|1] "
            "[--path /big.bin] [--rounds N] [--size 2..256]\n");
    return 2;
  }
  g.done = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (sock_runtime_create(&g.rt, NULL) != CO_OK)
    return 1;
  b.cfg.insecure_skip_verify = 1;
  sock_spawn(g.rt, &b.task, bench_step, bench_done);
  WaitForSingleObject(g.done, INFINITE);
  sock_runtime_shutdown(g.rt);
  if (b.error != CO_OK) {
    fprintf(stderr, "tls_bench: %s (win32 %lu)\n", co_strerror(b.error), b.op.win32_error);
    return 1;
  }
  QueryPerformanceFrequency(&freq);
  seconds = (double)(b.t1.QuadPart - b.t0.QuadPart) / (double)freq.QuadPart;
  if (g.download)
    printf("download bytes=%lld seconds=%.3f mib_per_s=%.1f\n", b.bytes, seconds,
           (double)b.bytes / 1048576.0 / seconds);
  else
    printf("pingpong rounds=%lu us_per_rt=%.1f\n", g.rounds, seconds * 1e6 / (double)g.rounds);
  return 0;
}

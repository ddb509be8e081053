/*
 * tests/bench/tls_bench.c - cosock's side of the TLS benchmark
 * (tests/bench/run_tls_bench.sh): one connection, one task.
 *
 *   tls_bench --port P --mode download [--path /big.bin] [--tls 1]
 *       GET path from `openssl s_server -WWW` and read the body to the end of
 *       the stream (the server's close_notify); times from the request to
 *       the end: "download bytes=N seconds=S mib_per_s=M".
 *   tls_bench --port P --tcp-port Q --mode pingpong [--rounds N] [--size 64]
 *       size-byte lines (newline included), each sent with send-all and read
 *       back with receive-exactly, over TLS against `openssl s_server -rev`
 *       on P and over plain TCP against a line echo on Q, on two connections
 *       of one task: batches of 100 round trips alternate between the two
 *       (TLS, TCP, TLS, TCP ...) until each has N, so both see the same load
 *       on a shared machine. Prints the medians of the batches:
 *       "pingpong rounds=N tls_us_per_rt=U tcp_us_per_rt=V".
 *
 * The handshake is not timed. Certificates are not checked (--tls 1 uses
 * insecure_skip_verify: the benchmark measures the record layer).
 */
#include <co/co.h>
#include <sock/sock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 100, MAX_BATCHES = 1000 };

typedef struct bench {
  sock_task_t       task;
  sock_op_t         op;
  sock_t           *tcp, *tls, *s, *plain;
  unsigned long     batch, j;
  double            us[2][MAX_BATCHES];  /* per batch, us per round trip: TLS, TCP */
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
  unsigned short  port, tcp_port;
  int             download, tls;
  const char     *path;
  unsigned long   rounds, size;
  HANDLE          done;
  LARGE_INTEGER   freq;
} g;

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, unsigned long n)
{
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

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
    CO_AWAIT(t, sock_connect_start(&b->op, g.rt, "127.0.0.1", g.tcp_port, &b->plain, t));
    if (b->op.error < 0)
      CO_EXIT(t, b->error = b->op.error);
    memset(b->line, 'a', g.size - 1);
    b->line[g.size - 1] = '\n';
    for (b->batch = 0; b->batch < 2 * (g.rounds / BATCH); b->batch++) {
      b->s = b->batch % 2 == 0 ? b->tls : b->plain;
      QueryPerformanceCounter(&b->t0);
      for (b->j = 0; b->j < BATCH; b->j++) {
        CO_AWAIT(t, sock_send_all_start(&b->op, b->s, b->line, g.size, t));
        if (b->op.error < 0)
          break;
        CO_AWAIT(t, sock_recv_exactly_start(&b->op, b->s, b->buf, g.size, t));
        if (b->op.error < 0 || memcmp(b->buf, b->line, g.size) != 0)
          break;  /* (s_server -rev turns "aa..a\n" into itself) */
      }
      if (b->j < BATCH) {
        b->error = b->op.error < 0 ? b->op.error : CO_EPROTO;
        break;
      }
      QueryPerformanceCounter(&b->t1);
      b->us[b->batch % 2][b->batch / 2] =
          (double)(b->t1.QuadPart - b->t0.QuadPart) * 1e6 / (double)g.freq.QuadPart / BATCH;
    }
    sock_close(b->plain);
    b->s = b->tls;
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
  double seconds;
  g.port = (unsigned short)atoi(arg(argc, argv, "--port", "0"));
  g.download = strcmp(arg(argc, argv, "--mode", "download"), "download") == 0;
  g.tls = 1;
  g.tcp_port = (unsigned short)atoi(arg(argc, argv, "--tcp-port", "0"));
  g.path = arg(argc, argv, "--path", "/big.bin");
  g.rounds = strtoul(arg(argc, argv, "--rounds", "2000"), NULL, 10);
  g.size = strtoul(arg(argc, argv, "--size", "64"), NULL, 10);
  if (g.port == 0 || g.size < 2 || g.size > sizeof b.line ||
      (!g.download && (g.tcp_port == 0 || g.rounds < BATCH || g.rounds / BATCH > MAX_BATCHES))) {
    fprintf(stderr, "usage: tls_bench --port P --mode download [--path /big.bin]\n"
            "       tls_bench --port P --tcp-port Q --mode pingpong [--rounds 100..100000] "
            "[--size 2..256]\n");
    return 2;
  }
  QueryPerformanceFrequency(&g.freq);
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
  seconds = (double)(b.t1.QuadPart - b.t0.QuadPart) / (double)g.freq.QuadPart;
  if (g.download)
    printf("download bytes=%lld seconds=%.3f mib_per_s=%.1f\n", b.bytes, seconds,
           (double)b.bytes / 1048576.0 / seconds);
  else
    printf("pingpong rounds=%lu tls_us_per_rt=%.1f tcp_us_per_rt=%.1f\n",
           (g.rounds / BATCH) * BATCH, median(b.us[0], g.rounds / BATCH),
           median(b.us[1], g.rounds / BATCH));
  return 0;
}

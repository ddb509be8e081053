/*
 * tests/bench/udp_loadgen.c - load generator for the UDP echo benchmark
 * (tests/bench/run_udp_bench.sh). Native POSIX (Linux), so that under Wine
 * only the server goes through the wineserver.
 *
 *   udp_loadgen --port P [--host 127.0.0.1] [--senders N] [--size S] [--seconds T]
 *               [--timeout-ms M]
 *
 * N sender threads, each with its own socket, in closed loop: send one
 * S-byte datagram (a sender id, a sequence number and a pattern derived
 * from both), wait for its echo, check every byte, repeat. A datagram whose
 * echo does not come within M ms (default 1000) is given up and the sender
 * goes on with the next; if its echo arrives later it counts as late (and
 * is skipped), else as lost (lost = given up - late); an echo with wrong
 * bytes is an error.
 * Each sender first does one checked round trip before timing starts.
 * The last line, for the runner:
 *   RESULT senders=N size=S seconds=T datagrams=D dgram_per_s=X lost=L late=K errors=E
 * Exit 0 if errors == 0 and lost == 0, 1 otherwise, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SENDERS = 1024, MAX_SIZE = 65507, HEADER = 8 };

typedef struct sender {
  pthread_t          thread;
  int                id;
  int                fd;
  unsigned long long verified;  /* echoes checked inside the timed window */
  unsigned long      lost, late, errors;
} sender_t;

static struct {
  struct sockaddr_in to;
  size_t             size;
  int                timeout_ms;
  volatile int       phase;     /* 0 warm-up, 1 timed, 2 stop */
  pthread_mutex_t    lock;
  pthread_cond_t     cond;
  int                ready;     /* senders done with their warm-up round trip */
} g;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(unsigned char *buf, size_t size, uint32_t id, uint32_t seq)
{
  size_t i;
  memcpy(buf, &id, 4);
  memcpy(buf + 4, &seq, 4);
  for (i = HEADER; i < size; i++)
    buf[i] = (unsigned char)((i * 7u) ^ (seq * 13u) ^ (id * 31u) ^ (i >> 8));
}

/* One round trip of datagram `seq`: 1 verified, 0 lost, -1 error. */
static int round_trip(sender_t *s, unsigned char *out, unsigned char *in, uint32_t seq)
{
  size_t header = g.size < HEADER ? g.size : HEADER;
  fill(out, g.size, (uint32_t)s->id, seq);
  if (send(s->fd, out, g.size, 0) != (ssize_t)g.size)
    return -1;
  for (;;) {
    ssize_t n = recv(s->fd, in, MAX_SIZE + 1, 0);
    uint32_t got_seq;
    if (n < 0)
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    if ((size_t)n == g.size && g.size >= HEADER) {
      memcpy(&got_seq, in + 4, 4);
      if (got_seq != seq && memcmp(in, out, 4) == 0) {  /* an older one, late */
        s->late++;
        continue;
      }
    }
    if ((size_t)n != g.size || memcmp(in, out, g.size) != 0)
      return -1;
    (void)header;
    return 1;
  }
}

static void *sender_main(void *arg)
{
  sender_t *s = arg;
  unsigned char *out = malloc(MAX_SIZE + 1), *in = malloc(MAX_SIZE + 1);
  uint32_t seq = 0;
  int rc;
  if (out == NULL || in == NULL) {
    s->errors++;
    return NULL;
  }
  rc = round_trip(s, out, in, seq++);  /* warm-up: the server answers this sender */
  if (rc != 1)
    s->errors++;
  pthread_mutex_lock(&g.lock);
  g.ready++;
  pthread_cond_broadcast(&g.cond);
  while (g.phase == 0)
    pthread_cond_wait(&g.cond, &g.lock);
  pthread_mutex_unlock(&g.lock);
  while (g.phase == 1) {
    rc = round_trip(s, out, in, seq++);
    if (g.phase != 1)
      break;  /* finished after the window: not counted */
    if (rc == 1)
      s->verified++;
    else if (rc == 0)
      s->lost++;
    else
      s->errors++;
  }
  free(out);
  free(in);
  return NULL;
}

static int usage(void)
{
  fprintf(stderr, "usage: udp_loadgen --port P [--host H] [--senders N] [--size S] "
                  "[--seconds T] [--timeout-ms M]\n");
  return 2;
}

int main(int argc, char **argv)
{
  static sender_t senders[MAX_SENDERS];
  const char *host = "127.0.0.1";
  long port = 0, count = 1, seconds = 5;
  unsigned long long total = 0;
  unsigned long lost = 0, late = 0, errors = 0;
  double t0, t1;
  int i;

  g.size = 64;
  g.timeout_ms = 1000;
  for (i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return usage();
    if (strcmp(argv[i], "--port") == 0)
      port = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--host") == 0)
      host = argv[++i];
    else if (strcmp(argv[i], "--senders") == 0)
      count = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--size") == 0)
      g.size = (size_t)strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--timeout-ms") == 0)
      g.timeout_ms = (int)strtol(argv[++i], NULL, 10);
    else
      return usage();
  }
  if (port <= 0 || port > 65535 || count < 1 || count > MAX_SENDERS || g.size < 1 ||
      g.size > MAX_SIZE || seconds < 1 || g.timeout_ms < 1)
    return usage();
  memset(&g.to, 0, sizeof g.to);
  g.to.sin_family = AF_INET;
  g.to.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &g.to.sin_addr) != 1)
    return usage();
  pthread_mutex_init(&g.lock, NULL);
  pthread_cond_init(&g.cond, NULL);

  for (i = 0; i < count; i++) {
    struct timeval tv;
    int buf = 1 << 20;
    senders[i].id = i + 1;
    senders[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
    tv.tv_sec = g.timeout_ms / 1000;
    tv.tv_usec = (g.timeout_ms % 1000) * 1000;
    setsockopt(senders[i].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(senders[i].fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (senders[i].fd < 0 || connect(senders[i].fd, (struct sockaddr *)&g.to, sizeof g.to) != 0) {
      perror("udp_loadgen: socket");
      return 1;
    }
    pthread_create(&senders[i].thread, NULL, sender_main, &senders[i]);
  }
  pthread_mutex_lock(&g.lock);
  while (g.ready < count)
    pthread_cond_wait(&g.cond, &g.lock);
  g.phase = 1;
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
  t0 = now_s();
  printf("TIMING start\n");
  fflush(stdout);
  {
    struct timespec ts = {seconds, 0};
    nanosleep(&ts, NULL);
  }
  g.phase = 2;
  t1 = now_s();
  printf("TIMING end\n");
  fflush(stdout);
  for (i = 0; i < count; i++) {
    pthread_join(senders[i].thread, NULL);
    close(senders[i].fd);
    total += senders[i].verified;
    lost += senders[i].lost > senders[i].late ? senders[i].lost - senders[i].late : 0;
    late += senders[i].late;
    errors += senders[i].errors;
  }
  printf("RESULT senders=%ld size=%zu seconds=%.3f datagrams=%llu dgram_per_s=%.0f lost=%lu "
         "late=%lu errors=%lu\n",
         count, g.size, t1 - t0, total, (double)total / (t1 - t0), lost, late, errors);
  return errors == 0 && lost == 0 ? 0 : 1;
}

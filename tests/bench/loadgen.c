/*
 * tests/bench/loadgen.c - load generator for the echo benchmark.
 *
 * Portable C11: POSIX sockets on Linux, Winsock on Windows, both behind
 * netshim.h. One thread, non-blocking sockets, poll()/WSAPoll(). It runs
 * natively on the Linux host so that under Wine only the server goes through
 * the wineserver.
 *
 *   loadgen [--host H] --port P [--mode pingpong|connect|idle]
 *           [--connections C] [--size S] [--seconds T] [--idle C] [--rate R]
 *
 * Modes (every mode is bounded by --seconds and stops by itself):
 *   pingpong  (default) C connections; each sends S bytes, waits for the whole
 *             echo, checks it byte for byte, and repeats. Before timing
 *             starts, every connection is opened and does one checked round
 *             trip (so the server has really accepted it). Reports round trips
 *             per second and the p50/p99 latency of one round trip.
 *             With --rate R the connections arrive instead: they are opened R
 *             per second, evenly spaced, and each starts its ping-pong as soon
 *             as it is connected. The --seconds window starts once the last
 *             one is connected; round trips before it count only towards
 *             "served" (see below), not towards the rate or the latencies.
 *   connect   C workers (default 1); each opens a connection, does one checked
 *             S-byte round trip (proof the server accepted it), closes it and
 *             starts again. Reports connections per second.
 *   idle      (--idle C is short for --mode idle --connections C) opens C
 *             connections, one checked round trip each, prints
 *             "IDLE READY connections=N errors=E" and then holds them idle
 *             until stdin reaches end of file or --seconds pass. For measuring
 *             a server's memory per idle connection.
 *
 * Lines "TIMING start" and "TIMING end" (flushed) bracket the timed phase.
 * The last line is machine-readable, for the runner:
 *   RESULT mode=... connections=C size=S seconds=T round_trips=N rtt_per_s=X
 *          p50_us=Y p99_us=Z max_us=W errors=E          (connect mode: conn_per_s=X)
 *   with --rate, appended: rate=R served=N first_p50_us=A first_p99_us=B first_max_us=M
 * errors counts connections that failed to connect, were closed or reset by
 * the server, or echoed something other than what was sent. served counts
 * the connections that had at least one whole round trip echoed by the end
 * of the window; first_* is the time from a served connection's connect
 * completing to its first echo. A connection the server never answers is
 * not an error, just not served: a server that is slow to take on newcomers
 * shows up there. Exit status 0 if errors == 0, 1 otherwise, 2 on bad
 * arguments.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#  define _POSIX_C_SOURCE 200809L /* getaddrinfo, clock_gettime */
#endif
#include "netshim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  MAX_CONNECTING = 256,   /* handshakes in flight while opening: keeps the
                             server's accept backlog from overflowing */
  ESTABLISH_SECONDS = 60  /* give up opening connections after this */
};

/* ---- options -------------------------------------------------------------------- */

enum mode { MODE_PINGPONG, MODE_CONNECT, MODE_IDLE };

static struct {
  const char *host;
  const char *port;
  enum mode mode;
  long connections;
  long size;
  double seconds;
  double rate;      /* --rate: connections opened per second; 0 = all before timing */
} opt = { "127.0.0.1", NULL, MODE_PINGPONG, -1, 64, 5.0, 0 };

static void usage(void)
{
  fprintf(stderr,
          "usage: loadgen [--host H] --port P [--mode pingpong|connect|idle]\n"
          "               [--connections C] [--size S] [--seconds T] [--idle C]\n"
          "               [--rate R]   (pingpong: connections arrive R per second)\n");
  exit(2);
}

static void parse_args(int argc, char **argv)
{
  int i;
  for (i = 1; i < argc; i += 2) { /* every option takes a value */
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL)
      usage();
    if (strcmp(a, "--host") == 0)
      opt.host = v;
    else if (strcmp(a, "--port") == 0)
      opt.port = v;
    else if (strcmp(a, "--connections") == 0)
      opt.connections = atol(v);
    else if (strcmp(a, "--size") == 0)
      opt.size = atol(v);
    else if (strcmp(a, "--seconds") == 0)
      opt.seconds = atof(v);
    else if (strcmp(a, "--rate") == 0) {
      opt.rate = atof(v);
      if (!(opt.rate > 0))
        usage();
    } else if (strcmp(a, "--idle") == 0) {
      opt.mode = MODE_IDLE;
      opt.connections = atol(v);
    } else if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "pingpong") == 0)
        opt.mode = MODE_PINGPONG;
      else if (strcmp(v, "connect") == 0)
        opt.mode = MODE_CONNECT;
      else if (strcmp(v, "idle") == 0)
        opt.mode = MODE_IDLE;
      else
        usage();
    } else
      usage();
  }
  if (opt.connections < 0)
    opt.connections = opt.mode == MODE_PINGPONG ? 1 : opt.mode == MODE_CONNECT ? 1 : 100;
  if (opt.port == NULL || opt.connections < 1 || opt.size < 1 || opt.seconds <= 0)
    usage();
  if (opt.rate > 0 && opt.mode != MODE_PINGPONG)
    usage(); /* arrivals only make sense with something to arrive into */
}

/* ---- latency samples -------------------------------------------------------------- */

typedef struct samples {
  uint64_t *v;      /* nanoseconds */
  size_t n, cap;
} samples_t;

static samples_t rtts;        /* one round trip each, timed phase only */
static samples_t first_rtts;  /* --rate: connect completion to first echo, one per served connection */

static void sample_add(samples_t *s, uint64_t ns)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 65536;
    uint64_t *p = realloc(s->v, cap * sizeof *p);
    if (p == NULL)
      return; /* keep counting round trips; only the percentiles lose a sample */
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void samples_sort(samples_t *s)
{
  if (s->n > 0)
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
}

/* The p-th percentile (0..100) of sorted samples in microseconds, nearest rank. */
static double percentile_us(const samples_t *s, double p)
{
  size_t rank;
  if (s->n == 0)
    return 0;
  rank = (size_t)(p / 100.0 * (double)s->n + 0.5);
  if (rank < 1)
    rank = 1;
  if (rank > s->n)
    rank = s->n;
  return (double)s->v[rank - 1] / 1000.0;
}

/* ---- connections ------------------------------------------------------------------- */

enum conn_state {
  ST_UNUSED,      /* no socket */
  ST_CONNECTING,  /* non-blocking connect in progress */
  ST_SENDING,     /* part of the message still to send */
  ST_RECEIVING,   /* waiting for the rest of the echo */
  ST_IDLE         /* connected, nothing in flight */
};

typedef struct conn {
  net_sock_t fd;
  enum conn_state state;
  unsigned long seq;   /* round trips started: makes each message different */
  size_t sent, received;
  uint64_t started;    /* when this round trip (or connect) began, ns */
  uint64_t connected;  /* when the connect completed, ns */
  int served;          /* --rate: has had a whole round trip echoed */
  char *msg;           /* the message in flight (opt.size bytes) */
} conn_t;

static conn_t *conns;
static net_pollfd_t *pfds;    /* pfds[i] watches conns[i]; one more slot for stdin */
static size_t n_conns;
static char *scratch;         /* receive buffer, shared (we compare, never keep) */
static struct addrinfo *target;
static long errors, round_trips, established;

static void watch(size_t i, short events)
{
  pfds[i].fd = conns[i].fd;
  pfds[i].events = events;
  pfds[i].revents = 0;
}

static void conn_close(size_t i)
{
  if (conns[i].fd != NET_BAD_SOCK)
    net_close(conns[i].fd);
  conns[i].fd = NET_BAD_SOCK;
  conns[i].state = ST_UNUSED;
  pfds[i].fd = NET_BAD_SOCK; /* negative/invalid: poll skips the slot */
  pfds[i].events = 0;
}

static void conn_fail(size_t i, const char *what, int err)
{
  if (errors < 10)
    fprintf(stderr, "loadgen: connection %lu: %s (error %d)\n", (unsigned long)i, what, err);
  errors++;
  conn_close(i);
}

/* Starts a non-blocking connect on slot i. */
static void conn_open(size_t i)
{
  net_sock_t fd = socket(target->ai_family, SOCK_STREAM, IPPROTO_TCP);
  int one = 1, err;
  conns[i].fd = fd;
  conns[i].started = net_now_ns();
  if (fd == NET_BAD_SOCK) {
    conn_fail(i, "socket", net_last_error());
    return;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  if (net_set_nonblocking(fd) != 0) {
    conn_fail(i, "non-blocking", net_last_error());
    return;
  }
  if (connect(fd, target->ai_addr, (int)target->ai_addrlen) != 0 &&
      (err = net_last_error()) != NET_EINPROGRESS && !net_would_block(err)) {
    conn_fail(i, "connect", err);
    return;
  }
  conns[i].state = ST_CONNECTING;
  watch(i, POLLOUT);
}

/* Sends what is left of the message; moves to receiving when all is out. */
static void conn_send_more(size_t i)
{
  conn_t *c = &conns[i];
  while (c->sent < (size_t)opt.size) {
    long n = net_send(c->fd, c->msg + c->sent, (size_t)opt.size - c->sent);
    if (n < 0) {
      int err = net_last_error();
      if (net_would_block(err)) {
        watch(i, POLLOUT);
        return;
      }
      conn_fail(i, "send", err);
      return;
    }
    c->sent += (size_t)n;
  }
  c->state = ST_RECEIVING;
  watch(i, POLLIN);
}

/* Starts one round trip: a fresh message, sent as far as the socket takes it. */
static void conn_start_round(size_t i)
{
  conn_t *c = &conns[i];
  size_t k;
  c->seq++;
  for (k = 0; k < (size_t)opt.size; k++)
    c->msg[k] = (char)(unsigned char)(i * 131u + c->seq * 7u + k);
  c->sent = c->received = 0;
  c->started = net_now_ns();
  c->state = ST_SENDING;
  conn_send_more(i);
}

/* Reads what arrived and checks it. Returns 1 when the whole echo is in. */
static int conn_receive(size_t i)
{
  conn_t *c = &conns[i];
  for (;;) {
    size_t want = (size_t)opt.size - c->received;
    long n;
    if (want == 0)
      return 1;
    n = net_recv(c->fd, scratch, want);
    if (n == 0) {
      conn_fail(i, "closed by the server", 0);
      return 0;
    }
    if (n < 0) {
      int err = net_last_error();
      if (!net_would_block(err))
        conn_fail(i, "recv", err);
      return 0;
    }
    if (memcmp(scratch, c->msg + c->received, (size_t)n) != 0) {
      conn_fail(i, "echo differs from what was sent", 0);
      return 0;
    }
    c->received += (size_t)n;
  }
}

/* Called when slot i finished a round trip (or its first one after connecting);
 * decides what the slot does next. */
typedef void (*round_done_fn)(size_t i, uint64_t now);

/* Handles the events of one poll() result on slot i. */
static void conn_event(size_t i, round_done_fn done)
{
  conn_t *c = &conns[i];
  short re = pfds[i].revents;
  if (re == 0 || c->state == ST_UNUSED)
    return;
  switch (c->state) {
  case ST_CONNECTING: {
    int err = 0;
    socklen_t len = (socklen_t)sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0)
      err = net_last_error();
    if (err != 0) {
      conn_fail(i, "connect", err);
      return;
    }
    c->connected = net_now_ns();
    conn_start_round(i);   /* the first round trip proves the server accepted */
    return;
  }
  case ST_SENDING:
    conn_send_more(i);
    return;
  case ST_RECEIVING:
    if (conn_receive(i)) {
      c->state = ST_IDLE;
      watch(i, POLLIN);    /* an idle connection still notices a server close */
      done(i, net_now_ns());
    }
    return;
  case ST_IDLE: {
    long n = net_recv(c->fd, scratch, 1);
    if (n == 0)
      conn_fail(i, "closed by the server while idle", 0);
    else if (n > 0)
      conn_fail(i, "unexpected data while idle", 0);
    else if (!net_would_block(net_last_error()))
      conn_fail(i, "recv while idle", net_last_error());
    return;
  }
  case ST_UNUSED:
    return;
  }
}

/* One poll() over all slots (plus stdin when asked), handling every event.
 * Returns 1 if stdin reached end of file. */
static int pump(int timeout_ms, round_done_fn done, int watch_stdin)
{
  size_t i, n = n_conns;
  int rc, stdin_eof = 0;
#ifndef _WIN32
  if (watch_stdin) {
    pfds[n_conns].fd = 0;
    pfds[n_conns].events = POLLIN;
    pfds[n_conns].revents = 0;
    n++;
  }
#else
  (void)watch_stdin; /* Windows: WSAPoll takes sockets only; idle mode waits for the timeout */
#endif
  rc = net_poll(pfds, n, timeout_ms);
  if (rc < 0) {
    int err = net_last_error();
    if (err != NET_EINTR) {
      fprintf(stderr, "loadgen: poll failed (error %d)\n", err);
      exit(1);
    }
    return 0;
  }
  for (i = 0; i < n_conns && rc > 0; i++)
    if (pfds[i].revents != 0) {
      rc--;
      conn_event(i, done);
    }
#ifndef _WIN32
  if (watch_stdin && pfds[n_conns].revents != 0) {
    char buf[256];
    if (read(0, buf, sizeof buf) <= 0)
      stdin_eof = 1;
  }
#endif
  return stdin_eof;
}

/* ---- phases ----------------------------------------------------------------------- */

static uint64_t deadline;   /* end of the timed phase, ns */
static uint64_t measure_start;
static size_t next_to_open; /* establishing or arriving: the next slot to open */
static long connecting;     /* establishing: slots not yet through their first round trip */

static void on_established(size_t i, uint64_t now)
{
  (void)i;
  (void)now;
  established++;
  connecting--;
}

/* Opens all connections, at most MAX_CONNECTING at a time, each through one
 * checked round trip. Returns the number established. */
static long establish_all(void)
{
  uint64_t give_up = net_now_ns() + (uint64_t)ESTABLISH_SECONDS * 1000000000u;
  long before = errors;
  while (next_to_open < n_conns || connecting > 0) {
    while (next_to_open < n_conns && connecting < MAX_CONNECTING) {
      long e = errors;
      conn_open(next_to_open++);
      if (errors == e)
        connecting++;
    }
    pump(100, on_established, 0);
    /* a failed slot no longer counts as connecting */
    connecting = 0;
    {
      size_t i;
      for (i = 0; i < next_to_open; i++)
        if (conns[i].state != ST_UNUSED && conns[i].state != ST_IDLE)
          connecting++;
    }
    if (net_now_ns() > give_up) {
      fprintf(stderr, "loadgen: gave up opening connections after %d s\n", ESTABLISH_SECONDS);
      break;
    }
  }
  if (errors > before)
    fprintf(stderr, "loadgen: %ld of %lu connections failed to open\n", errors - before,
            (unsigned long)n_conns);
  return established;
}

static void on_pingpong_round(size_t i, uint64_t now)
{
  if (now <= deadline) {
    round_trips++;
    sample_add(&rtts, now - conns[i].started);
    conn_start_round(i);
  }
}

static void on_connect_round(size_t i, uint64_t now)
{
  if (now <= deadline) {
    round_trips++;
    sample_add(&rtts, now - conns[i].started);  /* connect + first echo */
  }
  conn_close(i);
  if (now <= deadline)
    conn_open(i);
}

static long live_connections(void)
{
  size_t i;
  long n = 0;
  for (i = 0; i < n_conns; i++)
    n += conns[i].state != ST_UNUSED;
  return n;
}

static void run_timed(round_done_fn done)
{
  uint64_t now;
  while ((now = net_now_ns()) < deadline) {
    uint64_t left_ms = (deadline - now) / 1000000u + 1;
    pump(left_ms > 100 ? 100 : (int)left_ms, done, 0);
    if (opt.mode == MODE_CONNECT) {
      size_t i;
      for (i = 0; i < n_conns; i++) /* a worker whose connection failed starts over */
        if (conns[i].state == ST_UNUSED)
          conn_open(i);
    } else if (live_connections() == 0) {
      fprintf(stderr, "loadgen: every connection failed\n");
      break;
    }
  }
}

/* ---- arrivals (--rate) ------------------------------------------------------------- */

static long served;         /* connections with at least one round trip echoed */

/* --rate: every finished round trip lands here, before the window and in it. */
static void on_arrival_round(size_t i, uint64_t now)
{
  conn_t *c = &conns[i];
  if (now > deadline)
    return;                 /* the window is over: the connection stays idle */
  if (!c->served) {
    c->served = 1;
    served++;
    sample_add(&first_rtts, now - c->connected);
  }
  if (now >= measure_start) { /* before the window a round trip only marks "served" */
    round_trips++;
    sample_add(&rtts, now - c->started);
  }
  conn_start_round(i);      /* closed loop: the next round trip straight away */
}

static long still_connecting(void)
{
  size_t i;
  long n = 0;
  for (i = 0; i < n_conns; i++)
    n += conns[i].state == ST_CONNECTING;
  return n;
}

/* When slot k is due to be opened: k / rate seconds after start, so the
 * schedule does not drift however late one poll() wakes up. */
static uint64_t arrival_due(uint64_t start, size_t k)
{
  return start + (uint64_t)((double)k * 1e9 / opt.rate);
}

/* Opens the connections on their schedule and keeps the early ones
 * ping-ponging, until every one is connected (or has failed). poll() waits
 * in whole milliseconds, so above 1000/s the slots due within one wait are
 * opened together. */
static void arrive_all(void)
{
  uint64_t start = net_now_ns(), give_up = 0;
  measure_start = deadline = UINT64_MAX; /* no window yet; see on_arrival_round */
  while (next_to_open < n_conns || still_connecting() > 0) {
    uint64_t now = net_now_ns();
    int wait_ms = 100;
    while (next_to_open < n_conns && now >= arrival_due(start, next_to_open))
      conn_open(next_to_open++);
    if (next_to_open < n_conns) {
      uint64_t ms = (arrival_due(start, next_to_open) - now + 999999u) / 1000000u;
      wait_ms = ms < 100 ? (int)ms : 100;
    } else if (give_up == 0) {
      give_up = now + (uint64_t)ESTABLISH_SECONDS * 1000000000u;
    } else if (now > give_up) { /* a SYN the server keeps dropping: stop waiting */
      fprintf(stderr, "loadgen: %ld connects still unanswered after %d s; timing anyway\n",
              still_connecting(), ESTABLISH_SECONDS);
      break;
    }
    pump(wait_ms, on_arrival_round, 0);
  }
  fprintf(stderr, "loadgen: %lu connections opened in %.2f s (errors %ld); %ld served by then\n",
          (unsigned long)n_conns, (double)(net_now_ns() - start) / 1e9, errors, served);
}

static void on_ignore(size_t i, uint64_t now)
{
  (void)i;
  (void)now;
}

/* Tells a runner reading stdout when the timed phase starts and ends, so it
 * can read the server's CPU time around exactly that phase (opening and
 * closing 1000 connections is not part of it). */
static void timing_mark(const char *what)
{
  printf("TIMING %s\n", what);
  fflush(stdout);
}

/* The timed phase starts now and lasts --seconds. */
static void start_window(void)
{
  timing_mark("start");
  measure_start = net_now_ns();
  deadline = measure_start + (uint64_t)(opt.seconds * 1e9);
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  struct addrinfo hints;
  size_t i;
  double elapsed;
  int rc;

  parse_args(argc, argv);
  if (net_startup() != 0) {
    fprintf(stderr, "loadgen: socket start-up failed\n");
    return 1;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if ((rc = getaddrinfo(opt.host, opt.port, &hints, &target)) != 0) {
    fprintf(stderr, "loadgen: cannot resolve %s:%s (%d)\n", opt.host, opt.port, rc);
    return 2;
  }

  n_conns = (size_t)opt.connections;
  conns = calloc(n_conns, sizeof *conns);
  pfds = calloc(n_conns + 1, sizeof *pfds);
  scratch = malloc((size_t)opt.size);
  if (conns == NULL || pfds == NULL || scratch == NULL) {
    fprintf(stderr, "loadgen: out of memory\n");
    return 1;
  }
  for (i = 0; i < n_conns; i++) {
    conns[i].fd = NET_BAD_SOCK;
    pfds[i].fd = NET_BAD_SOCK;
    conns[i].msg = malloc((size_t)opt.size);
    if (conns[i].msg == NULL) {
      fprintf(stderr, "loadgen: out of memory\n");
      return 1;
    }
  }

  if (opt.mode == MODE_CONNECT) {
    start_window();
    for (i = 0; i < n_conns; i++)
      conn_open(i);
    run_timed(on_connect_round);
  } else if (opt.rate > 0) {
    arrive_all();
    start_window();         /* the ping-pong is already going */
    run_timed(on_arrival_round);
  } else {
    establish_all();
    if (opt.mode == MODE_IDLE) {
      printf("IDLE READY connections=%ld errors=%ld\n", established, errors);
      fflush(stdout);
      measure_start = net_now_ns();
      deadline = measure_start + (uint64_t)(opt.seconds * 1e9);
      while (net_now_ns() < deadline)
        if (pump(100, on_ignore, 1))
          break;
    } else {
      start_window();
      for (i = 0; i < n_conns; i++)
        if (conns[i].state == ST_IDLE)
          conn_start_round(i);
      run_timed(on_pingpong_round);
    }
  }
  if (opt.mode != MODE_IDLE)
    timing_mark("end");
  elapsed = (double)(net_now_ns() - measure_start) / 1e9;
  if (opt.mode != MODE_IDLE)
    elapsed = opt.seconds; /* round trips are only counted up to the deadline */
  for (i = 0; i < n_conns; i++)
    conn_close(i);

  samples_sort(&rtts);
  samples_sort(&first_rtts);
  if (opt.mode == MODE_IDLE)
    printf("RESULT mode=idle connections=%ld established=%ld seconds=%.2f errors=%ld\n",
           opt.connections, established, elapsed, errors);
  else {
    printf("RESULT mode=%s connections=%ld size=%ld seconds=%.2f round_trips=%ld "
           "%s=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%ld",
           opt.mode == MODE_CONNECT ? "connect" : "pingpong", opt.connections, opt.size,
           elapsed, round_trips, opt.mode == MODE_CONNECT ? "conn_per_s" : "rtt_per_s",
           (double)round_trips / elapsed, percentile_us(&rtts, 50), percentile_us(&rtts, 99),
           percentile_us(&rtts, 100), errors);
    if (opt.rate > 0) /* appended, so a reader of the fields above sees no change */
      printf(" rate=%g served=%ld first_p50_us=%.1f first_p99_us=%.1f first_max_us=%.1f",
             opt.rate, served, percentile_us(&first_rtts, 50), percentile_us(&first_rtts, 99),
             percentile_us(&first_rtts, 100));
    printf("\n");
  }
  fflush(stdout);
  freeaddrinfo(target);
  net_cleanup();
  return errors == 0 ? 0 : 1;
}

/*
 * tests/bench/co_resume_bench.c - what one resume of a cosock task costs,
 * next to a hand-written switch state machine doing the same work.
 *
 * Not a test: it prints figures. Build with the `native` preset (or any
 * optimising C compiler on Linux) and run:
 *
 *     build/native/tests/bench/co_resume_bench [millions-of-steps]
 *
 * Two scenarios, each run against its baseline in alternating rounds (A B A B
 * ...) so machine noise hits both alike; the table gives medians:
 *   yield:  a driver loop resumes a task that counts and yields
 *           (co_resume -> step -> CO_YIELD) vs. calling a switch-based step
 *           function through a pointer;
 *   await:  a task awaits an operation that reports pending and is then
 *           completed (CO_AWAIT + co_wake, the path of every socket
 *           completion) vs. a callback that advances a hand-kept state enum.
 * Instructions per step come from the CPU's counter (perf_event_open) where
 * the kernel allows it; otherwise, where valgrind is installed, the program
 * runs itself once more under callgrind (which counts instructions exactly,
 * whatever the machine's load) and reads the counts back.
 */
#define _GNU_SOURCE
#include <co/co.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef COSOCK_HAVE_CALLGRIND
#  include <valgrind/callgrind.h>
#endif
#ifdef __linux__
#  include <linux/perf_event.h>
#  include <sys/ioctl.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif

enum { ROUNDS = 5 };

/* ---- instruction counter ------------------------------------------------- */

static int counter_fd = -1;

static void counter_open(void)
{
#ifdef __linux__
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_HW_INSTRUCTIONS;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  counter_fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
#endif
}

static void counter_start(void)
{
#ifdef __linux__
  if (counter_fd >= 0) {
    ioctl(counter_fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(counter_fd, PERF_EVENT_IOC_ENABLE, 0);
  }
#endif
}

static long long counter_stop(void)
{
  long long count = -1;
#ifdef __linux__
  if (counter_fd >= 0) {
    ioctl(counter_fd, PERF_EVENT_IOC_DISABLE, 0);
    if (read(counter_fd, &count, sizeof count) != (ssize_t)sizeof count)
      count = -1;
  }
#endif
  return count;
}

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- yield: cosock ---------------------------------------------------------- */

typedef struct {
  co_task_t task;
  long n;
} ticker_t;

static co_state_t ticker_step(co_task_t *t)
{
  ticker_t *k = (ticker_t *)t;
  CO_BEGIN(t);
  for (;;) {
    k->n++;
    CO_YIELD(t);
  }
  CO_END(t);
}

static long run_co_yield(long steps)
{
  ticker_t k = {0};
  co_task_init(&k.task, ticker_step, NULL);
  for (long i = 0; i < steps; i++)
    co_resume(&k.task);
  return k.n;
}

/* ---- yield: the bare switch baseline --------------------------------------- */

typedef struct {
  int state;
  long n;
} bare_t;

typedef int (*bare_fn)(bare_t *);

static int bare_step(bare_t *b)
{
  switch (b->state) {
  case 0:
    b->n++;
    b->state = 1;
    return 1;
  case 1:
    b->n++;
    return 1;
  }
  return 0;
}

/* volatile: the call stays an indirect call, as a thread-pool callback is */
static bare_fn volatile bare_step_ptr = bare_step;

static long run_bare_yield(long steps)
{
  bare_t b = {0, 0};
  for (long i = 0; i < steps; i++)
    bare_step_ptr(&b);
  return b.n;
}

/* ---- await: cosock ------------------------------------------------------- */

typedef struct {
  co_task_t task;
  long n;
  int result;
} reader_t;

static int pending_start(reader_t *r)
{
  (void)r;
  return CO_PENDING;
}

static co_state_t reader_step(co_task_t *t)
{
  reader_t *r = (reader_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, pending_start(r));
    r->n += r->result;
  }
  CO_END(t);
}

static long run_co_await(long steps)
{
  reader_t r = {0};
  co_task_init(&r.task, reader_step, NULL);
  co_resume(&r.task);
  for (long i = 0; i < steps; i++) {
    r.result = 1;         /* what a completion stores */
    co_wake(&r.task);     /* and how it resumes the task */
  }
  return r.n;
}

/* ---- await: the hand-written callback baseline ------------------------------ */

typedef struct {
  enum { READING, GOT_DATA } state;
  long n;
  int result;
} cb_conn_t;

typedef void (*cb_fn)(cb_conn_t *);

static void cb_on_complete(cb_conn_t *c)
{
  switch (c->state) {
  case READING:
  case GOT_DATA:
    c->n += c->result;
    c->state = READING;  /* start the next read (pending) */
    break;
  }
}

static cb_fn volatile cb_on_complete_ptr = cb_on_complete;

static long run_cb_await(long steps)
{
  cb_conn_t c = {READING, 0, 0};
  for (long i = 0; i < steps; i++) {
    c.result = 1;
    cb_on_complete_ptr(&c);
  }
  return c.n;
}

/* ---- measuring ------------------------------------------------------------- */

typedef struct {
  const char *name;
  long (*run)(long steps);
  double ns[ROUNDS];
  double instructions;  /* per step, -1 if unknown */
} contender_t;

static int compare_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  double sorted[ROUNDS];
  memcpy(sorted, v, sizeof(double) * (size_t)n);
  qsort(sorted, (size_t)n, sizeof(double), compare_double);
  return sorted[n / 2];
}

static void measure(contender_t *c, int round, long steps)
{
  double start;
  long long instructions;
  long done;
  counter_start();
  start = now_ns();
  done = c->run(steps);
  c->ns[round] = (now_ns() - start) / (double)steps;
  instructions = counter_stop();
  if (done != steps) {
    fprintf(stderr, "%s: ran %ld steps of %ld\n", c->name, done, steps);
    exit(1);
  }
  if (instructions >= 0)
    c->instructions = (double)instructions / (double)steps;
}

/* ---- instructions under callgrind --------------------------------------------- */

enum { CALLGRIND_STEPS = 1000000 };

#if defined(COSOCK_HAVE_CALLGRIND) && defined(__linux__)
/* The child, under callgrind: one dump of collected instructions per
 * contender (collection is off outside the runs). */
static int callgrind_child(contender_t **all, int n)
{
  for (int i = 0; i < n; i++) {
    CALLGRIND_TOGGLE_COLLECT;
    all[i]->run(CALLGRIND_STEPS);
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS;
  }
  return 0;
}

/* The parent: runs this program again under callgrind, then reads the
 * "totals:" line of each dump. Returns 1 if every count was found. */
static int count_with_callgrind(contender_t **all, int n)
{
  char self[512], dir[] = "/tmp/co_resume_bench_XXXXXX", cmd[1400], path[600], line[256];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  int found = 0;
  if (len <= 0 || mkdtemp(dir) == NULL)
    return 0;
  self[len] = '\0';
  snprintf(cmd, sizeof cmd,
           "valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=%s/cg "
           "'%s' --callgrind-child >/dev/null 2>&1", dir, self);
  if (system(cmd) == 0) {
    for (int i = 0; i < n; i++) {
      FILE *f;
      snprintf(path, sizeof path, "%s/cg.%d", dir, i + 1);
      f = fopen(path, "r");
      while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        long long total;
        if (sscanf(line, "totals: %lld", &total) == 1) {
          all[i]->instructions = (double)total / CALLGRIND_STEPS;
          found++;
        }
      }
      if (f != NULL)
        fclose(f);
      remove(path);
    }
  }
  snprintf(path, sizeof path, "%s/cg", dir);
  remove(path);
  remove(dir);
  return found == n;
}
#else
static int callgrind_child(contender_t **all, int n)
{
  (void)all;
  (void)n;
  return 2;
}

static int count_with_callgrind(contender_t **all, int n)
{
  (void)all;
  (void)n;
  return 0;
}
#endif

static void compare(contender_t *co, contender_t *base, long steps)
{
  double co_ns, base_ns;
  for (int round = 0; round < ROUNDS; round++) {
    measure(co, round, steps);
    measure(base, round, steps);
  }
  co_ns = median(co->ns, ROUNDS);
  base_ns = median(base->ns, ROUNDS);
  printf("%-28s %8.2f ns", co->name, co_ns);
  if (co->instructions >= 0)
    printf(" %8.1f instr", co->instructions);
  printf("\n%-28s %8.2f ns", base->name, base_ns);
  if (base->instructions >= 0)
    printf(" %8.1f instr", base->instructions);
  printf("\n%-28s %8.2fx time", "  ratio cosock/baseline", co_ns / base_ns);
  if (co->instructions >= 0 && base->instructions > 0)
    printf(" %6.2fx instr", co->instructions / base->instructions);
  printf("  (+%.2f ns per step)\n", co_ns - base_ns);
}

int main(int argc, char **argv)
{
  long steps = (argc > 1 ? atol(argv[1]) : 20) * 1000000L;
  contender_t co_yield = {"cosock yield (co_resume)", run_co_yield, {0}, -1};
  contender_t bare_yield = {"bare switch step", run_bare_yield, {0}, -1};
  contender_t co_await = {"cosock await + co_wake", run_co_await, {0}, -1};
  contender_t cb_await = {"hand-kept state callback", run_cb_await, {0}, -1};
  contender_t *all[] = {&co_yield, &bare_yield, &co_await, &cb_await};
  enum { N = sizeof all / sizeof all[0] };

  if (argc > 1 && strcmp(argv[1], "--callgrind-child") == 0)
    return callgrind_child(all, N);
  if (steps <= 0) {
    fprintf(stderr, "usage: %s [millions-of-steps > 0]\n", argv[0]);
    return 2;
  }
  counter_open();
  printf("co resume cost: %ld steps per round, %d rounds A/B, medians; "
         "sizeof(co_task_t) = %u bytes (CO_DEBUG=%d)\n",
         steps, ROUNDS, (unsigned)sizeof(co_task_t), CO_DEBUG);
  if (counter_fd < 0) {
    if (count_with_callgrind(all, N))
      printf("(instructions per step: counted by callgrind over %d steps; the CPU's "
             "counter is not readable here)\n", (int)CALLGRIND_STEPS);
    else
      printf("(instruction counter unavailable here, and valgrind not found: "
             "install valgrind for instruction counts)\n");
  }
  compare(&co_yield, &bare_yield, steps);
  compare(&co_await, &cb_await, steps);
  return 0;
}

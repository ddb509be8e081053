/*
 * tests/bench/cpp_await_bench.cpp - what one await costs a C++20 coroutine
 * (sock/sock.hpp) next to the same loop written with the macros of co/co.h.
 *
 * Not a test: it prints figures. tests/bench/run_bench.sh builds it (mingw,
 * Release) and runs it under Wine beside the echo benchmark. Each task loops
 * on an await of a start function that reports pending; the driver then
 * completes it with co_wake, the path every socket completion takes (the
 * system call itself is left out: it costs the same whoever awaits it):
 *
 *   macro co_task_t     CO_AWAIT in a plain co task (echo_server.c's connections)
 *   macro sock_task_t   CO_AWAIT in a task spawned with sock_spawn
 *   cosock::task        co_await cosock::start(...) (echo_server_cpp.cpp's)
 *
 * Alternating rounds (A B C, A B C, ...), medians in nanoseconds per await.
 */
#include <sock/sock.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace {

enum { ROUNDS = 7, KINDS = 3 };

co_task_t *g_parked;  /* the task the start function last parked */

/* A start function that always reports pending, as a receive with no data
 * yet does; the driver plays the completion. Called through a volatile
 * pointer so the compiler cannot see through it (a real one is in a library). */
extern "C" int pending_start(sock_op_t *op, co_task_t *task)
{
  op->error = CO_OK;
  g_parked = task;
  return CO_PENDING;
}
using start_fn = int (*)(sock_op_t *, co_task_t *);
start_fn volatile g_start = pending_start;

struct macro_task {
  co_task_t task;
  sock_op_t op;
  long      awaits;
};

struct macro_sock_task {
  sock_task_t task;
  sock_op_t   op;
  long        awaits;
};

template <class T>
co_state_t macro_step(co_task_t *t)
{
  T *m = reinterpret_cast<T *>(t);
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, g_start(&m->op, t));
    m->awaits++;
  }
  CO_END(t);
}

long g_cpp_awaits;

cosock::task cpp_loop()
{
  sock_op_t op{};
  for (;;) {
    co_await cosock::start(static_cast<start_fn>(g_start), &op);
    g_cpp_awaits++;
  }
}

double now_s()
{
  LARGE_INTEGER freq, count;
  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&count);
  return static_cast<double>(count.QuadPart) / static_cast<double>(freq.QuadPart);
}

}  // namespace

int main(int argc, char **argv)
{
  long millions = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20;
  if (millions <= 0) {
    std::fprintf(stderr, "usage: cpp_await_bench [millions-of-awaits-per-round]\n");
    return 2;
  }
  sock_runtime_t *rt = nullptr;
  if (sock_runtime_create(&rt, nullptr) != CO_OK) {
    std::fprintf(stderr, "cpp_await_bench: no runtime\n");
    return 1;
  }

  static macro_task plain;
  static macro_sock_task counted;
  co_task_t *tasks[KINDS];
  co_task_init(&plain.task, macro_step<macro_task>, nullptr);
  co_resume(&plain.task);  /* runs to its first await */
  tasks[0] = g_parked;
  sock_spawn(rt, &counted.task, macro_step<macro_sock_task>, nullptr);
  tasks[1] = g_parked;
  if (cosock::spawn(rt, cpp_loop()) != CO_OK) {
    std::fprintf(stderr, "cpp_await_bench: no coroutine frame\n");
    return 1;
  }
  tasks[2] = g_parked;

  const long n = millions * 1000000L;
  double ns[KINDS][ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    for (int k = 0; k < KINDS; k++) {
      double t0 = now_s();
      for (long i = 0; i < n; i++)
        co_wake(tasks[k]);
      ns[k][r] = (now_s() - t0) * 1e9 / static_cast<double>(n);
    }
  }

  const char *names[KINDS] = {"macro co_task_t", "macro sock_task_t", "cosock::task"};
  const long awaits[KINDS] = {plain.awaits, counted.awaits, g_cpp_awaits};
  double median[KINDS];
  for (int k = 0; k < KINDS; k++) {
    std::sort(ns[k], ns[k] + ROUNDS);
    median[k] = ns[k][ROUNDS / 2];
    if (awaits[k] != n * ROUNDS) {
      std::fprintf(stderr, "cpp_await_bench: %s resumed %ld times, expected %ld\n", names[k],
                   awaits[k], n * ROUNDS);
      return 1;
    }
  }
  std::printf("await + completion (co_wake), %ld million per round, %d rounds, medians:\n",
              millions, ROUNDS);
  for (int k = 0; k < KINDS; k++)
    std::printf("  %-18s %6.2f ns  (%.2fx the plain macro task; spread %.2f-%.2f ns)\n",
                names[k], median[k], median[k] / median[0], ns[k][0], ns[k][ROUNDS - 1]);
  /* The tasks stay parked for good: the runtime is not shut down, the
   * process ends (a benchmark's shortcut; a server stops its tasks first). */
  return 0;
}

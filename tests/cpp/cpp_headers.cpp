/*
 * tests/cpp/cpp_headers.cpp - cosock from C++: the headers compile as C++17
 * and C++20 (g++ -Wall -Wextra -Wpedantic -Werror; clang-cl /TP /W4 /WX with
 * no C++ standard library), the functions link (extern "C"), and tasks
 * written with the macros run.
 *
 * The same file is built once per C++ standard (cpp_headers_cxx17,
 * cpp_headers_cxx20). It uses nothing of the C++ standard library: Wine's SDK,
 * which the clang-cl build uses, has none. On Windows targets cpp_sock.cpp
 * adds a TCP echo over sock/.
 */
#include <check.h>
#include <co/co.h>

#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
void cpp_sock_add_cases(Suite *suite);  /* cpp_sock.cpp */
#endif

extern "C" Suite *cosock_test_suite(void);

/* The C++ standard in force (MSVC front ends keep __cplusplus at 199711L
 * unless /Zc:__cplusplus; _MSVC_LANG tells the truth). */
#if defined(_MSVC_LANG)
#  define CPP_LEVEL _MSVC_LANG
#else
#  define CPP_LEVEL __cplusplus
#endif

namespace {

/* ---- A task in C++: struct first member co_task_t, state in the struct ---- */

struct ticker {
  co_task_t   task;       // first: the framework's part
  int         i;
  int         ticks;
  int         sum;        // Rule 1 in C++: a value kept across waits lives here
  bool        go;         // CO_WAIT_UNTIL's condition
  co_task_t  *parked;     // the fake operation's pending task, woken by hand
  int         op_result;  // where the fake operation stores its result
  struct child {
    co_task_t task;
    int       rounds;
  } kid;
};

/* A start function in the await protocol: pending the first time (the test
 * wakes the task with co_wake), finished at once the second time. */
int fake_start(ticker *k, co_task_t *t)
{
  if (k->parked == nullptr && k->op_result == 0) {
    k->parked = t;
    return CO_PENDING;
  }
  k->op_result = 7;
  return CO_OK;
}

template <typename T>
T *task_of(co_task_t *t)  // a template is as good a cast as any
{
  return reinterpret_cast<T *>(t);
}

co_state_t child_step(co_task_t *t)
{
  ticker::child *c = task_of<ticker::child>(t);
  CO_BEGIN(t);
  for (c->rounds = 0; c->rounds < 2; c->rounds++)
    CO_YIELD(t);
  if (c->rounds == 2)
    CO_EXIT(t, CO_ETIMEDOUT);  // the status the parent reads
  CO_END(t);
}

co_state_t ticker_step(co_task_t *t)
{
  ticker *k = task_of<ticker>(t);
  CO_BEGIN(t);
  for (k->i = 0; k->i < 3; k->i++) {
    {
      const int doubled = k->i * 2;   // braces that span no wait: fine in C++
      k->sum += doubled;
    }
    k->ticks++;
    CO_YIELD(t);
  }
  CO_WAIT_UNTIL(t, k->go);
  CO_AWAIT(t, fake_start(k, t));       // pending: co_wake resumes us
  CO_AWAIT(t, fake_start(k, t));       // finished inline
  CO_CALL(t, &k->kid.task, child_step);
  if (co_status(&k->kid.task) != CO_ETIMEDOUT)
    CO_EXIT(t, CO_EINVAL);
  CO_END(t);
}

int hook_runs;

}  // namespace

START_TEST(task_macros)
{
  static ticker k;  // static: a failed assertion longjmps out (no fork on Windows)
  memset(&k, 0, sizeof k);
  hook_runs = 0;
  // A captureless lambda is a completion hook: C++ functions go through the
  // C function-pointer types.
  co_task_init(&k.task, ticker_step, [](co_task_t *) { hook_runs++; });

  for (int n = 0; n < 3; n++)
    ck_assert_int_eq(co_resume(&k.task), CO_YIELDED);
  ck_assert_int_eq(k.ticks, 3);
  ck_assert_int_eq(k.sum, 0 + 2 + 4);
  ck_assert_int_eq(co_resume(&k.task), CO_YIELDED);   // waits for k.go
  k.go = true;
  ck_assert_int_eq(co_resume(&k.task), CO_WAITING);   // the pending await
  ck_assert_ptr_eq(k.parked, &k.task);
  ck_assert_int_eq(co_wake(&k.task), CO_YIELDED);     // second await inline, child yields
  ck_assert_int_eq(k.op_result, 7);
  ck_assert_ptr_eq(co_parent(&k.kid.task), &k.task);
  ck_assert_int_eq(co_resume(&k.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&k.task), CO_DONE);
  ck_assert(co_done(&k.task));
  ck_assert_int_eq(co_status(&k.task), CO_OK);
  ck_assert_int_eq(hook_runs, 1);
  ck_assert_str_eq(co_errname(CO_ETIMEDOUT), "CO_ETIMEDOUT");

  char where[128];
  ck_assert_ptr_nonnull(co_describe(&k.task, where, sizeof where));
  printf("cpp_headers: C++ %ld: task macros OK (sizeof(co_task_t) = %u, CO_DEBUG=%d)\n",
         static_cast<long>(CPP_LEVEL), static_cast<unsigned>(sizeof(co_task_t)), CO_DEBUG);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *suite = suite_create("cpp_headers");
  TCase *tc = tcase_create("task_macros");
  tcase_add_test(tc, task_macros);
  suite_add_tcase(suite, tc);
#if defined(_WIN32)
  cpp_sock_add_cases(suite);
#endif
  return suite;
}

/*
 * tests/co/test_flow.c - the control flow of one task: yields, waits, exit,
 * restart, and the completion hook.
 */
#include <check.h>
#include <co/co.h>
#include <stdlib.h>

/* ---- resume order across many yields ------------------------------------- */

typedef struct {
  co_task_t task;
  int i;
  int trace[1000];  /* the value of i at each resume, in order */
  int count;
} yielder_t;

static co_state_t yielder_step(co_task_t *t)
{
  yielder_t *y = (yielder_t *)t;
  CO_BEGIN(t);
  for (y->i = 0; y->i < 1000; y->i++) {
    y->trace[y->count++] = y->i;
    CO_YIELD(t);
  }
  CO_END(t);
}

/* 1000 yields inside a loop: every resume continues right after the last
 * yield, with the loop state kept in the struct. */
START_TEST(yields_resume_in_order)
{
  static yielder_t y;
  int steps = 0;
  co_task_init(&y.task, yielder_step, NULL);
  while (co_resume(&y.task) == CO_YIELDED)
    steps++;
  ck_assert_int_eq(steps, 1000);
  ck_assert_int_eq(y.count, 1000);
  for (int i = 0; i < 1000; i++)
    ck_assert_int_eq(y.trace[i], i);
  ck_assert(co_done(&y.task));
  ck_assert_int_eq(co_status(&y.task), CO_OK);
}
END_TEST

/* ---- wait-until re-evaluates ---------------------------------------------- */

typedef struct {
  co_task_t task;
  int flag;
  int evaluations;  /* how often the condition was evaluated */
  int passed;
} waiter_t;

static int waiter_flag_set(waiter_t *w)
{
  w->evaluations++;
  return w->flag;
}

static co_state_t waiter_step(co_task_t *t)
{
  waiter_t *w = (waiter_t *)t;
  CO_BEGIN(t);
  CO_WAIT_UNTIL(t, waiter_flag_set(w));
  w->passed = 1;
  CO_WAIT_WHILE(t, w->flag);
  w->passed = 2;
  CO_END(t);
}

/* The condition is evaluated on every resume and the task passes as soon as
 * it holds; a condition that already holds does not stop the task. */
START_TEST(wait_until_reevaluates_on_every_resume)
{
  waiter_t w = {0};
  co_task_init(&w.task, waiter_step, NULL);
  ck_assert_int_eq(co_resume(&w.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&w.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&w.task), CO_YIELDED);
  ck_assert_int_eq(w.evaluations, 3);
  ck_assert_int_eq(w.passed, 0);
  w.flag = 1;
  ck_assert_int_eq(co_resume(&w.task), CO_YIELDED);  /* now parked in WAIT_WHILE */
  ck_assert_int_eq(w.evaluations, 4);
  ck_assert_int_eq(w.passed, 1);
  w.flag = 0;
  ck_assert_int_eq(co_resume(&w.task), CO_DONE);
  ck_assert_int_eq(w.passed, 2);
}
END_TEST

START_TEST(wait_until_true_does_not_stop)
{
  waiter_t w = {0};
  w.flag = 1;
  co_task_init(&w.task, waiter_step, NULL);
  ck_assert_int_eq(co_resume(&w.task), CO_YIELDED);  /* passes UNTIL, parks in WHILE */
  ck_assert_int_eq(w.evaluations, 1);
  ck_assert_int_eq(w.passed, 1);
}
END_TEST

/* ---- exit and restart ------------------------------------------------------ */

typedef struct {
  co_task_t task;
  int runs;       /* how often it started from the top */
  int after_exit; /* set if code after CO_EXIT ever ran */
} restarter_t;

static co_state_t restarter_step(co_task_t *t)
{
  restarter_t *r = (restarter_t *)t;
  CO_BEGIN(t);
  r->runs++;
  CO_YIELD(t);
  if (r->runs < 3)
    CO_RESTART(t);
  CO_EXIT(t, CO_ETIMEDOUT);
  r->after_exit = 1;
  CO_END(t);
}

/* CO_RESTART starts again from CO_BEGIN (state in the struct is kept);
 * CO_EXIT ends the task at once with the given status. */
START_TEST(restart_runs_from_the_top_and_exit_ends_with_status)
{
  restarter_t r = {0};
  int steps = 1;
  co_task_init(&r.task, restarter_step, NULL);
  while (co_resume(&r.task) != CO_DONE)
    steps++;
  ck_assert_int_eq(r.runs, 3);
  ck_assert_int_eq(steps, 6);  /* 3 runs x (yield + restart-or-exit) */
  ck_assert_int_eq(r.after_exit, 0);
  ck_assert_int_eq(co_status(&r.task), CO_ETIMEDOUT);
}
END_TEST

/* ---- the completion hook ---------------------------------------------------- */

typedef struct {
  co_task_t task;
  int hook_calls;
  int state_in_hook;
} hooked_t;

static co_state_t hooked_step(co_task_t *t)
{
  CO_BEGIN(t);
  CO_YIELD(t);
  CO_YIELD(t);
  CO_END(t);
}

static void hooked_done(co_task_t *t)
{
  hooked_t *h = (hooked_t *)t;
  h->hook_calls++;
  h->state_in_hook = t->state;
}

/* The hook runs once, when the task ends, with the task already done; not on
 * the yields before. */
START_TEST(completion_hook_runs_exactly_once)
{
  hooked_t h = {0};
  co_task_init(&h.task, hooked_step, hooked_done);
  ck_assert_int_eq(co_resume(&h.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&h.task), CO_YIELDED);
  ck_assert_int_eq(h.hook_calls, 0);
  ck_assert_int_eq(co_resume(&h.task), CO_DONE);
  ck_assert_int_eq(h.hook_calls, 1);
  ck_assert_int_eq(h.state_in_hook, CO_DONE);
}
END_TEST

static co_state_t freed_step(co_task_t *t)
{
  CO_BEGIN(t);
  CO_END(t);
}

static int freed_count;
static void freed_done(co_task_t *t)
{
  freed_count++;
  free(t);  /* the owner frees its task in the hook */
}

/* The owner may free the task inside the hook: co_resume touches nothing
 * afterwards (ASan would report a use after free). */
START_TEST(hook_may_free_the_task)
{
  co_task_t *t = malloc(sizeof *t);
  ck_assert_ptr_nonnull(t);
  freed_count = 0;
  co_task_init(t, freed_step, freed_done);
  ck_assert_int_eq(co_resume(t), CO_DONE);
  ck_assert_int_eq(freed_count, 1);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("co_flow");
  TCase *tc;

  tc = tcase_create("yields_resume_in_order");
  tcase_add_test(tc, yields_resume_in_order);
  suite_add_tcase(s, tc);

  tc = tcase_create("wait_until_reevaluates");
  tcase_add_test(tc, wait_until_reevaluates_on_every_resume);
  tcase_add_test(tc, wait_until_true_does_not_stop);
  suite_add_tcase(s, tc);

  tc = tcase_create("exit_and_restart");
  tcase_add_test(tc, restart_runs_from_the_top_and_exit_ends_with_status);
  suite_add_tcase(s, tc);

  tc = tcase_create("completion_hook_runs_once");
  tcase_add_test(tc, completion_hook_runs_exactly_once);
  tcase_add_test(tc, hook_may_free_the_task);
  suite_add_tcase(s, tc);
  return s;
}

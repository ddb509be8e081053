/*
 * tests/co/test_misuse.c - broken rules are reported, never silent
 * corruption: each case installs a handler that records the message instead
 * of aborting, and checks what it says.
 */
#include <check.h>
#include <co/co.h>
#include <stdio.h>
#include <string.h>

static char last_message[512];
static int misuse_count;
static const co_task_t *misuse_task;

static void record_misuse(const char *message, const co_task_t *task)
{
  snprintf(last_message, sizeof last_message, "%s", message);
  misuse_count++;
  misuse_task = task;
}

static void setup(void)
{
  last_message[0] = '\0';
  misuse_count = 0;
  misuse_task = NULL;
  co_set_misuse_handler(record_misuse);
}

static void teardown(void)
{
  co_set_misuse_handler(NULL);
}

/* Asserts the last message mentions `what` and, in debug builds, the file and
 * line where the task was parked. */
static void assert_reported(const char *what, int line)
{
  char where[64];
  ck_assert_int_eq(misuse_count, 1);
  ck_assert_msg(strstr(last_message, what) != NULL, "message \"%s\" lacks \"%s\"",
                last_message, what);
#if CO_DEBUG
  snprintf(where, sizeof where, "test_misuse.c:%d", line);
  ck_assert_msg(strstr(last_message, where) != NULL, "message \"%s\" lacks \"%s\"",
                last_message, where);
#else
  (void)where;
  (void)line;
#endif
}

typedef struct {
  co_task_t task;
  int park_line;  /* the line of the wait the task parks at */
  int hook_calls;
  co_state_t inner_resume;  /* what a resume from inside the step returned */
} victim_t;

static co_state_t awaiting_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  v->park_line = __LINE__; CO_AWAIT(t, CO_PENDING);
  CO_END(t);
}

/* A task parked at an await may only be resumed by its completion. */
START_TEST(resume_with_await_outstanding_is_reported)
{
  victim_t v = {0};
  co_task_init(&v.task, awaiting_step, NULL);
  ck_assert_int_eq(co_resume(&v.task), CO_WAITING);
  ck_assert_int_eq(co_resume(&v.task), CO_WAITING);  /* refused: not stepped */
  assert_reported("await outstanding", v.park_line);
  ck_assert_ptr_eq(misuse_task, &v.task);
  ck_assert_int_eq(co_wake(&v.task), CO_DONE);        /* the real completion */
}
END_TEST

static co_state_t short_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  v->park_line = __LINE__; CO_YIELD(t);
  CO_END(t);
}

static void count_hook(co_task_t *t)
{
  ((victim_t *)t)->hook_calls++;
}

/* A finished task stays finished: a second resume is refused, so the hook
 * cannot run twice. */
START_TEST(resume_of_finished_task_is_reported)
{
  victim_t v = {0};
  co_task_init(&v.task, short_step, count_hook);
  ck_assert_int_eq(co_resume(&v.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&v.task), CO_DONE);
  ck_assert_int_eq(misuse_count, 0);
  ck_assert_int_eq(co_resume(&v.task), CO_DONE);
  assert_reported("has finished", v.park_line);
  ck_assert_int_eq(v.hook_calls, 1);
}
END_TEST

/* A second completion for one await (or a wake of a yielded task). */
START_TEST(wake_of_task_not_waiting_is_reported)
{
  victim_t v = {0};
  co_task_init(&v.task, short_step, NULL);
  ck_assert_int_eq(co_resume(&v.task), CO_YIELDED);
  ck_assert_int_eq(co_wake(&v.task), CO_YIELDED);
  assert_reported("not waiting", v.park_line);
}
END_TEST

static co_state_t reentrant_step(co_task_t *t)
{
  victim_t *v = (victim_t *)t;
  CO_BEGIN(t);
  v->park_line = __LINE__; CO_YIELD(t);
  v->inner_resume = co_resume(t);  /* resumes itself while running */
  CO_END(t);
}

START_TEST(resume_of_running_task_is_reported)
{
  victim_t v = {0};
  co_task_init(&v.task, reentrant_step, NULL);
  ck_assert_int_eq(co_resume(&v.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&v.task), CO_DONE);
  assert_reported("already running", v.park_line);
  ck_assert_int_eq(v.inner_resume, CO_RUNNING);
}
END_TEST

/* ---- the switch rule ------------------------------------------------------ */

typedef struct {
  co_task_t task;
  int kind;
  int park_line;
  int after;       /* set if the code after the buried yield ever ran */
  int hook_calls;
} switcher_t;

static co_state_t switcher_step(co_task_t *t)
{
  switcher_t *s = (switcher_t *)t;
  CO_BEGIN(t);
  switch (s->kind) {          /* breaks the rule on purpose */
  case 1:
    s->park_line = __LINE__; CO_YIELD(t);
    s->after = 1;
    break;
  default:
    break;
  }
  CO_END(t);
}

static void switcher_done(co_task_t *t)
{
  ((switcher_t *)t)->hook_calls++;
}

/* A yield buried in the user's own switch cannot be resumed: the first
 * resume reports it and ends the task with CO_ELOST (hook still runs once)
 * instead of silently skipping to the end. */
START_TEST(await_inside_user_switch_is_reported)
{
  switcher_t s = {0};
  s.kind = 1;
  co_task_init(&s.task, switcher_step, switcher_done);
  ck_assert_int_eq(co_resume(&s.task), CO_YIELDED);
  ck_assert_int_eq(co_resume(&s.task), CO_DONE);
  assert_reported("resume point unreachable", s.park_line);
  ck_assert_int_eq(co_status(&s.task), CO_ELOST);
  ck_assert_int_eq(s.after, 0);
  ck_assert_int_eq(s.hook_calls, 1);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("co_misuse");
  TCase *tc;

  tc = tcase_create("resume_with_await_outstanding");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, resume_with_await_outstanding_is_reported);
  suite_add_tcase(s, tc);

  tc = tcase_create("resume_of_finished_task");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, resume_of_finished_task_is_reported);
  suite_add_tcase(s, tc);

  tc = tcase_create("wake_of_task_not_waiting");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, wake_of_task_not_waiting_is_reported);
  suite_add_tcase(s, tc);

  tc = tcase_create("resume_of_running_task");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, resume_of_running_task_is_reported);
  suite_add_tcase(s, tc);

  tc = tcase_create("await_inside_user_switch");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, await_inside_user_switch_is_reported);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tests/co/test_await.c - the await protocol and child tasks, driven by a fake
 * operation that finishes either at once or when the test completes it.
 */
#include <check.h>
#include <co/co.h>

/* A stand-in for a socket operation record: the start stores the task; the
 * "completion" stores a result and wakes the task, as a thread-pool IO
 * callback would. */
typedef struct {
  co_task_t *task;
  int result;
} fake_op_t;

static int fake_finish_now(fake_op_t *op, int value)
{
  op->result = value;
  return CO_OK;
}

static int fake_start(fake_op_t *op, co_task_t *task)
{
  op->task = task;
  op->result = 0;
  return CO_PENDING;
}

static co_state_t fake_complete(fake_op_t *op, int value)
{
  op->result = value;
  return co_wake(op->task);
}

/* ---- synchronous and pending awaits ---------------------------------------- */

typedef struct {
  co_task_t task;
  fake_op_t op;
  int entries;   /* calls of the step function */
  int sum;       /* results read after each await */
  int reached;   /* how far the body got */
} awaiter_t;

static co_state_t sync_step(co_task_t *t)
{
  awaiter_t *a = (awaiter_t *)t;
  a->entries++;
  CO_BEGIN(t);
  CO_AWAIT(t, fake_finish_now(&a->op, 1));
  a->sum += a->op.result;
  CO_AWAIT(t, fake_finish_now(&a->op, 10));
  a->sum += a->op.result;
  CO_AWAIT(t, CO_ECONNRESET);  /* an error also finishes now */
  a->reached = 3;
  CO_END(t);
}

/* Starts that finish at once (success or error) continue inline: one step
 * runs the whole body, the step function is entered once. */
START_TEST(sync_await_continues_inline)
{
  awaiter_t a = {0};
  co_task_init(&a.task, sync_step, NULL);
  ck_assert_int_eq(co_resume(&a.task), CO_DONE);
  ck_assert_int_eq(a.entries, 1);
  ck_assert_int_eq(a.sum, 11);
  ck_assert_int_eq(a.reached, 3);
}
END_TEST

static co_state_t pending_step(co_task_t *t)
{
  awaiter_t *a = (awaiter_t *)t;
  a->entries++;
  CO_BEGIN(t);
  a->reached = 1;
  CO_AWAIT(t, fake_start(&a->op, t));
  a->sum += a->op.result;
  a->reached = 2;
  CO_AWAIT(t, fake_start(&a->op, t));
  a->sum += a->op.result * 100;
  a->reached = 3;
  CO_END(t);
}

/* A pending start returns CO_WAITING; the completion resumes the task right
 * after that await, where it reads the stored result. */
START_TEST(pending_await_returns_and_resumes_after_it)
{
  awaiter_t a = {0};
  co_task_init(&a.task, pending_step, NULL);
  ck_assert_int_eq(co_resume(&a.task), CO_WAITING);
  ck_assert_int_eq(a.reached, 1);
  ck_assert_int_eq(a.task.state, CO_WAITING);
  ck_assert_ptr_eq(a.op.task, &a.task);

  ck_assert_int_eq(fake_complete(&a.op, 7), CO_WAITING);
  ck_assert_int_eq(a.reached, 2);
  ck_assert_int_eq(a.sum, 7);

  ck_assert_int_eq(fake_complete(&a.op, 5), CO_DONE);
  ck_assert_int_eq(a.reached, 3);
  ck_assert_int_eq(a.sum, 507);
  ck_assert_int_eq(a.entries, 3);
}
END_TEST

/* ---- two awaits on one source line ------------------------------------------ */

typedef struct {
  co_task_t task;
  fake_op_t first, second;
  int order[2];
  int n;
  unsigned points[2];  /* the resume point saved at each await */
} pair_t;

static co_state_t pair_step(co_task_t *t)
{
  pair_t *p = (pair_t *)t;
  CO_BEGIN(t);
  /* clang-format off */
  CO_AWAIT(t, fake_start(&p->first, t)); p->order[p->n++] = p->first.result; CO_AWAIT(t, fake_start(&p->second, t)); p->order[p->n++] = p->second.result;
  /* clang-format on */
  CO_END(t);
}

/* Resume points come from __COUNTER__, not __LINE__: two awaits on one line
 * get distinct points and each resumes at its own place. */
START_TEST(two_awaits_on_one_line_get_distinct_points)
{
  pair_t p = {0};
  co_task_init(&p.task, pair_step, NULL);
  ck_assert_int_eq(co_resume(&p.task), CO_WAITING);
  p.points[0] = p.task.resume;
  ck_assert_int_eq(fake_complete(&p.first, 1), CO_WAITING);
  p.points[1] = p.task.resume;
  ck_assert_uint_ne(p.points[0], p.points[1]);
  ck_assert_int_eq(p.n, 1);
  ck_assert_int_eq(fake_complete(&p.second, 2), CO_DONE);
  ck_assert_int_eq(p.n, 2);
  ck_assert_int_eq(p.order[0], 1);
  ck_assert_int_eq(p.order[1], 2);
}
END_TEST

/* ---- children ----------------------------------------------------------------- */

typedef struct {
  co_task_t task;
  fake_op_t op;     /* the leaf's operation */
  int input;        /* set by the parent before the call */
  int yielded;
} leaf_t;

/* The leaf waits for its operation, yields once, and returns input+result
 * as a (negative) status. */
static co_state_t leaf_step(co_task_t *t)
{
  leaf_t *l = (leaf_t *)t;
  CO_BEGIN(t);
  CO_AWAIT(t, fake_start(&l->op, t));
  CO_YIELD(t);
  l->yielded = 1;
  CO_EXIT(t, -(l->input + l->op.result));
  CO_END(t);
}

typedef struct {
  co_task_t task;
  leaf_t leaf;
  int status;
} mid_t;

static co_state_t mid_step(co_task_t *t)
{
  mid_t *m = (mid_t *)t;
  CO_BEGIN(t);
  m->leaf.input = 100;
  CO_CALL(t, &m->leaf.task, leaf_step);
  m->status = co_status(&m->leaf.task);
  CO_EXIT(t, m->status - 1);
  CO_END(t);
}

typedef struct {
  co_task_t task;
  mid_t mid;
  int status;
  int hook_calls;
} root_t;

static co_state_t root_step(co_task_t *t)
{
  root_t *r = (root_t *)t;
  CO_BEGIN(t);
  CO_CALL(t, &r->mid.task, mid_step);
  r->status = co_status(&r->mid.task);
  CO_EXIT(t, r->status - 1);
  CO_END(t);
}

static void root_done(co_task_t *t)
{
  ((root_t *)t)->hook_calls++;
}

/* A child's exit status reaches its parent through co_status(). */
START_TEST(child_status_reaches_parent)
{
  mid_t m = {0};
  co_task_init(&m.task, mid_step, NULL);
  ck_assert_int_eq(co_resume(&m.task), CO_WAITING);       /* leaf awaits */
  ck_assert_int_eq(fake_complete(&m.leaf.op, 5), CO_YIELDED); /* leaf yields */
  ck_assert_int_eq(m.task.state, CO_YIELDED);
  ck_assert_int_eq(co_resume(&m.task), CO_DONE);
  ck_assert_int_eq(m.leaf.yielded, 1);
  ck_assert_int_eq(m.status, -105);
  ck_assert_int_eq(co_status(&m.task), -106);
}
END_TEST

/* Three levels: the leaf's completion (co_wake on the leaf) steps the root,
 * which steps down through both CO_CALLs; yields of the leaf park the whole
 * chain; the root's hook runs once, the children's never. */
START_TEST(nested_children_three_deep)
{
  root_t r = {0};
  co_task_init(&r.task, root_step, root_done);
  ck_assert_int_eq(co_resume(&r.task), CO_WAITING);
  ck_assert_int_eq(r.task.state, CO_WAITING);
  ck_assert_int_eq(r.mid.task.state, CO_WAITING);
  ck_assert_int_eq(r.mid.leaf.task.state, CO_WAITING);
  ck_assert_ptr_eq(co_parent(&r.mid.leaf.task), &r.mid.task);
  ck_assert_ptr_eq(co_parent(&r.mid.task), &r.task);
  ck_assert_ptr_null(co_parent(&r.task));

  ck_assert_int_eq(fake_complete(&r.mid.leaf.op, 20), CO_YIELDED);
  ck_assert_int_eq(r.task.state, CO_YIELDED);
  ck_assert_int_eq(r.hook_calls, 0);
  ck_assert_int_eq(co_resume(&r.task), CO_DONE);
  ck_assert_int_eq(r.mid.status, -120);
  ck_assert_int_eq(r.status, -121);
  ck_assert_int_eq(co_status(&r.task), -122);
  ck_assert_int_eq(r.hook_calls, 1);
}
END_TEST

/* A child that finishes without waiting does not park its parent. */
static co_state_t quick_child_step(co_task_t *t)
{
  CO_BEGIN(t);
  CO_EXIT(t, CO_EINVAL);
  CO_END(t);
}

static co_state_t quick_parent_step(co_task_t *t)
{
  mid_t *m = (mid_t *)t;
  CO_BEGIN(t);
  CO_CALL(t, &m->leaf.task, quick_child_step);
  m->status = co_status(&m->leaf.task);
  CO_CALL(t, &m->leaf.task, quick_child_step);  /* a child struct is reusable */
  m->status += co_status(&m->leaf.task);
  CO_END(t);
}

START_TEST(child_that_finishes_at_once_continues_inline)
{
  mid_t m = {0};
  co_task_init(&m.task, quick_parent_step, NULL);
  ck_assert_int_eq(co_resume(&m.task), CO_DONE);
  ck_assert_int_eq(m.status, 2 * CO_EINVAL);
}
END_TEST

/* The task's framework part is three words: the step function, the hook or
 * the parent (a task has one role, so they share a union), and 8 bytes of
 * status, resume point, state and flags (plus where it is parked, with
 * CO_DEBUG). A struct member added carelessly shows up here. */
START_TEST(task_is_three_words)
{
  size_t debug = CO_DEBUG ? 2 * sizeof(void *) : 0;
  ck_assert_uint_eq(sizeof(co_task_t), 2 * sizeof(void *) + 8 + debug);
}
END_TEST

/* A struct used as a child, then given to co_task_init, is a top-level task
 * again: its hook runs (the union holds the hook, not the old parent). */
START_TEST(former_child_is_top_level_after_init)
{
  root_t r = {0};
  co_task_init(&r.task, root_step, root_done);
  ck_assert_int_eq(co_resume(&r.task), CO_WAITING);
  ck_assert_ptr_eq(co_parent(&r.mid.task), &r.task);
  co_task_init(&r.mid.task, quick_child_step, NULL);
  ck_assert_ptr_null(co_parent(&r.mid.task));
  ck_assert_int_eq(co_resume(&r.mid.task), CO_DONE);
  ck_assert_int_eq(co_status(&r.mid.task), CO_EINVAL);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("co_await");
  TCase *tc;

  tc = tcase_create("sync_await_continues_inline");
  tcase_add_test(tc, sync_await_continues_inline);
  suite_add_tcase(s, tc);

  tc = tcase_create("pending_await_resumes_in_place");
  tcase_add_test(tc, pending_await_returns_and_resumes_after_it);
  suite_add_tcase(s, tc);

  tc = tcase_create("two_awaits_on_one_line");
  tcase_add_test(tc, two_awaits_on_one_line_get_distinct_points);
  suite_add_tcase(s, tc);

  tc = tcase_create("child_status_reaches_parent");
  tcase_add_test(tc, child_status_reaches_parent);
  tcase_add_test(tc, child_that_finishes_at_once_continues_inline);
  suite_add_tcase(s, tc);

  tc = tcase_create("task_is_three_words");
  tcase_add_test(tc, task_is_three_words);
  tcase_add_test(tc, former_child_is_top_level_after_init);
  suite_add_tcase(s, tc);

  tc = tcase_create("nested_children_three_deep");
  tcase_add_test(tc, nested_children_three_deep);
  suite_add_tcase(s, tc);
  return s;
}

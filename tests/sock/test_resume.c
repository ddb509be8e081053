/*
 * tests/sock/test_resume.c - synchronous completions (the fast path) and
 * pending ones both resume the task at the right place.
 *
 * A start function either finishes now (the task carries on inline after its
 * CO_AWAIT, no completion comes) or reports CO_PENDING (a pool thread wakes
 * the task later). The tests record what each start returned and check that
 * every await is followed by exactly the code after it, once, with the
 * result of its own operation, whichever way it went.
 */
#include "sock_test.h"

enum { STEPS = 5 };

typedef struct tracer {
  test_task_t   tt;
  sock_t       *sock;
  sock_reader_t reader;
  sock_op_t     op;
  char          storage[64];
  char          buf[16];
  int           rc[STEPS];        /* how each await went: CO_PENDING or CO_OK */
  int           entries;          /* times the step function was entered */
  int           mark;             /* `entries` when the current await began */
  int           error[STEPS];
  char          got[STEPS][16];
  int           passed;           /* awaits passed, in order */
  int           out_of_order;     /* an await resumed with the wrong count */
} tracer_t;

static tracer_t tracer;

/* After await k: it must be the k-th to come back. It pended if the step
 * function was entered again since the await began (a completion woke the
 * task); it finished at once if we are still in the same entry. The task
 * cannot just record what the start returned: after CO_PENDING it must not
 * touch its struct, the completion may already be running it. */
static void passed(tracer_t *tr, int k)
{
  if (tr->passed != k)
    tr->out_of_order++;
  tr->passed++;
  tr->error[k] = tr->op.error;
  tr->rc[k] = tr->entries != tr->mark ? CO_PENDING : CO_OK;
}

static void copy_line(tracer_t *tr, int k)
{
  size_t len = 0;
  const char *line = sock_reader_line(&tr->reader, &len);
  if (tr->op.error == CO_OK && len < sizeof tr->got[k])
    memcpy(tr->got[k], line, len + 1);
}

static co_state_t tracer_step(co_task_t *t)
{
  tracer_t *tr = (tracer_t *)t;
  tr->entries++;
  CO_BEGIN(t);
  sock_reader_init(&tr->reader, tr->sock, tr->storage, sizeof tr->storage);

  /* 0: "hello\nworld\n" is already in the socket: the receive may finish
   * at once (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) or pend. */
  tr->mark = tr->entries;
  CO_AWAIT(t, sock_read_line_start(&tr->op, &tr->reader, t));
  passed(tr, 0);
  copy_line(tr, 0);

  /* 1: "world" is already in the reader's buffer: finishes at once. */
  tr->mark = tr->entries;
  CO_AWAIT(t, sock_read_line_start(&tr->op, &tr->reader, t));
  passed(tr, 1);
  copy_line(tr, 1);

  /* 2: nothing has arrived yet: pends until the peer sends "late". */
  tr->mark = tr->entries;
  CO_AWAIT(t, sock_recv_start(&tr->op, tr->sock, tr->buf, sizeof tr->buf - 1, t));
  passed(tr, 2);
  if (tr->op.error == CO_OK)
    memcpy(tr->got[2], tr->buf, tr->op.bytes);

  /* 3: a small send into an empty window: usually finishes at once. */
  tr->mark = tr->entries;
  CO_AWAIT(t, sock_send_all_start(&tr->op, tr->sock, "ok", 2, t));
  passed(tr, 3);

  /* 4: the peer's half-close: end of stream, pending. */
  tr->mark = tr->entries;
  CO_AWAIT(t, sock_recv_start(&tr->op, tr->sock, tr->buf, sizeof tr->buf, t));
  passed(tr, 4);
  CO_END(t);
}

/* Five awaits in a row, some finishing at once and some pending: each
 * resumes exactly once, in order, with its own result. A line already in the
 * reader's buffer never pends; a receive with nothing to read always does. */
START_TEST(sync_and_pending_completions_resume_in_place)
{
  sock_runtime_t *rt = test_runtime_start();
  SOCKET raw;
  char back[2];

  memset(&tracer, 0, sizeof tracer);
  tracer.sock = test_pair(rt, &raw);
  test_raw_send(raw, "hello\nworld\n", 12);
  Sleep(50);  /* let it land in the socket's receive buffer */

  test_spawn(rt, &tracer.tt, tracer_step);
  test_wait_counters(rt, 1, 1, 1, 5000);  /* parked at await 2 */
  ck_assert_int_eq(tracer.passed, 2);
  test_raw_send(raw, "late", 4);
  test_raw_recv(raw, back, 2);
  ck_assert_msg(memcmp(back, "ok", 2) == 0, "peer got other bytes");
  /* Half-close only once the task is parked in await 4, so that its end of
   * stream arrives through a completion. */
  {
    DWORD start = GetTickCount();
    while (*(volatile int *)&tracer.passed < 4 && GetTickCount() - start < 5000)
      Sleep(5);
  }
  test_wait_counters(rt, 1, 1, 1, 5000);
  Sleep(20);
  ck_assert_int_eq(shutdown(raw, SD_SEND), 0);
  test_wait(&tracer.tt, TEST_WAIT_MS);

  printf("awaits finished: %s %s %s %s %s\n", co_errname(tracer.rc[0]),
         co_errname(tracer.rc[1]), co_errname(tracer.rc[2]),
         co_errname(tracer.rc[3]), co_errname(tracer.rc[4]));
  ck_assert_int_eq(tracer.passed, STEPS);
  ck_assert_int_eq(tracer.out_of_order, 0);
  ck_assert_int_eq(tracer.error[0], CO_OK);
  ck_assert_str_eq(tracer.got[0], "hello");
  ck_assert_int_eq(tracer.error[1], CO_OK);
  ck_assert_str_eq(tracer.got[1], "world");
  ck_assert_int_ne(tracer.rc[1], CO_PENDING);
  ck_assert_int_eq(tracer.error[2], CO_OK);
  ck_assert_str_eq(tracer.got[2], "late");
  ck_assert_int_eq(tracer.rc[2], CO_PENDING);
  ck_assert_int_eq(tracer.error[3], CO_OK);
  ck_assert_int_eq(tracer.error[4], CO_EOF);
  ck_assert_int_eq(tracer.rc[4], CO_PENDING);

  closesocket(raw);
  sock_close(tracer.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&tracer.tt);
}
END_TEST

/* ---- Many awaits on the fast path ------------------------------------------ */

enum { LINES = 3000 };

typedef struct counter {
  test_task_t   tt;
  sock_t       *sock;
  sock_reader_t reader;
  sock_op_t     op;
  char          storage[256];
  int           n;            /* lines read */
  int           sync;         /* starts that finished at once */
  int           pending;      /* starts that pended */
  int           entries;      /* times the step function was entered */
  int           mark;         /* `entries` when the current await began */
  int           bad;          /* lines that were not "line <n>" */
  int           error;        /* what ended it: CO_EOF expected */
} counter_t;

static counter_t counter;


static co_state_t counter_step(co_task_t *t)
{
  counter_t *c = (counter_t *)t;
  c->entries++;
  CO_BEGIN(t);
  sock_reader_init(&c->reader, c->sock, c->storage, sizeof c->storage);
  for (;;) {
    c->mark = c->entries;
    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if (c->entries != c->mark)  /* woken by a completion: see passed() */
      c->pending++;
    else
      c->sync++;
    if (c->op.error < 0)
      break;
    {
      char expect[32];
      size_t len = 0;
      const char *line = sock_reader_line(&c->reader, &len);
      snprintf(expect, sizeof expect, "line %d", c->n);
      if (len != strlen(expect) || strcmp(line, expect) != 0)
        c->bad++;
    }
    c->n++;
  }
  c->error = c->op.error;
  CO_END(t);
}

/* 3,000 lines sent in one go and read through a 256-byte reader: most reads
 * finish at once from the buffer, some wait for the socket; the task runs
 * thousands of inline continuations without growing the stack or losing its
 * place, and sees every line in order, then end of stream. */
START_TEST(thousands_of_fast_path_awaits_in_a_row)
{
  sock_runtime_t *rt = test_runtime_start();
  static char text[LINES * 12];
  size_t used = 0;
  SOCKET raw;
  int i;

  memset(&counter, 0, sizeof counter);
  counter.sock = test_pair(rt, &raw);
  for (i = 0; i < LINES; i++)
    used += (size_t)snprintf(text + used, sizeof text - used, "line %d\n", i);
  test_spawn(rt, &counter.tt, counter_step);
  test_raw_send(raw, text, (int)used);
  ck_assert_int_eq(shutdown(raw, SD_SEND), 0);
  test_wait(&counter.tt, TEST_WAIT_MS);

  printf("%d lines: %d reads finished at once, %d pended\n", counter.n,
         counter.sync, counter.pending);
  ck_assert_msg(counter.error == CO_EOF, "ended with %s", co_errname(counter.error));
  ck_assert_int_eq(counter.n, LINES);
  ck_assert_int_eq(counter.bad, 0);
  ck_assert_int_gt(counter.sync, counter.pending);
  ck_assert_int_ge(counter.pending, 1);

  closesocket(raw);
  sock_close(counter.sock);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  test_task_free_event(&counter.tt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_resume");
  TCase *tc;

  tc = tcase_create("sync_and_pending_completions_resume_in_place");
  tcase_add_test(tc, sync_and_pending_completions_resume_in_place);
  suite_add_tcase(s, tc);

  tc = tcase_create("thousands_of_fast_path_awaits_in_a_row");
  tcase_add_test(tc, thousands_of_fast_path_awaits_in_a_row);
  suite_add_tcase(s, tc);
  return s;
}

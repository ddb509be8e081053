/*
 * hello_task.c - the gentlest introduction: tasks without sockets.
 *
 * What it teaches: what a cosock task *is*, with co/co.h alone.
 *   - A task is a struct whose first member is a co_task_t, plus a step
 *     function. Whatever must survive a pause lives in the struct (rule 2 of
 *     co/co.h): a local variable is gone after every CO_YIELD.
 *   - CO_YIELD gives the turn back to whoever drives the task; CO_WAIT_UNTIL
 *     pauses until a condition holds; CO_CALL runs a child task to the end,
 *     as if it were a function call that may pause; CO_EXIT ends a task with
 *     a status the caller reads with co_status().
 *   - The driver is ordinary code: here a round-robin loop in main that calls
 *     co_resume() on each task until all are done. No threads, no sockets.
 *     (In sock/ the driver is the thread pool: a completed operation resumes
 *     the task that awaited it.)
 *
 * The story: a producer counts to five, handing each number to a consumer
 * through a one-slot mailbox. The consumer waits until the mailbox is full,
 * then calls a child task that counts up to it, one word per turn.
 *
 * Run it:  cmake --build --preset mingw --target hello_task
 *          cmake/wine-run.sh build/mingw/examples/hello_task.exe
 * On Windows:  build\msvc\examples\Debug\hello_task.exe
 * Its last line is "hello_task: done" (ctest checks it).
 */
#include <co/co.h>

#include <stdio.h>

enum { COUNT = 5 };

/* The mailbox the two tasks share. Only one thread runs both tasks here, so
 * no lock is needed (with sock/, tasks run on pool threads: see sock.h). */
static struct {
  int full;   /* 1 while it holds a number the consumer has not taken */
  int value;
} mailbox;

/* ---- A child task: counts to a number, one word per turn ----------------- */

typedef struct speller {
  co_task_t task;  /* first: the framework's part */
  int       value; /* input, set by the parent before CO_CALL */
  int       i;     /* loop counter: survives the yields because it is here */
} speller_t;

static co_state_t speller_step(co_task_t *t)
{
  speller_t *s = (speller_t *)t;
  static const char *const words[] = {"one", "two", "three", "four", "five"};
  CO_BEGIN(t);
  for (s->i = 0; s->i < s->value; s->i++) {
    printf("  speller: counting to %d: %s\n", s->value, words[s->i]);
    CO_YIELD(t);   /* pauses the parent too: it waits for us */
  }
  if (s->value == COUNT)
    CO_EXIT(t, CO_ECLOSED);  /* a status for the parent: "that was the last" */
  CO_END(t);
}

/* ---- The producer: puts 1..COUNT in the mailbox -------------------------- */

typedef struct producer {
  co_task_t task;
  int       n;
} producer_t;

static co_state_t producer_step(co_task_t *t)
{
  producer_t *p = (producer_t *)t;
  CO_BEGIN(t);
  for (p->n = 1; p->n <= COUNT; p->n++) {
    CO_WAIT_UNTIL(t, !mailbox.full);  /* until the consumer took the last one */
    mailbox.value = p->n;
    mailbox.full = 1;
    printf("producer: put %d\n", p->n);
    CO_YIELD(t);                      /* let the others run */
  }
  CO_END(t);
}

/* ---- The consumer: takes each number and calls the speller ---------------- */

typedef struct consumer {
  co_task_t task;
  speller_t speller;  /* the child lives in the parent's struct */
  int       taken;
} consumer_t;

static co_state_t consumer_step(co_task_t *t)
{
  consumer_t *c = (consumer_t *)t;
  CO_BEGIN(t);
  for (;;) {
    CO_WAIT_UNTIL(t, mailbox.full);   /* resumed each turn; passes once full */
    c->speller.value = mailbox.value;
    mailbox.full = 0;
    c->taken++;
    printf("consumer: took %d\n", c->speller.value);
    CO_CALL(t, &c->speller.task, speller_step);
    if (co_status(&c->speller.task) == CO_ECLOSED)
      break;                          /* the child said it was the last */
  }
  CO_END(t);
}

/* ---- The driver: round robin until every task is done --------------------- */

int main(void)
{
  static producer_t producer;  /* static: zeroed, and outlives every step */
  static consumer_t consumer;
  co_task_t *tasks[2];
  int live = 2, turns = 0, i;

  co_task_init(&producer.task, producer_step, NULL);
  co_task_init(&consumer.task, consumer_step, NULL);
  tasks[0] = &producer.task;
  tasks[1] = &consumer.task;

  while (live > 0) {
    turns++;
    for (i = 0; i < 2; i++) {
      if (tasks[i] != NULL && co_resume(tasks[i]) == CO_DONE) {
        tasks[i] = NULL;  /* finished: drive it no more */
        live--;
      }
    }
    if (turns > 1000) {
      fprintf(stderr, "hello_task: still running after 1000 turns\n");
      return 1;
    }
  }
  printf("%d turns of the loop, %d numbers passed, statuses %s and %s\n", turns,
         consumer.taken, co_errname(co_status(&producer.task)),
         co_errname(co_status(&consumer.task)));
  if (consumer.taken != COUNT || co_status(&consumer.task) != CO_OK)
    return 1;
  printf("hello_task: done\n");
  return 0;
}

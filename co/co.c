/*
 * co/co.c - running tasks: resume, wake, child calls, misuse reports, errors.
 *
 * Everything here is small on purpose: the macros in co/co.h do the jumping;
 * this file only decides *whether* a task may be stepped, steps the top-level
 * task of a CO_CALL chain, and runs the completion hook exactly once.
 */
#include "co.h"

#include <stdio.h>
#include <stdlib.h>

/* The layout this library was built with (see "One layout" in co/co.h): a
 * program compiled with the other CO_DEBUG references the other name and
 * does not link. */
const char CO__LAYOUT = CO_DEBUG;

/* ---- Misuse reports ------------------------------------------------------ */

static void co__default_misuse(const char *message, const co_task_t *task)
{
  (void)task;
  fprintf(stderr, "%s\n", message);
  fflush(stderr);
  abort();
}

static co_misuse_fn co__misuse_handler = co__default_misuse;

co_misuse_fn co_set_misuse_handler(co_misuse_fn handler)
{
  co_misuse_fn previous = co__misuse_handler;
  co__misuse_handler = handler != NULL ? handler : co__default_misuse;
  return previous;
}

static const char *co__state_name(int state)
{
  switch (state) {
  case CO_READY:   return "ready";
  case CO_RUNNING: return "running";
  case CO_YIELDED: return "yielded";
  case CO_WAITING: return "waiting";
  case CO_DONE:    return "done";
  default:         return "corrupt";
  }
}

char *co_describe(const co_task_t *task, char *buf, unsigned size)
{
#if CO_DEBUG
  if (task->file != NULL)
    snprintf(buf, size, "%s, parked at %s:%d", co__state_name(task->state),
             task->file, task->line);
  else
    snprintf(buf, size, "%s, not parked yet", co__state_name(task->state));
#else
  snprintf(buf, size, "%s, resume point %u (build with CO_DEBUG for file:line)",
           co__state_name(task->state), (unsigned)task->resume);
#endif
  return buf;
}

/* Formats "co: <what> (task 0x..., <describe>)" and hands it to the handler. */
static void co__misuse(const char *what, const co_task_t *task)
{
  char where[256];
  char message[512];
  snprintf(message, sizeof message, "co: %s (task %p: %s)", what,
           (const void *)task, co_describe(task, where, sizeof where));
  co__misuse_handler(message, task);
}

/* ---- Stepping ------------------------------------------------------------ */

void co_task_init(co_task_t *task, co_step_fn step, co_done_fn on_done)
{
  task->step = step;
  task->up.on_done = on_done;
  task->status = CO_OK;
  task->resume = 0;
  task->state = CO_READY;
  task->flags = 0;
#if CO_DEBUG
  task->file = NULL;
  task->line = 0;
#endif
}

/* A child under CO_CALL is stepped through its top-level task. */
static co_task_t *co__top(co_task_t *task)
{
  while (task->flags & CO__CHILD)
    task = task->up.parent;
  return task;
}

/* Steps the top-level task; after it finishes, runs the hook exactly once.
 * Nothing reads the task after a step that returned CO_WAITING: its
 * completion may already be running it on another thread. */
static co_state_t co__step(co_task_t *top)
{
  co_state_t state = top->step(top);
  if (state == CO_DONE && top->up.on_done != NULL)
    top->up.on_done(top);  /* the owner may free the task here */
  return state;
}

co_state_t (co_resume)(co_task_t *task)
{
  co_task_t *top = co__top(task);
  switch (top->state) {
  case CO_READY:
  case CO_YIELDED:
    return co__step(top);
  case CO_WAITING:
    co__misuse("co_resume: the task has an await outstanding; only its "
               "completion may resume it (through co_wake)", top);
    break;
  case CO_RUNNING:
    co__misuse("co_resume: the task is already running (resumed from its own "
               "step, or from two threads at once)", top);
    break;
  case CO_DONE:
    co__misuse("co_resume: the task has finished; a finished task cannot be "
               "resumed", top);
    break;
  default:
    co__misuse("co_resume: the task's state is corrupt (not initialised with "
               "co_task_init, or already freed?)", top);
    break;
  }
  return (co_state_t)top->state;
}

co_state_t (co_wake)(co_task_t *task)
{
  if (task->state != CO_WAITING) {
    co__misuse("co_wake: the task is not waiting for an operation (a second "
               "completion for one await, or a wake without an await?)", task);
    return (co_state_t)task->state;
  }
  return co__step(co__top(task));
}

/* ---- CO_CALL ------------------------------------------------------------- */

void co__call_init(co_task_t *parent, co_task_t *child, co_step_fn step)
{
  co_task_init(child, step, NULL);
  child->up.parent = parent;
  child->flags = CO__CHILD;
}

/* Steps the child once. The parent is marked waiting *before*: if the child
 * starts an operation that completes on another thread at once, the wake
 * must find the whole chain parked. Only a yield (nothing pending) or the
 * end lets us write to the parent afterwards. */
co_state_t co__call_step(co_task_t *parent, co_task_t *child)
{
  co_state_t state;
  parent->state = CO_WAITING;
  state = child->step(child);
  if (state == CO_YIELDED)
    parent->state = CO_YIELDED;
  else if (state == CO_DONE)
    parent->state = CO_RUNNING;
  return state;
}

/* The `default:` of CO_BEGIN's switch: the saved point has no label there. */
co_state_t co__lost(co_task_t *task)
{
  co__misuse("resume point unreachable: an await or yield inside a switch "
             "statement of your own (see \"The switch rule\" in co/co.h); the "
             "task ends with CO_ELOST", task);
  return co__finish(task, CO_ELOST);
}

/* ---- Errors -------------------------------------------------------------- */

const char *co_strerror(int status)
{
  switch (status) {
  case CO_OK:      return "success";
  case CO_PENDING: return "pending";
#define CO__ERROR_TEXT(name, value, text) case name: return text;
  CO_ERROR_TABLE(CO__ERROR_TEXT)
#undef CO__ERROR_TEXT
  default:         return "unknown error code";
  }
}

const char *co_errname(int status)
{
  switch (status) {
  case CO_OK:      return "CO_OK";
  case CO_PENDING: return "CO_PENDING";
#define CO__ERROR_NAME(name, value, text) case name: return #name;
  CO_ERROR_TABLE(CO__ERROR_NAME)
#undef CO__ERROR_NAME
  default:         return "CO_E?";
  }
}

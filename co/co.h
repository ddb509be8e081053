/*
 * co/co.h - stackless tasks for C: the portable heart of cosock.
 *
 * A task is a function that can stop in the middle and carry on later, such
 * as a network handler that waits for data without holding a thread. cosock
 * writes it as plain top-to-bottom C with a few macros:
 *
 *     typedef struct {
 *         co_task_t task;      // first member: the framework's 24 bytes
 *         int       i;         // state that must survive a wait
 *     } counter_t;
 *
 *     static co_state_t counter_step(co_task_t *t)
 *     {
 *         counter_t *c = (counter_t *)t;
 *         CO_BEGIN(t);
 *         for (c->i = 0; c->i < 3; c->i++) {
 *             printf("tick %d\n", c->i);
 *             CO_YIELD(t);
 *         }
 *         CO_END(t);
 *     }
 *
 *     counter_t c;
 *     co_task_init(&c.task, counter_step, NULL);
 *     while (co_resume(&c.task) != CO_DONE) {}      // tick 0, tick 1, tick 2
 *
 * **Rule 1: local variables do not survive a wait.** Every CO_YIELD, CO_WAIT_*,
 * CO_AWAIT and CO_CALL returns from the step function; the next step enters it
 * again from the top and jumps to where it stopped. A local's value is gone.
 *
 * **Rule 2: state lives in the struct.** Whatever must outlive a wait (loop
 * counters, buffers, the socket) is a member of your struct, whose first
 * member is the co_task_t. The struct belongs to you: you allocate it, and you
 * free it in the completion hook or after co_resume() returns CO_DONE.
 *
 * **Rule 3: no wait inside a `switch` of your own.** See "The switch rule".
 *
 * From C++ (C++17 and C++20; the headers have extern "C") the one difference
 * is Rule 1 caught by the compiler: a local *with an initialiser* declared
 * between two waits does not compile, because the later wait's label would
 * jump past its initialisation (g++: "jump to case label ... crosses
 * initialization of 'int n'"; clang: "cannot jump from switch statement to
 * this case label ... jump bypasses variable initialization"):
 *
 *     CO_YIELD(t);
 *     int n = h->len * 2;              // C++: error at the next wait
 *     use(n);
 *     CO_YIELD(t);
 *
 *     h->n = h->len * 2;               // fix 1: it lives in the struct (Rule 2)
 *     { int n = h->len * 2; use(n); }  // fix 2: braces that span no wait
 *
 * This is what Lua calls a continuation and protothreads a local
 * continuation: the step function *continues the task* of the original
 * function, it is not a thread. The price is Rule 1; the gain is a task that
 * costs sizeof(co_task_t) = 24 bytes on 64-bit targets (40 in a debug build,
 * which records the file and line where the task is parked, see CO_DEBUG),
 * and, in a release build, a resume of 18 instructions where a hand-written
 * switch state machine takes 14 (1.42 ns against 1.19 ns;
 * tests/bench/co_resume_bench.c, run of 2026-11-30 10:13Z).
 *
 * What the macros become
 * ----------------------
 * The counter above is, after the preprocessor, this plain switch (resume
 * point numbers come from __COUNTER__; 7 here):
 *
 *     counter_t *c = (counter_t *)t;
 *     t->state = CO_RUNNING;
 *     switch (t->resume) {
 *     default: return co__lost(t);          // unreachable point: report it
 *     case 0:;
 *         for (c->i = 0; c->i < 3; c->i++) {
 *             printf("tick %d\n", c->i);
 *             t->resume = 7, t->state = CO_YIELDED;   // save where we are
 *             return CO_YIELDED;                      // leave the function
 *             if (0) { case 7:; }                     // ...and come back here
 *         }
 *     }
 *     return co__finish(t, CO_OK);
 *
 * The await protocol
 * ------------------
 * CO_AWAIT(t, start(...)) is how a task waits for an operation (a socket
 * receive, a timer, a message). It saves the resume point, then calls the
 * start function, which reports one of two outcomes:
 *   - CO_PENDING: the operation will complete later. The step function returns
 *     at once and must not touch the task again: the completion may already be
 *     running it on another thread. The completion stores its result where the
 *     task can read it, then calls co_wake(task).
 *   - anything else (CO_OK or a negative error): the operation finished now,
 *     its result is already stored, no completion will come, and the task
 *     carries on inline after the CO_AWAIT.
 * One await outstanding per task: a task never runs on two threads at once.
 * Full duplex is two tasks (a reader and a writer).
 *
 * Threads
 * -------
 * co/ owns no threads and takes no locks. A task runs on whichever thread
 * calls co_resume() or co_wake() for it. Two tasks may run in parallel on two
 * threads; state they share needs synchronisation of its own.
 */
#ifndef CO_CO_H
#define CO_CO_H

#include "co_error.h"
#include "lc.h"

#include <stddef.h>  /* NULL */

#ifdef __cplusplus
extern "C" {
#endif

/* CO_DEBUG (default: on unless NDEBUG) records the file and line where each
 * task is parked, for misuse messages and for listing live tasks. It changes
 * the size of co_task_t, so a program must be compiled with the library's
 * value: CMake users get it from the cosock::co target, and a mismatch does
 * not link (see "One layout" below). */
#ifndef CO_DEBUG
#  ifdef NDEBUG
#    define CO_DEBUG 0
#  else
#    define CO_DEBUG 1
#  endif
#endif

/* ---- The task ----------------------------------------------------------- */

/* Where a task stands between steps; also what a step function returns. */
typedef enum co_state {
  CO_READY   = 0,  /* initialised, not started: co_resume() runs it */
  CO_RUNNING = 1,  /* inside its step function right now */
  CO_YIELDED = 2,  /* parked at CO_YIELD/CO_WAIT_*: its driver calls co_resume() */
  CO_WAITING = 3,  /* parked at CO_AWAIT: only the completion calls co_wake() */
  CO_DONE    = 4   /* finished: co_status() holds its result */
} co_state_t;

typedef struct co_task co_task_t;
typedef co_state_t (*co_step_fn)(co_task_t *task);  /* the task's body */
typedef void (*co_done_fn)(co_task_t *task);        /* runs once when it ends */

struct co_task {
  co_step_fn  step;     /* the step function, re-entered on every resume */
  union {               /* a task is either top-level or a child, never both */
    co_done_fn on_done; /* top-level: its completion hook, or NULL */
    co_task_t *parent;  /* child (flags & CO__CHILD): the task that CO_CALLs it */
  } up;
  int         status;   /* result once CO_DONE: CO_OK or a negative error */
  co_lc_t     resume;   /* where to continue: the saved resume point */
  unsigned char state;  /* a co_state_t, kept in one byte */
  unsigned char flags;  /* CO__CHILD; the rest is 0 */
#if CO_DEBUG
  const char *file;     /* where the task is parked (debug builds) */
  int         line;
#endif
};
/* 24 bytes on 64-bit targets (the union saves the pointer a task would
 * otherwise carry for the role it does not have); 40 with CO_DEBUG. */

#define CO__CHILD 0x01  /* flags: up.parent is set, up.on_done is not */

/* ---- One layout for the library and its callers ------------------------- */

/* The library writes the co_task_t of the CO_DEBUG it was built with. A
 * program compiled with the other value (by hand with -DNDEBUG against a
 * debug library, say) has smaller or larger tasks, which the library would
 * overrun. So that cannot link: every file that includes this header makes
 * the linker look for the symbol named after its own layout, and co/co.c
 * defines only the library's. A linker error such as
 *
 *     undefined reference to `co_layout_release_CO_DEBUG_0'   (GNU ld)
 *     undefined symbol: co_layout_release_CO_DEBUG_0          (lld-link)
 *     unresolved external symbol co_layout_release_CO_DEBUG_0 (link.exe)
 *
 * says: this program was compiled with CO_DEBUG=0, the library with 1 (and
 * co_layout_debug_CO_DEBUG_1 the other way round). Compile the program with
 * the library's CO_DEBUG (-DCO_DEBUG=1 or 0). */
#if CO_DEBUG
#  define CO__LAYOUT co_layout_debug_CO_DEBUG_1
#else
#  define CO__LAYOUT co_layout_release_CO_DEBUG_0
#endif
extern const char CO__LAYOUT;  /* defined in co/co.c, for its own layout only */

#if defined(_MSC_VER)
/* cl and clang-cl: a linker directive in every object that includes this. */
#  if CO_DEBUG && defined(_M_IX86)
#    pragma comment(linker, "/include:_co_layout_debug_CO_DEBUG_1")
#  elif CO_DEBUG
#    pragma comment(linker, "/include:co_layout_debug_CO_DEBUG_1")
#  elif defined(_M_IX86)
#    pragma comment(linker, "/include:_co_layout_release_CO_DEBUG_0")
#  else
#    pragma comment(linker, "/include:co_layout_release_CO_DEBUG_0")
#  endif
#elif defined(__GNUC__)
/* gcc and clang: one pointer per object file that includes this, kept by
 * `used` even when nothing reads it, whose relocation needs the symbol. */
static const char *const co__layout_ref __attribute__((used)) = &CO__LAYOUT;
#endif

/* The task that runs `task` through CO_CALL, or NULL for a top-level task. */
static inline co_task_t *co_parent(const co_task_t *task)
{
  return (task->flags & CO__CHILD) ? task->up.parent : NULL;
}

/* Prepares a task to run `step` from the top. `on_done` (may be NULL) is
 * called exactly once, on the thread that ran the last step, after the task
 * finishes; the owner may free the task inside it. */
void co_task_init(co_task_t *task, co_step_fn step, co_done_fn on_done);

/* The result of a finished task: CO_OK, or the value given to CO_EXIT. */
static inline int co_status(const co_task_t *task) { return task->status; }

/* Whether the task has finished. */
static inline int co_done(const co_task_t *task) { return task->state == CO_DONE; }

/* ---- Running a task ----------------------------------------------------- */

/* Steps a task that is CO_READY or CO_YIELDED: runs it until its next wait or
 * its end, and returns the state it stopped in. When it finishes, the
 * completion hook runs (exactly once) before co_resume() returns CO_DONE; if
 * the hook frees the task, do not touch it afterwards.
 *
 * Given a child running under CO_CALL, the top-level task is stepped.
 * Misuse is reported through the misuse handler (see below) and nothing is
 * stepped: resuming a finished task, a task that is running, or a task parked
 * at an await whose completion has not come. */
co_state_t co_resume(co_task_t *task);

/* The completion side of the await protocol: the operation `task` awaits has
 * finished and its result is stored, so step the task again (on this thread).
 * Called by start functions' completion callbacks, not by drivers.
 * Returns like co_resume(); waking a task that is not CO_WAITING (a second
 * completion for one await) is reported as misuse. */
co_state_t co_wake(co_task_t *task);

/* Release builds (CO_DEBUG 0) take the common case inline: a top-level task
 * that is yielded (co_resume) or waiting (co_wake) is stepped right here,
 * with no call into the library; anything else (a child under
 * CO_CALL, every misuse) goes to the functions above, which check all.
 * That brings a resume to 18 instructions against a bare switch step's 14
 * (tests/bench/co_resume_bench.c, Release, run of 2026-11-30), from 33. The
 * macros keep the functions' names and results; (co_resume)(t) calls the
 * function itself, and &co_resume is the function. */
#if !CO_DEBUG
static inline co_state_t co__step_inline(co_task_t *task)
{
  co_state_t state = task->step(task);
  if (state == CO_DONE && task->up.on_done != NULL)
    task->up.on_done(task);  /* the owner may free the task here */
  return state;
}

static inline co_state_t co__resume_inline(co_task_t *task)
{
  /* Yielded, no flags: the two adjacent bytes compare as one. A task's first
   * resume (CO_READY) takes the function, once. */
  if (task->state != CO_YIELDED || task->flags != 0)
    return (co_resume)(task);
  return co__step_inline(task);
}

static inline co_state_t co__wake_inline(co_task_t *task)
{
  if (task->state != CO_WAITING || task->flags != 0)
    return (co_wake)(task);
  return co__step_inline(task);
}

#  define co_resume(task) co__resume_inline(task)
#  define co_wake(task)   co__wake_inline(task)
#endif

/* Writes "parked at file:line (waiting)" or similar into buf, for logs and
 * for listing live tasks. Returns buf. */
char *co_describe(const co_task_t *task, char *buf, unsigned size);

/* Misuse (a broken rule that would corrupt a task) goes to one handler.
 * The default prints the message to stderr and aborts. A handler that returns
 * lets the offending call return without stepping anything (tests use this).
 * Returns the previous handler; NULL restores the default. Set it before
 * starting threads. */
typedef void (*co_misuse_fn)(const char *message, const co_task_t *task);
co_misuse_fn co_set_misuse_handler(co_misuse_fn handler);

/* ---- Beginning and ending ----------------------------------------------- */

/* CO_BEGIN(t): the first statement of a step function's resumable part.
 * `t` is the step function's co_task_t pointer (a plain variable: the macros
 * evaluate it several times). Code before CO_BEGIN runs on every step. */
#define CO_BEGIN(t)                                                            \
  (t)->state = CO_RUNNING;                                                     \
  CO__LC_RESUME((t)->resume, return co__lost(t))

/* CO_END(t): the last statement of a step function. Reaching it finishes the
 * task with status CO_OK. */
#define CO_END(t)                                                              \
  CO__LC_END                                                                   \
  return co__finish((t), CO_OK)

/* ---- Yielding and waiting ------------------------------------------------ */

/* CO_YIELD(t): stop here; the next co_resume() continues after this line. */
#define CO_YIELD(t) CO__YIELD_AT((t), CO__LC_POINT)

/* CO_WAIT_UNTIL(t, cond): stop here until `cond` is true. `cond` is evaluated
 * now and again on every co_resume(); the task continues as soon as it holds,
 * without stopping if it already does. */
#define CO_WAIT_UNTIL(t, cond) CO__WAIT_UNTIL_AT((t), (cond), CO__LC_POINT)

/* CO_WAIT_WHILE(t, cond): stop here while `cond` is true. */
#define CO_WAIT_WHILE(t, cond) CO_WAIT_UNTIL((t), !(cond))

/* ---- Awaiting an operation ---------------------------------------------- */

/* CO_AWAIT(t, start_expression): start an operation and continue when it is
 * done. The resume point is saved first, then `start_expression` is
 * evaluated. If it yields CO_PENDING, the step function returns CO_WAITING at
 * once (the completion will call co_wake(t)); any other value means the
 * operation finished now and the task continues right away. Read the result
 * from wherever the operation stored it (for sockets, the operation record),
 * not from the expression: on the pending path it is never seen again.
 *
 *     CO_AWAIT(t, sock_recv_start(&h->op, h->sock, h->buf, sizeof h->buf, t));
 *     if (h->op.error < 0) ... */
#define CO_AWAIT(t, start_expression)                                          \
  CO__AWAIT_AT((t), (start_expression), CO__LC_POINT)

/* ---- Hierarchical tasks ----------------------------------------------------*/

/* CO_CALL(t, child, child_step): run a child task to completion, as if it
 * were a function call that may wait. `child` points to a co_task_t that is
 * the first member of the child's own struct (usually a member of the
 * parent's struct: set its inputs before the call); `child_step` is its step
 * function. CO_CALL initialises the child, steps it, and waits for it: the
 * child's yields and awaits park the parent too, and the completion of a
 * child's await (co_wake on the child) steps the top-level task, which steps
 * down through its CO_CALLs to the child. When the child ends, its status is
 * co_status(child):
 *
 *     CO_CALL(t, &h->reader.task, read_header_step);
 *     if (co_status(&h->reader.task) < 0) ...
 *
 * A child's completion hook is not called: the parent consumes its result. */
#define CO_CALL(t, child, child_step)                                          \
  CO__CALL_AT((t), (child), (child_step), CO__LC_POINT)

/* ---- Exiting and restarting --------------------------------------------- */

/* CO_EXIT(t, status): finish the task now with `status` (CO_OK or a negative
 * error). Returns from the step function. */
#define CO_EXIT(t, status) return co__finish((t), (status))

/* CO_RESTART(t): stop, and start again from CO_BEGIN on the next
 * co_resume(). State in the struct is kept: reset what needs resetting. */
#define CO_RESTART(t)                                                          \
  do {                                                                         \
    CO__LC_SET((t)->resume, 0);                                                \
    return co__park((t), CO_YIELDED, __FILE__, __LINE__);                      \
  } while (0)

/*
 * The switch rule
 * ---------------
 * A wait (CO_YIELD, CO_WAIT_*, CO_AWAIT, CO_CALL) must not be written inside a
 * `switch` statement of your own. The macros place a `case` label at each
 * wait; inside your switch, that label belongs to your switch, and the task
 * can never jump back to it. C offers no compile-time hook to catch this, so
 * cosock catches it at run time, in every build: the first resume that cannot
 * find its point reports "resume point unreachable" through the misuse
 * handler and ends the task with CO_ELOST (its completion hook still runs).
 *
 * The workaround is to keep the switch and move the wait out of it:
 *
 *     switch (h->kind) {                 // NOT like this
 *     case GET: CO_AWAIT(t, ...); break;
 *     }
 *
 *     if (h->kind == GET) {              // like this
 *         CO_AWAIT(t, ...);
 *     }
 *
 * or let the switch only choose, and wait after it (set a flag, then await).
 */

/* ---- Internals: the macros above expand to these ------------------------ */

#if CO_DEBUG
#  define CO__WHERE(t) ((t)->file = __FILE__, (t)->line = __LINE__)
#else
#  define CO__WHERE(t) ((void)0)
#endif

/* Save resume point n and the state the task will be in while parked. */
#define CO__SAVE(t, n, st)                                                     \
  (CO__LC_SET((t)->resume, n), (t)->state = (unsigned char)(st), CO__WHERE(t))

#define CO__YIELD_AT(t, n)                                                     \
  do {                                                                         \
    CO__SAVE(t, n, CO_YIELDED);                                                \
    return CO_YIELDED;                                                         \
    CO__LC_LABEL(n)                                                            \
  } while (0)

#define CO__WAIT_UNTIL_AT(t, cond, n)                                          \
  do {                                                                         \
    CO__LC_SET((t)->resume, n);                                                \
    CO__LC_LABEL(n)                                                            \
    if (!(cond))                                                               \
      return co__park((t), CO_YIELDED, __FILE__, __LINE__);                    \
  } while (0)

/* The state is saved *before* the start runs: once it reports CO_PENDING the
 * completion may step the task on another thread before we even return. */
#define CO__AWAIT_AT(t, start, n)                                              \
  do {                                                                         \
    CO__SAVE(t, n, CO_WAITING);                                                \
    if ((start) == CO_PENDING)                                                 \
      return CO_WAITING;                                                       \
    CO__LC_LABEL(n)                                                            \
    (t)->state = CO_RUNNING;                                                   \
  } while (0)

#define CO__CALL_AT(t, child, child_step, n)                                   \
  do {                                                                         \
    co__call_init((t), (child), (child_step));                                 \
    CO__SAVE(t, n, CO_WAITING);                                                \
    CO__LC_LABEL(n)                                                            \
    {                                                                          \
      co_state_t co__child_state = co__call_step((t), (child));                \
      if (co__child_state != CO_DONE)                                          \
        return co__child_state;  /* parked: touch nothing more */              \
    }                                                                          \
  } while (0)

void co__call_init(co_task_t *parent, co_task_t *child, co_step_fn step);
co_state_t co__call_step(co_task_t *parent, co_task_t *child);
co_state_t co__lost(co_task_t *task);

static inline co_state_t co__finish(co_task_t *task, int status)
{
  task->status = status;
  task->state = CO_DONE;
  return CO_DONE;
}

static inline co_state_t co__park(co_task_t *task, co_state_t state,
                                  const char *file, int line)
{
  task->state = (unsigned char)state;
#if CO_DEBUG
  task->file = file;
  task->line = line;
#else
  (void)file;
  (void)line;
#endif
  return state;
}

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* CO_CO_H */

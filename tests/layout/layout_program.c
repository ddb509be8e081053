/*
 * tests/layout/layout_program.c - a program that uses one task, built twice.
 *
 * co_layout_match: compiled like any user of the cosock::co target, with the
 * library's CO_DEBUG. It must link and run (ctest co_layout_guard.matching_build_links).
 *
 * co_layout_mismatch (COSOCK_LAYOUT_MISMATCH): compiled the way a program
 * built by hand against the default library goes wrong: CO_DEBUG left to
 * co/co.h's default, with NDEBUG chosen so that the default is the *other*
 * layout (-DNDEBUG against a debug library, or no -DNDEBUG against a release
 * one). Its co_task_t differs from the library's, so it must not link: the
 * ctest co_layout_guard.mismatch_fails_to_link builds it and expects the
 * linker to name the layout guard symbol (see "One layout" in co/co.h).
 */
#if defined(COSOCK_LAYOUT_MISMATCH)
#  if CO_DEBUG            /* the library's value, from the cosock::co target */
#    ifndef NDEBUG
#      define NDEBUG 1    /* co.h's default becomes CO_DEBUG 0 */
#    endif
#  else
#    undef NDEBUG         /* co.h's default becomes CO_DEBUG 1 */
#  endif
#  undef CO_DEBUG
#endif
#include <co/co.h>

#include <stdio.h>

typedef struct counter {
  co_task_t task;  /* first */
  int       i;
} counter_t;

static co_state_t counter_step(co_task_t *t)
{
  counter_t *c = (counter_t *)t;
  CO_BEGIN(t);
  for (c->i = 0; c->i < 3; c->i++)
    CO_YIELD(t);
  CO_END(t);
}

int main(void)
{
  counter_t c;
  int steps = 0;
  co_task_init(&c.task, counter_step, NULL);
  while (co_resume(&c.task) != CO_DONE)
    steps++;
  if (steps != 3 || co_status(&c.task) != CO_OK) {
    printf("co_layout: FAILED: %d steps, status %d\n", steps, co_status(&c.task));
    return 1;
  }
  printf("co_layout: linked and ran with CO_DEBUG=%d, sizeof(co_task_t) = %u\n",
         CO_DEBUG, (unsigned)sizeof(co_task_t));
  return 0;
}

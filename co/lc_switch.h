/*
 * co/lc_switch.h - local continuations as a switch statement (Duff's device).
 *
 * The whole implementation of the contract in co/lc.h. A task's step function
 * becomes one big switch on its saved position; every wait point is a `case`
 * label in the middle of the function body. C allows a case label anywhere
 * inside the switch's body, even inside loops and if-blocks, so jumping back
 * into the middle of a `for` loop works.
 *
 * The one rule it imposes: a wait must not sit inside a `switch` statement of
 * the user's own. Its `case` label would belong to that inner switch, and the
 * outer one could never jump to it. The `default:` label below catches the
 * jump that finds no label, so the mistake is reported at the first resume
 * instead of silently ending the task (co/co.h documents the workaround).
 *
 * Each label sits inside `if (0) { ... }`: reached only by the jump, never by
 * falling into it, so compilers that warn about implicit fall-through to a
 * case label stay quiet without any compiler-specific attribute.
 */
#ifndef CO_LC_SWITCH_H
#define CO_LC_SWITCH_H

typedef unsigned short co_lc_t;  /* a saved position: 0 = the top */

#define CO__LC_RESUME(lc, lost) switch (lc) { default: lost; case 0:
#define CO__LC_SET(lc, n)       ((lc) = (co_lc_t)(n))
#define CO__LC_LABEL(n)         if (0) { case n:; }
#define CO__LC_END              }

#endif /* CO_LC_SWITCH_H */

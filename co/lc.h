/*
 * co/lc.h - the contract of a "local continuation".
 *
 * A local continuation is the one piece of magic under every cosock task: a
 * small integer that remembers *where* in a function the task stopped, so the
 * next call to that function can jump straight back there. It saves no stack
 * and no registers; only the position. That is why locals do not survive a
 * wait and why a task keeps its state in its own struct (see co/co.h).
 *
 * This header states what the operations mean. co/lc_switch.h implements them
 * with a C switch statement (Duff's device); another implementation could be
 * dropped in without touching co/co.h, which never spells `switch` itself.
 *
 *   co_lc_t                  the type of a saved position; 0 means "the top".
 *   CO__LC_RESUME(lc, lost)  open the resumable region and jump to the
 *                            position saved in lc. If that position cannot be
 *                            reached (its label was captured by a `switch` of
 *                            the user's own, see co/co.h), run `lost` instead.
 *   CO__LC_SET(lc, n)        save position n in lc (an expression).
 *   CO__LC_LABEL(n)          mark position n: RESUME on a saved n continues
 *                            right after this point.
 *   CO__LC_END               close the resumable region.
 *
 * SET and LABEL are separate on purpose: an await saves its position, *then*
 * starts an operation that may complete on another thread at once, *then*
 * returns. The label has to be in place before anyone can resume.
 *
 * Positions are distinct positive integers, one per wait in a function. They
 * come from CO__LC_POINT (below), which uses __COUNTER__: each use yields a new
 * number, and the helper macros in co/co.h expand it once per wait so the
 * saved value and its label are the same number. (__LINE__ would collide for
 * two waits on one line, and MSVC's /ZI turns __LINE__ into a non-constant.)
 */
#ifndef CO_LC_H
#define CO_LC_H

#define CO__LC_POINT (__COUNTER__ + 1)  /* a fresh position; never 0 */

#include "lc_switch.h"

#endif /* CO_LC_H */

/* Planted GNU-only constructs: guard.detects_planted expects exactly 8 hits here.
 * Not compiled; only cmake/check_gnu_constructs.cmake reads it.
 * Mentions in comments do not count: __typeof__ __attribute__ ({ }) case __LINE__ */
#define MAX(a, b) ({ __typeof__(a) _a = (a); _a > (b) ? _a : (b); })   /* 2 hits */
static int unused_fn(void) __attribute__((unused));                   /* 1 */
static const char *s = "strings do not count: __attribute__ ({";
#define LC_SET(s) s = __LINE__; case __LINE__:                         /* 1 */
static void f(void *p) { goto *p; }                                    /* 1 */
#define LIKELY(x) __builtin_expect(!!(x), 1)                           /* 1 */
#define TYPE_OF(x) typeof(x)                                           /* 1 */
__extension__ typedef long long ll_t;                                  /* 1 */

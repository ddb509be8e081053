/* GNU constructs the guard must accept: each one is invisible to MSVC.
 * Not compiled; only cmake/check_gnu_constructs.cmake reads it. */
#if defined(__GNUC__) || defined(__clang__)
#define CO_UNUSED __attribute__((unused))
#define CO_TYPEOF(x) __typeof__(x)
#elif defined(_MSC_VER)
#define CO_UNUSED
#else
#define CO_UNUSED
#endif

#ifdef __GNUC__
#  if __GNUC__ >= 4
#    define CO_LIKELY(x) __builtin_expect(!!(x), 1)
#  endif
#endif

#define CO_NORETURN __attribute__((noreturn)) /* gnu-guarded: example of the marker */

static const char *msg = "__typeof__ in a string";   /* and in a comment: __attribute__ */
/* multi-line comment
   ({ __typeof__(x) })
   case __LINE__: */
#define RESUME_POINT case __COUNTER__:

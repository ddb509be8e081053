/*
 * sock/sock.hpp - C++20 co_await over cosock's operations.
 *
 * The same tasks, operations and runtime as sock/sock.h, written as C++20
 * coroutines instead of step functions. A coroutine that returns
 * cosock::task is a sock_task_t underneath: the runtime counts it, and
 * sock_task_cancel, sock_deadline_set/clear, sock_runtime_cancel_all,
 * sock_runtime_wait_tasks, sock_runtime_dump and the shutdown reach it as
 * they reach a task written with the macros. Every start function of
 * sock/sock.h (and any of your own that follows the await protocol of
 * co/co.h) is awaited through cosock::start:
 *
 *     cosock::task echo(sock_t *s)
 *     {
 *         sock_op_t op{};              // a local: it lives in the frame
 *         char buf[4096];
 *         for (;;) {
 *             if (co_await cosock::start(sock_recv_start, &op, s, buf, sizeof buf) < 0)
 *                 break;               // CO_EOF, CO_ECANCELED, CO_ETIMEDOUT ...
 *             if (co_await cosock::start(sock_send_all_start, &op, s, buf, op.bytes) < 0)
 *                 break;
 *         }
 *         sock_close(s);               // the cleanup idiom: one way out
 *     }
 *     ...
 *     if (cosock::spawn(rt, echo(accepted.sock)) != CO_OK)  // no frame: it never ran
 *         sock_close(accepted.sock);
 *
 * What changes from the macros: the three rules of co/co.h do not apply.
 * Locals survive an await (the coroutine's frame holds them, so no struct of
 * state), and co_await works inside a switch. The frame is allocated when
 * the coroutine is called and freed when it ends.
 * What does not change: one await at a time, the result in the operation
 * record, the thread model, cancellation as an error at the await.
 *
 *   cosock::start(fn, &op, args...)  calls fn(&op, args..., task), where task
 *       is this coroutine's co_task_t * or sock_task_t *, whichever fn takes
 *       last (sockets take a co_task_t *; sleep, events, semaphores, channels
 *       and wait groups a sock_task_t *). The first argument after fn must be
 *       the operation record (sock_op_t *). co_await returns op->error (CO_OK,
 *       CO_EOF or a negative CO_E...); op->bytes and op->win32_error are in
 *       the record as usual.
 *   cosock::this_task()  co_await it for this coroutine's sock_task_t *: for
 *       sock_deadline_set/clear, its runtime (->runtime), or to hand it to
 *       another thread for sock_task_cancel (while the coroutine lives).
 *   cosock::spawn(rt, coroutine(...))  counts it and runs its first step on
 *       the calling thread, up to its first await that has to wait.
 *
 * The await protocol
 * ------------------
 * The step function the runtime calls (cosock_cpp_task_step, below) resumes
 * the coroutine, and returns what co/ expects of a step: CO_WAITING when the
 * coroutine suspended at an await whose operation is pending, CO_DONE when
 * it reached its end. co_await cosock::start(...) is CO_AWAIT: it parks the
 * task (state CO_WAITING, and in debug builds the file and line of the
 * co_await, for misuse messages and sock_runtime_dump) *before* it calls the
 * start function, then:
 *   - CO_PENDING: the coroutine stays suspended and nothing touches it any
 *     more: the completion may already be resuming it on another pool
 *     thread, and it may even finish and free its frame before the start
 *     function has returned here. The completion wakes the task (co_wake),
 *     which runs the step function again on the completion's thread.
 *   - anything else: the operation finished now, no completion will come,
 *     and the coroutine continues at once on this thread without suspending
 *     (no trip through the step function, no stack growth over a loop of
 *     such awaits).
 * So a coroutine runs on one thread at a time, like any task: its frame
 * needs no lock, what it shares with others does.
 *
 * Lifetime
 * --------
 * - Calling the coroutine allocates its frame and runs nothing. The
 *   cosock::task it returns owns the frame until cosock::spawn; a task that
 *   is never spawned frees its frame when it is destroyed, without running.
 * - Once spawned, the frame belongs to the runtime's task: it is freed
 *   (locals and parameters destroyed) in the completion hook, which the
 *   runtime runs exactly once after the coroutine's last step, on the
 *   thread that ran it. A sock_task_t * from this_task() is valid until the
 *   coroutine ends; only the coroutine itself knows when that is.
 * - Operation records and buffers may be locals of the coroutine: the frame
 *   outlives every await. (A frame ends only at the end of the coroutine,
 *   after its last await has completed.)
 * - Stopping: sock_runtime_cancel_all + sock_runtime_wait_tasks, before
 *   sock_runtime_shutdown, as for every sock_task_t. Once wait_tasks said 1,
 *   every frame has been freed (the runtime counts a task until its hook has
 *   returned). A coroutine still parked at the shutdown wakes with
 *   CO_ECANCELED and must end: one parked for good is a frame leaked.
 *
 * No exceptions cross a completion
 * --------------------------------
 * A coroutine runs inside C callbacks of the thread pool, which no
 * exception may cross. An exception that leaves a coroutine's body calls
 * std::terminate (promise_type::unhandled_exception). Frames are allocated
 * with the nothrow operator new: when that fails the coroutine call returns
 * an empty cosock::task (false in a boolean context) that cosock::spawn
 * refuses with CO_ENOMEM, and the coroutine's parameters were never taken
 * over (close the socket you meant to hand it, for instance).
 *
 * Only cosock awaitables
 * ----------------------
 * A cosock::task may co_await cosock::start(...) and cosock::this_task();
 * anything else is a compile error (promise_type::await_transform): an
 * awaitable of another library would suspend the coroutine without the
 * runtime knowing, and no completion would ever wake it. To wait for
 * another coroutine, spawn it and wait on a sock_event_t or
 * sock_waitgroup_t that it signals at its end.
 *
 * Needs C++20 (<coroutine>); tested with mingw-w64 g++ 12. From C, or C++17,
 * use <sock/sock.h> and the macros of <co/co.h>.
 */
#ifndef SOCK_SOCK_HPP
#define SOCK_SOCK_HPP

/* Refuse clearly, and only once: without C++20 the rest is not compiled. */
#if !defined(__cplusplus)
#  error "sock/sock.hpp is C++20 (co_await); from C, include <sock/sock.h>"
#endif
#if defined(_MSVC_LANG)  /* MSVC front ends keep __cplusplus at 199711L unless /Zc:__cplusplus */
#  define SOCK_HPP_CPLUSPLUS _MSVC_LANG
#else
#  define SOCK_HPP_CPLUSPLUS __cplusplus
#endif
#define SOCK_HPP_USABLE 1
#if SOCK_HPP_CPLUSPLUS < 202002L
#  error "sock/sock.hpp needs C++20 (co_await): compile with -std=c++20 (g++, clang) or /std:c++20 (MSVC); from C++17, use <sock/sock.h> and the macros of <co/co.h>"
#  undef SOCK_HPP_USABLE
#  define SOCK_HPP_USABLE 0
#elif defined(__has_include)
#  if !__has_include(<coroutine>)
#    error "sock/sock.hpp needs the C++20 header <coroutine>: this toolchain has no C++ standard library with it (clang-cl with Wine's SDK has none)"
#    undef SOCK_HPP_USABLE
#    define SOCK_HPP_USABLE 0
#  endif
#endif
#if SOCK_HPP_USABLE

#include <sock/sock.h>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <new>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cosock {

class task;

namespace detail {

/* The frame size the last operator new of a cosock::task allocated on this
 * thread, taken by the task it returns (see task::frame_bytes). */
inline thread_local std::size_t last_frame_bytes = 0;

/* Marks the awaitables a cosock::task may co_await (see await_transform). */
struct awaitable_tag {};

template <class T>
concept cosock_awaitable = std::is_base_of_v<awaitable_tag, std::remove_cvref_t<T>>;

template <class T>
inline constexpr bool always_false = false;

/* What co_await cosock::this_task() asks for; answered without suspending. */
struct this_task_request {};

struct ready_task : awaitable_tag {
  sock_task_t *st;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  sock_task_t *await_resume() const noexcept { return st; }
};

}  // namespace detail

/* ---- The coroutine's type ---------------------------------------------------- */

/* The return type of a coroutine that runs as a cosock task. Move-only; owns
 * the frame until cosock::spawn takes it. */
class [[nodiscard]] task {
public:
  struct promise_type;
  using handle_type = std::coroutine_handle<promise_type>;

  task() noexcept = default;  /* empty: what a failed frame allocation returns */
  task(task &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), frame_bytes_(other.frame_bytes_) {}
  task &operator=(task &&other) noexcept
  {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
      frame_bytes_ = other.frame_bytes_;
    }
    return *this;
  }
  task(const task &) = delete;
  task &operator=(const task &) = delete;
  ~task() { reset(); }

  /* False for the empty task of a failed allocation (or a moved-from one). */
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  /* The bytes allocated for this coroutine's frame: its locals, parameters,
   * the promise (a sock_task_t and a pointer) and the compiler's own state.
   * 0 if unknown (the compiler elided the allocation). For memory accounting. */
  std::size_t frame_bytes() const noexcept { return frame_bytes_; }

private:
  friend int spawn(sock_runtime_t *rt, task t) noexcept;

  task(handle_type h, std::size_t frame_bytes) noexcept : handle_(h), frame_bytes_(frame_bytes) {}

  /* A frame never spawned: freed without running. */
  void reset() noexcept
  {
    if (handle_)
      std::exchange(handle_, nullptr).destroy();
  }

  handle_type handle_ = nullptr;
  std::size_t frame_bytes_ = 0;
};

/* ---- Awaiting a start function --------------------------------------------------- */

/* co_await cosock::start(fn, &op, args...): fn(&op, args..., task) in the
 * await protocol; returns op->error. Made by class template argument
 * deduction; `where` is the co_await's file and line, kept in debug builds
 * (CO_DEBUG) for misuse messages and sock_runtime_dump. */
template <class Start, class... Args>
class start : detail::awaitable_tag {
  using first_arg = std::tuple_element_t<0, std::tuple<Args..., void>>;
  static constexpr bool takes_co_task = std::is_invocable_r_v<int, Start &, Args &..., co_task_t *>;
  static constexpr bool takes_sock_task =
      std::is_invocable_r_v<int, Start &, Args &..., sock_task_t *>;

  static_assert(std::is_same_v<first_arg, sock_op_t *>,
                "cosock::start(fn, &op, args...): the argument after the start function is "
                "its operation record, a sock_op_t *");
  static_assert(takes_co_task || takes_sock_task,
                "cosock::start(fn, &op, args...): fn(&op, args..., task) must be a start "
                "function: returning int, its last parameter a co_task_t * or a sock_task_t * "
                "(the library appends it: do not pass it)");

public:
  start(Start fn, Args... args,
        std::source_location where = std::source_location::current()) noexcept
      : fn_(fn), args_(args...)
  {
#if CO_DEBUG
    where_ = where;
#else
    (void)where;  /* release builds record no place: a smaller frame */
#endif
  }

  bool await_ready() const noexcept { return false; }

  /* Parks the task, then starts the operation. true: pending, the coroutine
   * stays suspended (and this awaiter, in its frame, is not touched again);
   * false: finished now, continue without suspending. */
  inline bool await_suspend(std::coroutine_handle<task::promise_type> h) noexcept;

  int await_resume() const noexcept { return std::get<0>(args_)->error; }

private:
  Start               fn_;
  std::tuple<Args...> args_;
#if CO_DEBUG
  std::source_location where_;  /* the co_await's file and line */
#endif
};

template <class Start, class... Args>
start(Start, Args...) -> start<Start, Args...>;

/* co_await cosock::this_task(): this coroutine's sock_task_t *, at once. */
inline detail::this_task_request this_task() noexcept { return {}; }

/* ---- The promise ------------------------------------------------------------------ */

struct task::promise_type {
  /* First: the runtime's task (and its co_task_t), so the step function
   * finds the promise from the co_task_t * it is given. */
  sock_task_t st;
  /* The step function running the coroutine now keeps its answer (CO_WAITING,
   * CO_DONE) in a local; this points to it while it runs. */
  co_state_t *step_result;

  static promise_type &of(co_task_t *t) noexcept
  {
    return *reinterpret_cast<promise_type *>(reinterpret_cast<sock_task_t *>(t));
  }

  static void *operator new(std::size_t n) noexcept
  {
    void *frame = ::operator new(n, std::nothrow);
    detail::last_frame_bytes = frame != nullptr ? n : 0;
    return frame;
  }
  static void operator delete(void *frame, std::size_t n) noexcept { ::operator delete(frame, n); }
  static task get_return_object_on_allocation_failure() noexcept { return task(); }

  task get_return_object() noexcept
  {
    return task(handle_type::from_promise(*this), std::exchange(detail::last_frame_bytes, 0));
  }

  /* Nothing runs until cosock::spawn's first step. */
  std::suspend_always initial_suspend() const noexcept { return {}; }

  /* The end: finish the task as CO_END does and tell the step function
   * CO_DONE; the runtime's completion hook then frees the frame. */
  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(handle_type h) const noexcept
    {
      promise_type &p = h.promise();
      co__finish(&p.st.task, CO_OK);
      *p.step_result = CO_DONE;
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }

  void return_void() const noexcept {}

  /* No exception may cross the pool's C callbacks. */
  [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }

  template <detail::cosock_awaitable A>
  A &&await_transform(A &&a) const noexcept
  {
    return static_cast<A &&>(a);
  }
  detail::ready_task await_transform(detail::this_task_request) noexcept
  {
    detail::ready_task r;
    r.st = &st;
    return r;
  }
  template <class A>
    requires(!detail::cosock_awaitable<A>)
  void await_transform(A &&) const noexcept
  {
    static_assert(detail::always_false<A>,
                  "a cosock::task co_awaits only cosock::start(...) and cosock::this_task(): "
                  "another awaitable would suspend it where no completion can wake it (see "
                  "\"Only cosock awaitables\" in sock/sock.hpp)");
  }

  /* The await protocol of CO_AWAIT (co/co.h): park, start, and on
   * CO_PENDING touch nothing more. `call(task)` calls the start function. */
  template <class Call>
  bool await_start(Call &&call, const char *file, int line) noexcept
  {
    co_state_t *result = step_result;  /* the running step's local, read first */
    co_task_t *t = &st.task;
    co__park(t, CO_WAITING, file, line);  /* state CO_WAITING, and where (CO_DEBUG) */
    *result = CO_WAITING;
    if (call(&st) == CO_PENDING)
      return true;  /* the frame may already be running elsewhere, or gone */
    t->state = CO_RUNNING;  /* finished now: carry on, as after CO_AWAIT */
    *result = CO_RUNNING;
    return false;
  }
};

static_assert(std::is_standard_layout_v<task::promise_type> &&
                  offsetof(task::promise_type, st) == 0,
              "the promise starts with its sock_task_t: the step function finds it there");

template <class Start, class... Args>
bool start<Start, Args...>::await_suspend(std::coroutine_handle<task::promise_type> h) noexcept
{
  return h.promise().await_start(
      [this](sock_task_t *st) -> int {
        return std::apply(
            [this, st](Args &...a) -> int {
              if constexpr (takes_co_task)
                return fn_(a..., &st->task);
              else
                return fn_(a..., st);
            },
            args_);
      },
#if CO_DEBUG
      where_.file_name(), static_cast<int>(where_.line()));
#else
      nullptr, 0);
#endif
}

}  // namespace cosock

/* ---- The runtime's side: the step function and the completion hook ----------------- */

/* C linkage: the runtime calls them through co_step_fn / co_done_fn pointers.
 * Internal to this header. */
extern "C" {

/* Resumes the coroutine; returns CO_WAITING (suspended at a pending await)
 * or CO_DONE (at its end). After the resume it reads only its own local:
 * the frame may be running on another thread already. */
inline co_state_t cosock_cpp_task_step(co_task_t *t) noexcept
{
  cosock::task::promise_type &p = cosock::task::promise_type::of(t);
  co_state_t result = CO_RUNNING;
  p.step_result = &result;
  t->state = CO_RUNNING;
  cosock::task::handle_type::from_promise(p).resume();
  return result;
}

/* The completion hook: after the last step, once. Frees the frame. */
inline void cosock_cpp_task_done(co_task_t *t) noexcept
{
  cosock::task::handle_type::from_promise(cosock::task::promise_type::of(t)).destroy();
}

}  /* extern "C" */

namespace cosock {

/* Spawns the coroutine as a sock_task_t of `rt` (sock_spawn): the runtime
 * counts it, and its first step runs on the calling thread, up to its first
 * await that has to wait (or its end). The frame is the runtime's from now
 * on. Returns CO_OK, CO_ENOMEM (`t` is the empty task of a failed frame
 * allocation) or CO_EINVAL (`rt` is NULL: the frame is freed without
 * running). On an error the coroutine never ran: what it was to own (a
 * socket passed to it, say) is still the caller's. During a stop
 * (sock_runtime_cancel_all) it starts cancelled, like every sock_task_t. */
inline int spawn(sock_runtime_t *rt, task t) noexcept
{
  if (!t)
    return CO_ENOMEM;
  if (rt == nullptr)
    return CO_EINVAL;  /* t's destructor frees the frame */
  task::handle_type h = std::exchange(t.handle_, nullptr);
  sock_spawn(rt, &h.promise().st, cosock_cpp_task_step, cosock_cpp_task_done);
  return CO_OK;
}

}  // namespace cosock

#endif /* SOCK_HPP_USABLE */
#endif /* SOCK_SOCK_HPP */

/*
 * tests/cpp/cpp_coro.cpp - sock/sock.hpp: C++20 coroutines as cosock tasks.
 *
 * Each case proves one claim of sock/sock.hpp, under Wine, with real sockets
 * on the thread pool:
 *   echo_100x100     100 client coroutines x 100 messages against a server of
 *                    coroutines (accept loops, one per connection), every byte
 *                    verified; the stop leaves no task, socket, operation or
 *                    frame behind
 *   cancel_recv      sock_task_cancel on a coroutine parked in a receive: the
 *                    co_await returns CO_ECANCELED, and so does the next
 *   deadline_silent_peer  sock_deadline_set, then a receive from a peer that
 *                    says nothing: CO_ETIMEDOUT after the deadline; cleared,
 *                    a sleep (a wait that takes a sock_task_t *) works again
 *   shutdown_suspended  40 coroutines parked in receives, sleeps, event and
 *                    channel waits: sock_runtime_cancel_all and
 *                    sock_runtime_wait_tasks end them all, every frame freed
 *   finished_now     an await whose start finishes at once does not suspend:
 *                    10,000 of them run inside cosock::spawn, on one stack
 *                    depth; a pending one resumes from co_wake on its thread
 *   no_leak          frames created == frames freed, for coroutines that end
 *                    at once, after a wait, never spawned, or refused
 *
 * Frames are counted with frame_probe, a parameter every test coroutine takes
 * by value: its copy lives in the coroutine frame and is destroyed only when
 * the frame is freed (a local would be destroyed at the end of the body, even
 * if the frame leaked). Coroutines run on pool threads, where a Check
 * assertion must not run (it longjmps): they record what they saw, and the
 * test thread asserts.
 *
 * ctest-timeout: 120
 */
#include <check.h>
#include <sock/sock.hpp>

#include <atomic>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" Suite *cosock_test_suite(void);

namespace {

enum { WAIT_MS = 20000 };

/* ---- Counting frames ------------------------------------------------------------ */

std::atomic<long> frames_made{0};  /* probes moved into a frame */
std::atomic<long> frames_gone{0};  /* ... and destroyed with it */

struct frame_probe {
  bool in_frame = false;
  frame_probe() = default;
  frame_probe(frame_probe &&) noexcept : in_frame(true) { frames_made++; }
  frame_probe(const frame_probe &) = delete;
  frame_probe &operator=(const frame_probe &) = delete;
  frame_probe &operator=(frame_probe &&) = delete;
  ~frame_probe()
  {
    if (in_frame)
      frames_gone++;
  }
};

void reset_frames()
{
  frames_made = 0;
  frames_gone = 0;
}

/* ---- The runtime and the other side ---------------------------------------------- */

sock_runtime_t *runtime_start()
{
  sock_runtime_t *rt = nullptr;
  WSADATA wsa;
  ck_assert_int_eq(WSAStartup(MAKEWORD(2, 2), &wsa), 0);  // for the raw sockets
  ck_assert_int_eq(sock_runtime_create(&rt, nullptr), CO_OK);
  return rt;
}

void wait_counters_zero(sock_runtime_t *rt)
{
  sock_counters_t c;
  for (int i = 0; i < 1000; i++) {
    sock_runtime_counters(rt, &c);
    if (c.sockets == 0 && c.tasks == 0 && c.pending_ops == 0)
      return;
    Sleep(5);
  }
  ck_abort_msg("counters: sockets=%ld tasks=%ld pending_ops=%ld, expected zeros", c.sockets,
               c.tasks, c.pending_ops);
}

void runtime_stop(sock_runtime_t *rt)
{
  sock_runtime_shutdown(rt);
  WSACleanup();
}

/* Polls until the runtime counts `n` pending operations (the coroutines are
 * parked in their awaits). */
void wait_pending(sock_runtime_t *rt, long n)
{
  sock_counters_t c;
  for (int i = 0; i < 2000; i++) {
    sock_runtime_counters(rt, &c);
    if (c.pending_ops == n)
      return;
    Sleep(5);
  }
  ck_abort_msg("pending_ops=%ld, expected %ld", c.pending_ops, n);
}

/* A blocking listener on 127.0.0.1 (a free port), the side that stays silent. */
SOCKET raw_listen(unsigned short *port)
{
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  sockaddr_in a;
  int len = sizeof a;
  ck_assert(s != INVALID_SOCKET);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  ck_assert_int_eq(listen(s, 64), 0);
  ck_assert_int_eq(getsockname(s, reinterpret_cast<sockaddr *>(&a), &len), 0);
  *port = ntohs(a.sin_port);
  return s;
}

unsigned short port_of(sock_t *listener)
{
  sock_addr_t a;
  ck_assert_int_eq(sock_local_addr(listener, &a), CO_OK);
  return ntohs(a.si_family == AF_INET6 ? a.Ipv6.sin6_port : a.Ipv4.sin_port);
}

/* ---- echo_100x100 --------------------------------------------------------------------- */

enum { CONNS = 100, MESSAGES = 100, MSG_BYTES = 100, ACCEPTORS = 8 };

struct {
  std::atomic<int>  running;      /* clients not finished */
  std::atomic<int>  ok;           /* clients that verified every echo */
  std::atomic<long> round_trips;  /* verified, all clients */
  std::atomic<int>  first_error;  /* the first client failure, or CO_OK */
  std::atomic<int>  server_errors;/* connections that ended other than at CO_EOF */
  HANDLE            all_done;
} echo;

unsigned char pattern(unsigned id, unsigned m, unsigned i)
{
  return static_cast<unsigned char>(i * 7u + m * 31u + id * 131u + 1u);
}

cosock::task echo_connection(frame_probe, sock_t *s)
{
  sock_op_t op{};
  char buf[512];
  while (co_await cosock::start(sock_recv_start, &op, s, buf, sizeof buf) == CO_OK) {
    if (co_await cosock::start(sock_send_all_start, &op, s, buf, op.bytes) < 0)
      break;
  }
  if (op.error != CO_EOF && op.error != CO_ECANCELED)
    echo.server_errors++;
  sock_close(s);
}

cosock::task acceptor(frame_probe, sock_t *listener)
{
  sock_op_t op{};
  sock_accept_t acc{};
  sock_runtime_t *rt = (co_await cosock::this_task())->runtime;
  for (;;) {
    int error = co_await cosock::start(sock_accept_start, &op, listener, &acc);
    if (error == CO_ECANCELED)
      break;
    if (error < 0)
      continue;
    if (cosock::spawn(rt, echo_connection(frame_probe(), acc.sock)) != CO_OK)
      sock_close(acc.sock);
  }
}

cosock::task echo_client(frame_probe, unsigned id, unsigned short port)
{
  sock_op_t op{};
  sock_t *s = nullptr;
  char out[MSG_BYTES], in[MSG_BYTES];
  sock_task_t *me = co_await cosock::this_task();
  int error = sock_deadline_set(me, 60000);  // a hung server fails the case, not ctest
  if (error == CO_OK)
    error = co_await cosock::start(sock_connect_start, &op, me->runtime, "127.0.0.1", port, &s);
  for (unsigned m = 0; error == CO_OK && m < MESSAGES; m++) {
    for (unsigned i = 0; i < MSG_BYTES; i++)
      out[i] = static_cast<char>(pattern(id, m, i));
    error = co_await cosock::start(sock_send_all_start, &op, s, out, sizeof out);
    if (error == CO_OK)
      error = co_await cosock::start(sock_recv_exactly_start, &op, s, in, sizeof in);
    if (error == CO_OK && memcmp(in, out, sizeof in) != 0)
      error = CO_EPROTO;  // an echo that is not what was sent
    if (error == CO_OK)
      echo.round_trips++;
  }
  sock_close(s);  // NULL if the connect failed: ignored
  if (error == CO_OK)
    echo.ok++;
  else {
    int none = CO_OK;
    echo.first_error.compare_exchange_strong(none, error);
  }
  if (--echo.running == 0)
    SetEvent(echo.all_done);
}

}  // namespace

/* 100 connections x 100 messages of 100 bytes, every byte verified; then
 * the server's stop: no task, socket, operation or frame left. */
START_TEST(echo_100x100)
{
  sock_runtime_t *rt = runtime_start();
  sock_t *listener = nullptr;
  reset_frames();
  echo.running = CONNS;
  echo.ok = 0;
  echo.round_trips = 0;
  echo.first_error = CO_OK;
  echo.server_errors = 0;
  echo.all_done = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ck_assert_ptr_nonnull(echo.all_done);
  ck_assert_int_eq(sock_listen(rt, "127.0.0.1", 0, SOMAXCONN, &listener), CO_OK);
  unsigned short port = port_of(listener);
  DWORD t0 = GetTickCount();

  for (int i = 0; i < ACCEPTORS; i++)
    ck_assert_int_eq(cosock::spawn(rt, acceptor(frame_probe(), listener)), CO_OK);
  for (unsigned i = 0; i < CONNS; i++)
    ck_assert_int_eq(cosock::spawn(rt, echo_client(frame_probe(), i, port)), CO_OK);
  ck_assert_msg(WaitForSingleObject(echo.all_done, 90000) == WAIT_OBJECT_0,
                "clients hung: %d still running", echo.running.load());
  DWORD ms = GetTickCount() - t0;

  ck_assert_msg(echo.first_error == CO_OK, "a client failed: %s",
                co_errname(echo.first_error));
  ck_assert_int_eq(echo.ok, CONNS);
  ck_assert_int_eq(echo.round_trips, CONNS * MESSAGES);

  sock_runtime_cancel_all(rt);  // the accept loops (connections ended at CO_EOF)
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, 10000), 1);
  sock_close(listener);
  wait_counters_zero(rt);
  ck_assert_int_eq(echo.server_errors, 0);
  ck_assert_int_eq(frames_made, ACCEPTORS + 2 * CONNS);  // loops, clients, connections
  ck_assert_int_eq(frames_gone, frames_made);
  runtime_stop(rt);
  CloseHandle(echo.all_done);
  printf("cpp_coro: echo %d connections x %d messages x %d bytes verified in %lu ms; "
         "%ld frames made and freed\n",
         CONNS, MESSAGES, MSG_BYTES, static_cast<unsigned long>(ms), frames_made.load());
}
END_TEST

/* ---- cancel_recv and deadline_silent_peer ------------------------------------------------ */

namespace {

struct {
  std::atomic<sock_task_t *> parked;  /* published before the receive */
  int   connect_error;
  int   recv_error;                   /* the receive the test interrupts */
  int   next_error;                   /* the await after it */
  int   sleep_error;                  /* deadline case: a sleep after clearing it */
  DWORD recv_ms;                      /* how long the receive waited */
  HANDLE done;
} quiet;

/* Connects to a silent peer, publishes itself, and waits for data that never
 * comes: until the test cancels it, or its deadline (if deadline_ms) passes. */
cosock::task quiet_receiver(frame_probe, unsigned short port, unsigned deadline_ms)
{
  sock_op_t op{};
  sock_t *s = nullptr;
  char buf[64];
  sock_task_t *me = co_await cosock::this_task();
  quiet.connect_error =
      co_await cosock::start(sock_connect_start, &op, me->runtime, "127.0.0.1", port, &s);
  if (quiet.connect_error == CO_OK) {
    if (deadline_ms > 0)
      sock_deadline_set(me, deadline_ms);
    DWORD t0 = GetTickCount();
    quiet.parked = me;
    quiet.recv_error = co_await cosock::start(sock_recv_start, &op, s, buf, sizeof buf);
    quiet.recv_ms = GetTickCount() - t0;
    quiet.next_error = co_await cosock::start(sock_recv_start, &op, s, buf, sizeof buf);
    if (deadline_ms > 0) {
      sock_deadline_clear(me);
      quiet.sleep_error = co_await cosock::start(sock_sleep_start, &op, 10u);
    }
  }
  sock_close(s);
  SetEvent(quiet.done);
}

/* Starts quiet_receiver against a silent raw peer and waits until its
 * receive is in the kernel (the runtime counts one pending operation). */
SOCKET start_quiet(sock_runtime_t *rt, unsigned deadline_ms, SOCKET *listener)
{
  unsigned short port;
  quiet.parked = nullptr;
  quiet.connect_error = quiet.recv_error = quiet.next_error = quiet.sleep_error = CO_EUNKNOWN;
  quiet.recv_ms = 0;
  quiet.done = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ck_assert_ptr_nonnull(quiet.done);
  *listener = raw_listen(&port);
  ck_assert_int_eq(cosock::spawn(rt, quiet_receiver(frame_probe(), port, deadline_ms)), CO_OK);
  SOCKET peer = accept(*listener, nullptr, nullptr);
  ck_assert(peer != INVALID_SOCKET);
  for (int i = 0; i < 2000 && quiet.parked.load() == nullptr; i++)
    Sleep(5);
  ck_assert_msg(quiet.parked.load() != nullptr, "connect: %s", co_errname(quiet.connect_error));
  wait_pending(rt, 1);  // the receive is pending: the coroutine is suspended
  return peer;
}

}  // namespace

/* The end of a quiet-peer test: counters at zero, the one frame made and
 * freed, and everything the test opened closed. */
static void quiet_finish(sock_runtime_t *rt, SOCKET peer, SOCKET listener)
{
  wait_counters_zero(rt);
  ck_assert_int_eq(frames_made, 1);
  ck_assert_int_eq(frames_gone, 1);
  closesocket(peer);
  closesocket(listener);
  CloseHandle(quiet.done);
  runtime_stop(rt);
}

/* sock_task_cancel on a coroutine suspended in a receive: the co_await
 * returns CO_ECANCELED, and every later await too; the coroutine cleans up
 * and ends, its frame freed. In debug builds the parked task names the line
 * of its co_await. */
START_TEST(cancel_recv)
{
  sock_runtime_t *rt = runtime_start();
  SOCKET listener;
  reset_frames();
  SOCKET peer = start_quiet(rt, 0, &listener);
#if CO_DEBUG
  char where[256];
  co_describe(&quiet.parked.load()->task, where, sizeof where);
  ck_assert_msg(strstr(where, "waiting, parked at ") != nullptr &&
                    strstr(where, "cpp_coro.cpp:") != nullptr,
                "co_describe: %s", where);
#endif
  sock_task_cancel(quiet.parked.load());
  ck_assert_int_eq(WaitForSingleObject(quiet.done, WAIT_MS), WAIT_OBJECT_0);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, WAIT_MS), 1);
  ck_assert_msg(quiet.recv_error == CO_ECANCELED, "receive: %s", co_errname(quiet.recv_error));
  ck_assert_msg(quiet.next_error == CO_ECANCELED, "next: %s", co_errname(quiet.next_error));
  quiet_finish(rt, peer, listener);
}
END_TEST

/* A deadline of 300 ms over a receive from a silent peer: CO_ETIMEDOUT after
 * about that long, and at the next await too; once cleared, a sleep (a wait
 * that takes the sock_task_t *) completes normally. */
START_TEST(deadline_silent_peer)
{
  sock_runtime_t *rt = runtime_start();
  SOCKET listener;
  reset_frames();
  SOCKET peer = start_quiet(rt, 300, &listener);
  ck_assert_int_eq(WaitForSingleObject(quiet.done, WAIT_MS), WAIT_OBJECT_0);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, WAIT_MS), 1);
  ck_assert_msg(quiet.recv_error == CO_ETIMEDOUT, "receive: %s", co_errname(quiet.recv_error));
  ck_assert_msg(quiet.next_error == CO_ETIMEDOUT, "next: %s", co_errname(quiet.next_error));
  ck_assert_msg(quiet.sleep_error == CO_OK, "sleep: %s", co_errname(quiet.sleep_error));
  ck_assert_msg(quiet.recv_ms >= 200 && quiet.recv_ms < 10000, "the receive waited %lu ms",
                static_cast<unsigned long>(quiet.recv_ms));
  quiet_finish(rt, peer, listener);
}
END_TEST

/* ---- shutdown_suspended --------------------------------------------------------------- */

namespace {

enum { EACH = 10, KINDS = 4 };  /* receive, sleep, event wait, channel receive */

struct {
  sock_event_t      never_set;
  sock_chan_t       empty;
  void             *slots[4];
  std::atomic<int>  cancelled;   /* awaits that ended with CO_ECANCELED */
  std::atomic<int>  other;       /* ... with anything else */
  std::atomic<int>  connect_errors;
} parked;

void record_parked(int error)
{
  if (error == CO_ECANCELED)
    parked.cancelled++;
  else
    parked.other++;
}

cosock::task parked_receiver(frame_probe, unsigned short port)
{
  sock_op_t op{};
  sock_t *s = nullptr;
  char buf[16];
  sock_task_t *me = co_await cosock::this_task();
  if (co_await cosock::start(sock_connect_start, &op, me->runtime, "127.0.0.1", port, &s) < 0) {
    parked.connect_errors++;
    co_return;
  }
  record_parked(co_await cosock::start(sock_recv_start, &op, s, buf, sizeof buf));
  sock_close(s);
}

cosock::task parked_sleeper(frame_probe)
{
  sock_op_t op{};
  record_parked(co_await cosock::start(sock_sleep_start, &op, 600000u));
}

cosock::task parked_event_waiter(frame_probe)
{
  sock_op_t op{};
  record_parked(co_await cosock::start(sock_event_wait_start, &op, &parked.never_set));
}

cosock::task parked_channel_reader(frame_probe)
{
  sock_op_t op{};
  void *item = nullptr;
  record_parked(co_await cosock::start(sock_chan_recv_start, &op, &parked.empty, &item));
}

}  // namespace

/* 40 coroutines parked for good in four kinds of await; the server's stop
 * (cancel everything, wait for the tasks) ends every one with CO_ECANCELED
 * and frees every frame; the counters are back at zero. */
START_TEST(shutdown_suspended)
{
  sock_runtime_t *rt = runtime_start();
  unsigned short port;
  SOCKET peers[EACH];
  reset_frames();
  parked.cancelled = 0;
  parked.other = 0;
  parked.connect_errors = 0;
  sock_event_init(&parked.never_set, 0);
  sock_chan_init(&parked.empty, parked.slots, 4);
  SOCKET listener = raw_listen(&port);

  for (int i = 0; i < EACH; i++) {
    ck_assert_int_eq(cosock::spawn(rt, parked_receiver(frame_probe(), port)), CO_OK);
    peers[i] = accept(listener, nullptr, nullptr);
    ck_assert(peers[i] != INVALID_SOCKET);
    ck_assert_int_eq(cosock::spawn(rt, parked_sleeper(frame_probe())), CO_OK);
    ck_assert_int_eq(cosock::spawn(rt, parked_event_waiter(frame_probe())), CO_OK);
    ck_assert_int_eq(cosock::spawn(rt, parked_channel_reader(frame_probe())), CO_OK);
  }
  wait_pending(rt, EACH * KINDS);  // every one is suspended in its await
  sock_counters_t c;
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.tasks, EACH * KINDS);
  ck_assert_int_eq(frames_gone, 0);

  sock_runtime_cancel_all(rt);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, WAIT_MS), 1);
  ck_assert_int_eq(parked.connect_errors, 0);
  ck_assert_int_eq(parked.cancelled, EACH * KINDS);
  ck_assert_int_eq(parked.other, 0);
  ck_assert_int_eq(frames_made, EACH * KINDS);
  ck_assert_int_eq(frames_gone, EACH * KINDS);
  wait_counters_zero(rt);
  for (int i = 0; i < EACH; i++)
    closesocket(peers[i]);
  closesocket(listener);
  runtime_stop(rt);
}
END_TEST

/* ---- finished_now ----------------------------------------------------------------------- */

namespace {

enum { INLINE_AWAITS = 10000 };

struct {
  int         wrong_state;   /* the task was not CO_WAITING inside a start, or not
                                CO_RUNNING after an await */
  int         wrong_result;  /* co_await did not return op->error */
  uintptr_t   depth_first;   /* the stack pointer (roughly) at the first await */
  uintptr_t   depth_last;    /* ... and at the last */
  int         ended;
  co_task_t  *pending_task;  /* fake_later's task, woken by the test */
  sock_op_t  *pending_op;    /* ... and its record, where the test puts a result */
  DWORD       woke_on;       /* the thread the pending await resumed on */
  int         pending_error;
  unsigned long pending_bytes;
} now;

/* A start function that always finishes at once (no completion will come),
 * with `error` as its result. */
int fake_now(sock_op_t *op, int error, co_task_t *t)
{
  if (t->state != CO_WAITING)
    now.wrong_state++;
  op->error = static_cast<short>(error);
  return error;
}

/* A start function that is pending until the test wakes the task. */
int fake_later(sock_op_t *op, co_task_t *t)
{
  op->error = CO_OK;
  now.pending_op = op;
  now.pending_task = t;
  return CO_PENDING;
}

#if defined(__GNUC__)
#  define TEST_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#  define TEST_NOINLINE __declspec(noinline)
#else
#  define TEST_NOINLINE
#endif

/* Where this thread's stack is now: the address of a local in a call. */
TEST_NOINLINE uintptr_t stack_depth()
{
  volatile char here = 0;
  return reinterpret_cast<uintptr_t>(&here);
}

cosock::task inline_awaiter(frame_probe)
{
  sock_op_t op{};
  sock_task_t *me = co_await cosock::this_task();
  for (int i = 0; i < INLINE_AWAITS; i++) {
    int want = (i % 3 == 0) ? CO_EOF : CO_OK;
    if (i == 0)
      now.depth_first = stack_depth();
    int got = co_await cosock::start(fake_now, &op, want);
    if (i == INLINE_AWAITS - 1)
      now.depth_last = stack_depth();
    if (got != want || op.error != want)
      now.wrong_result++;
    if (me->task.state != CO_RUNNING)
      now.wrong_state++;
  }
  now.ended = 1;
}

cosock::task pending_awaiter(frame_probe)
{
  sock_op_t op{};
  now.pending_error = co_await cosock::start(fake_later, &op);
  now.pending_bytes = op.bytes;
  now.woke_on = GetCurrentThreadId();
  now.ended = 1;
}

}  // namespace

/* 10,000 awaits whose start finishes now run inside cosock::spawn: the
 * coroutine never suspends (nothing could wake it), keeps one stack depth,
 * and sees the protocol's states (CO_WAITING inside the start, CO_RUNNING
 * after). A start that says CO_PENDING suspends it until co_wake, which
 * resumes it on the waking thread; it ends there and its frame is freed. */
START_TEST(finished_now)
{
  sock_runtime_t *rt = runtime_start();
  sock_counters_t c;
  reset_frames();
  now = {};

  ck_assert_int_eq(cosock::spawn(rt, inline_awaiter(frame_probe())), CO_OK);
  ck_assert_int_eq(now.ended, 1);  // finished before spawn returned
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.tasks, 0);
  ck_assert_int_eq(frames_gone, 1);
  ck_assert_int_eq(now.wrong_state, 0);
  ck_assert_int_eq(now.wrong_result, 0);
  ck_assert_msg(now.depth_first == now.depth_last, "the stack moved by %ld bytes over %d awaits",
                static_cast<long>(now.depth_first - now.depth_last), INLINE_AWAITS);

  now.ended = 0;
  ck_assert_int_eq(cosock::spawn(rt, pending_awaiter(frame_probe())), CO_OK);
  ck_assert_int_eq(now.ended, 0);  // suspended
  ck_assert_ptr_nonnull(now.pending_task);
  ck_assert_int_eq(now.pending_task->state, CO_WAITING);
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.tasks, 1);
  now.pending_op->bytes = 7;  // the completion's part: store the result, then wake
  now.pending_op->error = CO_EOF;
  ck_assert_int_eq(co_wake(now.pending_task), CO_DONE);
  ck_assert_int_eq(now.ended, 1);
  ck_assert_int_eq(now.pending_error, CO_EOF);
  ck_assert_uint_eq(now.pending_bytes, 7);
  ck_assert_uint_eq(now.woke_on, GetCurrentThreadId());
  sock_runtime_counters(rt, &c);
  ck_assert_int_eq(c.tasks, 0);
  ck_assert_int_eq(frames_made, 2);
  ck_assert_int_eq(frames_gone, 2);
  runtime_stop(rt);
}
END_TEST

/* ---- no_leak ----------------------------------------------------------------------------- */

namespace {

std::atomic<int> short_lived_ends{0};

/* Ends at once, or after a sleep of 1 ms (a real wait on the pool). */
cosock::task short_lived(frame_probe, bool wait)
{
  sock_op_t op{};
  if (wait)
    (void)co_await cosock::start(sock_sleep_start, &op, 1u);
  short_lived_ends++;
}

}  // namespace

/* Frames freed == frames made, whatever the coroutine's fate: 500 that end
 * at once and 500 after a wait, one never spawned, one refused for want of a
 * runtime (freed unrun), and an empty task refused with CO_ENOMEM. Each frame
 * knows its size. */
START_TEST(no_leak)
{
  sock_runtime_t *rt = runtime_start();
  reset_frames();
  short_lived_ends = 0;
  for (int i = 0; i < 1000; i++)
    ck_assert_int_eq(cosock::spawn(rt, short_lived(frame_probe(), i % 2 == 1)), CO_OK);
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, WAIT_MS), 1);
  ck_assert_int_eq(short_lived_ends, 1000);
  ck_assert_int_eq(frames_made, 1000);
  ck_assert_int_eq(frames_gone, 1000);

  {
    cosock::task never = short_lived(frame_probe(), false);
    ck_assert(static_cast<bool>(never));
    ck_assert_uint_gt(never.frame_bytes(), sizeof(sock_task_t));
    ck_assert_int_eq(frames_made, 1001);
  }  // destroyed unspawned: the frame is freed, nothing ran
  ck_assert_int_eq(frames_gone, 1001);
  ck_assert_int_eq(cosock::spawn(nullptr, short_lived(frame_probe(), false)), CO_EINVAL);
  ck_assert_int_eq(frames_gone, 1002);
  cosock::task moved = short_lived(frame_probe(), false);
  ck_assert_int_eq(cosock::spawn(rt, std::move(moved)), CO_OK);
  ck_assert_int_eq(cosock::spawn(rt, std::move(moved)), CO_ENOMEM);  // empty now
  ck_assert_int_eq(sock_runtime_wait_tasks(rt, WAIT_MS), 1);
  ck_assert_int_eq(short_lived_ends, 1001);  // only the spawned ones ran
  ck_assert_int_eq(frames_made, 1003);
  ck_assert_int_eq(frames_gone, 1003);
  wait_counters_zero(rt);
  runtime_stop(rt);
}
END_TEST

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("cpp_coro");
  TCase *tc = tcase_create("echo_100x100");
  tcase_set_timeout(tc, 110);
  tcase_add_test(tc, echo_100x100);
  suite_add_tcase(s, tc);
  tc = tcase_create("cancel_recv");
  tcase_add_test(tc, cancel_recv);
  suite_add_tcase(s, tc);
  tc = tcase_create("deadline_silent_peer");
  tcase_add_test(tc, deadline_silent_peer);
  suite_add_tcase(s, tc);
  tc = tcase_create("shutdown_suspended");
  tcase_add_test(tc, shutdown_suspended);
  suite_add_tcase(s, tc);
  tc = tcase_create("finished_now");
  tcase_add_test(tc, finished_now);
  suite_add_tcase(s, tc);
  tc = tcase_create("no_leak");
  tcase_add_test(tc, no_leak);
  suite_add_tcase(s, tc);
  return s;
}

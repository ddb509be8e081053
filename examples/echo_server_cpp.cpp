/*
 * echo_server_cpp.cpp - echo_server.c again, in C++20 with co_await.
 *
 * What it teaches: the same server with coroutines (sock/sock.hpp) instead of
 * step functions. Read echo_server.c first; this file changes only how a task
 * is written:
 *   - A connection is a function, `connection(sock)`, whose locals (the
 *     operation record, the buffer) live in its coroutine frame and survive
 *     every co_await: no struct of state, no CO_BEGIN/CO_END, no rule about
 *     locals or switch statements.
 *   - `co_await cosock::start(sock_recv_start, &op, sock, buf, sizeof buf)`
 *     is CO_AWAIT(t, sock_recv_start(&op, sock, buf, sizeof buf, t)): the
 *     task argument is appended for you, and the await returns op.error.
 *   - Every coroutine is a sock_task_t underneath, so the stop is the same:
 *     sock_runtime_cancel_all cancels the accept loops and the connections
 *     (their awaits return CO_ECANCELED, they close what they own and end),
 *     sock_runtime_wait_tasks waits until every frame has been freed, and
 *     the counters must be back at zero.
 *   - The price: each connection is a sock_task_t (80 bytes, against the C
 *     server's 24-byte co_task_t) inside a frame the compiler lays out; the
 *     server prints the whole frame's size on stop.
 * Flags, output and exit status are echo_server's: the first line on stdout
 * is "listening on H:P"; on stop it prints "framework bytes per connection:
 * N" on stderr and exits 0 once everything is freed (1 otherwise).
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target echo_server_cpp
 *     cmake/wine-run.sh build/mingw/examples/echo_server_cpp.exe --port 7000
 * It is built where the toolchain has C++20 coroutines and a C++ standard
 * library (mingw-w64 g++, MSVC; not clang-cl with Wine's SDK).
 */
#include "cli.h"

#include <sock/sock.hpp>

#include <stddef.h>

namespace {

enum { BUFFER_SIZE = 4096, MAX_ACCEPTORS = 64 };  /* as in echo_server.c */

struct {
  sock_runtime_t *rt;
  int             idle_friendly;  /* wait for data before pinning the buffer */
  int             verbose;
  volatile LONG   accepted;       /* statistics, printed with --verbose */
  volatile LONG   errors;
} g;

void log_conn_error(const sock_t *sock, const char *step, const sock_op_t *op)
{
  char what[96];
  InterlockedIncrement(&g.errors);
  snprintf(what, sizeof what, "connection %p: %s", static_cast<const void *>(sock), step);
  cli_log_op(what, op);
}

/* ---- One connection ---------------------------------------------------------- */

cosock::task connection(sock_t *sock)
{
  sock_op_t op{};          /* the record of the one await in flight */
  char buf[BUFFER_SIZE];   /* what arrived, to send back (not framework) */
  for (;;) {
    if (g.idle_friendly) {
      /* Wait for data without pinning the buffer (many idle connections). */
      if (co_await cosock::start(sock_wait_readable_start, &op, sock) < 0)
        break;
    }
    /* Whatever has arrived, up to the buffer's size (at least one byte)... */
    if (co_await cosock::start(sock_recv_start, &op, sock, buf, sizeof buf) < 0)
      break;               /* CO_EOF: the client is done; or an error */
    /* ...and every byte of it back. */
    if (co_await cosock::start(sock_send_all_start, &op, sock, buf, op.bytes) < 0)
      break;
  }
  /* The cleanup idiom: one way out. End of stream is the normal end; a
   * cancellation is our own stop. The frame is freed after this. */
  if (op.error != CO_EOF && op.error != CO_ECANCELED)
    log_conn_error(sock, "echo", &op);
  sock_close(sock);
}

/* ---- The accept loop --------------------------------------------------------------- */

/* --acceptors loops share the listener, as in echo_server.c (which says why). */
cosock::task accept_loop(sock_t *listener)
{
  sock_op_t op{};
  sock_accept_t acc{};
  for (;;) {
    int error = co_await cosock::start(sock_accept_start, &op, listener, &acc);
    if (error == CO_ECANCELED)
      break;               /* stop: main cancelled us */
    if (error < 0) {
      cli_log_op("accept", &op);  /* a reset before we accepted: go on */
      continue;
    }
    InterlockedIncrement(&g.accepted);
    /* Runs the connection's first step here, up to its first await. (During
     * a stop it starts cancelled: the first await fails, it closes its
     * socket and ends.) If its frame cannot be allocated it never ran and
     * the socket is still ours. */
    if (cosock::spawn(g.rt, connection(acc.sock)) != CO_OK) {
      cli_log_error("accept", CO_ENOMEM, 0);
      sock_close(acc.sock);
    }
  }
}

}  // namespace

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0;
  unsigned long acceptors = 32;
  int no_stdin = 0;
  sock_t *listener = nullptr;
  sock_counters_t counters;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all)", &host, 0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--acceptors", CLI_NUMBER, "N", "accept loops sharing the listener (default 32)", &acceptors,
     1, MAX_ACCEPTORS},
    {"--idle-friendly", CLI_SWITCH, nullptr,
     "wait for data with a zero-byte receive before receiving (saves buffers, costs a kernel trip)",
     &g.idle_friendly, 0, 0},
    {"--no-stdin", CLI_SWITCH, nullptr, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, nullptr, "print statistics and the runtime's counters on stop",
     &g.verbose, 0, 0},
  };

  cli_parse(argc, argv, "echo_server_cpp",
            "An echo server (C++20 co_await): every byte a client sends comes back. Stops on "
            "Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (!cli_stop_init(!no_stdin))
    return 1;

  if (!cli_server_start(host, port, &g.rt, &listener))
    return 1;

  for (unsigned long i = 0; i < acceptors; i++) {
    if (cosock::spawn(g.rt, accept_loop(listener)) != CO_OK) {
      cli_log_error("starting an accept loop", CO_ENOMEM, 0);
      break;  /* the loops already running serve; the stop below ends them */
    }
  }

  cli_wait_stop(INFINITE);

  /* The stop of echo_server.c: cancel every task and socket, wait for every
   * coroutine to end (its frame freed), close the listener, wait for the
   * counters. */
  int clean = cli_server_stop(g.rt, listener, &counters);
  if (g.verbose || !clean)
    fprintf(stderr,
            "echo_server_cpp: %ld connections accepted, %ld errors; counters at stop: "
            "%ld sockets, %ld tasks, %ld pending operations\n",
            static_cast<long>(g.accepted), static_cast<long>(g.errors), counters.sockets,
            counters.tasks, counters.pending_ops);
  sock_runtime_shutdown(g.rt);

  /* The memory cosock keeps per connection besides the receive buffer: the
   * coroutine frame (its sock_task_t, operation record, the socket pointer,
   * the awaiters and the compiler's bookkeeping) less the buffer, and the
   * socket object. The frame is measured on one that never runs. */
  size_t frame = connection(nullptr).frame_bytes();
  size_t framework = frame > BUFFER_SIZE ? frame - BUFFER_SIZE + sock_socket_size() : 0;
  fprintf(stderr,
          "framework bytes per connection: %u (coroutine frame %u less the %u-byte buffer + "
          "socket object %u; the frame holds a sock_task_t of %u and an operation record of "
          "%u)\n",
          static_cast<unsigned>(framework), static_cast<unsigned>(frame),
          static_cast<unsigned>(BUFFER_SIZE), static_cast<unsigned>(sock_socket_size()),
          static_cast<unsigned>(sizeof(sock_task_t)), static_cast<unsigned>(sizeof(sock_op_t)));
  cli_stop_exiting();
  return clean ? 0 : 1;
}

/*
 * echo_server.c - a TCP echo server: one task per connection.
 *
 * What it teaches: the shape of every cosock server.
 *   - An accept loop is a task: it awaits a connection, spawns a task for
 *     it, and loops. Accepting never waits for a connection's work.
 *   - A connection is a task whose struct holds everything that must survive
 *     a wait: its socket, its operation record, its buffer. Its step function
 *     reads top to bottom: receive, send it all back, repeat.
 *   - The lightest task that does the job: a connection is a plain co_task_t
 *     (24 bytes), not a sock_task_t (80), because nothing needs to cancel it
 *     by itself. Its socket is what stops it: sock_cancel, or the runtime's
 *     stop, cancels the socket's receive, and every later operation on it
 *     fails too. A connection costs the framework 128 bytes in all in a
 *     release build (task 24, operation record 64, socket 40). The accept
 *     loops are sock_task_t (a handful: their extra bytes do not matter),
 *     counted by the runtime, so the stop can wait for them.
 *   - The cleanup idiom: every await's failure (end of stream, a reset, a
 *     cancellation on stop) leads to the one place where the task closes
 *     what it owns; its completion hook frees the struct.
 *   - Stopping cleanly: the runtime knows every live task and socket, so the
 *     program keeps no list of its own: sock_runtime_cancel_all cancels the
 *     accept loops and every socket (and a connection accepted during the
 *     stop starts cancelled), sock_runtime_wait_tasks waits for the accept
 *     loops; each connection closes its socket as it ends, so the runtime's
 *     counters reaching zero say they all have; then it shuts down.
 * It is also the program the echo benchmark (tests/bench/run_bench.sh)
 * measures against a hand-written thread-pool server, so its hot path is
 * lean: it receives straight into the connection's buffer (one kernel
 * operation per message), never a zero-byte "wait until readable" first,
 * unless --idle-friendly asks for it.
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target echo_server
 *     cmake/wine-run.sh build/mingw/examples/echo_server.exe --port 7000
 * and talk to it from another terminal:  nc 127.0.0.1 7000
 * On Windows:
 *     cmake --build --preset msvc --target echo_server
 *     build\msvc\examples\Debug\echo_server.exe --port 7000
 * Run with --help for every flag. The first line on stdout is
 * "listening on H:P"; on stop it prints on stderr
 * "framework bytes per connection: N" and exits 0 once everything is freed.
 */
#include "cli.h"

#include <stddef.h>

enum { BUFFER_SIZE = 4096 };  /* per connection, like the benchmark's baseline */

/* ---- One connection ------------------------------------------------------ */

typedef struct conn {
  co_task_t   task;             /* first: a plain task (the socket stops it) */
  sock_t     *sock;             /* the connection: this task owns it */
  sock_op_t   op;               /* the record of the one await in flight */
  char        buf[BUFFER_SIZE]; /* what arrived, to send back (not framework) */
} conn_t;

static struct {
  sock_runtime_t *rt;
  int             idle_friendly;/* wait for data before pinning the buffer */
  int             verbose;
  volatile LONG   accepted;     /* statistics, printed with --verbose */
  volatile LONG   errors;
} g;

static void log_conn_error(conn_t *c, const char *step)
{
  char what[96];
  InterlockedIncrement(&g.errors);
  snprintf(what, sizeof what, "connection %p: %s", (void *)c, step);
  cli_log_op(what, &c->op);
}

static co_state_t conn_step(co_task_t *t)
{
  conn_t *c = (conn_t *)t;
  CO_BEGIN(t);
  for (;;) {
    if (g.idle_friendly) {
      /* Wait for data without pinning the buffer (many idle connections). */
      CO_AWAIT(t, sock_wait_readable_start(&c->op, c->sock, t));
      if (c->op.error < 0)
        break;
    }
    /* Whatever has arrived, up to the buffer's size (at least one byte)... */
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->buf, sizeof c->buf, t));
    if (c->op.error < 0)
      break;                    /* CO_EOF: the client is done; or an error */
    /* ...and every byte of it back. */
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->buf, c->op.bytes, t));
    if (c->op.error < 0)
      break;
  }
  /* The cleanup idiom: one way out, where the task releases what it owns.
   * End of stream is the normal end; a cancellation is our own stop. */
  if (c->op.error != CO_EOF && c->op.error != CO_ECANCELED)
    log_conn_error(c, "echo");
  sock_close(c->sock);
  CO_END(t);
}

/* The completion hook: runs once, after the task's last step. */
static void conn_done(co_task_t *t)
{
  conn_t *c = (conn_t *)t;
  free(c);
}

/* ---- The accept loop -------------------------------------------------------- */

/* Several accept loops share the listener (--acceptors, default 32). Each
 * runs a new connection's first step itself, up to its first await; with
 * one loop, a burst of connections is set up one after the other on one
 * thread while the pool's other threads idle (measured: 0.45x the
 * hand-written server's connections per second with one loop, 0.66x with
 * two, 1.08x with eight). On a pool saturated by busy connections each
 * set-up waits on the system for tens of milliseconds, so the loops bound
 * how fast newcomers get in: of 1,000 clients arriving at 1,000/s into
 * closed-loop ping-pong, about 200, 550, 830 and 960 were served within
 * 10 s with 1, 8, 16 and 32 loops, and all 1,000 with 32 loops and the
 * listener's 32 AcceptEx calls posted (run_bench.sh's `arrive` point,
 * 2026-11-30; sock/accept.c has the measurements). */
enum { MAX_ACCEPTORS = 64 };

typedef struct server {
  sock_task_t   task;      /* first */
  sock_t       *listener;  /* shared; main closes it after every loop ended */
  sock_op_t     op;
  sock_accept_t acc;       /* what the accept delivers */
} server_t;

static server_t servers[MAX_ACCEPTORS];  /* static: a pending accept points here */

static co_state_t server_step(co_task_t *t)
{
  server_t *s = (server_t *)t;
  conn_t *c;               /* a local: used only between two awaits */
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
    if (s->op.error == CO_ECANCELED)
      break;               /* stop: main cancelled us */
    if (s->op.error < 0) {
      cli_log_op("accept", &s->op);  /* a reset before we accepted: go on */
      continue;
    }
    c = (conn_t *)malloc(sizeof *c);  /* the buffer needs no clearing */
    if (c == NULL) {
      cli_log_error("accept", CO_ENOMEM, 0);
      sock_close(s->acc.sock);
      continue;
    }
    memset(c, 0, offsetof(conn_t, buf));
    c->sock = s->acc.sock;
    InterlockedIncrement(&g.accepted);
    /* Runs the connection's first step here, up to its first await. (During
     * a stop the socket starts cancelled: the first await fails, the task
     * closes it and ends.) */
    co_task_init(&c->task, conn_step, conn_done);
    co_resume(&c->task);
  }
  CO_END(t);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0;
  int no_stdin = 0, clean, i;
  unsigned long acceptors = 32;
  sock_t *listener = NULL;
  sock_counters_t counters;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all)", &host, 0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--acceptors", CLI_NUMBER, "N", "accept loops sharing the listener (default 32)", &acceptors,
     1, MAX_ACCEPTORS},
    {"--idle-friendly", CLI_SWITCH, NULL,
     "wait for data with a zero-byte receive before receiving (saves buffers, costs a kernel trip)",
     &g.idle_friendly, 0, 0},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &g.verbose, 0, 0},
  };

  cli_parse(argc, argv, "echo_server",
            "An echo server: every byte a client sends comes back. Stops on Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (!cli_stop_init(!no_stdin))
    return 1;

  if (!cli_server_start(host, port, &g.rt, &listener))
    return 1;

  for (i = 0; i < (int)acceptors; i++) {
    servers[i].listener = listener;
    sock_spawn(g.rt, &servers[i].task, server_step, NULL);
  }

  cli_wait_stop(INFINITE);

  /* Stop: cancel every live task and socket, so the accept loops and the
   * connections see CO_ECANCELED at their awaits, close what they own and
   * are freed. A connection accepted meanwhile starts cancelled, so none is
   * left behind. Then wait for the accept loops, close the listener they
   * shared, and wait for the counters: no socket left means no connection. */
  clean = cli_server_stop(g.rt, listener, &counters);
  if (g.verbose || !clean)
    fprintf(stderr,
            "echo_server: %ld connections accepted, %ld errors; counters at stop: "
            "%ld sockets, %ld tasks, %ld pending operations\n",
            (long)g.accepted, (long)g.errors, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(g.rt);

  /* The memory cosock keeps per connection, besides the receive buffer and
   * this program's own field (the socket pointer): the task (co_task_t) and
   * the operation record in struct conn, and the socket object the library
   * allocates. A sock_task_t in place of the co_task_t would add 64. */
  fprintf(stderr,
          "framework bytes per connection: %u (task %u + operation record %u + socket "
          "object %u; with a sock_task_t: %u)\n",
          (unsigned)(sizeof(co_task_t) + sizeof(sock_op_t) + sock_socket_size()),
          (unsigned)sizeof(co_task_t), (unsigned)sizeof(sock_op_t), (unsigned)sock_socket_size(),
          (unsigned)(sizeof(sock_task_t) + sizeof(sock_op_t) + sock_socket_size()));
  cli_stop_exiting();
  return clean ? 0 : 1;
}

/*
 * tcp_proxy.c - forwards every connection to a target host:port.
 *
 * What it teaches: full duplex, and who owns what when two tasks share.
 *   - A task has one await at a time, so a connection that must read from
 *     both sides at once is two tasks: "up" (client -> target) and "down"
 *     (target -> client). Each has its own operation record and buffer.
 *   - Backpressure for free: a direction receives a chunk, sends all of it,
 *     and only then receives again. A slow reader on one side slows the
 *     writer on the other; nothing piles up in the proxy.
 *   - Half-close: end of stream from one side becomes sock_shutdown_send on
 *     the other, and the other direction carries on. The connection is over
 *     when both directions are.
 *   - Shared ownership, made simple: the session (both sockets, both tasks)
 *     belongs to whichever direction finishes *last*. An interlocked counter
 *     of running directions decides it; that one closes both sockets and
 *     frees the session. Exactly one owner, whatever order things end in.
 *   - An error on one direction (a reset, a failed send) cancels the other
 *     direction with sock_task_cancel, which may be parked in a receive that
 *     would otherwise never end.
 *
 * Run it, e.g. in front of echo_server (see echo_server.c):
 *     cmake --build --preset mingw --target tcp_proxy echo_server
 *     cmake/wine-run.sh build/mingw/examples/echo_server.exe --port 7000 &
 *     cmake/wine-run.sh build/mingw/examples/tcp_proxy.exe --port 7001 --target-port 7000
 *     nc 127.0.0.1 7001
 * On Windows:  build\msvc\examples\Debug\tcp_proxy.exe --port 7001 --target-port 7000
 * Stops on Ctrl+C or end of stdin (--no-stdin to keep it running detached).
 */
#include "cli.h"

enum { CHUNK = 16384 };  /* bytes a direction moves at a time */

typedef struct session session_t;

/* One direction: receive from `from`, send to `to`, until either ends. */
typedef struct direction {
  sock_task_t task;        /* first: the runtime's part */
  session_t  *session;
  sock_t     *from, *to;   /* borrowed: the session owns the sockets */
  sock_op_t   op;
  char        buf[CHUNK];
} direction_t;

struct session {
  direction_t   up;        /* client -> target; it also connects */
  direction_t   down;      /* target -> client; spawned by `up` once connected */
  sock_t       *client;    /* the accepted connection */
  sock_t       *target;    /* the connection to the target, once made */
  sock_addr_t   peer;      /* the client's address, for logs */
  volatile LONG running;   /* directions not finished: the last one cleans up */
};

static struct {
  sock_runtime_t *rt;
  const char     *target_host;
  unsigned long   target_port;
  volatile LONG   accepted, errors;
} g;

static void log_session(session_t *s, const char *step, const sock_op_t *op)
{
  char peer[80], what[160];
  InterlockedIncrement(&g.errors);
  sock_addr_format(&s->peer, peer, sizeof peer);
  snprintf(what, sizeof what, "client %s: %s", peer, step);
  cli_log_op(what, op);
}

/* ---- Moving bytes in one direction ------------------------------------------ */

/* The completion hook of both directions. The last one to finish owns the
 * session: it closes both sockets and frees it. */
static void direction_done(co_task_t *t)
{
  session_t *s = ((direction_t *)t)->session;
  if (InterlockedDecrement(&s->running) > 0)
    return;  /* the other direction is still moving bytes */
  sock_close(s->client);
  sock_close(s->target);  /* NULL if the connect failed: ignored */
  free(s);
}

/* The loop both directions share. `up` enters it after connecting. */
static co_state_t direction_step(co_task_t *t)
{
  direction_t *d = (direction_t *)t;
  session_t *s = d->session;
  direction_t *other = d == &s->up ? &s->down : &s->up;
  CO_BEGIN(t);

  if (d == &s->up) {
    /* Connect to the target first; only then can bytes flow either way. */
    CO_AWAIT(t, sock_connect_start(&d->op, g.rt, g.target_host, (unsigned short)g.target_port,
                                   &s->target, t));
    if (d->op.error < 0) {
      if (d->op.error != CO_ECANCELED)
        log_session(s, "connect to the target", &d->op);
      CO_EXIT(t, d->op.error);  /* the hook closes the client: we are last */
    }
    d->to = s->target;
    s->down.session = s;
    s->down.from = s->target;
    s->down.to = s->client;
    InterlockedIncrement(&s->running);  /* before spawning: it may end at once */
    /* (During a stop `down` starts cancelled: it ends at its first await.) */
    sock_spawn(g.rt, &s->down.task, direction_step, direction_done);
  }

  for (;;) {
    CO_AWAIT(t, sock_recv_start(&d->op, d->from, d->buf, sizeof d->buf, t));
    if (d->op.error == CO_EOF) {
      /* Half-close: the sender is done; tell the receiver, keep the other
       * direction going. */
      sock_shutdown_send(d->to);
      break;
    }
    if (d->op.error < 0)
      break;
    CO_AWAIT(t, sock_send_all_start(&d->op, d->to, d->buf, d->op.bytes, t));
    if (d->op.error < 0)
      break;
  }
  if (d->op.error < 0 && d->op.error != CO_EOF) {
    if (d->op.error != CO_ECANCELED)
      log_session(s, d == &s->up ? "client -> target" : "target -> client", &d->op);
    /* This connection is broken: the other direction may be parked in a
     * receive that would never end. (A finished task ignores a cancel.) */
    sock_task_cancel(&other->task);
  }
  CO_END(t);
}

/* ---- The accept loop ---------------------------------------------------------- */

typedef struct server {
  sock_task_t   task;      /* first */
  sock_t       *listener;  /* owned by this task */
  sock_op_t     op;
  sock_accept_t acc;
} server_t;

static server_t server;

static co_state_t server_step(co_task_t *t)
{
  server_t *sv = (server_t *)t;
  session_t *s;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&sv->op, sv->listener, &sv->acc, t));
    if (sv->op.error == CO_ECANCELED)
      break;
    if (sv->op.error < 0) {
      cli_log_op("accept", &sv->op);
      continue;
    }
    s = (session_t *)calloc(1, sizeof *s);
    if (s == NULL) {
      cli_log_error("accept", CO_ENOMEM, 0);
      sock_close(sv->acc.sock);
      continue;
    }
    s->client = sv->acc.sock;
    s->peer = sv->acc.peer;
    s->up.session = s;
    s->up.from = s->client;
    s->running = 1;          /* `up`; `down` is counted when `up` spawns it */
    InterlockedIncrement(&g.accepted);
    sock_spawn(g.rt, &s->up.task, direction_step, direction_done);
  }
  sock_close(sv->listener);
  CO_END(t);
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0;
  int no_stdin = 0, verbose = 0, clean;
  sock_counters_t counters;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all)", &host, 0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--target-host", CLI_STRING, "H", "host to forward to (default 127.0.0.1)",
     &g.target_host, 0, 0},
    {"--target-port", CLI_NUMBER, "P", "port to forward to (required)", &g.target_port, 1,
     65535},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached proxy)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &verbose, 0, 0},
  };

  g.target_host = "127.0.0.1";
  cli_parse(argc, argv, "tcp_proxy",
            "Forwards every connection to --target-host:--target-port, both ways, half-close "
            "included. Stops on Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (g.target_port == 0) {
    fprintf(stderr, "tcp_proxy: --target-port is required (try --help)\n");
    return 2;
  }
  if (!cli_stop_init(!no_stdin))
    return 1;
  if (!cli_server_start(host, port, &g.rt, &server.listener))
    return 1;
  sock_spawn(g.rt, &server.task, server_step, NULL);

  cli_wait_stop(INFINITE);

  /* The same stop as echo_server: the runtime cancels every live task, the
   * accept loop and both directions of every session (a `down` spawned
   * meanwhile starts cancelled); each direction sees CO_ECANCELED and the
   * last one cleans up. Then wait until every hook has run. */
  clean = cli_server_stop(g.rt, NULL, &counters);
  if (verbose || !clean)
    fprintf(stderr,
            "tcp_proxy: %ld connections accepted, %ld errors; counters at stop: "
            "%ld sockets, %ld tasks, %ld pending operations\n",
            (long)g.accepted, (long)g.errors, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(g.rt);
  cli_stop_exiting();
  return clean ? 0 : 1;
}

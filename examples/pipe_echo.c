/*
 * pipe_echo.c - an echo server on a named pipe, and its client.
 *
 * What it teaches: a named pipe is a stream like a TCP connection.
 *   - The connection handler below is echo_server.c's, word for word:
 *     receive, send it all back, repeat, close on the first failure. It
 *     does not know it serves a pipe; sock_recv_start and
 *     sock_send_all_start work on any stream. (A client closing its end is
 *     CO_EOF at the receive, as on TCP.)
 *   - What differs is only how a connection arrives. A pipe has no
 *     listener: the server makes instances of the name and awaits a client
 *     on each. Each acceptor task keeps one instance waiting; when a client
 *     comes, it makes the next instance before it hands this one to a
 *     handler, so the name is never without a waiting instance.
 *   - The pipe's security is the library's default: no remote clients, the
 *     name cannot be taken over by another process, and only this user
 *     (and SYSTEM) may open it.
 *   - The client mode opens the pipe (waiting while every instance is busy,
 *     bounded by a deadline) and sends N messages, each verified when it
 *     comes back, over one or more connections, and prints round trips per
 *     second (tests/bench/run_pipe_file_bench.sh measures that).
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target pipe_echo
 *     cmake/wine-run.sh build/mingw/examples/pipe_echo.exe --name demo
 * and in another terminal (the same Wine prefix):
 *     cmake/wine-run.sh build/mingw/examples/pipe_echo.exe --client --name demo --messages 1000
 * On Windows:  build\msvc\examples\Debug\pipe_echo.exe --name demo  (and --client ...)
 * The server's first line on stdout is "listening on \\.\pipe\NAME" (without
 * --name it picks "cosock-echo-<process id>"); it exits 0 after a clean stop.
 * The client exits 0 if every message came back right, else 1.
 */
#include "cli.h"

#include <stddef.h>

enum { BUFFER_SIZE = 4096 };

static struct {
  sock_runtime_t *rt;
  const char     *name;
  unsigned        flags;        /* SOCK_PIPE_MESSAGE with --message */
  int             verbose;
  volatile LONG   accepted;
  volatile LONG   errors;
  /* client mode */
  unsigned long   connections, messages, size, timeout_ms;
  volatile LONG   running, failed;
  volatile LONG64 round_trips;
  HANDLE          all_done;
} g;

/* ---- One connection: echo_server.c's handler, unchanged ------------------- */

typedef struct conn {
  co_task_t   task;             /* first: a plain task (the socket stops it) */
  sock_t     *sock;             /* the connection: this task owns it */
  sock_op_t   op;               /* the record of the one await in flight */
  char        buf[BUFFER_SIZE]; /* what arrived, to send back (not framework) */
} conn_t;

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
    /* Whatever has arrived, up to the buffer's size (at least one byte)... */
    CO_AWAIT(t, sock_recv_start(&c->op, c->sock, c->buf, sizeof c->buf, t));
    if (c->op.error < 0)
      break;                    /* CO_EOF: the client is done; or an error */
    /* ...and every byte of it back. */
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->buf, c->op.bytes, t));
    if (c->op.error < 0)
      break;
  }
  if (c->op.error != CO_EOF && c->op.error != CO_ECANCELED)
    log_conn_error(c, "echo");
  sock_close(c->sock);
  CO_END(t);
}

static void conn_done(co_task_t *t)
{
  free(t);
}

/* ---- The acceptors: one waiting instance each ---------------------------------- */

enum { MAX_INSTANCES = 64 };

typedef struct acceptor {
  sock_task_t task;      /* first: counted, so the stop can wait for it */
  sock_t     *pipe;      /* the instance awaiting a client: this task owns it */
  sock_op_t   op;
} acceptor_t;

static acceptor_t acceptors[MAX_INSTANCES];  /* static: a pending wait points here */

static co_state_t acceptor_step(co_task_t *t)
{
  acceptor_t *a = (acceptor_t *)t;
  sock_t *next;            /* locals: used only between two awaits */
  conn_t *c;
  int rc;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_pipe_wait_client_start(&a->op, a->pipe, t));
    if (a->op.error == CO_ECANCELED)
      break;               /* stop */
    if (a->op.error < 0) {
      cli_log_op("awaiting a client", &a->op);
      break;
    }
    /* The next instance first: the name keeps a waiting instance. */
    rc = sock_pipe_create_instance(a->pipe, &next);
    if (rc != CO_OK) {
      cli_log_error("a new instance", rc, 0);
      break;
    }
    c = (conn_t *)malloc(sizeof *c);
    if (c == NULL) {
      cli_log_error("a client", CO_ENOMEM, 0);
      sock_close(a->pipe);
    } else {
      memset(c, 0, offsetof(conn_t, buf));
      c->sock = a->pipe;   /* the handler owns the connected instance now */
      InterlockedIncrement(&g.accepted);
      co_task_init(&c->task, conn_step, conn_done);
      co_resume(&c->task);
    }
    a->pipe = next;
  }
  sock_close(a->pipe);
  CO_END(t);
}

/* ---- The server ------------------------------------------------------------------ */

static int run_server(unsigned long instances)
{
  sock_pipe_config_t config;
  sock_counters_t counters;
  char default_name[64];
  unsigned long i;
  int rc, clean;
  sock_t *first = NULL;

  if (g.name == NULL) {
    snprintf(default_name, sizeof default_name, "cosock-echo-%lu",
             (unsigned long)GetCurrentProcessId());
    g.name = default_name;
  }
  rc = sock_runtime_create(&g.rt, NULL);
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 1;
  }
  memset(&config, 0, sizeof config);
  config.flags = g.flags;
  rc = sock_pipe_create(g.rt, g.name, &config, &first);
  if (rc != CO_OK) {
    cli_log_error(g.name, rc, 0);  /* CO_EADDRINUSE: someone serves that name */
    sock_runtime_shutdown(g.rt);
    return 1;
  }
  acceptors[0].pipe = first;
  for (i = 1; i < instances; i++) {
    rc = sock_pipe_create_instance(first, &acceptors[i].pipe);
    if (rc != CO_OK) {
      cli_log_error("an instance", rc, 0);
      instances = i;
      break;
    }
  }
  printf("listening on %s%s\n", strncmp(g.name, "\\\\.\\pipe\\", 9) == 0 ? "" : "\\\\.\\pipe\\",
         g.name);
  fflush(stdout);
  for (i = 0; i < instances; i++)
    sock_spawn(g.rt, &acceptors[i].task, acceptor_step, NULL);

  cli_wait_stop(INFINITE);

  /* The stop of echo_server.c: every task and pipe end cancelled, each
   * closes what it owns; no listener to close here. */
  clean = cli_server_stop(g.rt, NULL, &counters);
  if (g.verbose || !clean)
    fprintf(stderr,
            "pipe_echo: %ld clients served, %ld errors; counters at stop: %ld handles, "
            "%ld tasks, %ld pending operations\n",
            (long)g.accepted, (long)g.errors, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(g.rt);
  cli_stop_exiting();
  return clean ? 0 : 1;
}

/* ---- The client ------------------------------------------------------------------ */

typedef struct client {
  sock_task_t   task;     /* first: Ctrl+C and the deadline reach it */
  unsigned long id, message;
  sock_t       *sock;
  sock_op_t     op;
  char         *out, *in; /* g.size bytes each */
  int           error;
} client_t;

static unsigned char pattern(unsigned long id, unsigned long m, unsigned long i)
{
  return (unsigned char)(i * 7u + (i >> 8) + m * 31u + id * 131u + 1u);
}

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  unsigned long i;
  CO_BEGIN(t);
  if (g.timeout_ms > 0 && sock_deadline_set(&c->task, (unsigned)g.timeout_ms) != CO_OK)
    CO_EXIT(t, c->error = CO_ENOMEM);
  CO_AWAIT(t, sock_pipe_open_start(&c->op, g.rt, g.name, g.flags, &c->sock, t));
  if (c->op.error < 0) {
    cli_log_op(g.name, &c->op);  /* CO_ENOENT: nobody serves that name */
    CO_EXIT(t, c->error = c->op.error);
  }
  for (c->message = 0; c->message < g.messages; c->message++) {
    for (i = 0; i < g.size; i++)
      c->out[i] = (char)pattern(c->id, c->message, i);
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, g.size, t));
    if (c->op.error < 0)
      break;
    CO_AWAIT(t, sock_recv_exactly_start(&c->op, c->sock, c->in, g.size, t));
    if (c->op.error < 0)
      break;
    if (memcmp(c->in, c->out, g.size) != 0) {
      fprintf(stderr, "pipe_echo: connection %lu: message %lu came back wrong\n", c->id,
              c->message);
      c->op.error = CO_EPROTO;
      break;
    }
    InterlockedIncrement64(&g.round_trips);
  }
  c->error = c->op.error;
  if (c->error < 0) {
    char what[64];
    snprintf(what, sizeof what, "connection %lu, message %lu", c->id, c->message);
    cli_log_op(what, &c->op);
  }
  sock_close(c->sock);
  CO_END(t);
}

static void client_done(co_task_t *t)
{
  client_t *c = (client_t *)t;
  if (c->error < 0)
    InterlockedIncrement(&g.failed);
  if (InterlockedDecrement(&g.running) == 0)
    SetEvent(g.all_done);
}

static int run_client(void)
{
  client_t *clients;
  LARGE_INTEGER f, t0, t1;
  double seconds;
  unsigned long i;
  int rc, stopped = 0;
  HANDLE waits[2];
  if (g.name == NULL) {
    fprintf(stderr, "pipe_echo: --client needs --name\n");
    return 2;
  }
  rc = sock_runtime_create(&g.rt, NULL);
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 1;
  }
  clients = (client_t *)calloc(g.connections, sizeof *clients);
  g.all_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (clients == NULL || g.all_done == NULL) {
    cli_log_error("client memory", CO_ENOMEM, 0);
    sock_runtime_shutdown(g.rt);
    return 1;
  }
  for (i = 0; i < g.connections; i++) {
    clients[i].out = (char *)malloc(g.size);
    clients[i].in = (char *)malloc(g.size);
    if (clients[i].out == NULL || clients[i].in == NULL) {
      cli_log_error("client memory", CO_ENOMEM, 0);
      return 1;
    }
  }
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  g.running = (LONG)g.connections;
  for (i = 0; i < g.connections; i++) {
    clients[i].id = i;
    sock_spawn(g.rt, &clients[i].task, client_step, client_done);
  }
  waits[0] = g.all_done;
  waits[1] = cli_stop_event();
  if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) != WAIT_OBJECT_0) {
    stopped = 1;  /* Ctrl+C: every client task ends at its await */
    sock_runtime_cancel_all(g.rt);
    WaitForSingleObject(g.all_done, INFINITE);
  }
  QueryPerformanceCounter(&t1);
  seconds = (double)(t1.QuadPart - t0.QuadPart) / (double)f.QuadPart;
  printf("pipe_echo: %lld round trips verified over %lu connections in %.3f s: %.0f round "
         "trips/s\n", (long long)g.round_trips, g.connections, seconds,
         seconds > 0 ? (double)g.round_trips / seconds : 0.0);
  fflush(stdout);
  sock_runtime_shutdown(g.rt);
  for (i = 0; i < g.connections; i++) {
    free(clients[i].out);
    free(clients[i].in);
  }
  free(clients);
  cli_stop_exiting();
  return stopped || g.failed > 0 ||
                 g.round_trips != (LONG64)(g.connections * g.messages) ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  unsigned long instances = 4;
  int client = 0, message = 0, no_stdin = 0;
  const cli_flag_t flags[] = {
    {"--name", CLI_STRING, "NAME",
     "the pipe, \\\\.\\pipe\\NAME (server default: cosock-echo-<pid>)", &g.name, 0, 0},
    {"--instances", CLI_NUMBER, "N", "server: instances awaiting clients (default 4)", &instances,
     1, MAX_INSTANCES},
    {"--message", CLI_SWITCH, NULL, "message mode (each send one message) instead of bytes",
     &message, 0, 0},
    {"--client", CLI_SWITCH, NULL, "be the client: send --messages messages and check the echo",
     &client, 0, 0},
    {"--connections", CLI_NUMBER, "C", "client: connections at once (default 1)",
     &g.connections, 1, 1000},
    {"--messages", CLI_NUMBER, "M", "client: messages per connection (default 1000)",
     &g.messages, 0, 100000000},
    {"--size", CLI_NUMBER, "B", "client: bytes per message (default 64)", &g.size, 1, 16777216},
    {"--timeout", CLI_NUMBER, "MS", "client: deadline per connection, 0 = none (default 60000)",
     &g.timeout_ms, 0, 86400000},
    {"--no-stdin", CLI_SWITCH, NULL, "server: do not stop at end of stdin", &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "server: print statistics on stop", &g.verbose, 0, 0},
  };
  g.connections = 1;
  g.messages = 1000;
  g.size = 64;
  g.timeout_ms = 60000;
  cli_parse(argc, argv, "pipe_echo",
            "An echo server on a named pipe (stops on Ctrl+C or end of stdin), or with --client "
            "its client.",
            flags, sizeof flags / sizeof flags[0]);
  g.flags = message ? SOCK_PIPE_MESSAGE : 0;
  if (!cli_stop_init(!client && !no_stdin))
    return 1;
  return client ? run_client() : run_server(instances);
}

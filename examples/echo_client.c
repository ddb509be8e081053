/*
 * echo_client.c - drives an echo server and checks every byte it sends back.
 *
 * What it teaches: the client side, and many tasks at once.
 *   - A client task connects (sock_connect_start resolves the name and tries
 *     each address), then ping-pongs: send a message with send-all, read the
 *     echo with receive-exactly (a message may come back in several pieces;
 *     receive-exactly gathers them), compare.
 *   - N connections are N tasks on the thread pool: no thread per
 *     connection. They run in parallel; what they share (the counters
 *     below) is updated with interlocked operations.
 *   - A deadline (sock_deadline_set) bounds a whole task: a server that stops
 *     answering gives CO_ETIMEDOUT at whichever await the task is parked in.
 *   - main is not a task: it waits on a Win32 event that the last task's
 *     completion hook sets.
 * Each message has a pattern of its own (it depends on the connection, the
 * message and the offset), so a lost, doubled, reordered or misrouted chunk
 * is caught.
 *
 * Run it against a running echo_server (see echo_server.c):
 *     cmake --build --preset mingw --target echo_client
 *     cmake/wine-run.sh build/mingw/examples/echo_client.exe --port 7000 --connections 10
 * On Windows:  build\msvc\examples\Debug\echo_client.exe --port 7000 --connections 10
 * It prints one summary line with the round trips per second and exits 0 if
 * every byte came back right; otherwise it says what failed and exits 1.
 */
#include "cli.h"

/* ---- One connection ------------------------------------------------------ */

typedef struct client {
  sock_task_t    task;     /* first: the runtime's part (Ctrl+C cancels it) */
  unsigned long  id;       /* which connection: part of the pattern */
  unsigned long  message;  /* which message: a loop counter survives awaits here */
  sock_t        *sock;
  sock_op_t      op;
  char          *out;      /* the message sent (size bytes) */
  char          *in;       /* its echo */
  int            error;    /* CO_OK, or what ended this client */
} client_t;

static struct {
  sock_runtime_t *rt;
  const char     *host;
  unsigned long   port, connections, messages, size, timeout_ms;
  volatile LONG   running;       /* clients not finished */
  volatile LONG   failed;        /* clients that ended with an error */
  volatile LONG64 round_trips;   /* verified round trips, all clients */
  HANDLE          all_done;      /* set when `running` reaches 0 */
} g;

/* The byte at offset i of message m on connection id. */
static unsigned char pattern(unsigned long id, unsigned long m, unsigned long i)
{
  return (unsigned char)(i * 7u + (i >> 8) + m * 31u + id * 131u + 1u);
}

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  unsigned long i;  /* a local: only used between awaits */
  char what[96];
  CO_BEGIN(t);

  if (g.timeout_ms > 0 && sock_deadline_set(&c->task, (unsigned)g.timeout_ms) != CO_OK)
    CO_EXIT(t, c->error = CO_ENOMEM);
  CO_AWAIT(t, sock_connect_start(&c->op, g.rt, g.host, (unsigned short)g.port, &c->sock, t));
  if (c->op.error < 0) {
    snprintf(what, sizeof what, "connection %lu: connect to %s:%lu", c->id, g.host, g.port);
    cli_log_op(what, &c->op);
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
      for (i = 0; c->in[i] == c->out[i]; i++) {
      }
      fprintf(stderr, "echo_client: connection %lu, message %lu: byte %lu is 0x%02x, "
              "expected 0x%02x\n", c->id, c->message, i, (unsigned char)c->in[i],
              (unsigned char)c->out[i]);
      c->error = CO_EPROTO;
      break;
    }
    InterlockedIncrement64(&g.round_trips);
  }
  if (c->op.error < 0) {
    snprintf(what, sizeof what, "connection %lu, message %lu", c->id, c->message);
    cli_log_op(what, &c->op);
    c->error = c->op.error;
  }
  sock_close(c->sock);  /* the server sees end of stream */
  CO_EXIT(t, c->error);
  CO_END(t);
}

static void client_done(co_task_t *t)
{
  client_t *c = (client_t *)t;
  if (c->error != CO_OK)
    InterlockedIncrement(&g.failed);
  free(c->out);
  free(c);
  if (InterlockedDecrement(&g.running) == 0)
    SetEvent(g.all_done);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
  LARGE_INTEGER freq, t0, t1;
  HANDLE waits[2];
  unsigned long id;
  double seconds;
  int rc;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "the echo server's host (default 127.0.0.1)", &g.host, 0, 0},
    {"--port", CLI_NUMBER, "P", "the echo server's port (required)", &g.port, 1, 65535},
    {"--connections", CLI_NUMBER, "N", "connections, each its own task (default 1)",
     &g.connections, 1, 100000},
    {"--messages", CLI_NUMBER, "M", "messages per connection (default 1000)", &g.messages, 0,
     100000000},
    {"--size", CLI_NUMBER, "S", "bytes per message (default 64)", &g.size, 1, 16u << 20},
    {"--timeout", CLI_NUMBER, "MS",
     "deadline for each connection's whole run, in ms (default 60000; 0: none)", &g.timeout_ms,
     0, 86400000},
  };

  g.host = "127.0.0.1";
  g.connections = 1;
  g.messages = 1000;
  g.size = 64;
  g.timeout_ms = 60000;
  cli_parse(argc, argv, "echo_client",
            "Connects to an echo server, sends messages and verifies every byte of the echo.",
            flags, sizeof flags / sizeof flags[0]);
  if (g.port == 0) {
    fprintf(stderr, "echo_client: --port is required (try --help)\n");
    return 2;
  }
  if (!cli_stop_init(0))
    return 1;
  g.all_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (g.all_done == NULL) {
    fprintf(stderr, "echo_client: cannot create events (error %lu)\n", GetLastError());
    return 1;
  }
  rc = sock_runtime_create(&g.rt, NULL);
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 1;
  }

  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&t0);
  g.running = 1;  /* main's own count, so no early client can signal "all done" */
  for (id = 0; id < g.connections; id++) {
    client_t *c = (client_t *)calloc(1, sizeof *c);
    char *bufs = (char *)malloc(2 * g.size);
    if (c == NULL || bufs == NULL) {
      free(c);
      free(bufs);
      fprintf(stderr, "echo_client: out of memory at connection %lu\n", id);
      InterlockedIncrement(&g.failed);
      break;
    }
    c->id = id;
    c->out = bufs;
    c->in = bufs + g.size;
    InterlockedIncrement(&g.running);
    sock_spawn(g.rt, &c->task, client_step, client_done);
  }
  if (InterlockedDecrement(&g.running) == 0)
    SetEvent(g.all_done);

  /* Wait for every client, or Ctrl+C: then the runtime cancels every live
   * client task, and we wait until each has run its completion hook. */
  waits[0] = g.all_done;
  waits[1] = cli_stop_event();
  if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) != WAIT_OBJECT_0) {
    fprintf(stderr, "echo_client: interrupted, cancelling\n");
    InterlockedIncrement(&g.failed);
    sock_runtime_cancel_all(g.rt);
    sock_runtime_wait_tasks(g.rt, 10000);
  }
  QueryPerformanceCounter(&t1);
  sock_runtime_shutdown(g.rt);

  seconds = (double)(t1.QuadPart - t0.QuadPart) / (double)freq.QuadPart;
  printf("echo_client: %lu connections x %lu messages x %lu bytes: %lld round trips in %.3f s, "
         "%.0f round trips/s, %s\n",
         g.connections, g.messages, g.size, (long long)g.round_trips, seconds,
         seconds > 0 ? (double)g.round_trips / seconds : 0.0,
         g.failed == 0 ? "all bytes verified" : "FAILED");
  if (g.failed != 0)
    fprintf(stderr, "echo_client: %ld of %lu connections failed\n", (long)g.failed,
            g.connections);
  cli_stop_exiting();
  return g.failed == 0 ? 0 : 1;
}

/*
 * echo_demo.c - an echo server and a client in one program, on loopback.
 *
 * What it teaches: how a cosock task is written. Each side is one function
 * that reads top to bottom, with a CO_AWAIT wherever it waits for the
 * network, and each is a *task*: a struct (which holds everything that must
 * survive a wait) plus a step function. No thread is blocked while a task
 * waits; when the operation completes, a thread-pool thread carries the task
 * on from its await.
 *
 *   server task: accept one connection, then receive and send back whatever
 *                arrives, until the client closes its side (end of stream).
 *   client task: connect, then for each line: send it, read the echo back,
 *                print both; then close.
 *
 * Rules you will see applied (co/co.h explains them):
 *   - locals do not survive an await: state lives in the task's struct;
 *   - after an await, the result is in the operation record (op.error,
 *     op.bytes), not in what the start function returned;
 *   - one await at a time per task, one sock_op_t per outstanding operation.
 *
 * Run it:  .ci/demo
 *    or:   cmake --preset mingw && cmake --build --preset mingw
 *          cmake/wine-run.sh build/mingw/examples/echo_demo.exe
 * It prints "sent: ..." / "echoed: ..." lines and exits 0, or prints what
 * failed and exits 1.
 */
#include <sock/sock.h>

#include <stdio.h>
#include <string.h>

/* ---- The server: accept, then echo until end of stream ------------------ */

typedef struct server {
  sock_task_t   task;        /* first: the runtime's part of the task */
  sock_t       *listener;    /* where connections come from */
  sock_op_t     op;          /* the operation record of the current await */
  sock_accept_t accepted;    /* the connection accept gives us */
  char          buf[1024];   /* what we received, to send back */
  int           error;       /* CO_OK, or what went wrong */
  HANDLE        finished;    /* set when the task ends (main waits on it) */
} server_t;

static co_state_t server_step(co_task_t *t)
{
  server_t *s = (server_t *)t;
  CO_BEGIN(t);

  CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->accepted, t));
  if (s->op.error < 0) {
    s->error = s->op.error;
    CO_EXIT(t, s->error);
  }

  for (;;) {
    /* Receive whatever has arrived (at least one byte)... */
    CO_AWAIT(t, sock_recv_start(&s->op, s->accepted.sock, s->buf, sizeof s->buf, t));
    if (s->op.error == CO_EOF)
      break;                       /* the client closed its side: done */
    if (s->op.error < 0) {
      s->error = s->op.error;
      break;
    }
    /* ...and send every byte of it back. */
    CO_AWAIT(t, sock_send_all_start(&s->op, s->accepted.sock, s->buf, s->op.bytes, t));
    if (s->op.error < 0) {
      s->error = s->op.error;
      break;
    }
  }
  sock_close(s->accepted.sock);
  CO_END(t);
}

/* ---- The client: connect, send each line, read its echo ------------------ */

static const char *const lines[] = {
  "hello, cosock",
  "a task is a struct and a step function",
  "bye",
};
enum { LINE_COUNT = sizeof lines / sizeof lines[0] };

typedef struct client {
  sock_task_t    task;          /* first: the runtime's part of the task */
  unsigned short port;          /* the server's port */
  sock_t        *sock;          /* the connection */
  sock_op_t      op;            /* the operation record of the current await */
  sock_reader_t  reader;        /* splits what arrives into lines */
  char           storage[256];  /* the reader's buffer: the longest line + 1 */
  char           out[256];      /* the line being sent, with its "\n" */
  int            i;             /* which line: a loop counter survives awaits here */
  size_t         echo_len;      /* length of the line read back */
  int            error;         /* CO_OK, or what went wrong */
  HANDLE         finished;      /* set when the task ends (main waits on it) */
} client_t;

static co_state_t client_step(co_task_t *t)
{
  client_t *c = (client_t *)t;
  CO_BEGIN(t);

  CO_AWAIT(t, sock_connect_start(&c->op, c->task.runtime, "127.0.0.1", c->port,
                                 &c->sock, t));
  if (c->op.error < 0) {
    c->error = c->op.error;
    CO_EXIT(t, c->error);
  }
  sock_reader_init(&c->reader, c->sock, c->storage, sizeof c->storage);

  for (c->i = 0; c->i < LINE_COUNT; c->i++) {
    snprintf(c->out, sizeof c->out, "%s\n", lines[c->i]);
    CO_AWAIT(t, sock_send_all_start(&c->op, c->sock, c->out, strlen(c->out), t));
    if (c->op.error < 0)
      break;
    printf("sent:   %s\n", lines[c->i]);

    CO_AWAIT(t, sock_read_line_start(&c->op, &c->reader, t));
    if (c->op.error < 0)
      break;
    printf("echoed: %s\n", sock_reader_line(&c->reader, &c->echo_len));
    if (strcmp(sock_reader_line(&c->reader, &c->echo_len), lines[c->i]) != 0) {
      fprintf(stderr, "echo_demo: the echo differs from what was sent\n");
      c->error = CO_EPROTO;
      break;
    }
  }
  if (c->op.error < 0)
    c->error = c->op.error;

  sock_close(c->sock);  /* the server's receive sees end of stream */
  CO_END(t);
}

/* ---- main: start both tasks, wait for them, shut down ------------------- */

/* The completion hook of both tasks: tell main the task has ended. The
 * task's struct starts with the sock_task_t, which starts with the
 * co_task_t, so the pointer converts back. */
static void server_finished(co_task_t *t) { SetEvent(((server_t *)t)->finished); }
static void client_finished(co_task_t *t) { SetEvent(((client_t *)t)->finished); }

/* The tasks are static, not locals of main: an operation that is pending
 * points into its task's struct, so the struct must outlive it. */
static server_t server;
static client_t client;

static int fail(const char *what, int error)
{
  fprintf(stderr, "echo_demo: %s failed: %s (%s)\n", what, co_strerror(error),
          co_errname(error));
  return 1;
}

int main(void)
{
  sock_runtime_t *rt;
  sock_counters_t counters;
  sock_addr_t where;
  char text[64];
  int rc;

  setvbuf(stdout, NULL, _IONBF, 0);  /* keep the two tasks' lines in order */

  rc = sock_runtime_create(&rt, NULL);
  if (rc != CO_OK)
    return fail("starting the runtime", rc);

  /* Port 0: the system picks a free port; sock_local_addr tells which. */
  rc = sock_listen(rt, "127.0.0.1", 0, 16, &server.listener);
  if (rc != CO_OK)
    return fail("listening on 127.0.0.1", rc);
  sock_local_addr(server.listener, &where);
  printf("server listening on %s\n", sock_addr_format(&where, text, sizeof text));

  server.finished = CreateEventW(NULL, TRUE, FALSE, NULL);
  client.finished = CreateEventW(NULL, TRUE, FALSE, NULL);
  client.port = ntohs(where.Ipv4.sin_port);

  /* sock_spawn runs each task's first step right here, up to its first
   * await; from then on the thread pool carries them. */
  sock_spawn(rt, &server.task, server_step, server_finished);
  sock_spawn(rt, &client.task, client_step, client_finished);

  /* Wait for the client, then close the listener: that ends the server's
   * accept with CO_ECANCELED if the client never got through to it. */
  if (WaitForSingleObject(client.finished, 10000) != WAIT_OBJECT_0) {
    fprintf(stderr, "echo_demo: the client did not finish within 10 s\n");
    return 1;
  }
  sock_close(server.listener);
  if (WaitForSingleObject(server.finished, 10000) != WAIT_OBJECT_0) {
    fprintf(stderr, "echo_demo: the server did not finish within 10 s\n");
    return 1;
  }
  if (client.error < 0)
    return fail("the client", client.error);
  if (server.error < 0)
    return fail("the server", server.error);

  /* Everything is closed: nothing may be left alive. */
  sock_runtime_counters(rt, &counters);
  for (rc = 0; rc < 100 && (counters.sockets || counters.tasks || counters.pending_ops); rc++) {
    Sleep(10);  /* a socket is freed once its last completion has run */
    sock_runtime_counters(rt, &counters);
  }
  sock_runtime_shutdown(rt);
  CloseHandle(server.finished);
  CloseHandle(client.finished);
  if (counters.sockets || counters.tasks || counters.pending_ops) {
    fprintf(stderr, "echo_demo: left over: %ld sockets, %ld tasks, %ld operations\n",
            counters.sockets, counters.tasks, counters.pending_ops);
    return 1;
  }
  printf("echo_demo: OK, %d lines echoed, clean shutdown\n", (int)LINE_COUNT);
  return 0;
}

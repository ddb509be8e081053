/*
 * chat_server.c - a line-based chat room: every line a client sends goes to
 * every other client.
 *
 * What it teaches: tasks that talk to each other, and why a server must
 * never let one slow peer set the pace for the others.
 *   - Full duplex is two tasks per client: a *reader* that reads lines
 *     (sock_read_line_start, with a bounded line) and a *writer* that sends
 *     what is queued for this client. One task could not do both: it has one
 *     await at a time, and a send to a client that does not read would stop
 *     it from reading.
 *   - Between them, a bounded channel (sock_chan_t) of message pointers: a
 *     client's reader broadcasts a line by putting it in every other client's
 *     channel *without waiting* (sock_chan_try_send). A channel that is full
 *     means that client has fallen too far behind: it is dropped, with a
 *     message saying so, instead of making the sender wait.
 *   - A message is written once and shared by every queue that holds it: a
 *     reference count says when the last writer is done with it.
 *   - A writer also has a deadline for each send (sock_deadline_set): a
 *     client that stops reading is dropped after --send-timeout-ms even
 *     before its queue fills.
 *   - Who owns what: the room's list is under one lock; a client's struct
 *     (with its socket) belongs to its two tasks together and is freed by
 *     whichever ends last, so neither can close the socket under the other.
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target chat_server
 *     cmake/wine-run.sh build/mingw/examples/chat_server.exe --port 7001
 * then, from two or more other terminals:  nc 127.0.0.1 7001
 * and type. Run with --help for every flag. The first line on stdout is
 * "listening on H:P"; it exits 0 after a clean stop.
 */
#include "cli.h"

#include <stdarg.h>
#include <stddef.h>

/* ---- Settings ------------------------------------------------------------------ */

static struct {
  unsigned long max_line;         /* longest line a client may send */
  unsigned long queue;            /* messages waiting per client before it is dropped */
  unsigned long send_timeout_ms;  /* one send to a client */
  int           verbose;
} cfg = {1024, 64, 5000, 0};

enum { GOODBYE_MS = 500 };  /* how long we try to tell a dropped client why */

/* ---- Messages: written once, shared by every queue ---------------------------- */

typedef struct msg {
  volatile LONG refs;  /* queues (and the broadcaster) holding it */
  size_t        len;   /* bytes of text, which follows the struct */
} msg_t;

static const char *msg_text(const msg_t *m) { return (const char *)(m + 1); }

/* A message from printf-style arguments, one reference held; NULL if out of
 * memory. */
static msg_t *msg_new(const char *fmt, ...)
{
  va_list ap;
  int n;
  msg_t *m;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || (m = (msg_t *)malloc(sizeof *m + (size_t)n + 1)) == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf((char *)(m + 1), (size_t)n + 1, fmt, ap);
  va_end(ap);
  m->refs = 1;
  m->len = (size_t)n;
  return m;
}

static void msg_retain(msg_t *m) { InterlockedIncrement(&m->refs); }

static void msg_release(msg_t *m)
{
  if (m != NULL && InterlockedDecrement(&m->refs) == 0)
    free(m);
}

/* ---- A client: two tasks sharing one struct --------------------------------------- */

typedef struct client client_t;

typedef struct reader {
  sock_task_t   task;     /* first: the runtime's part of the task */
  client_t     *c;
  sock_op_t     op;
  sock_reader_t lines;    /* splits what arrives into lines */
} reader_t;

typedef struct writer {
  sock_task_t task;       /* first */
  client_t   *c;
  sock_op_t   op;
  msg_t      *msg;        /* the message being sent */
  char        bye[96];    /* the last words to a dropped client */
} writer_t;

struct client {
  reader_t      reader;   /* the task that reads this client's lines */
  writer_t      writer;   /* the task that sends it what others said */
  client_t     *prev, *next;  /* in the room, under room.lock (for broadcast only) */
  int           in_room;
  sock_t       *sock;     /* owned by the two tasks together: closed by the last */
  sock_chan_t   queue;    /* messages for this client: msg_t pointers */
  void        **slots;    /* the channel's storage (--queue slots) */
  char         *line_buf; /* the reader's buffer (--max-line + 1 bytes) */
  const char   *dropped;  /* why it was dropped, or NULL */
  volatile LONG tasks_left; /* 2, then 1, then 0: free */
  char          name[16]; /* "user3" */
  char          peer[64]; /* "127.0.0.1:50123", for logs */
};

static struct {
  sock_runtime_t *rt;
  volatile LONG   joined;   /* numbers the users */
  volatile LONG   drops;
} g;

static struct {
  SRWLOCK   lock;
  client_t *head;
  long      count;
} room = {SRWLOCK_INIT, NULL, 0};

/* ---- The room ------------------------------------------------------------------ */

/* Under room.lock: take c out of the room and close its queue (its writer
 * sends what is left, then sees CO_ECLOSED). Nothing is queued for c after
 * this, so whatever its writer drains afterwards is everything. */
static void room_remove_locked(client_t *c)
{
  if (!c->in_room)
    return;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    room.head = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->in_room = 0;
  room.count--;
  sock_chan_close(&c->queue);
}

/* Under room.lock: drop a client that fell behind. Its reader is cancelled
 * (it announces the drop on its way out); its writer finds `dropped` set. */
static void room_drop_locked(client_t *c, const char *why)
{
  if (c->dropped == NULL)
    c->dropped = why;
  room_remove_locked(c);
  sock_task_cancel(&c->reader.task);
}

static void room_drop(client_t *c, const char *why)
{
  AcquireSRWLockExclusive(&room.lock);
  room_drop_locked(c, why);
  ReleaseSRWLockExclusive(&room.lock);
}

static void room_leave(client_t *c)
{
  AcquireSRWLockExclusive(&room.lock);
  room_remove_locked(c);
  ReleaseSRWLockExclusive(&room.lock);
}

/* Gives `m` to every client in the room but `from` (NULL: everyone), and
 * drops the clients whose queue is full. Never waits. Consumes the caller's
 * reference. */
static void room_broadcast(client_t *from, msg_t *m)
{
  client_t *c, *next;
  if (m == NULL)
    return;  /* out of memory: this message is lost, the room goes on */
  AcquireSRWLockExclusive(&room.lock);
  for (c = room.head; c != NULL; c = next) {
    next = c->next;  /* c may leave the list below */
    if (c == from)
      continue;
    msg_retain(m);
    if (sock_chan_try_send(&c->queue, m) != CO_OK) {
      msg_release(m);
      InterlockedIncrement(&g.drops);
      fprintf(stderr, "chat_server: %s (%s): queue full, dropped\n", c->name, c->peer);
      room_drop_locked(c, "too slow, your queue was full");
    }
  }
  ReleaseSRWLockExclusive(&room.lock);
  msg_release(m);
}

/* Puts c in the room with a welcome in its own queue, and tells the others. */
static void room_join(client_t *c)
{
  msg_t *welcome;
  long others;
  AcquireSRWLockExclusive(&room.lock);
  others = room.count;
  c->prev = NULL;
  c->next = room.head;
  if (room.head != NULL)
    room.head->prev = c;
  room.head = c;
  room.count++;
  c->in_room = 1;
  ReleaseSRWLockExclusive(&room.lock);

  welcome = msg_new("* welcome, you are %s (%ld others here)\n", c->name, others);
  if (welcome != NULL && sock_chan_try_send(&c->queue, welcome) != CO_OK)
    msg_release(welcome);  /* only if the queue has no room at all */
  room_broadcast(c, msg_new("* %s joined\n", c->name));
}

/* ---- The reader: lines in, broadcast -------------------------------------------- */

static co_state_t reader_step(co_task_t *t)
{
  reader_t *r = (reader_t *)t;
  client_t *c = r->c;
  const char *line;
  size_t len;
  CO_BEGIN(t);
  room_join(c);
  for (;;) {
    CO_AWAIT(t, sock_read_line_start(&r->op, &r->lines, t));
    if (r->op.error < 0)
      break;
    line = sock_reader_line(&r->lines, &len);
    if (len > 0)
      room_broadcast(c, msg_new("%s: %s\n", c->name, line));
  }
  /* Why we stopped: the client left (end of stream), was dropped (our
   * cancel), sent a line too long, or the connection failed. */
  if (r->op.error == CO_EMSGSIZE)
    room_drop(c, "line too long");
  else if (r->op.error != CO_EOF && r->op.error != CO_ECANCELED)
    cli_log_op(c->peer, &r->op);
  room_leave(c);
  if (c->dropped != NULL)
    room_broadcast(NULL, msg_new("* %s was dropped: %s\n", c->name, c->dropped));
  else if (r->op.error != CO_ECANCELED)  /* not our stop */
    room_broadcast(NULL, msg_new("* %s left\n", c->name));
  CO_END(t);
}

/* ---- The writer: queue out, one send at a time --------------------------------------- */

/* Releases whatever is still queued (after the queue was closed). */
static void writer_drain(client_t *c)
{
  void *item;
  while (sock_chan_try_recv(&c->queue, &item) == CO_OK)
    msg_release((msg_t *)item);
}

static co_state_t writer_step(co_task_t *t)
{
  writer_t *w = (writer_t *)t;
  client_t *c = w->c;
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_chan_recv_start(&w->op, &c->queue, (void **)&w->msg, &w->task));
    if (w->op.error < 0)
      break;  /* CO_ECLOSED: the client left and all was sent; CO_ECANCELED: stop */
    if (c->dropped != NULL)
      break;  /* no point sending the backlog of a client we dropped */
    sock_deadline_set(&w->task, cfg.send_timeout_ms);
    CO_AWAIT(t, sock_send_all_start(&w->op, c->sock, msg_text(w->msg), w->msg->len, t));
    sock_deadline_clear(&w->task);
    msg_release(w->msg);
    w->msg = NULL;
    if (w->op.error == CO_ETIMEDOUT) {
      fprintf(stderr, "chat_server: %s (%s): send timed out, dropped\n", c->name, c->peer);
      InterlockedIncrement(&g.drops);
      room_drop(c, "too slow, a send timed out");
      break;
    }
    if (w->op.error == CO_ECANCELED)
      break;  /* our stop */
    if (w->op.error < 0) {
      cli_log_op(c->peer, &w->op);
      room_drop(c, "connection failed");
      break;
    }
  }
  msg_release(w->msg);  /* one taken from the queue but not sent */
  w->msg = NULL;
  room_leave(c);        /* nothing is queued for us after this... */
  writer_drain(c);      /* ...so this releases every message left */

  if (c->dropped != NULL && w->op.error != CO_ECANCELED) {
    /* Best effort: a client that does not read may never see this. */
    snprintf(w->bye, sizeof w->bye, "* you were dropped: %s\n", c->dropped);
    sock_deadline_set(&w->task, GOODBYE_MS);
    CO_AWAIT(t, sock_send_all_start(&w->op, c->sock, w->bye, strlen(w->bye), t));
  } else if (w->op.error == CO_ECLOSED) {
    sock_shutdown_send(c->sock);  /* all said: the client sees end of stream */
  }
  CO_END(t);
}

/* ---- The client's life ------------------------------------------------------------- */

/* Each task's completion hook: the last of the two frees the client. */
static void client_release(client_t *c)
{
  if (InterlockedDecrement(&c->tasks_left) > 0)
    return;
  sock_close(c->sock);  /* neither task can use it any more */
  free(c->slots);
  free(c->line_buf);
  free(c);
}

static void reader_done(co_task_t *t) { client_release(((reader_t *)t)->c); }
static void writer_done(co_task_t *t) { client_release(((writer_t *)t)->c); }

/* A new client with both its buffers, or NULL (out of memory). */
static client_t *client_new(const sock_accept_t *acc)
{
  client_t *c = (client_t *)calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->slots = (void **)calloc(cfg.queue, sizeof *c->slots);
  c->line_buf = (char *)malloc(cfg.max_line + 1);
  if (c->slots == NULL || c->line_buf == NULL) {
    free(c->slots);
    free(c->line_buf);
    free(c);
    return NULL;
  }
  c->sock = acc->sock;
  c->reader.c = c;
  c->writer.c = c;
  c->tasks_left = 2;
  sock_chan_init(&c->queue, c->slots, cfg.queue);
  sock_reader_init(&c->reader.lines, c->sock, c->line_buf, cfg.max_line + 1);
  sock_addr_format(&acc->peer, c->peer, sizeof c->peer);
  snprintf(c->name, sizeof c->name, "user%ld", (long)InterlockedIncrement(&g.joined));
  return c;
}

/* ---- The accept loop --------------------------------------------------------------- */

typedef struct server {
  sock_task_t   task;      /* first */
  sock_t       *listener;  /* owned by this task: it closes it when it ends */
  sock_op_t     op;
  sock_accept_t acc;       /* what the accept delivers */
} server_t;

static server_t server;    /* static: a pending accept points into it */

static co_state_t server_step(co_task_t *t)
{
  server_t *s = (server_t *)t;
  client_t *c;             /* a local: used only between two awaits */
  CO_BEGIN(t);
  for (;;) {
    CO_AWAIT(t, sock_accept_start(&s->op, s->listener, &s->acc, t));
    if (s->op.error == CO_ECANCELED)
      break;               /* stop: main cancelled us */
    if (s->op.error < 0) {
      cli_log_op("accept", &s->op);  /* a reset before we accepted: go on */
      continue;
    }
    c = client_new(&s->acc);
    if (c == NULL) {
      cli_log_error("accept", CO_ENOMEM, 0);
      sock_close(s->acc.sock);
      continue;
    }
    /* The writer first, so it is waiting on the queue when the reader joins
     * the room and queues the welcome. (During a stop both start cancelled:
     * each ends at its first await, and the last one frees the client.) */
    sock_spawn(g.rt, &c->writer.task, writer_step, writer_done);
    sock_spawn(g.rt, &c->reader.task, reader_step, reader_done);
  }
  sock_close(s->listener);
  CO_END(t);
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0;
  int no_stdin = 0, clean;
  sock_counters_t counters;
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all)", &host, 0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--max-line", CLI_NUMBER, "BYTES",
     "longest line a client may send; longer: it is dropped (default 1024)", &cfg.max_line, 1,
     1 << 20},
    {"--queue", CLI_NUMBER, "N",
     "messages waiting for one client; one more: it is dropped (default 64)", &cfg.queue, 1,
     1 << 20},
    {"--send-timeout-ms", CLI_NUMBER, "MS",
     "one send to a client; longer: it is dropped (default 5000)", &cfg.send_timeout_ms, 1,
     3600000},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &cfg.verbose, 0, 0},
  };

  cli_parse(argc, argv, "chat_server",
            "A line-based chat room: every line a client sends goes to every other client.\n"
            "Clients that fall behind are dropped. Stops on Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (!cli_stop_init(!no_stdin))
    return 1;

  if (!cli_server_start(host, port, &g.rt, &server.listener))
    return 1;

  sock_spawn(g.rt, &server.task, server_step, NULL);

  cli_wait_stop(INFINITE);

  /* Stop: the runtime cancels every live task, the accept loop (which
   * closes its listener) and both tasks of every client; each leaves the
   * room, releases its messages, and the last of a client's two frees it.
   * Tasks the accept loop spawns meanwhile start cancelled. The room's list
   * is only for broadcasting: the stop does not need it. */
  clean = cli_server_stop(g.rt, NULL, &counters);
  if (cfg.verbose || !clean)
    fprintf(stderr,
            "chat_server: %ld clients joined, %ld dropped; counters at stop: "
            "%ld sockets, %ld tasks, %ld pending operations\n",
            (long)g.joined, (long)g.drops, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(g.rt);
  cli_stop_exiting();
  return clean ? 0 : 1;
}

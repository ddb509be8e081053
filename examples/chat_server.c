/*
 * chat_server.c - a line-based chat room: every line a client sends goes to
 * every other client.
 *
 * What it teaches: tasks that talk to each other, and how one server keeps
 * a fast sender, readers that keep up and a peer that stopped reading from
 * hurting each other.
 *   - Full duplex is two tasks per client: a *reader* that reads lines
 *     (sock_read_line_start, with a bounded line) and a *writer* that sends
 *     what is queued for this client. One task could not do both: it has one
 *     await at a time, and a send to a client that does not read would stop
 *     it from reading.
 *   - Between them, a bounded channel (sock_chan_t) of message pointers: a
 *     client's reader broadcasts a line by putting it in every other
 *     client's channel *without waiting* (sock_chan_try_send), under the
 *     room's lock. A full channel does not mean its client is gone: one
 *     sender that types (or pastes) fast fills the queues of readers that
 *     keep up perfectly well. So the broadcast only notes the full ones
 *     (taking a reference on each), and once the lock is released the
 *     reader waits for room in each of them in turn (sock_chan_send_start).
 *     That is *backpressure*: the sender reads its next line only when this
 *     one is in every queue, so a fast sender is slowed to the pace of its
 *     readers, and every reader gets every sender's lines in order.
 *   - Who is dropped: only a client that makes no progress for
 *     --send-timeout-ms. Two deadlines (sock_deadline_set) watch for it: the
 *     writer's on each send to its client, and a sender's on its wait for
 *     room in a client's queue. A client that stopped reading trips one of
 *     them and is dropped, with a message saying so; a sender is never
 *     dropped for being fast. (Waiting has a price: two clients that each
 *     write without reading what comes back can wait on each other. The
 *     same deadlines end that, by dropping one of them.)
 *   - The writer sends everything queued in one *gather send*
 *     (sock_sendv_start with an array of WSABUF): it waits for the first
 *     message, takes every other one already waiting, and hands the lot to
 *     one WSASend. A backlog costs one system call instead of one per
 *     message, which is what lets a writer catch up with a burst.
 *   - A message is written once and shared by every queue that holds it: a
 *     reference count says when the last writer is done with it.
 *   - Who owns what: the room's list is under one lock. A client's struct
 *     (its socket, its channel) is reference counted: its two tasks hold a
 *     reference each, and so does every sender waiting for room in its
 *     channel, so the struct outlives each wait on it; the last release
 *     frees it. Neither task can close the socket under the other.
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
  unsigned long queue;            /* messages waiting per client; full: senders wait */
  unsigned long send_timeout_ms;  /* a client making no progress this long is dropped */
  int           verbose;
} cfg = {1024, 64, 5000, 0};

enum {
  GOODBYE_MS = 500,  /* how long we try to tell a dropped client why */
  GATHER_MAX = 256   /* at most this many messages in one gather send: bounds the
                        arrays a client keeps for it when --queue is large */
};

/* What is allocated and not freed yet: both are 0 after a clean stop (checked). */
static struct {
  volatile LONG msgs;
  volatile LONG clients;
} live;

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
  InterlockedIncrement(&live.msgs);
  return m;
}

static void msg_retain(msg_t *m) { InterlockedIncrement(&m->refs); }

static void msg_release(msg_t *m)
{
  if (m != NULL && InterlockedDecrement(&m->refs) == 0) {
    free(m);
    InterlockedDecrement(&live.msgs);
  }
}

/* ---- A client: two tasks sharing one struct --------------------------------------- */

typedef struct client client_t;

typedef struct reader {
  sock_task_t   task;       /* first: the runtime's part of the task */
  client_t     *c;
  sock_op_t     op;
  sock_reader_t lines;      /* splits what arrives into lines */
  msg_t        *msg;        /* the message being delivered (one reference) */
  client_t    **full;       /* receivers whose queue was full: a reference on each */
  size_t        full_count; /* how many are in `full` */
  size_t        full_cap;   /* its allocated length (it grows) */
  size_t        next;       /* the receiver in `full` being waited for */
  int           leaving;    /* reading has ended: deliver the last notice, then end */
} reader_t;

typedef struct writer {
  sock_task_t task;         /* first */
  client_t   *c;
  sock_op_t   op;
  void       *first;        /* the message the wait on the queue delivered */
  msg_t     **batch;        /* the messages of one gather send */
  WSABUF     *bufs;         /* their text, one buffer each (the send updates it) */
  unsigned    count;        /* messages in batch */
  unsigned    batch_max;    /* length of batch and bufs */
  char        bye[96];      /* the last words to a dropped client */
} writer_t;

struct client {
  reader_t      reader;   /* the task that reads this client's lines */
  writer_t      writer;   /* the task that sends it what others said */
  client_t     *prev, *next;  /* in the room, under room.lock (for broadcast only) */
  int           in_room;
  sock_t       *sock;     /* closed by the last release of the client */
  sock_chan_t   queue;    /* messages for this client: msg_t pointers */
  void        **slots;    /* the channel's storage (--queue slots) */
  char         *line_buf; /* the reader's buffer (--max-line + 1 bytes) */
  const char   *dropped;  /* why it was dropped, or NULL (under room.lock) */
  volatile LONG refs;     /* its two tasks + each sender waiting on its queue; 0: free */
  char          name[16]; /* "user3" */
  char          peer[64]; /* "127.0.0.1:50123", for logs */
};

static struct {
  sock_runtime_t *rt;
  volatile LONG   joined;   /* numbers the users */
  volatile LONG   drops;
  volatile LONG   waits;    /* times a sender waited for room in a queue */
} g;

static struct {
  SRWLOCK   lock;
  client_t *head;
  long      count;
} room = {SRWLOCK_INIT, NULL, 0};

static void client_release(client_t *c);

/* ---- The room ------------------------------------------------------------------ */

/* Under room.lock: take c out of the room and close its queue (its writer
 * sends what is left, then sees CO_ECLOSED; a sender waiting for room in it
 * sees CO_ECLOSED too). Nothing is queued for c after this, so whatever its
 * writer drains afterwards is everything. */
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

/* Under room.lock: drop a client that stopped making progress. Its reader
 * is cancelled (it announces the drop on its way out); its writer finds
 * `dropped` set. Returns 1 if this call dropped it, 0 if it was dropped
 * already. */
static int room_drop_locked(client_t *c, const char *why)
{
  if (c->dropped != NULL)
    return 0;
  c->dropped = why;
  room_remove_locked(c);
  sock_task_cancel(&c->reader.task);
  return 1;
}

static int room_drop(client_t *c, const char *why)
{
  int dropped;
  AcquireSRWLockExclusive(&room.lock);
  dropped = room_drop_locked(c, why);
  ReleaseSRWLockExclusive(&room.lock);
  return dropped;
}

/* Drops c for a reader that could not deliver to it (its queue stayed full
 * for --send-timeout-ms, or no memory to wait), unless c left or was
 * dropped meanwhile; logs `what` if this call dropped it. */
static void room_drop_receiver(client_t *c, const char *why, const char *what)
{
  int dropped = 0;
  AcquireSRWLockExclusive(&room.lock);
  if (c->in_room)
    dropped = room_drop_locked(c, why);
  ReleaseSRWLockExclusive(&room.lock);
  if (dropped) {
    InterlockedIncrement(&g.drops);
    fprintf(stderr, "chat_server: %s (%s): %s, dropped\n", c->name, c->peer, what);
  }
}

/* Takes c out of the room; returns why it was dropped, or NULL. */
static const char *room_leave(client_t *c)
{
  const char *dropped;
  AcquireSRWLockExclusive(&room.lock);
  room_remove_locked(c);
  dropped = c->dropped;
  ReleaseSRWLockExclusive(&room.lock);
  return dropped;
}

static const char *client_dropped(client_t *c)
{
  const char *dropped;
  AcquireSRWLockShared(&room.lock);
  dropped = c->dropped;
  ReleaseSRWLockShared(&room.lock);
  return dropped;
}

/* Under room.lock: notes that reader `r` must wait for room in c's queue,
 * with a reference on c so that c outlives the wait. Returns 0 if out of
 * memory. */
static int reader_note_full_locked(reader_t *r, client_t *c)
{
  if (r->full_count == r->full_cap) {
    size_t cap = r->full_cap == 0 ? 4 : 2 * r->full_cap;
    client_t **grown = (client_t **)realloc(r->full, cap * sizeof *grown);
    if (grown == NULL)
      return 0;
    r->full = grown;
    r->full_cap = cap;
  }
  InterlockedIncrement(&c->refs);  /* c is in the room: its tasks hold theirs */
  r->full[r->full_count++] = c;
  return 1;
}

/* Gives `m` to every client in the room but `from` whose queue has room.
 * Never waits (it holds the room's lock): the clients whose queue is full
 * are noted in r->full, for reader `r` to wait on once the lock is
 * released. Does not consume the caller's reference. */
static void room_broadcast(client_t *from, msg_t *m, reader_t *r)
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
    if (sock_chan_try_send(&c->queue, m) == CO_OK)
      continue;
    msg_release(m);  /* full (a queue in the room is never closed) */
    if (!reader_note_full_locked(r, c) && room_drop_locked(c, "out of memory")) {
      InterlockedIncrement(&g.drops);
      fprintf(stderr, "chat_server: %s (%s): out of memory, dropped\n", c->name, c->peer);
    }
  }
  ReleaseSRWLockExclusive(&room.lock);
}

/* Puts c in the room with a welcome in its own queue (first, before anyone
 * can queue a line for it). Returns the notice for the others, or NULL. */
static msg_t *room_join(client_t *c)
{
  msg_t *welcome;
  AcquireSRWLockExclusive(&room.lock);
  welcome = msg_new("* welcome, you are %s (%ld others here)\n", c->name, room.count);
  if (welcome != NULL && sock_chan_try_send(&c->queue, welcome) != CO_OK)
    msg_release(welcome);  /* only if the queue has no room at all */
  c->prev = NULL;
  c->next = room.head;
  if (room.head != NULL)
    room.head->prev = c;
  room.head = c;
  room.count++;
  c->in_room = 1;
  ReleaseSRWLockExclusive(&room.lock);
  return msg_new("* %s joined\n", c->name);
}

/* ---- The reader: lines in, broadcast, wait for room ------------------------------ */

/* Reading ended with r->op.error: says why, leaves the room, and returns
 * the notice for the others (NULL if none). */
static msg_t *reader_stopped(reader_t *r)
{
  client_t *c = r->c;
  const char *dropped;
  /* The client left (end of stream), was dropped (our cancel), sent a line
   * too long, or the connection failed. */
  if (r->op.error == CO_EMSGSIZE)
    room_drop(c, "line too long");
  else if (r->op.error != CO_EOF && r->op.error != CO_ECANCELED)
    cli_log_op(c->peer, &r->op);
  dropped = room_leave(c);
  if (dropped != NULL)
    return msg_new("* %s was dropped: %s\n", c->name, dropped);
  if (r->op.error != CO_ECANCELED)  /* not our stop */
    return msg_new("* %s left\n", c->name);
  return NULL;
}

/* What a wait for room in a receiver's queue ended with (r->op.error). */
static void reader_waited(reader_t *r, client_t *to)
{
  if (r->op.error == CO_OK)
    return;  /* the queue holds the message now */
  msg_release(r->msg);  /* the reference the queue would have taken */
  if (r->op.error == CO_ETIMEDOUT)  /* no room for --send-timeout-ms */
    room_drop_receiver(to, "too slow, your queue was full",
                       "no room in its queue for --send-timeout-ms");
  /* CO_ECLOSED: it left or was dropped. CO_ECANCELED: we are being dropped
   * or stopped; every later wait fails at once, each releasing its client. */
}

static co_state_t reader_step(co_task_t *t)
{
  reader_t *r = (reader_t *)t;
  client_t *c = r->c;
  const char *line;
  size_t len;
  CO_BEGIN(t);
  r->msg = room_join(c);
  for (;;) {
    /* Deliver r->msg: into every queue with room now, then wait for room in
     * each full one, one after the other. Only then is the next line read. */
    room_broadcast(c, r->msg, r);
    for (r->next = 0; r->next < r->full_count; r->next++) {
      InterlockedIncrement(&g.waits);
      msg_retain(r->msg);  /* for the queue */
      if (sock_deadline_set(&r->task, cfg.send_timeout_ms) != CO_OK) {
        msg_release(r->msg);  /* no timer: a wait could last forever */
        room_drop_receiver(r->full[r->next], "out of memory", "out of memory");
      } else {
        CO_AWAIT(t, sock_chan_send_start(&r->op, &r->full[r->next]->queue, r->msg, &r->task));
        sock_deadline_clear(&r->task);
        reader_waited(r, r->full[r->next]);
      }
      client_release(r->full[r->next]);  /* our reference: the wait is over */
    }
    r->full_count = 0;
    msg_release(r->msg);
    r->msg = NULL;
    if (r->leaving)
      break;
    CO_AWAIT(t, sock_read_line_start(&r->op, &r->lines, t));
    if (r->op.error < 0) {
      /* The last notice goes the same way as a line. A dropped client's
       * reader is cancelled: its waits fail at once, so a receiver whose
       * queue is full then misses that notice. */
      r->msg = reader_stopped(r);
      r->leaving = 1;
      continue;
    }
    line = sock_reader_line(&r->lines, &len);
    if (len > 0)
      r->msg = msg_new("%s: %s\n", c->name, line);
  }
  CO_END(t);
}

/* ---- The writer: everything queued, in one gather send ------------------------------ */

/* Puts w->first and every other message already queued (up to batch_max)
 * into the batch, with a buffer for each. */
static void writer_take(writer_t *w)
{
  void *item = w->first;
  w->count = 0;
  w->first = NULL;
  do {
    msg_t *m = (msg_t *)item;
    w->batch[w->count] = m;
    w->bufs[w->count].buf = (char *)msg_text(m);  /* WSABUF wants char *; a send only reads */
    w->bufs[w->count].len = (ULONG)m->len;
    w->count++;
  } while (w->count < w->batch_max && sock_chan_try_recv(&w->c->queue, &item) == CO_OK);
}

/* Releases the messages of the batch (sent, or not to be sent). */
static void writer_release(writer_t *w)
{
  unsigned i;
  for (i = 0; i < w->count; i++)
    msg_release(w->batch[i]);
  w->count = 0;
}

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
    CO_AWAIT(t, sock_chan_recv_start(&w->op, &c->queue, &w->first, &w->task));
    if (w->op.error < 0)
      break;  /* CO_ECLOSED: the client left and all was sent; CO_ECANCELED: stop */
    writer_take(w);
    if (client_dropped(c) != NULL)
      break;  /* no point sending the backlog of a client we dropped */
    /* One deadline for the whole batch: sock_sendv_start sends every byte
     * (as many WSASend calls as that takes) or fails. */
    sock_deadline_set(&w->task, cfg.send_timeout_ms);
    CO_AWAIT(t, sock_sendv_start(&w->op, c->sock, w->bufs, w->count, t));
    sock_deadline_clear(&w->task);
    writer_release(w);
    if (w->op.error == CO_ETIMEDOUT) {
      if (room_drop(c, "too slow, a send timed out")) {
        fprintf(stderr, "chat_server: %s (%s): send timed out, dropped\n", c->name, c->peer);
        InterlockedIncrement(&g.drops);
      }
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
  writer_release(w);    /* a batch taken from the queue but not sent */
  room_leave(c);        /* nothing is queued for us after this... */
  writer_drain(c);      /* ...so this releases every message left */

  if (client_dropped(c) != NULL && w->op.error != CO_ECANCELED) {
    /* Best effort: a client that does not read may never see this. */
    snprintf(w->bye, sizeof w->bye, "* you were dropped: %s\n", client_dropped(c));
    sock_deadline_set(&w->task, GOODBYE_MS);
    CO_AWAIT(t, sock_send_all_start(&w->op, c->sock, w->bye, strlen(w->bye), t));
  } else if (w->op.error == CO_ECLOSED) {
    sock_shutdown_send(c->sock);  /* all said: the client sees end of stream */
  }
  CO_END(t);
}

/* ---- The client's life ------------------------------------------------------------- */

/* Drops one reference on c: each task's completion hook, and a sender at
 * the end of its wait for room in c's queue. The last one frees the client. */
static void client_release(client_t *c)
{
  if (InterlockedDecrement(&c->refs) > 0)
    return;
  sock_close(c->sock);  /* nobody can use it any more */
  free(c->slots);
  free(c->line_buf);
  free(c->reader.full);
  free(c->writer.batch);
  free(c->writer.bufs);
  free(c);
  InterlockedDecrement(&live.clients);
}

static void reader_done(co_task_t *t) { client_release(((reader_t *)t)->c); }
static void writer_done(co_task_t *t) { client_release(((writer_t *)t)->c); }

/* A new client with all its buffers, or NULL (out of memory). */
static client_t *client_new(const sock_accept_t *acc)
{
  client_t *c = (client_t *)calloc(1, sizeof *c);
  unsigned batch_max = cfg.queue + 1 < GATHER_MAX ? (unsigned)cfg.queue + 1 : GATHER_MAX;
  if (c == NULL)
    return NULL;
  c->slots = (void **)calloc(cfg.queue, sizeof *c->slots);
  c->line_buf = (char *)malloc(cfg.max_line + 1);
  c->writer.batch = (msg_t **)calloc(batch_max, sizeof *c->writer.batch);
  c->writer.bufs = (WSABUF *)calloc(batch_max, sizeof *c->writer.bufs);
  if (c->slots == NULL || c->line_buf == NULL || c->writer.batch == NULL ||
      c->writer.bufs == NULL) {
    free(c->slots);
    free(c->line_buf);
    free(c->writer.batch);
    free(c->writer.bufs);
    free(c);
    return NULL;
  }
  c->sock = acc->sock;
  c->reader.c = c;
  c->writer.c = c;
  c->writer.batch_max = batch_max;
  c->refs = 2;  /* its reader and its writer */
  InterlockedIncrement(&live.clients);
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
     "messages waiting for one client, sent in one gather send; full: senders wait (default 64)",
     &cfg.queue, 1, 1 << 20},
    {"--send-timeout-ms", CLI_NUMBER, "MS",
     "a client that makes no progress this long is dropped (a send to it, or a wait for room "
     "in its queue; default 5000)",
     &cfg.send_timeout_ms, 1, 3600000},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &cfg.verbose, 0, 0},
  };

  cli_parse(argc, argv, "chat_server",
            "A line-based chat room: every line a client sends goes to every other client.\n"
            "A fast sender is slowed to the pace of its readers; a client that makes no\n"
            "progress for --send-timeout-ms is dropped. Stops on Ctrl+C or end of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (!cli_stop_init(!no_stdin))
    return 1;

  if (!cli_server_start(host, port, &g.rt, &server.listener))
    return 1;

  sock_spawn(g.rt, &server.task, server_step, NULL);

  cli_wait_stop(INFINITE);

  /* Stop: the runtime cancels every live task, the accept loop (which
   * closes its listener) and both tasks of every client; each leaves the
   * room, releases its messages (a reader waiting for room in a queue wakes
   * with CO_ECANCELED and releases the client it waited on), and the last
   * reference to a client frees it.
   * Tasks the accept loop spawns meanwhile start cancelled. The room's list
   * is only for broadcasting: the stop does not need it. */
  clean = cli_server_stop(g.rt, NULL, &counters);
  clean = clean && live.msgs == 0 && live.clients == 0;  /* nothing of ours left either */
  if (cfg.verbose || !clean)
    fprintf(stderr,
            "chat_server: %ld clients joined, %ld dropped, %ld waits for room in a queue; "
            "counters at stop: %ld sockets, %ld tasks, %ld pending operations, "
            "%ld clients and %ld messages not freed\n",
            (long)g.joined, (long)g.drops, (long)g.waits, counters.sockets, counters.tasks,
            counters.pending_ops, (long)live.clients, (long)live.msgs);
  sock_runtime_shutdown(g.rt);
  cli_stop_exiting();
  return clean ? 0 : 1;
}

/*
 * sock/stream.c - the stream operations: receive, send and their "until
 * done" forms, gather send, read a line. One loop (sock__drive) makes calls
 * through the hub until one is pending or the operation is finished; the
 * hub hands completions back to the same loop. Synchronous successes
 * (skip-completion-port on) take the loop's fast path and never see a pool
 * thread. On a TLS session (tls.c) the loop is the same: each step moves
 * plaintext to or from the session instead of making a Winsock call.
 */
#include "sock_internal.h"

#include <limits.h>
#include <string.h>

/* ---- one overlapped call ---------------------------------------------------------- */

/* Fills the buffers for the next call of op; returns their count. *sending
 * tells WSASend from WSARecv. */
static DWORD sock__buffers(sock_op_t *op, WSABUF *one, WSABUF **bufs, int *sending)
{
  sock_reader_t *r;
  *bufs = one;
  *sending = 0;
  switch (op->kind) {
  case SOCK__WAIT_READABLE:
    one->buf = NULL;
    one->len = 0;
    return 1;
  case SOCK__READ_LINE:
    r = op->target.reader;
    one->buf = r->buf + r->end;
    one->len = (ULONG)(r->size - r->end);
    return 1;
  case SOCK__SENDV:
    *sending = 1;
    *bufs = op->target.bufs;
    return (DWORD)op->len;
  case SOCK__SEND:
  case SOCK__SEND_ALL:
    *sending = 1;
    break;
  default:
    break;
  }
  one->buf = op->target.buf + op->bytes;
  one->len = op->len - op->bytes;
  return 1;
}

/* The hub's call for a stream: one WSARecv or WSASend on a socket, one
 * ReadFile or WriteFile on a named pipe (of the first buffer of a gather
 * send: the loop sends the rest). (Winsock copies the WSABUF array before it
 * returns, so `one` may live on this stack.) */
static unsigned long sock__stream_call(sock_t *s, sock_op_t *op, void *arg,
                                       unsigned long *bytes)
{
  WSABUF one, *bufs;
  DWORD count, done = 0, flags = 0;
  int sending, rc;
  (void)arg;
  count = sock__buffers(op, &one, &bufs, &sending);
  if (sock__kind_id(s) == SOCK__KIND_PIPE) {
    BOOL ok = sending ? sock__sys.WriteFile(sock__os_handle(s), bufs->buf, bufs->len, &done,
                                            &op->overlapped)
                      : sock__sys.ReadFile(sock__os_handle(s), bufs->buf, bufs->len, &done,
                                           &op->overlapped);
    *bytes = done;
    return ok ? 0 : GetLastError();
  }
  if (sending)
    rc = sock__sys.WSASend(sock__socket(s), bufs, count, &done, 0, &op->overlapped, NULL);
  else
    rc = sock__sys.WSARecv(sock__socket(s), bufs, count, &done, &flags, &op->overlapped, NULL);
  *bytes = done;
  return rc != 0 ? (unsigned long)WSAGetLastError() : 0;
}

/* ---- progress ----------------------------------------------------------------- */

/* Drops what a gather send has sent from the front of its array. */
static void sock__sendv_consume(sock_op_t *op, unsigned long bytes)
{
  WSABUF *bufs = op->target.bufs;
  while (op->len > 0 && (bytes >= bufs->len)) {
    bytes -= bufs->len;
    bufs->len = 0;
    bufs++;
    op->len--;
  }
  if (op->len > 0) {
    bufs->buf += bytes;
    bufs->len -= bytes;
  }
  op->target.bufs = bufs;
}

/* Looks for a newline in what the reader holds beyond what was scanned. */
static int sock__reader_scan(sock_op_t *op, sock_reader_t *r)
{
  char *start = r->buf + r->start;
  char *nl = memchr(start + op->bytes, '\n', r->end - r->start - op->bytes);
  if (nl == NULL) {
    op->bytes = (unsigned long)(r->end - r->start);
    if (r->end == r->size) {  /* full, and still no end of line */
      op->error = CO_EMSGSIZE;
      return 1;
    }
    return 0;
  }
  r->line_len = (size_t)(nl - start);
  *nl = '\0';
  if (r->line_len > 0 && start[r->line_len - 1] == '\r')
    start[--r->line_len] = '\0';
  r->start = (size_t)(nl - r->buf) + 1;
  op->bytes = (unsigned long)r->line_len;
  return 1;
}

/* A named pipe's outcomes in a stream's terms (sockets never report these
 * codes). On a receive, the peer leaving (ERROR_BROKEN_PIPE: it closed;
 * ERROR_PIPE_NOT_CONNECTED: the server disconnected) is the end of the
 * stream, as a 0-byte receive is on TCP; a message longer than the buffer
 * (ERROR_MORE_DATA, message mode) is a part, received with success, and
 * op.win32_error keeps ERROR_MORE_DATA to say that more of the message
 * follows. Returns the error the stream loop goes on with. */
static unsigned long sock__pipe_outcome(sock_op_t *op, unsigned long error,
                                        unsigned long *bytes)
{
  int receive = op->kind == SOCK__RECV || op->kind == SOCK__RECV_EXACTLY ||
                op->kind == SOCK__READ_LINE || op->kind == SOCK__WAIT_READABLE;
  if (error == 0) {
    op->win32_error = 0;  /* the last call's: it ended where a message did */
    return 0;
  }
  if (receive && op->error == CO_ECONNRESET &&
      (error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED)) {
    *bytes = 0;
    op->error = CO_OK;  /* the loop makes it CO_EOF; the raw code stays */
    return 0;
  }
  if (receive && error == ERROR_MORE_DATA && op->error == CO_EMSGSIZE) {
    op->error = CO_OK;
    return 0;
  }
  return error;
}

/* Records one call's outcome in op; returns 1 when the operation is
 * finished (op.error final), 0 when another call is needed. A failed call's
 * error is recorded already (by the hub). */
static int sock__advance(const sock_t *s, sock_op_t *op, unsigned long error,
                         unsigned long bytes)
{
  if (sock__kind_id(s) == SOCK__KIND_PIPE)  /* TCP's outcomes need no reading */
    error = sock__pipe_outcome(op, error, &bytes);
  if (error != 0) {
    /* What a failed call moved still counts: a cancelled send-all says how
     * much the peer may have received. */
    if (op->kind == SOCK__SEND_ALL || op->kind == SOCK__RECV_EXACTLY || op->kind == SOCK__SENDV)
      op->bytes += bytes;
    else if (op->kind != SOCK__READ_LINE)
      op->bytes = bytes;
    return 1;
  }
  switch (op->kind) {
  case SOCK__WAIT_READABLE:
    return 1;
  case SOCK__RECV:
  case SOCK__SEND:
    op->bytes = bytes;
    if (bytes == 0 && op->kind == SOCK__RECV)
      op->error = CO_EOF;
    return 1;
  case SOCK__SENDV:
    op->bytes += bytes;  /* op.bytes counts what was sent, all buffers */
    sock__sendv_consume(op, bytes);
    return op->len == 0;
  case SOCK__READ_LINE:
    if (bytes == 0) {
      op->error = CO_EOF;
      return 1;
    }
    op->target.reader->end += bytes;
    return sock__reader_scan(op, op->target.reader);
  default:  /* SOCK__RECV_EXACTLY, SOCK__SEND_ALL */
    if (bytes == 0 && op->kind == SOCK__RECV_EXACTLY) {
      op->error = CO_EOF;
      return 1;
    }
    op->bytes += bytes;
    return op->bytes == op->len;
  }
}

/* ---- the loop ------------------------------------------------------------------- */

/* Runs op until a call is pending (CO_PENDING) or op is finished (its
 * op.error). Synchronous successes (skip mode) loop here, off the pool. */
static int sock__drive(sock_t *s, sock_op_t *op)
{
  unsigned long error = 0, bytes = 0;
  do {
    int rc;
    if (sock__kind_id(s) == SOCK__KIND_TLS) {  /* plaintext to or from a TLS session */
      WSABUF one, *bufs;
      int sending;
      DWORD count = sock__buffers(op, &one, &bufs, &sending);
      rc = sock__tls_transfer(s, op, bufs, count, sending, &error, &bytes);
    } else {
      rc = sock__hub_call(s, op, sock__stream_call, NULL, &error, &bytes);
    }
    if (rc != CO_OK)
      return rc;  /* CO_PENDING, or refused (op.error set) */
  } while (!sock__advance(s, op, error, bytes));
  return op->error;
}

/* A completion on a connection: record it, call again if not done, wake
 * the task when it is. */
void sock__stream_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  if (op->kind >= SOCK__TLS_HANDSHAKE) {  /* a TLS session's call on this stream */
    sock__tls_on_io(s, op, error, bytes);
    return;
  }
  if (!sock__advance(s, op, error, bytes) && sock__drive(s, op) == CO_PENDING)
    return;
  co_wake(op->task);  /* last: the task may free op and close s */
}

void sock__stream_resume(sock_t *s, sock_op_t *op)
{
  if (sock__drive(s, op) != CO_PENDING)
    co_wake(op->task);
}

/* ---- the start functions ---------------------------------------------------------- */

/* Checks shared by the stream operations: a record, a task, a connection. */
static int sock__stream_begin(sock_op_t *op, sock_t *s, co_task_t *task, int kind)
{
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, kind, task);
  if (s == NULL || task == NULL ||
      (sock__kind_id(s) != SOCK__KIND_TCP && sock__kind_id(s) != SOCK__KIND_PIPE &&
       sock__kind_id(s) != SOCK__KIND_TLS))
    return sock__refuse(op, CO_EINVAL);
  return CO_OK;
}

static int sock__start_buffer(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                              co_task_t *task, int kind)
{
  int rc = sock__stream_begin(op, s, task, kind);
  if (rc != CO_OK)
    return rc;
  if ((buf == NULL && len > 0) || len > ULONG_MAX || (len == 0 && kind == SOCK__RECV))
    return sock__refuse(op, CO_EINVAL);
  op->target.buf = (char *)buf;  /* a send never writes to it */
  op->len = (unsigned long)len;
  if (len == 0 && kind != SOCK__WAIT_READABLE)
    return CO_OK;  /* nothing to move */
  return sock__drive(s, op);
}

int sock_recv_start(sock_op_t *op, sock_t *s, char *buf, size_t len, co_task_t *task)
{
  return sock__start_buffer(op, s, buf, len, task, SOCK__RECV);
}

int sock_recv_exactly_start(sock_op_t *op, sock_t *s, char *buf, size_t len,
                            co_task_t *task)
{
  return sock__start_buffer(op, s, buf, len, task, SOCK__RECV_EXACTLY);
}

int sock_wait_readable_start(sock_op_t *op, sock_t *s, co_task_t *task)
{
  return sock__start_buffer(op, s, NULL, 0, task, SOCK__WAIT_READABLE);
}

int sock_send_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                    co_task_t *task)
{
  return sock__start_buffer(op, s, buf, len, task, SOCK__SEND);
}

int sock_send_all_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                        co_task_t *task)
{
  return sock__start_buffer(op, s, buf, len, task, SOCK__SEND_ALL);
}

int sock_sendv_start(sock_op_t *op, sock_t *s, WSABUF *bufs, unsigned count,
                     co_task_t *task)
{
  int rc = sock__stream_begin(op, s, task, SOCK__SENDV);
  if (rc != CO_OK)
    return rc;
  if (bufs == NULL && count > 0)
    return sock__refuse(op, CO_EINVAL);
  op->target.bufs = bufs;
  op->len = count;
  sock__sendv_consume(op, 0);  /* skips empty buffers at the front */
  if (op->len == 0)
    return CO_OK;
  return sock__drive(s, op);
}

/* ---- reading lines ----------------------------------------------------------------- */

void sock_reader_init(sock_reader_t *r, sock_t *s, char *buf, size_t size)
{
  r->sock = s;
  r->buf = buf;
  r->size = size;
  r->start = 0;
  r->end = 0;
  r->line_len = 0;
}

int sock_read_line_start(sock_op_t *op, sock_reader_t *r, co_task_t *task)
{
  int rc = sock__stream_begin(op, r != NULL ? r->sock : NULL, task, SOCK__READ_LINE);
  if (rc != CO_OK)
    return rc;
  if (r->buf == NULL || r->size < 2 || r->size > ULONG_MAX || r->start > r->end ||
      r->end > r->size)
    return sock__refuse(op, CO_EINVAL);
  /* The last line is used up: move what follows it to the front. */
  memmove(r->buf, r->buf + r->start, r->end - r->start);
  r->end -= r->start;
  r->start = 0;
  op->target.reader = r;
  if (sock__reader_scan(op, r))  /* a whole line was already buffered */
    return op->error;
  return sock__drive(r->sock, op);
}

const char *sock_reader_line(const sock_reader_t *r, size_t *len)
{
  if (len != NULL)
    *len = r->line_len;
  return r->buf;
}

size_t sock_reader_buffered(const sock_reader_t *r)
{
  return r->end - r->start;
}

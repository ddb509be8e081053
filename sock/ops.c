/*
 * sock/ops.c - receive, send and their "until done" forms, by the await
 * protocol: one loop (sock__drive) issues overlapped calls until one is
 * pending or the operation is finished; the IO callback feeds completions
 * back into the same loop. Synchronous successes (skip-completion-port on)
 * take the loop's fast path and never see a pool thread.
 */
#include "sock_internal.h"

#include <limits.h>
#include <string.h>

/* ---- records --------------------------------------------------------------- */

void sock__op_begin(sock_op_t *op, int kind, co_task_t *task)
{
  op->task = task;
  op->bytes = 0;
  op->win32_error = 0;
  op->error = CO_OK;
  op->kind = (unsigned char)kind;
  op->flags = 0;
}

int sock__op_fail(sock_op_t *op, unsigned long win32_error)
{
  op->win32_error = win32_error;
  op->error = (short)sock_error_from_win32(win32_error);
  return op->error;
}

/* Rejects bad input before anything starts: a clear error, no crash. */
static int sock__invalid(sock_op_t *op, int error)
{
  op->error = (short)error;
  return error;
}

/* ---- one overlapped call --------------------------------------------------------- */

/* Fills the buffers for the next call of op; returns their count, or 0 when
 * nothing is left to send/receive. *sending tells WSASend from WSARecv. */
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
    r = (sock_reader_t *)op->buf;
    one->buf = r->buf + r->end;
    one->len = (ULONG)(r->size - r->end);
    return 1;
  case SOCK__SENDV:
    *sending = 1;
    *bufs = (WSABUF *)op->buf;
    return (DWORD)op->len;
  case SOCK__SEND:
  case SOCK__SEND_ALL:
    *sending = 1;
    break;
  default:
    break;
  }
  one->buf = op->buf + op->bytes;
  one->len = op->len - op->bytes;
  return 1;
}

/* Issues one WSARecv/WSASend. Returns CO_PENDING (the callback will see the
 * completion; nothing here touches op again), CO_OK with the synchronous
 * outcome in *error and *bytes (after CancelThreadpoolIo), or a negative
 * code when the task may not await any more (cancelled, timed out) or the
 * socket is cancelled (sock__call_begin/_end in socket.c: the protocol). */
static int sock__issue(sock_t *s, sock_op_t *op, unsigned long *error, unsigned long *bytes)
{
  WSABUF one, *bufs;
  DWORD count, done = 0, flags = 0;
  int sending, rc, reason;
  unsigned long last = 0;
  sock_task_t *st = sock__call_begin(s, op, &reason);

  if (reason != CO_OK)
    return reason;
  count = sock__buffers(op, &one, &bufs, &sending);
  if (sending)
    rc = WSASend(sock__handle(s), bufs, count, &done, 0, &op->overlapped, NULL);
  else
    rc = WSARecv(sock__handle(s), bufs, count, &done, &flags, &op->overlapped, NULL);
  if (rc != 0)
    last = (unsigned long)WSAGetLastError();
  if (sock__call_end(st, s, op, last) == CO_PENDING)
    return CO_PENDING;
  *error = last;
  *bytes = done;
  return CO_OK;
}

/* ---- progress ----------------------------------------------------------------- */

/* Drops what a gather send has sent from the front of its array. */
static void sock__sendv_consume(sock_op_t *op, unsigned long bytes)
{
  WSABUF *bufs = (WSABUF *)op->buf;
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
  op->buf = (char *)bufs;
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

/* Records one call's outcome in op; returns 1 when the operation is
 * finished (op.error final), 0 when another call is needed. */
static int sock__advance(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  if (error != 0) {
    /* What a failed call moved still counts: a cancelled send-all says how
     * much the peer may have received. */
    if (op->kind == SOCK__SEND_ALL || op->kind == SOCK__RECV_EXACTLY || op->kind == SOCK__SENDV)
      op->bytes += bytes;
    else if (op->kind != SOCK__READ_LINE)
      op->bytes = bytes;
    sock__op_fail(op, sock__is(s, SOCK__CLOSED) ? ERROR_OPERATION_ABORTED : error);
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
    ((sock_reader_t *)op->buf)->end += bytes;
    return sock__reader_scan(op, (sock_reader_t *)op->buf);
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

/* Runs op until a call is pending or op is finished. */
static int sock__drive(sock_t *s, sock_op_t *op)
{
  unsigned long error = 0, bytes = 0;
  do {
    if (sock__is(s, SOCK__CLOSED)) {
      sock__op_fail(op, ERROR_OPERATION_ABORTED);
      return op->error;
    }
    int rc = sock__issue(s, op, &error, &bytes);
    if (rc == CO_PENDING)
      return CO_PENDING;
    if (rc < 0) {
      op->error = (short)rc;
      return rc;
    }
  } while (!sock__advance(s, op, error, bytes));
  return op->error;
}

int sock__drive_completed(sock_t *s, sock_op_t *op, unsigned long error,
                          unsigned long bytes)
{
  int reason = sock__wait_clear(op);
  if (error == ERROR_OPERATION_ABORTED && reason != CO_OK && !sock__is(s, SOCK__CLOSED)) {
    op->win32_error = error;  /* cancelled by sock_task_cancel or a deadline */
    op->error = (short)reason;
    return reason;
  }
  if (sock__advance(s, op, error, bytes))
    return op->error;
  return sock__drive(s, op);
}

int sock__start(sock_t *s, sock_op_t *op)
{
  int rc;
  if (sock__is(s, SOCK__CLOSED))
    return sock__invalid(op, CO_ECANCELED);
  if (sock__shutting_down(s->rt))
    return sock__invalid(op, CO_ESHUTDOWN);
  sock__retain(s);  /* the operation keeps the socket alive */
  rc = sock__drive(s, op);
  if (rc != CO_PENDING)
    sock__release(s);
  return rc;
}

void sock__finish_pending(sock_t *s, sock_op_t *op)
{
  co_task_t *task = op->task;
  sock__release(s);
  co_wake(task);  /* last: the task may free op and close s */
}

/* ---- the start functions ---------------------------------------------------------- */

/* Checks shared by the buffer operations, then starts. */
static int sock__start_buffer(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                              co_task_t *task, int kind)
{
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, kind, task);
  if (s == NULL || task == NULL || (buf == NULL && len > 0) || len > ULONG_MAX)
    return sock__invalid(op, CO_EINVAL);
  op->buf = (char *)buf;  /* a send never writes to it */
  op->len = (unsigned long)len;
  if (len == 0 && kind != SOCK__WAIT_READABLE)
    return kind == SOCK__RECV ? sock__invalid(op, CO_EINVAL) : CO_OK;
  return sock__start(s, op);
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
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__SENDV, task);
  if (s == NULL || task == NULL || (bufs == NULL && count > 0))
    return sock__invalid(op, CO_EINVAL);
  op->buf = (char *)bufs;
  op->len = count;
  sock__sendv_consume(op, 0);  /* skips empty buffers at the front */
  if (op->len == 0)
    return CO_OK;
  return sock__start(s, op);
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
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__READ_LINE, task);
  if (r == NULL || r->sock == NULL || r->buf == NULL || r->size < 2 || task == NULL ||
      r->size > ULONG_MAX)
    return sock__invalid(op, CO_EINVAL);
  /* The last line is used up: move what follows it to the front. */
  memmove(r->buf, r->buf + r->start, r->end - r->start);
  r->end -= r->start;
  r->start = 0;
  op->buf = (char *)r;
  if (sock__reader_scan(op, r))  /* a whole line was already buffered */
    return op->error;
  return sock__start(r->sock, op);
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

/*
 * sock/file.c - the file kind: a file opened with FILE_FLAG_OVERLAPPED,
 * read and written at explicit 64-bit offsets, one ReadFile or WriteFile
 * per operation through the hub, as many in flight as the caller likes.
 *
 * Two facts shape it (probe 6 of the Wine notes). Windows often finishes
 * cached file IO at once, so a file skips the completion port on success
 * and such a call takes the hub's inline path; under Wine every call goes
 * pending. And the end of the file comes either way: at once as
 * ERROR_HANDLE_EOF (Windows, no completion) or as the completion's result
 * (Wine); a read that crosses the end finishes with a short count. All of
 * these end the same way: CO_EOF with the bytes that were read.
 *
 * The offset travels in OVERLAPPED.Offset/OffsetHigh, which share a union
 * with the overlapped.Pointer where the hub keeps a call's handle for a
 * canceller; a file operation keeps its handle in op.bytes instead (hub.c,
 * sock__io_handle).
 */
#include "sock_internal.h"

#include <limits.h>
#include <stdlib.h>

/* ---- the kind ------------------------------------------------------------------------ */

static void sock__file_close(HANDLE h)
{
  CloseHandle(h);
}

/* A call's outcome in op (the hub has recorded a failure already:
 * ERROR_HANDLE_EOF is CO_EOF there). A short read met the end of the file. */
static int sock__file_result(sock_op_t *op, unsigned long error, unsigned long bytes)
{
  op->bytes = bytes;  /* it held the handle while the call was out */
  if (error == 0 && op->kind == SOCK__FILE_READ && bytes < op->len)
    op->error = CO_EOF;
  return op->error;
}

static void sock__file_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  (void)s;
  sock__file_result(op, error, bytes);
  co_wake(op->task);  /* last: the task may free op and close s */
}

const sock__kind_t sock__file_kind = {
  "file", sizeof(sock_t), sock__file_close, sock__file_on_io, NULL, NULL
};

/* ---- opening ------------------------------------------------------------------------- */

enum {
  SOCK__FILE_FLAGS = SOCK_FILE_READ | SOCK_FILE_WRITE | SOCK_FILE_CREATE | SOCK_FILE_TRUNCATE |
                     SOCK_FILE_EXCLUSIVE | SOCK_FILE_SHARE_READ | SOCK_FILE_SHARE_WRITE |
                     SOCK_FILE_SHARE_DELETE
};

/* CreateFileW's disposition for the flags. */
static DWORD sock__file_disposition(unsigned flags)
{
  if (flags & SOCK_FILE_EXCLUSIVE)
    return CREATE_NEW;
  if (flags & SOCK_FILE_CREATE)
    return (flags & SOCK_FILE_TRUNCATE) ? CREATE_ALWAYS : OPEN_ALWAYS;
  return (flags & SOCK_FILE_TRUNCATE) ? TRUNCATE_EXISTING : OPEN_EXISTING;
}

int sock_file_open(sock_runtime_t *rt, const char *path, unsigned flags, sock_t **out)
{
  DWORD access = 0, share = 0;
  LONG kind_flags = 0;
  WCHAR *wpath;
  HANDLE h;
  int rc;
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (rt == NULL || path == NULL || (flags & ~(unsigned)SOCK__FILE_FLAGS) != 0 ||
      (flags & (SOCK_FILE_READ | SOCK_FILE_WRITE)) == 0 ||
      ((flags & SOCK_FILE_TRUNCATE) && !(flags & SOCK_FILE_WRITE)))
    return CO_EINVAL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  wpath = sock__widen(NULL, path, &rc);
  if (wpath == NULL)
    return rc;
  if (flags & SOCK_FILE_READ)
    access |= GENERIC_READ;
  if (flags & SOCK_FILE_WRITE)
    access |= GENERIC_WRITE;
  if (flags & SOCK_FILE_SHARE_READ)
    share |= FILE_SHARE_READ;
  if (flags & SOCK_FILE_SHARE_WRITE)
    share |= FILE_SHARE_WRITE;
  if (flags & SOCK_FILE_SHARE_DELETE)
    share |= FILE_SHARE_DELETE;
  /* No SECURITY_ATTRIBUTES: the handle is not inherited. */
  h = sock__sys.CreateFileW(wpath, access, share, NULL, sock__file_disposition(flags),
                            FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
  free(wpath);
  if (h == INVALID_HANDLE_VALUE)
    return sock_error_from_win32(GetLastError());
  kind_flags |= sock__skip_port(h);
  return sock__handle_wrap(rt, h, SOCK__KIND_FILE, kind_flags, out);  /* closes h on failure */
}

/* ---- reading and writing -------------------------------------------------------------- */

/* The hub's call: one ReadFile or WriteFile at the offset in `arg`. The
 * offset goes over overlapped.Pointer: the hub finds this call's handle in
 * op.bytes. */
static unsigned long sock__file_call(sock_t *s, sock_op_t *op, void *arg, unsigned long *bytes)
{
  unsigned long long offset = *(const unsigned long long *)arg;
  DWORD done = 0;
  BOOL ok;
  op->overlapped.Offset = (DWORD)offset;
  op->overlapped.OffsetHigh = (DWORD)(offset >> 32);
  if (op->kind == SOCK__FILE_READ)
    ok = sock__sys.ReadFile(sock__os_handle(s), op->target.buf, op->len, &done, &op->overlapped);
  else
    ok = sock__sys.WriteFile(sock__os_handle(s), op->target.buf, op->len, &done,
                             &op->overlapped);
  *bytes = done;
  return ok ? 0 : GetLastError();
}

static int sock__file_start(sock_op_t *op, sock_t *file, unsigned long long offset,
                            const char *buf, size_t len, co_task_t *task, int kind)
{
  unsigned long error = 0, done = 0;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, kind, task);
  if (file == NULL || task == NULL || sock__kind_id(file) != SOCK__KIND_FILE ||
      (buf == NULL && len > 0) || len > ULONG_MAX || offset > (unsigned long long)LLONG_MAX ||
      (len == 0 && kind == SOCK__FILE_READ))
    return sock__refuse(op, CO_EINVAL);
  if (len == 0)
    return CO_OK;  /* nothing to write */
  op->target.buf = (char *)buf;  /* a write never writes to it */
  op->len = (unsigned long)len;
  op->bytes = (unsigned long)file->handle;  /* for a canceller while the call is out: hub.c */
  rc = sock__hub_call(file, op, sock__file_call, &offset, &error, &done);
  if (rc == CO_PENDING)
    return rc;  /* touch nothing of op any more */
  if (rc != CO_OK) {
    op->bytes = 0;
    return rc;  /* refused: op.error set */
  }
  return sock__file_result(op, error, done);
}

int sock_file_read_start(sock_op_t *op, sock_t *file, unsigned long long offset, char *buf,
                         size_t len, co_task_t *task)
{
  return sock__file_start(op, file, offset, buf, len, task, SOCK__FILE_READ);
}

int sock_file_write_start(sock_op_t *op, sock_t *file, unsigned long long offset,
                          const char *buf, size_t len, co_task_t *task)
{
  return sock__file_start(op, file, offset, buf, len, task, SOCK__FILE_WRITE);
}

/* ---- small things -------------------------------------------------------------------- */

int sock_file_size(sock_t *file, unsigned long long *size)
{
  LARGE_INTEGER n;
  if (file == NULL || size == NULL || sock__kind_id(file) != SOCK__KIND_FILE)
    return CO_EINVAL;
  if (!GetFileSizeEx(sock__os_handle(file), &n))
    return sock_error_from_win32(GetLastError());
  *size = (unsigned long long)n.QuadPart;
  return CO_OK;
}

int sock_file_flush(sock_t *file)
{
  if (file == NULL || sock__kind_id(file) != SOCK__KIND_FILE)
    return CO_EINVAL;
  if (!FlushFileBuffers(sock__os_handle(file)))
    return sock_error_from_win32(GetLastError());
  return CO_OK;
}

/*
 * tests/sock/test_file.c - files on the awaits: a 64 MiB copy at offsets
 * with 8 operations in flight, reads at and across the end of the file,
 * Windows' synchronous completions forced through the seam (Wine never
 * gives them), opening flags and their errors, and cancelling, closing and
 * timing out a file operation that stays pending.
 *
 * A regular file's operation finishes before anyone can cancel it (probe 6
 * of the Wine notes), so the cancel tests open a named pipe's client end
 * with sock_file_open: a read of it is a file operation that stays pending
 * until the test writes, which proves that a canceller finds the handle of
 * a call whose OVERLAPPED carries an offset. Files live in the folder the
 * test runs in, named after the process id; every case removes its own.
 */
#include "sock_test.h"

#include <sock/sock_fault.h>

/* ctest-timeout: 120 */

static char path_a[64], path_b[64];

static void name_files(const char *tag)
{
  snprintf(path_a, sizeof path_a, "cosock-%s-%lu-a.bin", tag, (unsigned long)GetCurrentProcessId());
  snprintf(path_b, sizeof path_b, "cosock-%s-%lu-b.bin", tag, (unsigned long)GetCurrentProcessId());
}

static void remove_files(void)
{
  DeleteFileA(path_a);
  DeleteFileA(path_b);
}

static void fault_clear(void)
{
  sock_fault_reset();
}

/* Writes `size` bytes of test_pattern(id, offset) with plain blocking calls. */
static void make_file(const char *path, unsigned long size, unsigned long id)
{
  static char chunk[1 << 16];
  HANDLE h = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
  ck_assert_msg(h != INVALID_HANDLE_VALUE, "create %s: %lu", path, GetLastError());
  for (unsigned long at = 0; at < size; at += sizeof chunk) {
    DWORD n = size - at < sizeof chunk ? (DWORD)(size - at) : (DWORD)sizeof chunk, done = 0;
    for (DWORD k = 0; k < n; k++)
      chunk[k] = (char)test_pattern(id, at + k);
    ck_assert(WriteFile(h, chunk, n, &done, NULL) && done == n);
  }
  CloseHandle(h);
}

/* ---- One operation in a task ------------------------------------------------------ */

typedef struct fop {
  test_task_t   tt;
  sock_t       *file;
  sock_op_t     op;
  int           write;
  unsigned long long offset;
  char         *buf;
  size_t        len;
  unsigned      deadline;
  int           start_rc;  /* what the start function returned */
  int           error;
  unsigned long bytes, win32;
  volatile LONG parked;
} fop_t;

static int record_start(fop_t *f, int rc)
{
  f->start_rc = rc;
  return rc;
}

static co_state_t fop_step(co_task_t *t)
{
  fop_t *f = (fop_t *)t;
  CO_BEGIN(t);
  if (f->deadline > 0)
    sock_deadline_set(&f->tt.st, f->deadline);
  InterlockedIncrement(&f->parked);
  if (f->write)
    CO_AWAIT(t, record_start(f, sock_file_write_start(&f->op, f->file, f->offset, f->buf,
                                                      f->len, t)));
  else
    CO_AWAIT(t, record_start(f, sock_file_read_start(&f->op, f->file, f->offset, f->buf,
                                                     f->len, t)));
  f->error = f->op.error;
  f->bytes = f->op.bytes;
  f->win32 = f->op.win32_error;
  CO_END(t);
}

static fop_t fops[8];

static fop_t *fop_start(sock_runtime_t *rt, int i, sock_t *file, int write,
                        unsigned long long offset, char *buf, size_t len)
{
  fop_t *f = &fops[i];
  HANDLE done = f->tt.done;
  memset(f, 0, sizeof *f);
  f->tt.done = done;
  f->file = file;
  f->write = write;
  f->offset = offset;
  f->buf = buf;
  f->len = len;
  test_spawn(rt, &f->tt, fop_step);
  return f;
}

static fop_t *fop_run(sock_runtime_t *rt, sock_t *file, int write, unsigned long long offset,
                      char *buf, size_t len)
{
  fop_t *f = fop_start(rt, 0, file, write, offset, buf, len);
  test_wait(&f->tt, TEST_WAIT_MS);
  return f;
}

static void fops_free(void)
{
  for (int i = 0; i < 8; i++)
    test_task_free_event(&fops[i].tt);
}

/* ---- A 64 MiB copy, 8 in flight ------------------------------------------------------- */

enum { COPY_SIZE = 64 << 20, COPY_CHUNK = 256 << 10, COPY_TASKS = 8 };

typedef struct copier {
  test_task_t    tt;
  sock_t        *src, *dst;
  volatile LONG *next;      /* the next chunk to take, shared */
  sock_op_t      op;
  LONG           chunk;
  char          *buf;
  int            error;
  unsigned long  chunks;
} copier_t;

static copier_t copiers[COPY_TASKS];

/* Takes chunks until none is left: read at its offset, write at the same. */
static co_state_t copier_step(co_task_t *t)
{
  copier_t *c = (copier_t *)t;
  CO_BEGIN(t);
  for (;;) {
    c->chunk = InterlockedIncrement(c->next) - 1;
    if ((unsigned long)c->chunk * COPY_CHUNK >= COPY_SIZE)
      break;
    CO_AWAIT(t, sock_file_read_start(&c->op, c->src, (unsigned long long)c->chunk * COPY_CHUNK,
                                     c->buf, COPY_CHUNK, t));
    if (c->op.error < 0 || c->op.bytes != COPY_CHUNK)
      break;
    CO_AWAIT(t, sock_file_write_start(&c->op, c->dst,
                                      (unsigned long long)c->chunk * COPY_CHUNK, c->buf,
                                      COPY_CHUNK, t));
    if (c->op.error < 0)
      break;
    c->chunks++;
  }
  c->error = c->op.error;
  CO_END(t);
}

/* 64 MiB copied in 256 KiB chunks by 8 tasks, each taking the next chunk
 * and writing it at its own offset (so they finish out of order): the copy
 * has the source's size and every byte of it. */
START_TEST(file_copy_64mib_at_offsets_8_in_flight)
{
  sock_runtime_t *rt = test_runtime_start();
  static volatile LONG next;
  sock_t *src = NULL, *dst = NULL;
  unsigned long long size = 0;
  unsigned long chunks = 0;
  name_files("copy");
  make_file(path_a, COPY_SIZE, 5);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &src), CO_OK);
  ck_assert_int_eq(sock_file_open(rt, path_b,
                                  SOCK_FILE_WRITE | SOCK_FILE_CREATE | SOCK_FILE_TRUNCATE, &dst),
                   CO_OK);
  next = 0;
  for (int i = 0; i < COPY_TASKS; i++) {
    HANDLE done = copiers[i].tt.done;
    memset(&copiers[i], 0, sizeof copiers[i]);
    copiers[i].tt.done = done;
    copiers[i].src = src;
    copiers[i].dst = dst;
    copiers[i].next = &next;
    copiers[i].buf = malloc(COPY_CHUNK);
    ck_assert_ptr_nonnull(copiers[i].buf);
  }
  for (int i = 0; i < COPY_TASKS; i++)
    test_spawn(rt, &copiers[i].tt, copier_step);
  for (int i = 0; i < COPY_TASKS; i++) {
    test_wait(&copiers[i].tt, 60000);
    ck_assert_msg(copiers[i].error == CO_OK, "copier %d: %s", i,
                  co_errname(copiers[i].error));
    chunks += copiers[i].chunks;
    free(copiers[i].buf);
  }
  ck_assert_uint_eq(chunks, COPY_SIZE / COPY_CHUNK);
  ck_assert_int_eq(sock_file_flush(dst), CO_OK);
  ck_assert_int_eq(sock_file_size(dst, &size), CO_OK);
  ck_assert_uint_eq(size, COPY_SIZE);
  sock_close(src);
  sock_close(dst);

  /* Byte for byte, read back with plain calls. */
  {
    static char chunk[1 << 16];
    HANDLE h = CreateFileA(path_b, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    unsigned long bad = 0, at = 0;
    DWORD n = 0;
    ck_assert(h != INVALID_HANDLE_VALUE);
    while (ReadFile(h, chunk, sizeof chunk, &n, NULL) && n > 0) {
      for (DWORD k = 0; k < n; k++)
        bad += (unsigned char)chunk[k] != test_pattern(5, at + k);
      at += n;
    }
    CloseHandle(h);
    ck_assert_uint_eq(at, COPY_SIZE);
    ck_assert_uint_eq(bad, 0);
  }
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  for (int i = 0; i < COPY_TASKS; i++)
    test_task_free_event(&copiers[i].tt);
  remove_files();
}
END_TEST

/* ---- The end of the file -------------------------------------------------------------- */

/* Each start's result: inline (not CO_PENDING) when `inline_only`. */
static void check_start(const fop_t *o, int inline_only)
{
  if (inline_only)
    ck_assert_msg(o->start_rc != CO_PENDING && o->start_rc == o->error,
                  "a synchronous completion went pending (start %s, result %s)",
                  co_errname(o->start_rc), co_errname(o->error));
}

/* The reads at and across the end of the file, on `f` (1,000 bytes). */
static void check_eof_reads(sock_runtime_t *rt, sock_t *f, int inline_only)
{
  static char buf[2000];
  fop_t *o = fop_run(rt, f, 0, 0, buf, 1000);
  check_start(o, inline_only);
  ck_assert_msg(o->error == CO_OK, "whole file: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 1000);
  ck_assert(buf[999] == (char)test_pattern(9, 999));

  o = fop_run(rt, f, 0, 950, buf, 100);
  check_start(o, inline_only);
  ck_assert_msg(o->error == CO_EOF, "across the end: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 50);
  ck_assert(buf[0] == (char)test_pattern(9, 950) && buf[49] == (char)test_pattern(9, 999));

  o = fop_run(rt, f, 0, 1000, buf, 100);
  check_start(o, inline_only);
  ck_assert_msg(o->error == CO_EOF, "at the end: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 0);

  o = fop_run(rt, f, 0, 1ull << 40, buf, 100);
  check_start(o, inline_only);
  ck_assert_msg(o->error == CO_EOF, "far past the end: %s", co_errname(o->error));
  ck_assert_uint_eq(o->bytes, 0);
}

/* A read of the whole file is CO_OK; one that crosses the end is CO_EOF
 * with the bytes before it; one at or past the end is CO_EOF with none. */
START_TEST(file_reads_at_and_across_the_end)
{
  sock_runtime_t *rt = test_runtime_start();
  sock_t *f = NULL;
  name_files("eof");
  make_file(path_a, 1000, 9);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &f), CO_OK);
  check_eof_reads(rt, f, 0);
  sock_close(f);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  fops_free();
  remove_files();
}
END_TEST

/* Windows finishes cached reads and writes at once, which Wine never does:
 * forced through the seam, every start returns its result inline (not
 * CO_PENDING) and the results are those of the pending path, the end of
 * the file included (at once as ERROR_HANDLE_EOF, as Windows reports it). */
START_TEST(file_synchronous_completions_forced)
{
  sock_runtime_t *rt = test_runtime_start();
  static char buf[1000];
  sock_t *f = NULL;
  fop_t *o;
  name_files("sync");
  make_file(path_a, 1000, 9);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ | SOCK_FILE_WRITE, &f), CO_OK);

  sock_fault_nth(SOCK_SYS_READFILE, 1, 0, SOCK_FAULT_SYNC);
  check_eof_reads(rt, f, 1);
  ck_assert_uint_eq(sock_fault_failures(SOCK_SYS_READFILE), 4);  /* all four forced */
  ck_assert_uint_eq(fops[0].win32, ERROR_HANDLE_EOF);  /* the last: past the end */

  sock_fault_nth(SOCK_SYS_WRITEFILE, 1, 0, SOCK_FAULT_SYNC);
  memcpy(buf, "synchronous", 11);
  o = fop_run(rt, f, 1, 1000, buf, 11);
  ck_assert_int_eq(o->start_rc, CO_OK);
  ck_assert_int_eq(o->error, CO_OK);
  ck_assert_uint_eq(o->bytes, 11);
  sock_fault_reset();
  o = fop_run(rt, f, 0, 1000, buf, 100);  /* the pending path reads it back */
  ck_assert_int_eq(o->error, CO_EOF);
  ck_assert_uint_eq(o->bytes, 11);
  ck_assert(memcmp(buf, "synchronous", 11) == 0);

  /* Windows' immediate end of file with no completion. */
  sock_fault_nth(SOCK_SYS_READFILE, 1, 1, ERROR_HANDLE_EOF);
  o = fop_run(rt, f, 0, 0, buf, 100);
  ck_assert_int_eq(o->start_rc, CO_EOF);
  ck_assert_uint_eq(o->bytes, 0);
  sock_fault_reset();

  sock_close(f);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  fops_free();
  remove_files();
}
END_TEST

/* ---- Opening ------------------------------------------------------------------------ */

/* The open flags do what they say, and each wrong use has its error. */
START_TEST(file_open_flags_and_errors)
{
  sock_runtime_t *rt = test_runtime_start();
  static char buf[64];
  sock_t *f = NULL, *g = (sock_t *)1;
  unsigned long long size = 1;
  fop_t *o;
  name_files("open");
  remove_files();

  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &g), CO_ENOENT);
  ck_assert_ptr_null(g);
  ck_assert_int_eq(sock_file_open(rt, "no-such-folder\\x.bin", SOCK_FILE_READ | SOCK_FILE_WRITE |
                                  SOCK_FILE_CREATE, &g), CO_ENOENT);
  ck_assert_int_eq(sock_file_open(rt, path_a, 0, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ | SOCK_FILE_TRUNCATE, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ | 0x8000, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(rt, "", SOCK_FILE_READ, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(rt, NULL, SOCK_FILE_READ, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(NULL, path_a, SOCK_FILE_READ, &g), CO_EINVAL);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, NULL), CO_EINVAL);

  /* Exclusive create, then a second exclusive create. */
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_WRITE | SOCK_FILE_EXCLUSIVE, &f), CO_OK);
  ck_assert_int_eq(sock_file_size(f, &size), CO_OK);
  ck_assert_uint_eq(size, 0);
  o = fop_run(rt, f, 1, 0, (char *)"0123456789", 10);
  ck_assert_int_eq(o->error, CO_OK);
  /* Not opened for reading. */
  o = fop_run(rt, f, 0, 0, buf, 10);
  ck_assert_msg(o->error == CO_EACCES, "read of a write-only file: %s", co_errname(o->error));
  /* No sharing asked for: a second open is refused while this one lives. */
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &g), CO_EACCES);
  sock_close(f);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_WRITE | SOCK_FILE_EXCLUSIVE, &g),
                   CO_EEXIST);

  /* Shared reads; truncation. */
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ | SOCK_FILE_SHARE_READ, &f), CO_OK);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ | SOCK_FILE_SHARE_READ, &g), CO_OK);
  ck_assert_int_eq(sock_file_size(g, &size), CO_OK);
  ck_assert_uint_eq(size, 10);
  ck_assert_int_eq(sock_file_flush(g), CO_EACCES);  /* not opened for writing */
  sock_close(g);
  sock_close(f);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_WRITE | SOCK_FILE_TRUNCATE, &f), CO_OK);
  ck_assert_int_eq(sock_file_size(f, &size), CO_OK);
  ck_assert_uint_eq(size, 0);

  /* Bad arguments of the operations; streams and files do not mix. */
  o = fop_run(rt, f, 0, 0, buf, 0);
  ck_assert_int_eq(o->error, CO_EINVAL);
  o = fop_run(rt, f, 1, 1ull << 63, buf, 1);
  ck_assert_int_eq(o->error, CO_EINVAL);
  o = fop_run(rt, f, 1, 0, NULL, 1);
  ck_assert_int_eq(o->error, CO_EINVAL);
  o = fop_run(rt, f, 1, 0, buf, 0);  /* writing nothing finishes at once */
  ck_assert_int_eq(o->start_rc, CO_OK);
  ck_assert_int_eq(sock_file_size(NULL, &size), CO_EINVAL);
  ck_assert_int_eq(sock_file_flush(NULL), CO_EINVAL);
  ck_assert_int_eq(sock_shutdown_send(f), CO_EINVAL);
  ck_assert_int_eq(sock_local_addr(f, (sock_addr_t *)buf), CO_EINVAL);
  o = fop_run(rt, NULL, 0, 0, buf, 1);
  ck_assert_int_eq(o->error, CO_EINVAL);
  sock_close(f);

  sock_fault_nth(SOCK_SYS_CREATEFILEW, 1, 1, ERROR_DISK_FULL);
  ck_assert_int_eq(sock_file_open(rt, path_b, SOCK_FILE_WRITE | SOCK_FILE_CREATE, &g), CO_ENOSPC);
  sock_fault_nth(SOCK_SYS_CREATETHREADPOOLIO, 1, 1, 0);
  ck_assert_int_eq(sock_file_open(rt, path_b, SOCK_FILE_WRITE | SOCK_FILE_CREATE, &g), CO_ENOMEM);
  ck_assert_ptr_null(g);
  sock_fault_reset();
  ck_assert_int_eq(DeleteFileA(path_b), TRUE);  /* created, and closed again: deletable */
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  fops_free();
  remove_files();
}
END_TEST

/* ---- A file operation that stays pending ----------------------------------------------- */

static char pipe_path[96];

/* A pipe server (plain Win32) and its client end opened as a file. */
static HANDLE pipe_as_file(sock_runtime_t *rt, sock_t **f)
{
  WCHAR wpath[96];
  HANDLE server;
  snprintf(pipe_path, sizeof pipe_path, "\\\\.\\pipe\\cosock-file-%lu",
           (unsigned long)GetCurrentProcessId());
  MultiByteToWideChar(CP_UTF8, 0, pipe_path, -1, wpath, 96);
  server = CreateNamedPipeW(wpath, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 4096, 4096, 0, NULL);
  ck_assert(server != INVALID_HANDLE_VALUE);
  ck_assert_int_eq(sock_file_open(rt, pipe_path, SOCK_FILE_READ | SOCK_FILE_WRITE, f), CO_OK);
  return server;
}

static void parked(int i)
{
  DWORD start = GetTickCount();
  while (InterlockedCompareExchange(&fops[i].parked, 0, 0) == 0) {
    ck_assert(GetTickCount() - start < 5000);
    Sleep(1);
  }
  Sleep(50);
}

/* A pending file read (its OVERLAPPED holding an offset, not the hub's
 * pointer) is ended by sock_op_cancel (the next read works), by its task's
 * deadline, and by sock_close of the file, each with its own error. */
START_TEST(file_pending_read_cancelled_timed_out_closed)
{
  sock_runtime_t *rt = test_runtime_start();
  static char buf[16];
  sock_t *f = NULL;
  HANDLE server = pipe_as_file(rt, &f);
  DWORD n;
  fop_t *o = fop_start(rt, 0, f, 0, 12345, buf, sizeof buf);
  parked(0);
  ck_assert_msg(!test_finished(&o->tt), "the read did not stay pending: %s",
                co_errname(o->error));
  ck_assert_int_eq(sock_op_cancel(&o->op), 1);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "cancelled: %s", co_errname(o->error));

  ck_assert(WriteFile(server, "data", 4, &n, NULL));
  o = fop_run(rt, f, 0, 0, buf, sizeof buf);
  ck_assert_int_eq(o->bytes, 4);  /* short: CO_EOF by the file rules, the bytes are there */
  ck_assert(memcmp(buf, "data", 4) == 0);

  o = fop_start(rt, 1, f, 0, 0, buf, sizeof buf);
  parked(1);
  {
    fop_t *d = &fops[2];
    HANDLE done = d->tt.done;
    memset(d, 0, sizeof *d);
    d->tt.done = done;
    d->file = f;
    d->buf = buf + 8;
    d->len = 8;
    d->deadline = 100;
    test_spawn(rt, &d->tt, fop_step);
    test_wait(&d->tt, TEST_WAIT_MS);
    ck_assert_msg(d->error == CO_ETIMEDOUT, "past its deadline: %s", co_errname(d->error));
  }
  ck_assert(!test_finished(&o->tt));
  sock_close(f);
  test_wait(&o->tt, TEST_WAIT_MS);
  ck_assert_msg(o->error == CO_ECANCELED, "closed under it: %s", co_errname(o->error));
  CloseHandle(server);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  fops_free();
}
END_TEST

/* Eight 1 MiB reads in flight, all cancelled and the file closed at once:
 * each ends once, with its data or CO_ECANCELED, and nothing leaks. And a
 * completion that reports a failure is that failure. */
START_TEST(file_reads_in_flight_when_closed)
{
  sock_runtime_t *rt = test_runtime_start();
  static char *bufs[8];
  sock_t *f = NULL;
  int ended_ok = 0, cancelled = 0;
  fop_t *o;
  name_files("close");
  make_file(path_a, 8 << 20, 4);
  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &f), CO_OK);
  for (int i = 0; i < 8; i++) {
    bufs[i] = malloc(1 << 20);
    ck_assert_ptr_nonnull(bufs[i]);
    fop_start(rt, i, f, 0, (unsigned long long)i << 20, bufs[i], 1 << 20);
  }
  for (int i = 0; i < 8; i++)
    sock_op_cancel(&fops[i].op);
  sock_close(f);
  for (int i = 0; i < 8; i++) {
    test_wait(&fops[i].tt, TEST_WAIT_MS);
    if (fops[i].error == CO_OK) {
      ended_ok++;
      ck_assert((unsigned char)bufs[i][12345] == test_pattern(4, ((unsigned long)i << 20) + 12345));
    } else {
      ck_assert_msg(fops[i].error == CO_ECANCELED, "read %d: %s", i, co_errname(fops[i].error));
      cancelled++;
    }
  }
  ck_assert_int_eq(ended_ok + cancelled, 8);
  test_wait_counters(rt, 0, 0, 0, 5000);

  ck_assert_int_eq(sock_file_open(rt, path_a, SOCK_FILE_READ, &f), CO_OK);
  sock_fault_nth(SOCK_SYS_COMPLETION, 1, 1, ERROR_NOT_ENOUGH_MEMORY);
  o = fop_run(rt, f, 0, 0, bufs[0], 100);
  ck_assert_int_eq(o->error, CO_ENOMEM);
  ck_assert_uint_eq(o->win32, ERROR_NOT_ENOUGH_MEMORY);
  sock_fault_nth(SOCK_SYS_READFILE, 1, 1, ERROR_INVALID_HANDLE);
  o = fop_run(rt, f, 0, 0, bufs[0], 100);
  ck_assert_int_eq(o->error, CO_ECLOSED);
  sock_fault_reset();
  sock_close(f);
  for (int i = 0; i < 8; i++)
    free(bufs[i]);
  test_wait_counters(rt, 0, 0, 0, 5000);
  test_runtime_stop(rt);
  fops_free();
  remove_files();
}
END_TEST

/* One case: its own ctest (the name must be a literal: CosockTesting.cmake),
 * with the seam reset before and after. */
static void add_case(Suite *s, TCase *tc, const TTest *test)
{
  tcase_add_checked_fixture(tc, fault_clear, fault_clear);
  tcase_add_test(tc, test);
  suite_add_tcase(s, tc);
}

Suite *cosock_test_suite(void)
{
  Suite *s = suite_create("sock_file");
  add_case(s, tcase_create("file_copy_64mib_at_offsets_8_in_flight"),
           file_copy_64mib_at_offsets_8_in_flight);
  add_case(s, tcase_create("file_reads_at_and_across_the_end"), file_reads_at_and_across_the_end);
  add_case(s, tcase_create("file_synchronous_completions_forced"),
           file_synchronous_completions_forced);
  add_case(s, tcase_create("file_open_flags_and_errors"), file_open_flags_and_errors);
  add_case(s, tcase_create("file_pending_read_cancelled_timed_out_closed"),
           file_pending_read_cancelled_timed_out_closed);
  add_case(s, tcase_create("file_reads_in_flight_when_closed"), file_reads_in_flight_when_closed);
  return s;
}

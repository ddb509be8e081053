/*
 * file_copy.c - copies a file with K reads and writes in flight.
 *
 * What it teaches: files on the same awaits as sockets.
 *   - A file is a sock_t; a read or a write is an await at an explicit
 *     offset (there is no file position), so K tasks can each take the next
 *     chunk, read it and write it at the same offset, in any order. Nothing
 *     is shared between them but the number of the next chunk, taken with
 *     one interlocked increment.
 *   - The end of the file is CO_EOF with the bytes read before it, whichever
 *     way the system reports it (at once on Windows, through the completion
 *     under Wine), so the last, short chunk needs no special case.
 *   - Nothing half-written is ever left under the destination's name: the
 *     copy goes to DST.part-<pid>, and is renamed to DST only when every byte
 *     is written; on any failure (or Ctrl+C) the partial file is deleted.
 *   - main is not a task: it waits for the copiers and prints a progress
 *     line on stderr every second for a copy that takes longer than that.
 *
 * Run it (Debian, under Wine):
 *     cmake --build --preset mingw --target file_copy
 *     cmake/wine-run.sh build/mingw/examples/file_copy.exe big.bin copy.bin --in-flight 8
 * On Windows:  build\msvc\examples\Debug\file_copy.exe big.bin copy.bin
 * Exit status: 0 when every byte was written and the copy renamed into
 * place; 1 with a message for a missing source, an unwritable destination
 * or any failure on the way; 2 for a bad command line.
 */
#include "cli.h"

enum { MAX_IN_FLIGHT = 64 };

static struct {
  sock_runtime_t     *rt;
  sock_t             *src, *dst;
  unsigned long long  size;        /* the source's */
  unsigned long       chunk;       /* bytes per read and write */
  volatile LONG64     next;        /* the next chunk to take */
  volatile LONG64     written;     /* bytes written, all copiers */
  volatile LONG       running;     /* copiers not finished */
  volatile LONG       failed;
  HANDLE              all_done;
} g;

/* ---- One copier -------------------------------------------------------------------- */

typedef struct copier {
  sock_task_t        task;     /* first: Ctrl+C cancels it */
  sock_op_t          op;
  unsigned long long offset;   /* of the chunk in hand */
  unsigned long      got;      /* its length */
  char              *buf;      /* g.chunk bytes */
  int                error;
} copier_t;

static co_state_t copier_step(co_task_t *t)
{
  copier_t *c = (copier_t *)t;
  CO_BEGIN(t);
  for (;;) {
    c->offset = (unsigned long long)(InterlockedIncrement64(&g.next) - 1) * g.chunk;
    if (c->offset >= g.size)
      break;               /* no chunk left */
    CO_AWAIT(t, sock_file_read_start(&c->op, g.src, c->offset, c->buf, g.chunk, t));
    if (c->op.error < 0 && c->op.error != CO_EOF)
      break;
    c->got = c->op.bytes;  /* the last chunk is short: CO_EOF with its bytes */
    if (c->got == 0)
      break;               /* the file shrank under us: the total check says so */
    CO_AWAIT(t, sock_file_write_start(&c->op, g.dst, c->offset, c->buf, c->got, t));
    if (c->op.error < 0)
      break;
    InterlockedAdd64(&g.written, (LONG64)c->op.bytes);
  }
  c->error = c->op.error == CO_EOF ? CO_OK : c->op.error;
  if (c->error < 0) {
    char what[64];
    snprintf(what, sizeof what, "at offset %llu", c->offset);
    cli_log_op(what, &c->op);
  }
  CO_END(t);
}

static void copier_done(co_task_t *t)
{
  if (((copier_t *)t)->error < 0)
    InterlockedIncrement(&g.failed);
  if (InterlockedDecrement(&g.running) == 0)
    SetEvent(g.all_done);
}

/* ---- Paths ------------------------------------------------------------------------- */

/* A command-line argument (the ANSI code page) as UTF-8, which sock_file_open
 * takes, and as UTF-16 for the rename. NULL if it cannot be converted. */
static char *to_utf8(const char *arg, WCHAR **wide)
{
  int n = MultiByteToWideChar(CP_ACP, 0, arg, -1, NULL, 0), m;
  char *utf8;
  *wide = n > 0 ? (WCHAR *)malloc((size_t)n * sizeof(WCHAR)) : NULL;
  if (*wide == NULL)
    return NULL;
  MultiByteToWideChar(CP_ACP, 0, arg, -1, *wide, n);
  m = WideCharToMultiByte(CP_UTF8, 0, *wide, -1, NULL, 0, NULL, NULL);
  utf8 = m > 0 ? (char *)malloc((size_t)m) : NULL;
  if (utf8 != NULL)
    WideCharToMultiByte(CP_UTF8, 0, *wide, -1, utf8, m, NULL, NULL);
  return utf8;
}

/* Splits argv into the two paths and the flags (given to cli_parse). */
static void split_args(int argc, char **argv, char **flags_argv, int *flags_argc,
                       const char **paths, int *n_paths)
{
  int i;
  *flags_argc = 0;
  *n_paths = 0;
  flags_argv[(*flags_argc)++] = argv[0];
  for (i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0 || strcmp(argv[i], "-h") == 0) {
      flags_argv[(*flags_argc)++] = argv[i];
      if ((strcmp(argv[i], "--in-flight") == 0 || strcmp(argv[i], "--chunk") == 0) &&
          i + 1 < argc)
        flags_argv[(*flags_argc)++] = argv[++i];
    } else if (*n_paths < 3) {
      paths[(*n_paths)++] = argv[i];
    }
  }
}

/* ---- main -------------------------------------------------------------------------- */

static int fail(const char *what, int error)
{
  cli_log_error(what, error, 0);
  return 1;
}

int main(int argc, char **argv)
{
  unsigned long in_flight = 8, chunk = 1 << 20, i;
  char **flags_argv = (char **)calloc((size_t)argc + 1, sizeof(char *));
  const char *paths[3];
  int flags_argc, n_paths, rc, ok;
  char *src_utf8, *dst_utf8, *tmp_utf8;
  WCHAR *src_w, *dst_w, *tmp_w;
  char tmp[MAX_PATH + 32];
  copier_t *copiers;
  LARGE_INTEGER f, t0, t1;
  double seconds;
  const cli_flag_t flags[] = {
    {"--in-flight", CLI_NUMBER, "K", "reads and writes in flight at once (default 8)", &in_flight,
     1, MAX_IN_FLIGHT},
    {"--chunk", CLI_NUMBER, "BYTES", "bytes per read and write (default 1048576)", &chunk, 512,
     64ul << 20},
  };
  const char *summary = "file_copy SRC DST: copies SRC to DST (through DST.part-<pid>, renamed "
                        "when complete).";

  if (flags_argv == NULL)
    return 1;
  split_args(argc, argv, flags_argv, &flags_argc, paths, &n_paths);
  cli_parse(flags_argc, flags_argv, "file_copy", summary, flags, sizeof flags / sizeof flags[0]);
  if (n_paths != 2) {
    fprintf(stderr, "file_copy: give a source and a destination\n");
    return 2;
  }
  snprintf(tmp, sizeof tmp, "%s.part-%lu", paths[1], (unsigned long)GetCurrentProcessId());
  src_utf8 = to_utf8(paths[0], &src_w);
  dst_utf8 = to_utf8(paths[1], &dst_w);
  tmp_utf8 = to_utf8(tmp, &tmp_w);
  if (src_utf8 == NULL || dst_utf8 == NULL || tmp_utf8 == NULL)
    return fail("paths", CO_EINVAL);
  if (!cli_stop_init(0))  /* Ctrl+C only: a copy does not read stdin */
    return 1;
  rc = sock_runtime_create(&g.rt, NULL);
  if (rc != CO_OK)
    return fail("starting the runtime", rc);

  rc = sock_file_open(g.rt, src_utf8, SOCK_FILE_READ | SOCK_FILE_SHARE_READ, &g.src);
  if (rc == CO_OK)
    rc = sock_file_size(g.src, &g.size);
  if (rc != CO_OK) {
    sock_close(g.src);
    sock_runtime_shutdown(g.rt);
    return fail(paths[0], rc);  /* CO_ENOENT: no such file */
  }
  rc = sock_file_open(g.rt, tmp_utf8, SOCK_FILE_WRITE | SOCK_FILE_CREATE | SOCK_FILE_TRUNCATE,
                      &g.dst);
  if (rc != CO_OK) {
    sock_close(g.src);
    sock_runtime_shutdown(g.rt);
    return fail(paths[1], rc);  /* CO_ENOENT (no such folder), CO_EACCES ... */
  }

  g.chunk = chunk;
  g.all_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  copiers = (copier_t *)calloc(in_flight, sizeof *copiers);
  ok = g.all_done != NULL && copiers != NULL;
  for (i = 0; ok && i < in_flight; i++)
    ok = (copiers[i].buf = (char *)malloc(chunk)) != NULL;
  if (!ok) {
    sock_close(g.src);
    sock_close(g.dst);
    sock_runtime_shutdown(g.rt);
    DeleteFileW(tmp_w);
    return fail("buffers", CO_ENOMEM);
  }

  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  g.running = (LONG)in_flight;
  for (i = 0; i < in_flight; i++)
    sock_spawn(g.rt, &copiers[i].task, copier_step, copier_done);
  for (;;) {  /* progress every second, for a copy that takes longer */
    HANDLE waits[2];
    waits[0] = g.all_done;
    waits[1] = cli_stop_event();
    DWORD w = WaitForMultipleObjects(2, waits, FALSE, 1000);
    if (w == WAIT_OBJECT_0)
      break;
    if (w == WAIT_OBJECT_0 + 1) {  /* Ctrl+C: the copiers end at their awaits */
      sock_runtime_cancel_all(g.rt);
      WaitForSingleObject(g.all_done, INFINITE);
      break;
    }
    fprintf(stderr, "file_copy: %.1f of %.1f MiB (%.0f%%)\n", (double)g.written / 1048576.0,
            (double)g.size / 1048576.0, g.size ? 100.0 * (double)g.written / (double)g.size : 0.0);
  }
  QueryPerformanceCounter(&t1);
  seconds = (double)(t1.QuadPart - t0.QuadPart) / (double)f.QuadPart;

  sock_close(g.src);
  sock_close(g.dst);
  sock_runtime_shutdown(g.rt);
  for (i = 0; i < in_flight; i++)
    free(copiers[i].buf);
  free(copiers);

  if (g.failed > 0 || (unsigned long long)g.written != g.size) {
    DeleteFileW(tmp_w);
    fprintf(stderr, "file_copy: %s not written: %llu of %llu bytes copied\n", paths[1],
            (unsigned long long)g.written, g.size);
    cli_stop_exiting();
    return 1;
  }
  if (!MoveFileExW(tmp_w, dst_w, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    unsigned long error = GetLastError();
    DeleteFileW(tmp_w);
    cli_log_error(paths[1], sock_error_from_win32(error), error);
    cli_stop_exiting();
    return 1;
  }
  printf("file_copy: %llu bytes in %.3f s: %.1f MB/s (%lu in flight, %lu-byte chunks)\n",
         g.size, seconds, seconds > 0 ? (double)g.size / 1e6 / seconds : 0.0, in_flight, chunk);
  cli_stop_exiting();
  return 0;
}

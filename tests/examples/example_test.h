/*
 * tests/examples/example_test.h - run the example programs from a Check test.
 *
 * The end-to-end tests start real example programs (servers, clients) as
 * child processes and talk to them over loopback. This header does the
 * process part:
 *
 *     unsigned short port;
 *     ex_proc_t *srv = ex_start_server("echo_server", "--port 0", &port);
 *     ex_proc_t *cli = ex_start("echo_client", "--port %u --messages 100", port);
 *     ck_assert_int_eq(ex_wait_exit(cli, 20000), 0);    // exit code, or EX_TIMEOUT
 *     ck_assert_int_eq(ex_stop(srv, 10000), 0);         // close its stdin, wait
 *     ex_free(cli);
 *     ex_free(srv);
 *
 * - A program is named without ".exe"; it is looked up in the directory given
 *   by the environment variable COSOCK_EXAMPLES_DIR (tests/CMakeLists.txt sets
 *   it). Under Wine that is a Unix path: "/a/b" becomes "Z:\a\b".
 * - Its stdin is a pipe we hold: closing it (ex_close_stdin, ex_stop) is how
 *   the examples' servers are told to stop (end of stdin).
 * - Its stdout and stderr are pipes drained by two threads of ours into
 *   buffers (the child never blocks on a full pipe). ex_wait_line() waits for
 *   a line on stdout with a timeout; ex_stdout()/ex_stderr() give the whole
 *   text once the program has exited (after ex_wait_exit returned its code).
 * - Nothing is left running: a program that does not exit in time is killed
 *   (ex_wait_exit returns EX_TIMEOUT), ex_free kills one still running, and
 *   every program is in a job object that kills it when the test process
 *   ends: that covers what a failed assertion (a longjmp out of the test:
 *   Windows has no fork) left behind. Checked under Wine: a planted failure
 *   leaves no server running. (Not atexit: Wine's UCRT import library for
 *   the clang-cl build has no atexit.)
 *
 * Failures to start a program, or a server that prints no "listening on H:P"
 * line in time, fail the test (ck_assert) with the program's stderr in the
 * message. Everything else returns a value the test asserts on.
 *
 * API stability: other test files (http, chat) use this header; keep the
 * signatures below stable, add new functions rather than change them.
 */
#ifndef TESTS_EXAMPLES_EXAMPLE_TEST_H
#define TESTS_EXAMPLES_EXAMPLE_TEST_H

#include <check.h>
#include <sock/sock.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  EX_TIMEOUT = -1,        /* ex_wait_exit: the program did not exit in time (killed) */
  EX_START_MS = 20000,    /* how long ex_start_server waits for "listening on" */
  EX_MAX_CAPTURE = 1 << 20 /* bytes of stdout/stderr kept per program (rest dropped) */
};

/* The captured text of one output pipe, filled by a drain thread. */
typedef struct ex_capture {
  HANDLE           read_end;  /* our end of the pipe */
  HANDLE           thread;    /* the drain thread (ends at end of file) */
  HANDLE           grew;      /* auto-reset event: more text arrived, or EOF */
  CRITICAL_SECTION lock;      /* guards text/len/eof */
  char            *text;      /* NUL-terminated, grows up to EX_MAX_CAPTURE */
  size_t           len, cap;
  int              eof;       /* the pipe was closed (the program exited) */
} ex_capture_t;

/* One running (or finished) program. */
typedef struct ex_proc {
  char                name[64];   /* program name, for messages */
  PROCESS_INFORMATION pi;         /* process and thread handles */
  HANDLE              stdin_w;    /* our end of its stdin, NULL once closed */
  ex_capture_t        out, err;   /* its stdout and stderr */
  size_t              out_pos;    /* where ex_wait_line reads stdout next */
  int                 exited;     /* ex_wait_exit saw it end */
  int                 exit_code;
  struct ex_proc     *next;       /* in the list of live programs */
} ex_proc_t;

/* ---- Internals --------------------------------------------------------- */

static CRITICAL_SECTION ex__lock;  /* the list; serialises CreateProcess */
static INIT_ONCE ex__once = INIT_ONCE_STATIC_INIT;
static ex_proc_t *ex__live;
static HANDLE ex__job;

static inline BOOL CALLBACK ex__init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
  (void)once;
  (void)param;
  (void)ctx;
  InitializeCriticalSection(&ex__lock);
  ex__job = CreateJobObjectW(NULL, NULL);
  if (ex__job != NULL) {
    memset(&lim, 0, sizeof lim);
    lim.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(ex__job, JobObjectExtendedLimitInformation, &lim, sizeof lim);
  }
  return TRUE;
}

static inline DWORD WINAPI ex__drain(LPVOID arg)
{
  ex_capture_t *c = (ex_capture_t *)arg;
  char buf[4096];
  DWORD n;
  while (ReadFile(c->read_end, buf, sizeof buf, &n, NULL) && n > 0) {
    EnterCriticalSection(&c->lock);
    if (c->len + n + 1 > c->cap && c->cap < EX_MAX_CAPTURE) {
      size_t cap = c->cap * 2;
      char *grown;
      while (cap < c->len + n + 1 && cap < EX_MAX_CAPTURE)
        cap *= 2;
      grown = (char *)realloc(c->text, cap);
      if (grown != NULL) {
        c->text = grown;
        c->cap = cap;
      }
    }
    if (c->len + n + 1 <= c->cap) {   /* else dropped: beyond the cap */
      memcpy(c->text + c->len, buf, n);
      c->len += n;
      c->text[c->len] = '\0';
    }
    LeaveCriticalSection(&c->lock);
    SetEvent(c->grew);
  }
  EnterCriticalSection(&c->lock);
  c->eof = 1;
  LeaveCriticalSection(&c->lock);
  SetEvent(c->grew);
  return 0;
}

/* Makes a pipe for one of the child's outputs: *child_end is inheritable. */
static inline void ex__capture_open(ex_capture_t *c, HANDLE *child_end)
{
  SECURITY_ATTRIBUTES sa;
  memset(&sa, 0, sizeof sa);
  sa.nLength = sizeof sa;
  sa.bInheritHandle = TRUE;
  ck_assert_msg(CreatePipe(&c->read_end, child_end, &sa, 0), "CreatePipe: %lu",
                GetLastError());
  SetHandleInformation(c->read_end, HANDLE_FLAG_INHERIT, 0);
  InitializeCriticalSection(&c->lock);
  c->grew = CreateEventW(NULL, FALSE, FALSE, NULL);
  c->cap = 1024;
  c->text = (char *)calloc(1, c->cap);
  ck_assert_ptr_nonnull(c->text);
  ck_assert_ptr_nonnull(c->grew);
}

static inline void ex__capture_start(ex_capture_t *c)
{
  c->thread = CreateThread(NULL, 0, ex__drain, c, 0, NULL);
  ck_assert_msg(c->thread != NULL, "CreateThread: %lu", GetLastError());
}

static inline void ex__capture_close(ex_capture_t *c)
{
  if (c->thread != NULL) {
    /* The program has ended (or was killed): its end of the pipe is closed,
     * so the drain thread sees end of file. */
    WaitForSingleObject(c->thread, 5000);
    CloseHandle(c->thread);
  }
  if (c->read_end != NULL)
    CloseHandle(c->read_end);
  if (c->grew != NULL)
    CloseHandle(c->grew);
  DeleteCriticalSection(&c->lock);
  free(c->text);
}

/* COSOCK_EXAMPLES_DIR + "\" + name + ".exe", a Unix path mapped to Z:. */
static inline void ex__program_path(const char *name, char *out, size_t size)
{
  const char *dir = getenv("COSOCK_EXAMPLES_DIR");
  size_t i = 0, j = 0;
  ck_assert_msg(dir != NULL && dir[0] != '\0', "COSOCK_EXAMPLES_DIR is not set");
  if (dir[0] == '/') {
    out[j++] = 'Z';
    out[j++] = ':';
  }
  for (; dir[i] != '\0' && j + 1 < size; i++)
    out[j++] = dir[i] == '/' ? '\\' : dir[i];
  out[j] = '\0';
  snprintf(out + j, size - j, "\\%s.exe", name);
}

/* ---- Starting and stopping ------------------------------------------------ */

/* Starts the example program `name` with the arguments printf-formatted from
 * `args_fmt` (may be ""). Fails the test if it cannot be started. */
static inline ex_proc_t *ex_start(const char *name, const char *args_fmt, ...)
{
  ex_proc_t *p;
  char path[MAX_PATH + 64], args[1024], cmd[MAX_PATH + 1200];
  HANDLE child_in = NULL, child_out = NULL, child_err = NULL;
  SECURITY_ATTRIBUTES sa;
  STARTUPINFOA si;
  va_list ap;
  BOOL ok;
  DWORD error;

  InitOnceExecuteOnce(&ex__once, ex__init, NULL, NULL);
  va_start(ap, args_fmt);
  vsnprintf(args, sizeof args, args_fmt, ap);
  va_end(ap);
  ex__program_path(name, path, sizeof path);
  snprintf(cmd, sizeof cmd, "\"%s\" %s", path, args);

  p = (ex_proc_t *)calloc(1, sizeof *p);
  ck_assert_ptr_nonnull(p);
  snprintf(p->name, sizeof p->name, "%s", name);

  memset(&sa, 0, sizeof sa);
  sa.nLength = sizeof sa;
  sa.bInheritHandle = TRUE;
  ck_assert(CreatePipe(&child_in, &p->stdin_w, &sa, 0));
  SetHandleInformation(p->stdin_w, HANDLE_FLAG_INHERIT, 0);
  ex__capture_open(&p->out, &child_out);
  ex__capture_open(&p->err, &child_err);

  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = child_in;
  si.hStdOutput = child_out;
  si.hStdError = child_err;
  /* Serialised: a second CreateProcess running now would inherit this
   * child's pipe ends too, and then closing "its" stdin would not end it. */
  EnterCriticalSection(&ex__lock);
  for (int attempt = 0;; attempt++) {
    ok = CreateProcessA(path, cmd, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &p->pi);
    error = GetLastError();
    /* Wine on a loaded machine: CreateProcess now and then fails with
     * ERROR_INTERNAL_ERROR (1359, seen once in a full suite); a retry works. */
    if (ok || error != ERROR_INTERNAL_ERROR || attempt == 3)
      break;
    Sleep(100);
  }
  CloseHandle(child_in);
  CloseHandle(child_out);
  CloseHandle(child_err);
  if (ok) {
    if (ex__job != NULL)
      AssignProcessToJobObject(ex__job, p->pi.hProcess);
    ResumeThread(p->pi.hThread);
    p->next = ex__live;
    ex__live = p;
  }
  LeaveCriticalSection(&ex__lock);
  ck_assert_msg(ok, "cannot start %s: error %lu", cmd, (unsigned long)error);
  ex__capture_start(&p->out);
  ex__capture_start(&p->err);
  return p;
}

/* Closes the program's stdin: the examples' servers stop at end of stdin. */
static inline void ex_close_stdin(ex_proc_t *p)
{
  if (p->stdin_w != NULL) {
    CloseHandle(p->stdin_w);
    p->stdin_w = NULL;
  }
}

/* Writes to the program's stdin (for programs that read it). Returns 1 if
 * everything was written. */
static inline int ex_write_stdin(ex_proc_t *p, const char *data, size_t len)
{
  DWORD n;
  while (len > 0 && p->stdin_w != NULL) {
    if (!WriteFile(p->stdin_w, data, (DWORD)len, &n, NULL))
      return 0;
    data += n;
    len -= n;
  }
  return len == 0;
}

/* Waits up to `ms` for the program to exit and returns its exit code, or
 * EX_TIMEOUT after killing it. Once it returned, ex_stdout()/ex_stderr()
 * hold everything the program wrote. */
static inline int ex_wait_exit(ex_proc_t *p, DWORD ms)
{
  DWORD code = 0;
  int timed_out = 0;
  if (!p->exited) {
    if (WaitForSingleObject(p->pi.hProcess, ms) != WAIT_OBJECT_0) {
      timed_out = 1;
      TerminateProcess(p->pi.hProcess, 98);
      WaitForSingleObject(p->pi.hProcess, 5000);
    }
    GetExitCodeProcess(p->pi.hProcess, &code);
    /* Let the drain threads reach end of file: the text is complete. */
    if (p->out.thread != NULL)
      WaitForSingleObject(p->out.thread, 5000);
    if (p->err.thread != NULL)
      WaitForSingleObject(p->err.thread, 5000);
    EnterCriticalSection(&ex__lock);
    p->exited = 1;
    p->exit_code = timed_out ? EX_TIMEOUT : (int)code;
    LeaveCriticalSection(&ex__lock);
  }
  return p->exit_code;
}

/* Closes the program's stdin and waits for it to exit (see ex_wait_exit). */
static inline int ex_stop(ex_proc_t *p, DWORD ms)
{
  ex_close_stdin(p);
  return ex_wait_exit(p, ms);
}

/* Kills the program if it still runs, and frees everything. */
static inline void ex_free(ex_proc_t *p)
{
  ex_proc_t **pp;
  if (p == NULL)
    return;
  ex_close_stdin(p);
  if (!p->exited)
    ex_wait_exit(p, 0);  /* kills it */
  EnterCriticalSection(&ex__lock);
  for (pp = &ex__live; *pp != NULL; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  LeaveCriticalSection(&ex__lock);
  ex__capture_close(&p->out);
  ex__capture_close(&p->err);
  CloseHandle(p->pi.hThread);
  CloseHandle(p->pi.hProcess);
  free(p);
}

/* ---- Reading what it prints ------------------------------------------------ */

/* Everything the program wrote to stdout / stderr so far (complete once
 * ex_wait_exit has returned). Valid until ex_free; "\r" is kept as written. */
static inline const char *ex_stdout(ex_proc_t *p) { return p->out.text; }
static inline const char *ex_stderr(ex_proc_t *p) { return p->err.text; }

/* Waits up to `ms` for the next complete line on the program's stdout and
 * copies it, without its "\r\n", into line. Returns 1, or 0 on timeout or
 * when stdout ended first. Lines are consumed in order. */
static inline int ex_wait_line(ex_proc_t *p, char *line, size_t size, DWORD ms)
{
  DWORD start = GetTickCount();
  for (;;) {
    ex_capture_t *c = &p->out;
    char *nl;
    int eof;
    DWORD waited;
    EnterCriticalSection(&c->lock);
    nl = strchr(c->text + p->out_pos, '\n');
    if (nl != NULL) {
      size_t n = (size_t)(nl - (c->text + p->out_pos));
      if (n > 0 && c->text[p->out_pos + n - 1] == '\r')
        n--;
      if (n >= size)
        n = size - 1;
      memcpy(line, c->text + p->out_pos, n);
      line[n] = '\0';
      p->out_pos = (size_t)(nl - c->text) + 1;
      LeaveCriticalSection(&c->lock);
      return 1;
    }
    eof = c->eof;
    LeaveCriticalSection(&c->lock);
    if (eof)
      return 0;
    waited = GetTickCount() - start;
    if (waited >= ms)
      return 0;
    WaitForSingleObject(c->grew, ms - waited);
  }
}

/* Starts a server and reads its first line, which must be exactly
 * "listening on H:P"; returns the program and *port = P. Fails the test (with
 * the server's stderr) if the line does not come within EX_START_MS. */
/* Wine, when many processes start at once, now and then fails one before any
 * of its code runs: it exits with STATUS_DLL_INIT_FAILED. That is the
 * platform, not the program under test, so the start is tried again (at most
 * twice more). Any other early exit is a failure. */
#define EX_DLL_INIT_FAILED ((int)0xC0000142)

static inline ex_proc_t *ex_start_server(const char *name, const char *args, unsigned short *port)
{
  ex_proc_t *p = ex_start(name, "%s", args);
  char line[256];
  const char *colon;
  unsigned long value;
  char *end;
  int attempt;
  for (attempt = 1; !ex_wait_line(p, line, sizeof line, EX_START_MS); attempt++) {
    int code = ex_wait_exit(p, 0);
    if (code == EX_DLL_INIT_FAILED && attempt < 3) {
      ex_free(p);
      p = ex_start(name, "%s", args);
      continue;
    }
    ck_abort_msg("%s %s printed no line within %d ms (exit %d); stderr:\n%s", name, args,
                 (int)EX_START_MS, code, ex_stderr(p));
  }
  colon = strrchr(line, ':');
  ck_assert_msg(strncmp(line, "listening on ", 13) == 0 && colon != NULL,
                "%s: first line is \"%s\", not \"listening on H:P\"", name, line);
  value = strtoul(colon + 1, &end, 10);
  ck_assert_msg(*end == '\0' && value > 0 && value < 65536,
                "%s: bad port in \"%s\"", name, line);
  *port = (unsigned short)value;
  return p;
}

/* Runs a program to its end: start, close its stdin, wait up to `ms`.
 * Returns the exit code (or EX_TIMEOUT); *out (if not NULL) receives the
 * finished program for ex_stdout/ex_stderr (ex_free it), else it is freed. */
static inline int ex_run(const char *name, const char *args, DWORD ms, ex_proc_t **out)
{
  ex_proc_t *p = ex_start(name, "%s", args);
  int code = ex_stop(p, ms);
  for (int attempt = 1; code == EX_DLL_INIT_FAILED && attempt < 3; attempt++) {
    ex_free(p);  /* Wine failed to start it: see EX_DLL_INIT_FAILED */
    p = ex_start(name, "%s", args);
    code = ex_stop(p, ms);
  }
  if (out != NULL)
    *out = p;
  else
    ex_free(p);
  return code;
}

/* Asserts a program's exit code, showing its output if it differs. */
#define EX_ASSERT_EXIT(p, code, expected)                                           \
  ck_assert_msg((code) == (expected), "%s exited %d, expected %d; stdout:\n%s\nstderr:\n%s", \
                (p)->name, (code), (expected), ex_stdout(p), ex_stderr(p))

/* Runs a program with `args` to its end (stdin closed, up to `ms`) and
 * asserts its exit code; returns it finished, for its output (ex_free it). */
static inline ex_proc_t *ex_run_expect(const char *name, const char *args, DWORD ms,
                                       int expected)
{
  ex_proc_t *p;
  int code = ex_run(name, args, ms, &p);
  EX_ASSERT_EXIT(p, code, expected);
  return p;
}

#endif /* TESTS_EXAMPLES_EXAMPLE_TEST_H */

/*
 * examples/cli.h - what every example program shares: its command line, its
 * "stop" signal, its first line, its error log, and the check that the
 * runtime's counters are back at zero after a stop.
 *
 * Header-only (static functions), so each example stays one .c file plus
 * this. It uses only <co/co.h>, <sock/sock.h> and the C and Win32 headers.
 *
 *   Command line   A program describes its flags in a table of cli_flag_t and
 *                  calls cli_parse(). `--help` prints every flag and exits 0;
 *                  an unknown flag, a missing or malformed value prints the
 *                  usage on stderr and exits 2.
 *   Stop signal    cli_stop_init() makes one Win32 event that is set by
 *                  Ctrl+C, Ctrl+Break or closing the console window, and (unless
 *                  `--no-stdin`) by end of file on stdin: the benchmark runner
 *                  and the end-to-end tests stop a server by closing its stdin.
 *                  The main thread waits on it with cli_wait_stop().
 *   First line     cli_print_listening() prints "listening on H:P" with the real
 *                  port (port 0 picks a free one) and flushes it.
 *   Error log      cli_log_error() writes one line to stderr with the error's
 *                  text (co_strerror), its name and the raw Win32 code.
 *   Counters       cli_wait_counters_zero() polls the runtime's counters until
 *                  every socket, task and pending operation is gone.
 *
 *   Server life    cli_server_start() (runtime, listener, the listening line)
 *                  and cli_server_stop().
 *   Statistics     with COSOCK_STATS_MS=N in the environment, a server prints
 *                  a line to stderr every N ms from start to stop:
 *                  "stats: handles=H sockets=S tasks=T pending=P" (the
 *                  process's handle count and the runtime's counters), which
 *                  tests/soak/run_soak.sh samples.
 *
 * A program keeps no list of its live tasks for its stop: the runtime knows
 * them all, and every socket. cli_server_stop() calls
 * sock_runtime_cancel_all() (every live task and socket, and every one
 * spawned or accepted afterwards, is cancelled, so each handler runs its own
 * cleanup: see the cleanup idiom in sock/sock.h), sock_runtime_wait_tasks()
 * (until every sock_task_t's completion hook has run), then
 * cli_wait_counters_zero() (handlers that are plain co tasks are gone when
 * their sockets are); the program reports and calls sock_runtime_shutdown().
 */
#ifndef EXAMPLES_CLI_H
#define EXAMPLES_CLI_H

#include <co/co.h>
#include <sock/sock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The command line ---------------------------------------------------- */

typedef enum cli_kind {
  CLI_STRING,  /* --flag VALUE: *(const char **)value = VALUE */
  CLI_NUMBER,  /* --flag N: *(unsigned long *)value = N, min <= N <= max */
  CLI_SWITCH   /* --flag: *(int *)value = 1 */
} cli_kind_t;

typedef struct cli_flag {
  const char   *name;      /* "--port" */
  cli_kind_t    kind;
  const char   *metavar;   /* "P" in "--port P" (NULL for a switch) */
  const char   *help;      /* one line; say the default */
  void         *value;     /* where the value goes (see cli_kind_t) */
  unsigned long min, max;  /* the range of a CLI_NUMBER */
} cli_flag_t;

static const char *cli__program = "example";  /* for messages */

static inline void cli__usage(FILE *to, const char *summary, const cli_flag_t *flags, size_t count)
{
  size_t i;
  fprintf(to, "usage: %s [flags]\n%s\n\nflags:\n", cli__program, summary);
  for (i = 0; i < count; i++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
             flags[i].metavar ? flags[i].metavar : "");
    fprintf(to, "  %-22s %s\n", left, flags[i].help);
  }
  fprintf(to, "  %-22s %s\n", "--help", "print this help and exit");
}

/* Prints `message` and the usage on stderr, and exits with status 2. */
static inline void cli__fail(const char *message, const char *arg, const char *summary,
                      const cli_flag_t *flags, size_t count)
{
  fprintf(stderr, "%s: %s%s\n", cli__program, message, arg);
  cli__usage(stderr, summary, flags, count);
  exit(2);
}

/* Parses argv against `flags` (count entries), filling their values; values
 * not given keep what the caller stored before (the defaults). `program`
 * names the program in messages; `summary` is one or two lines saying what
 * it does. Returns only if every argument was understood. */
static inline void cli_parse(int argc, char **argv, const char *program, const char *summary,
                      const cli_flag_t *flags, size_t count)
{
  int i;
  size_t f;
  cli__program = program;
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      cli__usage(stdout, summary, flags, count);
      exit(0);
    }
    for (f = 0; f < count && strcmp(arg, flags[f].name) != 0; f++) {
    }
    if (f == count)
      cli__fail("unknown flag ", arg, summary, flags, count);
    if (flags[f].kind == CLI_SWITCH) {
      *(int *)flags[f].value = 1;
      continue;
    }
    if (i + 1 >= argc)
      cli__fail("a value is missing after ", arg, summary, flags, count);
    arg = argv[++i];
    if (flags[f].kind == CLI_STRING) {
      *(const char **)flags[f].value = arg;
    } else {
      char *end;
      unsigned long n = strtoul(arg, &end, 10);
      if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || n < flags[f].min ||
          n > flags[f].max) {
        char why[96];
        snprintf(why, sizeof why, "%s wants a number from %lu to %lu, not ", flags[f].name,
                 flags[f].min, flags[f].max);
        cli__fail(why, arg, summary, flags, count);
      }
      *(unsigned long *)flags[f].value = n;
    }
  }
}

/* ---- The stop signal ------------------------------------------------------- */

static HANDLE cli__stop;     /* manual-reset: stop requested */
static HANDLE cli__exited;   /* set by cli_stop_exiting(): main is done */

static inline BOOL WINAPI cli__on_console(DWORD type)
{
  SetEvent(cli__stop);
  /* For a closing console the process ends when this handler returns: give
   * main a few seconds to shut down cleanly first. */
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT)
    WaitForSingleObject(cli__exited, 5000);
  return TRUE;  /* handled: do not let the default handler kill us */
}

static inline DWORD WINAPI cli__watch_stdin(LPVOID arg)
{
  char buf[256];
  DWORD n;
  /* Whatever arrives is ignored; end of file (or an error) means stop. */
  while (ReadFile((HANDLE)arg, buf, sizeof buf, &n, NULL) && n > 0) {
  }
  SetEvent(cli__stop);
  return 0;
}

/* Creates the stop event and installs the console handler; with
 * `watch_stdin`, a small thread also sets the event at end of stdin (a
 * program run detached, `... </dev/null &`, wants --no-stdin). Returns 0,
 * after logging why, if the events could not be created. */
static inline int cli_stop_init(int watch_stdin)
{
  HANDLE in;
  cli__stop = CreateEventW(NULL, TRUE, FALSE, NULL);
  cli__exited = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (cli__stop == NULL || cli__exited == NULL) {
    fprintf(stderr, "%s: cannot create events (error %lu)\n", cli__program, GetLastError());
    return 0;
  }
  SetConsoleCtrlHandler(cli__on_console, TRUE);
  in = GetStdHandle(STD_INPUT_HANDLE);
  if (watch_stdin && in != NULL && in != INVALID_HANDLE_VALUE) {
    HANDLE t = CreateThread(NULL, 0, cli__watch_stdin, in, 0, NULL);
    if (t != NULL)
      CloseHandle(t);
  }
  return 1;
}

/* Waits until stop is requested (ms: INFINITE, or a timeout). Returns 1 if
 * it was, 0 on timeout. */
static inline int cli_wait_stop(DWORD ms)
{
  return WaitForSingleObject(cli__stop, ms) == WAIT_OBJECT_0;
}

/* Requests stop from inside the program (a client that finished, say). */
static inline void cli_request_stop(void) { SetEvent(cli__stop); }

/* The stop event itself, to wait on it together with others. */
static inline HANDLE cli_stop_event(void) { return cli__stop; }

/* Call last, just before main returns: a console-close handler waiting for
 * the shutdown may let the process end now. */
static inline void cli_stop_exiting(void)
{
  if (cli__exited != NULL)
    SetEvent(cli__exited);
}

/* ---- Output --------------------------------------------------------------- */

/* Prints the first line, "listening on H:P" with the listener's real
 * address and port, and flushes it: whoever started us reads the port there. */
static inline void cli_print_listening(sock_t *listener)
{
  sock_addr_t where;
  char text[80];
  if (sock_local_addr(listener, &where) != CO_OK)
    snprintf(text, sizeof text, "?:0");
  else
    sock_addr_format(&where, text, sizeof text);
  printf("listening on %s\n", text);
  fflush(stdout);
}

/* One line on stderr: "program: what: text (CO_NAME, win32 N)". `what` says
 * which connection and which step ("127.0.0.1:5000: receive"). */
static inline void cli_log_error(const char *what, int error, unsigned long win32_error)
{
  fprintf(stderr, "%s: %s: %s (%s, win32 %lu)\n", cli__program, what, co_strerror(error),
          co_errname(error), win32_error);
}

/* The same for what an operation record holds after its await. */
static inline void cli_log_op(const char *what, const sock_op_t *op)
{
  cli_log_error(what, op->error, op->win32_error);
}

/* ---- After a stop ------------------------------------------------------------ */

/* Polls the runtime's counters until all are zero or `ms` passed (a socket
 * is freed a moment after its last completion ran). Returns 1 if they
 * reached zero; *last gets the last snapshot. */
static inline int cli_wait_counters_zero(sock_runtime_t *rt, DWORD ms, sock_counters_t *last)
{
  DWORD start = GetTickCount();
  for (;;) {
    sock_runtime_counters(rt, last);
    if (last->sockets == 0 && last->tasks == 0 && last->pending_ops == 0)
      return 1;
    if (GetTickCount() - start >= ms)
      return 0;
    Sleep(5);
  }
}

/* ---- Statistics, for soak runs ---------------------------------------------- */

static struct {
  HANDLE          thread;
  HANDLE          done;   /* set by cli_server_stop: the thread ends */
  sock_runtime_t *rt;
  DWORD           ms;
} cli__stats;

#if defined(__WINE_WINBASE_H)  /* Wine 8's SDK headers lack it; its kernel32 has it */
WINBASEAPI BOOL WINAPI GetProcessHandleCount(HANDLE process, PDWORD count);
#endif

static inline void cli__print_stats(void)
{
  sock_counters_t c;
  DWORD handles = 0;
  GetProcessHandleCount(GetCurrentProcess(), &handles);
  sock_runtime_counters(cli__stats.rt, &c);
  fprintf(stderr, "stats: handles=%lu sockets=%ld tasks=%ld pending=%ld\n",
          (unsigned long)handles, c.sockets, c.tasks, c.pending_ops);
  fflush(stderr);
}

static inline DWORD WINAPI cli__stats_thread(LPVOID arg)
{
  (void)arg;
  do
    cli__print_stats();
  while (WaitForSingleObject(cli__stats.done, cli__stats.ms) == WAIT_TIMEOUT);
  return 0;
}

/* Starts the statistics thread if COSOCK_STATS_MS asks for it (10 .. 3600000 ms). */
static inline void cli__stats_start(sock_runtime_t *rt)
{
  const char *v = getenv("COSOCK_STATS_MS");
  unsigned long ms = v != NULL ? strtoul(v, NULL, 10) : 0;
  if (ms < 10 || ms > 3600000)
    return;
  cli__stats.rt = rt;
  cli__stats.ms = (DWORD)ms;
  cli__stats.done = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (cli__stats.done != NULL)
    cli__stats.thread = CreateThread(NULL, 0, cli__stats_thread, NULL, 0, NULL);
  if (cli__stats.thread == NULL)
    fprintf(stderr, "%s: COSOCK_STATS_MS: no statistics thread (error %lu)\n", cli__program,
            (unsigned long)GetLastError());
}

/* Ends the statistics thread (before the runtime it reads goes away). */
static inline void cli__stats_stop(void)
{
  if (cli__stats.thread == NULL)
    return;
  SetEvent(cli__stats.done);
  WaitForSingleObject(cli__stats.thread, INFINITE);
  CloseHandle(cli__stats.thread);
  CloseHandle(cli__stats.done);
  cli__stats.thread = cli__stats.done = NULL;
}

/* ---- A server's life -------------------------------------------------------- */

/* Starts a runtime and a listener on host:port, and prints "listening on
 * H:P". Returns 1, or 0 after logging why (with nothing left to clean up). */
static inline int cli_server_start(const char *host, unsigned long port, sock_runtime_t **rt,
                                   sock_t **listener)
{
  char what[128];
  int rc = sock_runtime_create(rt, NULL);
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 0;
  }
  rc = sock_listen(*rt, host, (unsigned short)port, SOMAXCONN, listener);
  if (rc != CO_OK) {
    snprintf(what, sizeof what, "listening on %s:%lu", host, port);
    cli_log_error(what, rc, 0);
    sock_runtime_shutdown(*rt);
    return 0;
  }
  cli_print_listening(*listener);
  cli__stats_start(*rt);
  return 1;
}

/* A server's stop, after the stop signal: every live task is cancelled (the
 * accept loops and the connections; one an accept loop spawns meanwhile
 * starts cancelled) and runs its own cleanup; once every completion hook has
 * run, `listener` is closed (NULL: an accept loop owned and closed it), and
 * the counters must fall to zero. Returns 1 if all went so; *counters gets
 * the last snapshot. The runtime remains: report, then shut it down. */
static inline int cli_server_stop(sock_runtime_t *rt, sock_t *listener,
                                  sock_counters_t *counters)
{
  int clean;
  sock_runtime_cancel_all(rt);
  clean = sock_runtime_wait_tasks(rt, 10000);
  sock_close(listener);  /* no task uses it any more */
  clean = cli_wait_counters_zero(rt, 5000, counters) && clean;
  cli__stats_stop();
  return clean;
}

#endif /* EXAMPLES_CLI_H */

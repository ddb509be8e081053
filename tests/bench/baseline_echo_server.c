/*
 * tests/bench/baseline_echo_server.c - the limit: a TCP echo server written
 * directly on the Win32 thread-pool IO API, with no cosock.
 *
 * The echo benchmark (run_bench.sh) measures cosock's echo_server against
 * this program. It is written the way an expert would write it by hand, so
 * that whatever cosock costs on top shows up in the figures:
 *
 *   - one thread-pool IO object per socket (CreateThreadpoolIo): completions
 *     run our callbacks on the process's default pool threads;
 *   - ACCEPTS_POSTED AcceptEx calls kept posted on the listener, each with a
 *     socket created in advance, so connections come off the backlog even
 *     while no callback is running; SO_UPDATE_ACCEPT_CONTEXT on each one;
 *   - FILE_SKIP_COMPLETION_PORT_ON_SUCCESS where the socket's provider is an
 *     installable file system one (XP1_IFS_HANDLES): an operation that
 *     succeeds at once then queues no completion, and we carry on inline
 *     instead of taking a trip through the pool;
 *   - each connection receives straight into its own buffer and sends the
 *     bytes back (WSASend again until all are sent), then receives again;
 *   - TCP_NODELAY on every connection.
 *
 * What it also teaches is what cosock saves. Below, one connection's logic,
 * "receive, send it all back, repeat", is spread over a state enum, a
 * function that issues the next operation, a function that digests a result
 * and a callback that glues them, and every operation must be written twice:
 * once for "completed later" (the callback) and once for "completed now"
 * (the loop in conn_continue). With cosock it is one loop in one function:
 *
 *     for (;;) {
 *         CO_AWAIT(recv into buf);  if (end of stream or error) break;
 *         CO_AWAIT(send all of it); if (error) break;
 *     }
 *
 * The rules of the thread-pool IO API that every line below obeys:
 *   1. StartThreadpoolIo(io) before EVERY overlapped call on the socket.
 *   2. If the call fails at once (anything but WSA_IO_PENDING), no completion
 *      will come: CancelThreadpoolIo(io). If it succeeds at once, a completion
 *      still comes, unless skip-completion is on for the socket: then none
 *      comes, so CancelThreadpoolIo(io) too, and handle the result inline.
 *   3. While an operation is pending, its OVERLAPPED (and the buffer) belong
 *      to the kernel, and the callback may run at any moment on another
 *      thread: after a call reports pending, do not touch the connection.
 *   4. Shut down in order: cancel what is pending (CancelIoEx), let each
 *      callback see the "aborted" error and release its connection, and only
 *      when no operation is left close the IO objects.
 *
 * Usage (the same conventions as examples/echo_server.c):
 *     baseline_echo_server [--host H] [--port P] [--accepts N] [--idle-friendly] [--no-stdin]
 *   --host H         address to listen on (default 127.0.0.1)
 *   --port P         port (default 0: any free port)
 *   --accepts N      AcceptEx calls kept posted (default ACCEPTS_POSTED)
 *   --idle-friendly  wait for data with a zero-byte receive first (no buffer
 *                    pinned while idle; one more kernel trip per message)
 *   --no-stdin       do not stop at end of stdin (for `... </dev/null &`)
 * The first line on stdout is exactly "listening on H:P" (flushed), with the
 * real port. It runs until Ctrl+C, console close, or end of file on stdin
 * (the easy way to stop it under Wine: close the pipe it reads), then shuts
 * down cleanly and prints on stderr, among other things:
 *     baseline: framework bytes per connection: N
 * which the benchmark runner reports (sizeof the per-connection struct
 * without its receive buffer).
 */
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0600 /* Vista: the thread-pool IO API */
#endif
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FILE_SKIP_COMPLETION_PORT_ON_SUCCESS /* missing from Wine's SDK headers */
#  define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1
#  define FILE_SKIP_SET_EVENT_ON_HANDLE 0x2
#endif

enum {
  BUFFER_SIZE = 4096,   /* receive buffer per connection */
  ACCEPTS_POSTED = 32,  /* default number of AcceptEx calls kept posted */
  ADDR_LEN = (int)sizeof(SOCKADDR_STORAGE) + 16 /* AcceptEx's rule: +16 */
};

/* ---- one connection ----------------------------------------------------------------- */

/* What a connection's one outstanding operation is. */
enum conn_state {
  CONN_WAITING,   /* a zero-byte WSARecv: data has arrived when it completes */
  CONN_RECEIVING, /* a WSARecv into buf */
  CONN_SENDING    /* a WSASend of buf[sent..len) */
};

typedef struct conn {
  OVERLAPPED    ov;          /* first member: the callback gets &ov back       */
  SOCKET        sock;        /* the accepted socket                            */
  PTP_IO        io;          /* its thread-pool IO object                      */
  struct conn  *prev, *next; /* in the list of live connections (shutdown)     */
  DWORD         len;         /* bytes received, to echo                        */
  DWORD         sent;        /* of those, bytes sent back so far               */
  unsigned char state;       /* enum conn_state                                */
  unsigned char skip;        /* skip-completion-on-success is on for `sock`    */
  char          buf[BUFFER_SIZE]; /* receive buffer (not framework memory)     */
} conn_t;

/* What issuing an operation did. */
enum issue_result {
  ISSUED_PENDING,  /* a completion will come: hands off the connection */
  ISSUED_DONE,     /* finished at once, no completion will come        */
  ISSUED_FAILED    /* failed at once, no completion will come          */
};

/* ---- the server's state ------------------------------------------------------------------- */

typedef struct accept_slot {
  OVERLAPPED ov;       /* first member                                */
  SOCKET     sock;     /* created in advance; AcceptEx connects it    */
  char       addrs[2 * ADDR_LEN]; /* AcceptEx writes both addresses here */
} accept_slot_t;

static struct {
  SOCKET          listener;
  PTP_IO          listener_io;
  int             family;        /* of the listener, for the accept sockets      */
  int             ifs;           /* provider is IFS: skip-completion allowed     */
  LPFN_ACCEPTEX   accept_ex;     /* from WSAIoctl, as mswsock.dll recommends     */
  accept_slot_t  *slots;
  int             n_slots;
  volatile LONG   accepts_pending; /* slots with an AcceptEx in the kernel       */
  volatile LONG   stopping;      /* set once: no new operations after it         */
  int             idle_friendly; /* --idle-friendly: CONN_WAITING before receiving */
  volatile LONG   live;          /* connections not yet closed                   */
  volatile LONG   accepted;      /* statistics                                   */
  volatile LONG   accept_errors;
  volatile LONG   skip_on;       /* connections with skip-completion on          */
  SRWLOCK         lock;          /* guards the list `conns`                      */
  conn_t         *conns;
  HANDLE          stop;          /* manual-reset: stop requested                 */
  HANDLE          accepts_done;  /* set when accepts_pending reaches 0 (stopping)*/
  HANDLE          conns_done;    /* set when live reaches 0 (stopping)           */
  HANDLE          exited;        /* set when main has finished shutting down     */
} g;

static int stopping(void)
{
  return InterlockedCompareExchange(&g.stopping, 0, 0) != 0;
}

/* Skip-completion is only safe where the provider is an IFS one: base
 * providers are, layered ones (LSPs) may not be; libuv checks the same way.
 * Returns 1 if the socket's mode was set. */
static int enable_skip_completion(SOCKET s)
{
  if (!g.ifs)
    return 0;
  return SetFileCompletionNotificationModes(
             (HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) != 0;
}

/* ---- connections: issue, digest, callback ----------------------------------------------- */

/* Releases everything a connection holds. Called with no operation pending:
 * from its own IO callback, or inline after an operation finished at once.
 * CloseThreadpoolIo inside the object's own callback is allowed: the pool
 * frees it when the callback returns. */
static void conn_close(conn_t *c)
{
  AcquireSRWLockExclusive(&g.lock);   /* unlink first: the shutdown sweep */
  if (c->prev != NULL)                /* must never see a closed socket   */
    c->prev->next = c->next;
  else
    g.conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  ReleaseSRWLockExclusive(&g.lock);

  closesocket(c->sock);
  CloseThreadpoolIo(c->io);
  free(c);
  if (InterlockedDecrement(&g.live) == 0 && stopping())
    SetEvent(g.conns_done);
}

/* Issues the one operation the state asks for (rules 1 and 2 above). On
 * ISSUED_DONE *bytes is set, on ISSUED_FAILED *error. After ISSUED_PENDING
 * the caller must not touch c again (rule 3). */
static enum issue_result conn_issue(conn_t *c, DWORD *bytes, DWORD *error)
{
  WSABUF b;
  DWORD flags = 0;
  int rc;

  memset(&c->ov, 0, sizeof c->ov);
  StartThreadpoolIo(c->io);
  if (c->state != CONN_SENDING) {
    b.buf = c->buf;
    b.len = c->state == CONN_WAITING ? 0 : BUFFER_SIZE;
    rc = WSARecv(c->sock, &b, 1, bytes, &flags, &c->ov, NULL);
  } else {
    b.buf = c->buf + c->sent;
    b.len = c->len - c->sent;
    rc = WSASend(c->sock, &b, 1, bytes, 0, &c->ov, NULL);
  }
  if (rc == 0) {
    if (!c->skip)
      return ISSUED_PENDING;    /* success now, but the completion still comes */
    CancelThreadpoolIo(c->io);  /* skip-completion: none comes, go on inline */
    return ISSUED_DONE;
  }
  *error = (DWORD)WSAGetLastError();
  if (*error == WSA_IO_PENDING)
    return ISSUED_PENDING;
  CancelThreadpoolIo(c->io);
  return ISSUED_FAILED;
}

/* Digests the result of the operation that just finished and moves the state
 * on. Returns 0 if the connection is finished (and has been closed). */
static int conn_on_result(conn_t *c, DWORD error, DWORD bytes)
{
  if (error != 0) {   /* reset by the peer, or aborted by the shutdown */
    conn_close(c);
    return 0;
  }
  switch ((enum conn_state)c->state) {
  case CONN_WAITING:  /* data (or the end of the stream) is there: read it */
    c->state = CONN_RECEIVING;
    break;
  case CONN_RECEIVING:
    if (bytes == 0) { /* the peer finished sending: end of stream */
      conn_close(c);
      return 0;
    }
    c->len = bytes;   /* echo exactly what came */
    c->sent = 0;
    c->state = CONN_SENDING;
    break;
  case CONN_SENDING:
    c->sent += bytes;
    if (c->sent == c->len)        /* all sent back: receive again */
      c->state = g.idle_friendly ? CONN_WAITING : CONN_RECEIVING;
    break;                        /* else send the rest */
  }
  return 1;
}

/* Issues operations until one is pending or the connection ends. Operations
 * that finish at once (skip-completion) are handled here in the loop, with
 * no trip through the thread pool. */
static void conn_continue(conn_t *c)
{
  DWORD bytes = 0, error = 0;
  for (;;) {
    switch (conn_issue(c, &bytes, &error)) {
    case ISSUED_PENDING:
      return;         /* rule 3: c may already be running on another thread */
    case ISSUED_DONE:
      error = 0;
      break;
    case ISSUED_FAILED:
      break;
    }
    if (!conn_on_result(c, error, bytes))
      return;
  }
}

/* The IO callback of every connection: a pending operation finished. `result`
 * is a Win32 error code (0: success), `bytes` the bytes transferred. */
static VOID CALLBACK on_conn_io(PTP_CALLBACK_INSTANCE instance, PVOID context, PVOID overlapped,
                                ULONG result, ULONG_PTR bytes, PTP_IO io)
{
  conn_t *c = context; /* == overlapped: ov is the first member */
  (void)instance;
  (void)overlapped;
  (void)io;
  if (stopping() && result == 0)
    result = ERROR_OPERATION_ABORTED; /* stop requested: start nothing new */
  if (conn_on_result(c, result, (DWORD)bytes))
    conn_continue(c);
}

/* A new connection from AcceptEx: set it up and post its first receive. */
static void conn_start(SOCKET s)
{
  conn_t *c;
  BOOL on = TRUE;

  /* Without this the accepted socket lacks the listener's properties and
   * getpeername, shutdown and friends fail on it. */
  setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&g.listener,
             (int)sizeof g.listener);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, (int)sizeof on);

  c = malloc(sizeof *c); /* no need to clear buf: only the header is set */
  if (c == NULL) {
    closesocket(s);
    InterlockedIncrement(&g.accept_errors);
    return;
  }
  memset(c, 0, offsetof(conn_t, buf));
  c->sock = s;
  c->io = CreateThreadpoolIo((HANDLE)s, on_conn_io, c, NULL);
  if (c->io == NULL) {
    closesocket(s);
    free(c);
    InterlockedIncrement(&g.accept_errors);
    return;
  }
  c->skip = (unsigned char)enable_skip_completion(s);
  if (c->skip)
    InterlockedIncrement(&g.skip_on);
  c->state = g.idle_friendly ? CONN_WAITING : CONN_RECEIVING;

  InterlockedIncrement(&g.live);
  InterlockedIncrement(&g.accepted);
  AcquireSRWLockExclusive(&g.lock);
  c->next = g.conns;
  if (g.conns != NULL)
    g.conns->prev = c;
  g.conns = c;
  ReleaseSRWLockExclusive(&g.lock);

  conn_continue(c);
}

/* ---- accepting ------------------------------------------------------------------------------ */

/* Posts AcceptEx on a slot (the same rules 1 and 2 as conn_issue). */
static enum issue_result slot_post(accept_slot_t *slot, DWORD *error)
{
  DWORD bytes = 0;
  slot->sock = WSASocketW(g.family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
  if (slot->sock == INVALID_SOCKET) {
    *error = (DWORD)WSAGetLastError();
    return ISSUED_FAILED;
  }
  memset(&slot->ov, 0, sizeof slot->ov);
  StartThreadpoolIo(g.listener_io);
  /* 0 bytes of data: complete as soon as a connection is there, not when its
   * first data arrives. */
  if (g.accept_ex(g.listener, slot->sock, slot->addrs, 0, ADDR_LEN, ADDR_LEN, &bytes, &slot->ov)) {
    if (!g.ifs)
      return ISSUED_PENDING;
    CancelThreadpoolIo(g.listener_io);
    return ISSUED_DONE;
  }
  *error = (DWORD)WSAGetLastError();
  if (*error == ERROR_IO_PENDING)
    return ISSUED_PENDING;
  CancelThreadpoolIo(g.listener_io);
  closesocket(slot->sock);
  slot->sock = INVALID_SOCKET;
  return ISSUED_FAILED;
}

/* A slot's AcceptEx finished (error 0: a connection is in slot->sock). Hands
 * the connection over and posts the slot again, looping while AcceptEx
 * finishes at once. A slot retires (accepts_pending--) when stopping, or when
 * it cannot post any more. */
static void slot_run(accept_slot_t *slot, DWORD error)
{
  for (;;) {
    if (error == 0) {
      SOCKET s = slot->sock;
      slot->sock = INVALID_SOCKET;
      conn_start(s);
    } else {
      if (slot->sock != INVALID_SOCKET)
        closesocket(slot->sock);
      slot->sock = INVALID_SOCKET;
      if (error != ERROR_OPERATION_ABORTED)
        InterlockedIncrement(&g.accept_errors);
      /* The peer reset before we accepted: transient, post again. Anything
       * else that fails at once would fail again: retire the slot. */
      if (error != WSAECONNRESET && error != ERROR_NETNAME_DELETED &&
          error != ERROR_UNEXP_NET_ERR /* Wine, for a client that reset first */ &&
          error != ERROR_OPERATION_ABORTED && !stopping()) {
        fprintf(stderr, "baseline: accept slot retired (error %lu)\n", (unsigned long)error);
        break;
      }
    }
    if (stopping())
      break;
    switch (slot_post(slot, &error)) {
    case ISSUED_PENDING:
      return;
    case ISSUED_DONE:
      error = 0;
      break;
    case ISSUED_FAILED:
      break;
    }
  }
  if (InterlockedDecrement(&g.accepts_pending) == 0 && stopping())
    SetEvent(g.accepts_done);
}

static VOID CALLBACK on_listener_io(PTP_CALLBACK_INSTANCE instance, PVOID context,
                                    PVOID overlapped, ULONG result, ULONG_PTR bytes, PTP_IO io)
{
  (void)instance;
  (void)context;
  (void)bytes;
  (void)io;
  slot_run((accept_slot_t *)overlapped, result);
}

/* ---- start-up ------------------------------------------------------------------------------- */

static void usage(void)
{
  fprintf(stderr, "usage: baseline_echo_server [--host H] [--port P] [--accepts N] "
                  "[--idle-friendly] [--no-stdin]\n");
  exit(2);
}

/* Binds and listens; fills g.listener, g.family, g.ifs, g.accept_ex and the
 * IO object. Returns the bound port, or -1 (message printed). */
static int listen_on(const char *host, const char *port)
{
  struct addrinfo hints, *ai;
  WSAPROTOCOL_INFOW info;
  GUID accept_guid = WSAID_ACCEPTEX;
  SOCKADDR_STORAGE bound;
  int len, rc;
  DWORD got = 0;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_PASSIVE;
  if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
    fprintf(stderr, "baseline: cannot resolve %s:%s (error %d)\n", host, port, rc);
    return -1;
  }
  g.family = ai->ai_family;
  g.listener = WSASocketW(ai->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
  if (g.listener == INVALID_SOCKET || bind(g.listener, ai->ai_addr, (int)ai->ai_addrlen) != 0 ||
      listen(g.listener, SOMAXCONN) != 0) {
    fprintf(stderr, "baseline: cannot listen on %s:%s (error %d)\n", host, port,
            WSAGetLastError());
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);

  len = (int)sizeof info;
  g.ifs = getsockopt(g.listener, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) == 0 &&
          (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
  if (WSAIoctl(g.listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &accept_guid, sizeof accept_guid,
               &g.accept_ex, sizeof g.accept_ex, &got, NULL, NULL) != 0) {
    fprintf(stderr, "baseline: no AcceptEx (error %d)\n", WSAGetLastError());
    return -1;
  }
  /* The listener's own skip mode: AcceptEx that finds a connection waiting
   * then finishes inline too. If it cannot be set, g.ifs says no for all. */
  if (g.ifs && !enable_skip_completion(g.listener))
    g.ifs = 0;
  g.listener_io = CreateThreadpoolIo((HANDLE)g.listener, on_listener_io, NULL, NULL);
  if (g.listener_io == NULL) {
    fprintf(stderr, "baseline: CreateThreadpoolIo failed (error %lu)\n", GetLastError());
    return -1;
  }

  len = (int)sizeof bound;
  if (getsockname(g.listener, (struct sockaddr *)&bound, &len) != 0)
    return -1;
  return ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                           : ((struct sockaddr_in *)&bound)->sin_port);
}

/* Posts every accept slot. Returns the number posted (or finished inline). */
static int post_accepts(int n)
{
  int i;
  g.slots = calloc((size_t)n, sizeof *g.slots);
  if (g.slots == NULL)
    return 0;
  g.n_slots = n;
  for (i = 0; i < n; i++) {
    DWORD error = 0;
    enum issue_result r;
    InterlockedIncrement(&g.accepts_pending);
    r = slot_post(&g.slots[i], &error);
    if (r == ISSUED_DONE)
      slot_run(&g.slots[i], 0);
    else if (r == ISSUED_FAILED)
      slot_run(&g.slots[i], error); /* retires it */
  }
  return n;
}

/* ---- stopping ----------------------------------------------------------------------------- */

static BOOL WINAPI on_console_event(DWORD type)
{
  SetEvent(g.stop);
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT)
    WaitForSingleObject(g.exited, 5000); /* the process dies when we return */
  return TRUE;
}

static DWORD WINAPI watch_stdin(LPVOID arg)
{
  HANDLE in = (HANDLE)arg;
  char buf[256];
  DWORD n;
  while (ReadFile(in, buf, sizeof buf, &n, NULL) && n > 0) {
  }
  SetEvent(g.stop);
  return 0;
}

/* Rule 4. Nothing in the kernel may point at memory we free, and no callback
 * may run after we return. CancelIoEx is repeated until the counts reach 0:
 * a callback running during one sweep may post one more operation (it checks
 * `stopping` only at its start), which the next sweep cancels. */
static void shut_down(void)
{
  ULONGLONG give_up = GetTickCount64() + 10000;
  conn_t *c;

  InterlockedExchange(&g.stopping, 1);
  /* 1. Accepts first: after them, no new connection can appear. */
  if (InterlockedCompareExchange(&g.accepts_pending, 0, 0) == 0)
    SetEvent(g.accepts_done);
  do
    CancelIoEx((HANDLE)g.listener, NULL);
  while (WaitForSingleObject(g.accepts_done, 50) == WAIT_TIMEOUT && GetTickCount64() < give_up);
  WaitForThreadpoolIoCallbacks(g.listener_io, FALSE);
  CloseThreadpoolIo(g.listener_io);
  closesocket(g.listener);

  /* 2. Connections: cancel each one's pending operation; its callback sees
   * ERROR_OPERATION_ABORTED and closes it. The lock keeps a socket from being
   * closed (and its handle reused) while we cancel on it. */
  if (InterlockedCompareExchange(&g.live, 0, 0) == 0)
    SetEvent(g.conns_done);
  do {
    AcquireSRWLockShared(&g.lock);
    for (c = g.conns; c != NULL; c = c->next)
      CancelIoEx((HANDLE)c->sock, NULL);
    ReleaseSRWLockShared(&g.lock);
  } while (WaitForSingleObject(g.conns_done, 50) == WAIT_TIMEOUT && GetTickCount64() < give_up);
  if (InterlockedCompareExchange(&g.live, 0, 0) != 0)
    fprintf(stderr, "baseline: %ld connections still open after 10 s\n", (long)g.live);
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1", *port = "0";
  int accepts = ACCEPTS_POSTED, use_stdin = 1, i, bound;
  HANDLE in;
  WSADATA wsa;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--no-stdin") == 0)
      use_stdin = 0;
    else if (strcmp(argv[i], "--idle-friendly") == 0)
      g.idle_friendly = 1;
    else if (i + 1 >= argc)
      usage();
    else if (strcmp(argv[i], "--host") == 0)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0)
      port = argv[++i];
    else if (strcmp(argv[i], "--accepts") == 0 && (accepts = atoi(argv[++i])) > 0)
      continue;
    else
      usage();
  }

  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
    fprintf(stderr, "baseline: WSAStartup failed\n");
    return 1;
  }
  InitializeSRWLock(&g.lock);
  g.stop = CreateEventW(NULL, TRUE, FALSE, NULL);
  g.accepts_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  g.conns_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  g.exited = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!g.stop || !g.accepts_done || !g.conns_done || !g.exited)
    return 1;

  bound = listen_on(host, port);
  if (bound < 0)
    return 1;
  post_accepts(accepts);
  printf("listening on %s:%d\n", host, bound);
  fflush(stdout);
  fprintf(stderr, "baseline: %d accepts posted, skip-completion-on-success %s\n", accepts,
          g.ifs ? "on (IFS provider)" : "off (provider is not IFS)");

  SetConsoleCtrlHandler(on_console_event, TRUE);
  in = GetStdHandle(STD_INPUT_HANDLE);
  if (use_stdin && in != NULL && in != INVALID_HANDLE_VALUE) {
    HANDLE t = CreateThread(NULL, 0, watch_stdin, in, 0, NULL);
    if (t != NULL)
      CloseHandle(t);
  }
  WaitForSingleObject(g.stop, INFINITE);

  shut_down();
  fprintf(stderr,
          "baseline: %ld connections accepted, %ld accept errors, %ld with skip-completion\n"
          "baseline: framework bytes per connection: %u (struct conn without its %d-byte "
          "buffer; accept slots: %d x %u bytes)\n",
          (long)g.accepted, (long)g.accept_errors, (long)g.skip_on,
          (unsigned)offsetof(conn_t, buf), BUFFER_SIZE, g.n_slots, (unsigned)sizeof(accept_slot_t));
  free(g.slots);
  WSACleanup();
  SetEvent(g.exited);
  return 0;
}

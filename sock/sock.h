/*
 * sock/sock.h - TCP, UDP, name resolution, named pipes, files and a TLS
 * client over the Win32 thread-pool IO API, driven by co/ tasks.
 *
 * A runtime owns Winsock and a thread-pool environment. A socket wraps a
 * SOCKET and its PTP_IO (the library's handle object, which serves any
 * overlapped HANDLE). Every operation follows the await protocol of
 * co/co.h: a *start* function begins it and returns CO_PENDING (the
 * completion will wake the task) or a final status (it finished now and the
 * task carries on inline). The result is in the operation record:
 *
 *     typedef struct {
 *         sock_task_t task;      // first: the framework's part
 *         sock_t     *sock;
 *         sock_op_t   op;        // one record per outstanding operation
 *         char        buf[4096];
 *     } echo_t;
 *
 *     static co_state_t echo_step(co_task_t *t)
 *     {
 *         echo_t *e = (echo_t *)t;
 *         CO_BEGIN(t);
 *         for (;;) {
 *             CO_AWAIT(t, sock_recv_start(&e->op, e->sock, e->buf, sizeof e->buf, t));
 *             if (e->op.error < 0) break;           // CO_EOF, CO_ECONNRESET, ...
 *             CO_AWAIT(t, sock_send_all_start(&e->op, e->sock, e->buf, e->op.bytes, t));
 *             if (e->op.error < 0) break;
 *         }
 *         sock_close(e->sock);
 *         CO_END(t);
 *     }
 *
 * Threads
 * -------
 * Completions run on thread-pool threads; the task continues on whichever
 * thread completed its operation, so two tasks may run at the same time on
 * two threads. One task never runs on two threads at once, because it has at
 * most one await outstanding. Start functions may be called from any thread
 * but, for one operation record, by one task at a time.
 *
 * Ownership
 * ---------
 * - The runtime: created by sock_runtime_create, released by
 *   sock_runtime_shutdown, which cancels every pending operation, waits
 *   until no callback can run any more, closes the sockets still open, and
 *   frees everything it allocated. Tasks must be finished (or parked for
 *   good) by then: their structs belong to their owners.
 * - A socket (sock_t): allocated by sock_listen, sock_connect_start, an
 *   accept, sock_udp_open or sock_adopt (a pipe end or a file is a sock_t
 *   too: sock_pipe_create, sock_pipe_create_instance, sock_pipe_open_start,
 *   sock_file_open); released by exactly one sock_close. Closing cancels its pending
 *   operations (their tasks wake with CO_ECANCELED); its memory is freed when
 *   the last of them has completed, so sock_close never waits and may be
 *   called from inside a task. Do not use the pointer after sock_close.
 * - An operation record (sock_op_t) and the buffers it names belong to the
 *   kernel from a start that returned CO_PENDING until the task wakes. Keep
 *   them in the task's struct; never on a step function's stack.
 * - A task's struct belongs to its owner, who frees it in the completion
 *   hook (or after it finished).
 *
 * Errors
 * ------
 * The error space of co/co_error.h: op.error is CO_OK, CO_EOF (the peer
 * closed its side: a receive of 0 bytes) or a negative CO_E... code;
 * op.win32_error keeps the raw WSA.../ERROR_... code for logs (0 if none).
 * The translation, in sock/error.c:
 *   CO_ECANCELED      the socket was closed or cancelled (sock_cancel), the
 *                     task cancelled, the await cancelled (sock_op_cancel),
 *                     or the runtime shut down while the operation was
 *                     pending (ERROR_OPERATION_ABORTED; ERROR_HANDLES_CLOSED,
 *                     which Wine reports for a handle closed under a call)
 *   CO_ECONNREFUSED   nobody listens at the address (WSAECONNREFUSED,
 *                     ERROR_CONNECTION_REFUSED)
 *   CO_ECONNRESET     the peer reset the connection (WSAECONNRESET,
 *                     ERROR_NETNAME_DELETED); a pipe's peer gone, on a send
 *                     (ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED)
 *   CO_ECONNABORTED   the connection was aborted locally (WSAECONNABORTED,
 *                     ERROR_CONNECTION_ABORTED)
 *   CO_ETIMEDOUT      the task's deadline passed (sock_deadline_set), or the
 *                     network timed out (WSAETIMEDOUT, ERROR_SEM_TIMEOUT)
 *   CO_ENOTFOUND      the host name does not resolve (WSAHOST_NOT_FOUND,
 *                     WSANO_DATA, EAI_NONAME)
 *   CO_EAGAIN         temporary resolver failure (WSATRY_AGAIN); a
 *                     try-send or try-receive that would have waited
 *                     (WSAEWOULDBLOCK)
 *   CO_EADDRINUSE, CO_EADDRNOTAVAIL, CO_ENETUNREACH, CO_EHOSTUNREACH,
 *   CO_ENOTCONN, CO_ENOBUFS, CO_EACCES, CO_EINVAL, CO_ENOMEM: as named
 *   CO_EMSGSIZE       a line longer than the reader's buffer; a message or
 *                     datagram longer than the buffer (ERROR_MORE_DATA,
 *                     WSAEMSGSIZE)
 *   CO_ECLOSED        a closed channel (sock_chan_close); a socket closed
 *                     under a call (WSAENOTSOCK)
 *   CO_ENOENT         no such file, folder or pipe (ERROR_FILE_NOT_FOUND,
 *                     ERROR_PATH_NOT_FOUND)
 *   CO_EEXIST         the file exists (ERROR_FILE_EXISTS, ERROR_ALREADY_EXISTS)
 *   CO_ENOSPC         the disk is full (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL)
 *   (Named pipes and files: their own sections below say what each of their
 *   functions gives, CO_EOF for ERROR_HANDLE_EOF included.)
 *   CO_ESHUTDOWN      the runtime is shutting down: every start (socket
 *                     operations, sleep, the waits between tasks, listen,
 *                     connect) fails with it, and nothing new starts
 *
 * Every start refuses the same way: bad arguments (CO_EINVAL), a cancelled
 * socket, task or await (CO_ECANCELED), a passed deadline (CO_ETIMEDOUT) or
 * the shutdown (CO_ESHUTDOWN) finish at once with op.error set to the code
 * the start returns; no completion follows. Tests can make any system call
 * of the library fail on demand: sock/sock_fault.h.
 *   CO_EUNKNOWN       anything else (see win32_error)
 */
#ifndef SOCK_SOCK_H
#define SOCK_SOCK_H

#include <co/co.h>

/* The thread-pool IO API needs Windows Vista or later. */
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0601
#elif _WIN32_WINNT < 0x0600
#  error "cosock needs _WIN32_WINNT >= 0x0600 (the thread-pool IO API)"
#endif
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The runtime ------------------------------------------------------- */

typedef struct sock_runtime sock_runtime_t;

typedef struct sock_runtime_config {
  unsigned min_threads;    /* 0 and 0: use the process's default pool */
  unsigned max_threads;    /* otherwise a private pool with these limits */
  unsigned accepts_posted; /* AcceptEx calls a listener keeps posted; 0 = 32 */
} sock_runtime_config_t;

typedef struct sock_counters {
  long sockets;      /* sock_t objects not yet freed */
  long tasks;        /* tasks started with sock_spawn and not finished */
  long pending_ops;  /* overlapped operations whose completion has not run */
} sock_counters_t;

/* Starts Winsock and a thread-pool environment with a cleanup group.
 * `config` may be NULL for the defaults. Returns CO_OK and *out, or an
 * error (CO_ENOMEM, or a translated Winsock start-up failure). */
int sock_runtime_create(sock_runtime_t **out, const sock_runtime_config_t *config);

/* Cancels every pending operation (tasks wake with CO_ECANCELED and may clean
 * up; new starts fail with CO_ESHUTDOWN), waits until no callback can run,
 * closes and frees the sockets still open, and frees the runtime. Call it
 * from a thread that is not a pool thread of this runtime. */
void sock_runtime_shutdown(sock_runtime_t *rt);

/* A snapshot of the live counters (tests use them to prove nothing leaks). */
void sock_runtime_counters(sock_runtime_t *rt, sock_counters_t *out);

/* ---- Tasks the runtime knows ------------------------------------------------ */

typedef struct sock_op sock_op_t;
typedef struct sock_timing sock_timing_t;  /* internal: a task's timer */

/* A task the runtime counts, can cancel, time out and list (embed it first in
 * your struct, instead of a bare co_task_t). The fields are the library's. */
typedef struct sock_task {
  co_task_t          task;       /* first: the coroutine */
  sock_runtime_t    *runtime;    /* counts the task while it lives */
  co_done_fn         on_done;    /* the owner's completion hook, or NULL */
  struct sock_task  *prev, *next;/* in the runtime's list of live tasks */
  sock_op_t         *wait_op;    /* the record of the await in progress, or NULL */
  sock_timing_t     *timing;     /* deadline and sleep timer, made on first use */
  unsigned char      cancelled;  /* sock_task_cancel was called: every await fails */
  unsigned char      expired;    /* the deadline passed: every await fails */
} sock_task_t;

/* The sock_task_t a co task belongs to: itself (a spawned sock_task_t), the
 * top of its CO_CALL chain for a child, or NULL for a plain co task. The
 * waits that need a sock_task_t (sleep, event, semaphore, channel, wait
 * group) take one, so a plain task cannot use them by mistake; a CO_CALL
 * child passes sock_task_of(t), and its task is woken through the chain. */
sock_task_t *sock_task_of(co_task_t *task);

/* Initialises `task` with `step`, counts it, and runs its first step on the
 * calling thread. `on_done` runs exactly once when the task finishes, on the
 * thread that ran its last step; it may free the task. The runtime counts
 * the task until its hook has returned. */
void sock_spawn(sock_runtime_t *rt, sock_task_t *task, co_step_fn step, co_done_fn on_done);

/* Cancels a task from any thread: the await it is parked in ends with
 * CO_ECANCELED (its operation cancelled), and so does every later await, so
 * the task runs its own cleanup and ends. Cancelling a finished task (whose
 * struct is still allocated) does nothing; cancelling a struct not yet given
 * to sock_spawn is lost (sock_spawn starts it afresh). The cleanup idiom:
 *
 *     CO_AWAIT(t, sock_recv_start(&h->op, h->sock, h->buf, sizeof h->buf, t));
 *     if (h->op.error < 0) {           // CO_ECANCELED, CO_ETIMEDOUT, CO_EOF ...
 *         sock_close(h->sock);         // release what the task owns
 *         CO_EXIT(t, h->op.error);     // and end: the hook runs once
 *     }
 */
void sock_task_cancel(sock_task_t *task);

/* A deadline for the task's awaits: once `ms` milliseconds have passed, the
 * await it is parked in ends with CO_ETIMEDOUT (its operation cancelled), and
 * so does every later await until the deadline is cleared or set again. It
 * spans several awaits and the awaits of children under CO_CALL ("the whole
 * request within 10 s"). If the operation completes just as the deadline
 * passes, exactly one of the two wins: the task sees either the result or
 * CO_ETIMEDOUT, and resumes once. Returns CO_OK or CO_ENOMEM. */
int sock_deadline_set(sock_task_t *task, unsigned ms);
void sock_deadline_clear(sock_task_t *task);

/* The stop of a server: cancels every live task of the runtime (as
 * sock_task_cancel on each) and every socket (as sock_cancel on each, which
 * stops handlers that are plain co tasks too); every task spawned and every
 * socket accepted or connected from now on starts cancelled (it may clean
 * up but not wait), so an accept loop that spawns a connection while the
 * stop is under way cannot leave a task behind. */
void sock_runtime_cancel_all(sock_runtime_t *rt);

/* Waits until the runtime counts no live task, or `ms` milliseconds passed.
 * Returns 1 when every task has finished (their hooks have run), else 0.
 * Call it from a thread that is not a pool thread of this runtime. */
int sock_runtime_wait_tasks(sock_runtime_t *rt, unsigned ms);

/* Writes one line per live task ("task 0x...: waiting, parked at
 * echo.c:42") to `out` (a FILE *): the stackless thread dump. */
void sock_runtime_dump(sock_runtime_t *rt, void *out);

/* ---- Sockets ---------------------------------------------------------------- */

typedef struct sock sock_t;

/* An IPv4 or IPv6 address with its port. */
typedef SOCKADDR_INET sock_addr_t;

/* Formats "1.2.3.4:80" or "[::1]:80". Returns buf. */
char *sock_addr_format(const sock_addr_t *addr, char *buf, size_t size);

/* The other way (libuv's uv_ip4_addr / uv_ip6_addr): a numeric IPv4 or
 * IPv6 address ("127.0.0.1", "::1") with `port` into *out, at once, no
 * lookup. CO_OK, or CO_EINVAL (NULL, or not a numeric address: names go
 * to sock_resolve_start), with *out zeroed. */
int sock_addr_parse(const char *ip, unsigned short port, sock_addr_t *out);

/* Creates a listening TCP socket bound to host:port (host NULL or "" means
 * every address, dual-stack IPv6 where available; port 0 picks a free port)
 * with SO_EXCLUSIVEADDRUSE, and keeps `accepts_posted` AcceptEx calls posted.
 * Returns CO_OK and *out, or an error (CO_EADDRINUSE, CO_ENOTFOUND, ...). */
int sock_listen(sock_runtime_t *rt, const char *host, unsigned short port,
                int backlog, sock_t **out);

/* sock_listen_ex's flags. */
enum {
  SOCK_LISTEN_V6ONLY   = 0x1,  /* an IPv6 listener takes IPv6 clients only
                                  (IPV6_V6ONLY; the default is dual-stack) */
  SOCK_LISTEN_REUSEADDR = 0x2  /* SO_REUSEADDR instead of SO_EXCLUSIVEADDRUSE.
                                  On Windows this lets other sockets bind the
                                  port, even while we listen: only where that
                                  is wanted. (Wine maps it to the host's
                                  SO_REUSEADDR: a port in TIME_WAIT.) */
};

/* sock_listen with choices: `flags` is 0 (exactly sock_listen) or the
 * SOCK_LISTEN_ values. CO_EINVAL for an unknown flag; otherwise the same
 * results as sock_listen. */
int sock_listen_ex(sock_runtime_t *rt, const char *host, unsigned short port, int backlog,
                   unsigned flags, sock_t **out);

/* The bytes the library allocates for each socket (its sock_t), for memory
 * accounting: a connection's framework cost is its task and operation
 * records (in your struct) plus this. */
size_t sock_socket_size(void);

/* The local address of a socket (the real port of a port-0 listener). */
int sock_local_addr(sock_t *s, sock_addr_t *out);

/* The peer's address of a connected socket (TCP, or UDP after
 * sock_udp_connect). CO_OK, CO_ENOTCONN (none), CO_ECLOSED (closed),
 * CO_EINVAL (NULL, or a pipe, file or TLS session: not a socket). *out is
 * zeroed on failure. */
int sock_peer_addr(sock_t *s, sock_addr_t *out);

/* The system's SOCKET inside s (libuv's uv_fileno), for an option the
 * library has no function for; INVALID_SOCKET for NULL, a pipe, a file or
 * a TLS session (its connection has the socket), or after sock_close. It stays the library's: do not close it, and do not start
 * overlapped calls on it (their completions would come to the library). */
SOCKET sock_os_socket(sock_t *s);

/* Adopts a SOCKET made elsewhere (libuv's uv_tcp_open / uv_udp_open): an
 * overlapped IPv4 or IPv6 TCP or UDP socket (socket() and WSASocketW with
 * WSA_FLAG_OVERLAPPED make those), connected (a TCP connection), listening
 * (a listener, which then keeps its AcceptEx calls posted) or bound (UDP).
 * On CO_OK *out owns it: sock_close closes it. CO_EINVAL (a NULL argument,
 * INVALID_SOCKET, or a socket of another type or family) and CO_ESHUTDOWN
 * leave the socket to the caller; any later failure (CO_ENOMEM; a socket
 * already bound to another completion port: CO_EINVAL) has closed it. */
int sock_adopt(sock_runtime_t *rt, SOCKET h, sock_t **out);

/* The socket's receive and send buffer sizes (SO_RCVBUF, SO_SNDBUF), as
 * libuv's uv_recv_buffer_size: *bytes > 0 sets the size first; then *bytes
 * receives the size in force (the system may round it; Linux under Wine
 * doubles it). CO_OK, CO_EINVAL (NULL, a negative size, not a socket), or the system's
 * refusal translated. */
int sock_recv_buffer_size(sock_t *s, int *bytes);
int sock_send_buffer_size(sock_t *s, int *bytes);

/* Attempts that never wait (libuv's uv_try_write / uv_udp_try_send, and a
 * receive of the same kind), for code that must not block, a broadcaster
 * say. Not awaits: they run on the calling thread, from any code. The
 * first call puts the socket in non-blocking mode, which the overlapped
 * operations do not look at (they pend as before); an attempt runs beside
 * the awaits of the same socket, and data goes to whichever asks first.
 * Send: up to len bytes (a UDP socket: one datagram to `to`, or to the
 * connected peer for NULL; `to` must be NULL on TCP); *sent says how many
 * (TCP may send part). Receive: what is there, up to len bytes (UDP: one
 * datagram, its sender in *from unless NULL; `from` must be NULL on TCP);
 * *received says how many. Both: CO_OK; CO_EAGAIN when it would have
 * waited (nothing arrived, no buffer space); CO_EOF (TCP receive: the peer
 * closed its side, *received 0); CO_EMSGSIZE (UDP receive: a datagram
 * longer than len, its first len bytes kept, *received len; send: too long
 * for UDP); CO_ECANCELED (a socket closed or cancelled), CO_ESHUTDOWN,
 * CO_EINVAL (a listener, a pipe, file or TLS session, NULL, len 0 for a
 * receive), or the system's
 * errors translated (CO_ECONNRESET, CO_ENOTCONN ...). */
int sock_try_send(sock_t *s, const char *buf, size_t len, const sock_addr_t *to, size_t *sent);
int sock_try_recv(sock_t *s, char *buf, size_t len, sock_addr_t *from, size_t *received);

/* Socket options. TCP_NODELAY is on for every connected socket by default. */
int sock_set_nodelay(sock_t *s, int on);
int sock_set_keepalive(sock_t *s, int on);

/* Graceful half-close: no more sends (the peer's receive sees end of
 * stream); receiving goes on. Synchronous. */
int sock_shutdown_send(sock_t *s);

/* Closes the socket: pending operations complete with CO_ECANCELED, the
 * memory is freed after the last one. Never waits; NULL is ignored. */
void sock_close(sock_t *s);

/* Cancels the socket's operations, from any thread: those pending end with
 * CO_ECANCELED, and so does every later one (tasks waiting to accept on a
 * listener too). The owner still closes it. This is how to stop a handler
 * that is a plain co_task_t (which sock_task_cancel cannot reach): cancel
 * the socket it works on, and its cleanup idiom does the rest. Cancellation
 * state that lives on the socket costs a connection no bytes (one flag in
 * the socket's reference word); a sock_task_t costs 56 bytes more than a
 * co_task_t. NULL is ignored. Every pending wait for a connection on a
 * cancelled listener ends too, woken on a pool thread (never inside this
 * call, so its cleanup may close the listener). */
void sock_cancel(sock_t *s);

/* ---- Operations -------------------------------------------------------------- */

/* The record of one operation. Keep it in the task's struct; one per
 * outstanding operation (a reader task and a writer task need one each).
 * Read error, bytes and win32_error; the rest is the library's. 64 bytes on
 * 64-bit targets. */
struct sock_op {
  OVERLAPPED     overlapped;   /* first: the kernel's part (and, while the
                                  record waits in a queue, the queue's) */
  /* -- what the user reads once the await has ended -- */
  unsigned long  bytes;        /* bytes transferred */
  unsigned long  win32_error;  /* raw WSA.../ERROR_... code, 0 if none */
  short          error;        /* CO_OK, CO_EOF or a negative CO_E... */
  /* -- the library's -- */
  unsigned char  kind;         /* which operation (sock/sock_internal.h) */
  unsigned char  flags;        /* the hub's state of this await */
  unsigned long  len;          /* bytes (or buffers) asked for */
  co_task_t     *task;         /* woken when the operation completes */
  union {                      /* what the operation works on, by kind */
    char                 *buf;     /* receive into / send from */
    WSABUF               *bufs;    /* gather send: the caller's array */
    struct sock_reader   *reader;  /* read a line */
    struct sock_accept   *accept;  /* accept: where the result goes */
    struct sock__connect *connect; /* connect: the job resolving and trying */
    struct sock__resolve *resolve; /* resolve: the lookup serving the await */
    void                 *item;    /* channel send: the item */
    void                **slot;    /* channel receive: where the item goes */
  } target;
};

/* Cancels one pending await, from any thread: the operation `op` is parked
 * in (a receive, send, accept, connect, sleep or wait) ends with
 * CO_ECANCELED, and the task and the socket go on as before (the next
 * start on either works). Unlike sock_cancel and sock_task_cancel it is not
 * sticky: it reaches only the await in progress when it is called, or
 * nothing if none is (a record between awaits, or one whose completion has
 * already come: then the task sees that result). The record must stay
 * allocated for the call (it belongs to a live task). Returns 1 if an await
 * was there to cancel, else 0. */
int sock_op_cancel(sock_op_t *op);

/* What an accept delivers. */
typedef struct sock_accept {
  sock_t     *sock;  /* the new connection: yours to sock_close */
  sock_addr_t peer;  /* the peer's address */
} sock_accept_t;

/* Accept a connection on a listener into *result. Several tasks may wait on
 * one listener (each connection goes to the one that waited longest). The
 * listener keeps `accepts_posted` AcceptEx calls posted whether anyone waits
 * or not, so that many connections complete their handshake ahead of the
 * accepts: a server that limits its connections by not accepting still
 * takes that many off the backlog. A completed accept posts the idle
 * calls again before the connection is handed to its task. If no call can be posted (out of handles, say), the waiting
 * tasks wake with that error (CO_ENOBUFS ...) and a new accept fails at once
 * with it until a post succeeds again. */
int sock_accept_start(sock_op_t *op, sock_t *listener, sock_accept_t *result,
                      co_task_t *task);

/* Connect to host:port. A numeric IPv4 or IPv6 address is tried as it is;
 * a name is resolved by the system's resolver without blocking a thread
 * (as sock_resolve_start does, at most 16 addresses) and every address is
 * tried in turn (ConnectEx). *out is set to NULL at the start (unless out
 * itself is NULL: CO_EINVAL) and receives the connected socket only on
 * success. op.error: CO_OK, CO_ECONNREFUSED, CO_ENOTFOUND, CO_EAGAIN,
 * CO_ETIMEDOUT, CO_ENETUNREACH, CO_ENOBUFS, CO_ENOMEM, CO_EINVAL (a name
 * longer than 255 bytes too), CO_ECANCELED, CO_ESHUTDOWN. A cancel during
 * the lookup is seen when the lookup ends (use sock_resolve_start, then
 * sock_connect_addr_start, to abandon a slow lookup at once). */
int sock_connect_start(sock_op_t *op, sock_runtime_t *rt, const char *host,
                       unsigned short port, sock_t **out, co_task_t *task);

/* Connect to an address already resolved (its port included; the address
 * is copied at the start). The same outcomes as sock_connect_start, less
 * the lookup's: CO_EINVAL for a family other than AF_INET and AF_INET6 or
 * port 0. */
int sock_connect_addr_start(sock_op_t *op, sock_runtime_t *rt, const sock_addr_t *addr,
                            sock_t **out, co_task_t *task);

/* Receive up to len bytes. op.bytes: how many arrived; 0 bytes means the
 * peer closed its side and op.error is CO_EOF. */
int sock_recv_start(sock_op_t *op, sock_t *s, char *buf, size_t len, co_task_t *task);

/* Receive exactly len bytes, across as many receives as it takes. If the
 * stream ends first, op.error is CO_EOF and op.bytes says how many came. */
int sock_recv_exactly_start(sock_op_t *op, sock_t *s, char *buf, size_t len,
                            co_task_t *task);

/* Wait until data (or end of stream) is ready, without pinning a buffer: a
 * zero-byte receive, for connections that are idle most of the time. Follow
 * it with sock_recv_start, which then finds the data waiting: where the
 * socket skips the completion port on success (base providers, the usual
 * case, Wine too) it finishes inline, its start function returning CO_OK
 * with no wait; otherwise its completion still passes through the pool and
 * the task resumes from there. Note: at end of stream this finishes with
 * CO_OK too; the receive that follows says CO_EOF.
 * It costs a second trip through the kernel per message: not for hot paths. */
int sock_wait_readable_start(sock_op_t *op, sock_t *s, co_task_t *task);

/* Send up to len bytes in one WSASend (op.bytes: how many were sent). */
int sock_send_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                    co_task_t *task);

/* Send all len bytes, across as many sends as it takes, or fail. */
int sock_send_all_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                        co_task_t *task);

/* Send every byte of an array of buffers (gather), or fail. The array is
 * updated in place as it progresses: keep it alive and do not reuse it
 * until the operation has completed. */
int sock_sendv_start(sock_op_t *op, sock_t *s, WSABUF *bufs, unsigned count,
                     co_task_t *task);

/* ---- Reading lines -------------------------------------------------------- */

/* A buffered reader over a socket: the caller's buffer holds at most one
 * line plus what arrived after it. */
typedef struct sock_reader {
  sock_t *sock;
  char   *buf;       /* the caller's storage */
  size_t  size;      /* its size: the longest line is size - 1 bytes */
  size_t  start;     /* first unread byte */
  size_t  end;       /* one past the last received byte */
  size_t  line_len;  /* length of the line found by the last read, '\n' excluded */
} sock_reader_t;

void sock_reader_init(sock_reader_t *r, sock_t *s, char *buf, size_t size);

/* Read one line (ending in "\n"; a "\r" before it is dropped). On success
 * op.error is CO_OK and sock_reader_line() gives the line, NUL-terminated,
 * valid until the next read. A line that does not fit the buffer gives
 * CO_EMSGSIZE: the reader is then full of that line's first size bytes and
 * every further read gives CO_EMSGSIZE again at once (drop the connection,
 * or sock_reader_init the reader afresh to skip what it holds). End of
 * stream before a newline gives CO_EOF: op.bytes is the length of the
 * unfinished line, whose bytes stay in the buffer (not NUL-terminated),
 * starting at buf + start; sock_reader_buffered() counts them too. */
int sock_read_line_start(sock_op_t *op, sock_reader_t *r, co_task_t *task);

/* The line found by the last successful sock_read_line_start. */
const char *sock_reader_line(const sock_reader_t *r, size_t *len);

/* Bytes already buffered after the last line (for a switch to raw reads). */
size_t sock_reader_buffered(const sock_reader_t *r);

/* ---- Time ----------------------------------------------------------------- */

/* Wait `ms` milliseconds on the task's thread-pool timer. Only a spawned
 * sock_task_t has one, so the start takes one (a CO_CALL child passes
 * sock_task_of(t)). op.error: CO_OK, or CO_ECANCELED / CO_ETIMEDOUT. */
int sock_sleep_start(sock_op_t *op, unsigned ms, sock_task_t *task);

/* A repeating timer is sock_timer_t, with the waits between tasks below. */

/* ---- Between tasks ------------------------------------------------------------ */
/*
 * Tasks run in parallel on pool threads; these hand work between them
 * safely. Every function may be called from any thread. The waits are awaits
 * like any other (a sock_op_t each), so cancellation and deadlines reach
 * them too; they take the waiting sock_task_t itself (a CO_CALL child passes
 * sock_task_of(t)), so a plain co task, which has no runtime to wake it
 * from, cannot wait on one by mistake: the compiler says so. A waiter is
 * always resumed on a pool thread,
 * never inside the call that released it, so no chain of wake-ups can
 * recurse. The structs are yours (static, or in a task's struct); their
 * fields are the library's. None needs destroying: make sure no task waits
 * on one when you free it.
 *
 *     sock_chan_t jobs;  void *slots[64];
 *     sock_chan_init(&jobs, slots, 64);
 *     // producer task:
 *     CO_AWAIT(t, sock_chan_send_start(&p->op, &jobs, item, &p->task));
 *     // consumer task:
 *     CO_AWAIT(t, sock_chan_recv_start(&c->op, &jobs, &c->item, &c->task));
 *     if (c->op.error == CO_ECLOSED) ...   // closed and drained
 */

/* The part every waitable shares: a lock and two FIFO queues of waiters. */
typedef struct sock_waitlist {
  SRWLOCK    lock;
  sock_op_t *head[2], *tail[2];
} sock_waitlist_t;

/* An event: set wakes every waiter, and waits pass while it stays set. */
typedef struct sock_event {
  sock_waitlist_t w;
  int             is_set;
} sock_event_t;

void sock_event_init(sock_event_t *ev, int is_set);
void sock_event_set(sock_event_t *ev);
void sock_event_reset(sock_event_t *ev);
int  sock_event_wait_start(sock_op_t *op, sock_event_t *ev, sock_task_t *task);

/* A counting semaphore: at most `count` holders at a time. */
typedef struct sock_sem {
  sock_waitlist_t w;
  long            count;  /* permits free now */
} sock_sem_t;

void sock_sem_init(sock_sem_t *sem, long count);
int  sock_sem_acquire_start(sock_op_t *op, sock_sem_t *sem, sock_task_t *task);
/* Takes a permit without waiting, from any code: CO_OK, or CO_EAGAIN when
 * none is free (a server that answers "busy" instead of waiting). */
int  sock_sem_try_acquire(sock_sem_t *sem);
void sock_sem_release(sock_sem_t *sem);

/* A bounded channel of pointers, FIFO. Send waits while it is full, receive
 * while it is empty. After close, sends fail with CO_ECLOSED, receives take
 * what is left and then fail with CO_ECLOSED, and every waiter wakes. A
 * capacity of 0 hands each item straight from a sender to a receiver. */
typedef struct sock_chan {
  sock_waitlist_t w;      /* queue 0: receivers, queue 1: senders */
  void          **items;  /* the caller's ring of `capacity` slots */
  size_t          capacity, first, count;
  int             closed;
} sock_chan_t;

void sock_chan_init(sock_chan_t *ch, void **storage, size_t capacity);
int  sock_chan_send_start(sock_op_t *op, sock_chan_t *ch, void *item, sock_task_t *task);
int  sock_chan_recv_start(sock_op_t *op, sock_chan_t *ch, void **item, sock_task_t *task);
void sock_chan_close(sock_chan_t *ch);

/* Without waiting, from any code (a task or not): CO_OK, CO_EAGAIN when the
 * channel is full (or, for receive, empty), CO_ECLOSED when closed. */
int  sock_chan_try_send(sock_chan_t *ch, void *item);
int  sock_chan_try_recv(sock_chan_t *ch, void **item);

/* A wait group: add N, each finished party calls done, waiters pass when the
 * count is back at zero (join N tasks: done in each one's completion hook). */
typedef struct sock_waitgroup {
  sock_waitlist_t w;
  long            count;
} sock_waitgroup_t;

void sock_waitgroup_init(sock_waitgroup_t *wg);
void sock_waitgroup_add(sock_waitgroup_t *wg, long n);
void sock_waitgroup_done(sock_waitgroup_t *wg);
int  sock_waitgroup_wait_start(sock_op_t *op, sock_waitgroup_t *wg, sock_task_t *task);

/* A repeating timer (libuv's uv_timer_start with a repeat), one more thing
 * tasks wait on (its waits are those of this section). It ticks
 * `first_ms` after sock_timer_start, then every `period_ms` (>= 1), on a
 * thread-pool timer of the runtime. A task awaits the next tick with
 * sock_timer_wait_start: op.bytes says how many ticks passed since the
 * last wait passed (1, or more when the task was busy: ticks are counted,
 * never queued up as separate wake-ups, so a slow task does not fall
 * behind). Every task waiting at a tick wakes. Cancel and deadlines reach
 * the wait as any other. The struct is yours (static, or in a task's
 * struct); its fields are the library's. sock_timer_stop releases the
 * thread-pool timer and wakes the waiters with CO_ECLOSED (later waits get
 * it at once); free the struct only after it and when no task waits on
 * it. A started timer is counted with the sockets in sock_runtime_counters
 * until stopped; stop it before sock_runtime_shutdown.
 * sock_timer_start: CO_OK, CO_EINVAL (period 0 or over 2^31-1 ms, NULL),
 * CO_ESHUTDOWN, CO_ENOMEM. The wait: CO_OK, CO_ECLOSED, CO_ECANCELED,
 * CO_ETIMEDOUT, CO_ESHUTDOWN, CO_EINVAL (not a spawned sock_task_t). */
typedef struct sock_timer {
  sock_waitlist_t w;       /* first: the tasks waiting for a tick */
  sock_runtime_t *rt;
  PTP_TIMER       timer;   /* the thread-pool timer, NULL once stopped */
  unsigned long   ticks;   /* ticks nobody has taken yet */
  int             stopped;
} sock_timer_t;

int  sock_timer_start(sock_timer_t *timer, sock_runtime_t *rt, unsigned first_ms,
                      unsigned period_ms);
int  sock_timer_wait_start(sock_op_t *op, sock_timer_t *timer, sock_task_t *task);
void sock_timer_stop(sock_timer_t *timer);

/* ---- Datagrams (UDP) ---- */
/*
 * A UDP socket is a sock_t of its own kind: the stream operations refuse it
 * (CO_EINVAL) and the datagram ones refuse a TCP socket. Each send is one
 * datagram and each receive takes exactly one; several tasks may each keep
 * a receive pending on one socket (each datagram goes to one of them), and
 * sends may run beside them. Close it with sock_close, like any socket:
 * pending receives end with CO_ECANCELED.
 *
 *     CO_AWAIT(t, sock_udp_recv_from_start(&e->op, e->sock, e->buf, sizeof e->buf,
 *                                          &e->peer, t));
 *     if (e->op.error < 0 && e->op.error != CO_EMSGSIZE) ...  // cancelled ...
 *     CO_AWAIT(t, sock_udp_send_to_start(&e->op, e->sock, e->buf, e->op.bytes,
 *                                        &e->peer, t));
 *
 * Wine and Windows: a datagram longer than the buffer is reported the same
 * way on both (the kept bytes and CO_EMSGSIZE), although Windows and Wine
 * differ in how the kernel announces it; UDP sockets therefore never skip
 * the completion port, and every completion passes through the pool. An
 * ICMP "port unreachable" after a send is never reported under Wine; on
 * Windows only with SOCK_UDP_CONNRESET (as CO_ECONNRESET on a receive).
 */

/* sock_udp_open's flags. */
enum {
  SOCK_UDP_DUALSTACK = 0x1,  /* an IPv6 socket that also sends and receives IPv4
                                (IPV6_V6ONLY off); host NULL or "" binds "::".
                                Without it an IPv6 socket is IPv6 only. */
  SOCK_UDP_REUSEADDR = 0x2,  /* SO_REUSEADDR: other sockets may bind the same
                                port (else SO_EXCLUSIVEADDRUSE: none may) */
  SOCK_UDP_CONNRESET = 0x4   /* report an ICMP "port unreachable" as
                                CO_ECONNRESET on the next receive (Windows;
                                off by default, so that one peer that went
                                away cannot fail a server's receive) */
};

/* Opens a UDP socket bound to host:port: host NULL or "" is every address
 * (IPv4's "0.0.0.0", or "::" with SOCK_UDP_DUALSTACK), a numeric IPv4 or
 * IPv6 address, or a local name (resolved at once, like sock_listen's);
 * port 0 picks a free port (sock_local_addr tells which). `flags`: the
 * SOCK_UDP_ values or 0. Returns CO_OK and *out, which the caller closes
 * with sock_close; or CO_EINVAL (NULL rt or out, an unknown flag),
 * CO_ESHUTDOWN, CO_ENOTFOUND, CO_EADDRINUSE, CO_EADDRNOTAVAIL, CO_ENOBUFS,
 * CO_ENOMEM, with *out NULL. */
int sock_udp_open(sock_runtime_t *rt, const char *host, unsigned short port, unsigned flags,
                  sock_t **out);

/* Sets the default peer: sends with `to` NULL go there, and the socket
 * receives datagrams from it only. `peer` NULL dissolves the association.
 * Synchronous. CO_OK, CO_EINVAL (not a UDP socket, a bad family),
 * CO_EADDRNOTAVAIL, CO_ENETUNREACH ... */
int sock_udp_connect(sock_t *s, const sock_addr_t *peer);

/* Sends one datagram of len bytes (0 is allowed) to `to`, or to the
 * connected peer when `to` is NULL. `to` is read only during the call; buf
 * belongs to the kernel until the task wakes. op.bytes: the bytes sent.
 * op.error: CO_OK; CO_EMSGSIZE at once for more than 65,507 bytes (65,527
 * to an IPv6 address); CO_ENOTCONN (`to` NULL on a socket not connected),
 * CO_EINVAL (bad arguments, an address that is neither IPv4 nor IPv6), an
 * address of a family the socket cannot reach (IPv4 on an IPv6-only
 * socket: CO_ENETUNREACH under Wine, CO_EINVAL on Windows), CO_EACCES (a
 * broadcast without sock_udp_set_broadcast), CO_ENETUNREACH,
 * CO_EHOSTUNREACH, CO_ECANCELED, CO_ETIMEDOUT, CO_ESHUTDOWN. */
int sock_udp_send_to_start(sock_op_t *op, sock_t *s, const char *buf, size_t len,
                           const sock_addr_t *to, co_task_t *task);

/* Receives one datagram into buf (len >= 1) and, unless `from` is NULL,
 * the sender's address into *from, which belongs to the kernel with buf
 * until the task wakes. op.bytes: the datagram's length (0 for an empty
 * one: a UDP receive has no end of stream). A datagram longer than len
 * keeps its first len bytes: op.bytes is len and op.error CO_EMSGSIZE (the
 * rest is lost), with *from filled in. Other errors: CO_ECANCELED (closed,
 * cancelled), CO_ETIMEDOUT (the task's deadline), CO_ECONNRESET (only with
 * SOCK_UDP_CONNRESET, on Windows), CO_EINVAL, CO_ESHUTDOWN. */
int sock_udp_recv_from_start(sock_op_t *op, sock_t *s, char *buf, size_t len,
                             sock_addr_t *from, co_task_t *task);

/* Options of a UDP socket (CO_OK, CO_EINVAL for another kind of socket or
 * a value out of range, or the system's refusal translated):
 * broadcast sends allowed (SO_BROADCAST); the hop limit of unicast
 * datagrams, 1..255 (IP_TTL, or IPV6_UNICAST_HOPS on an IPv6 socket). The
 * buffer sizes are sock_recv_buffer_size / sock_send_buffer_size. */
int sock_udp_set_broadcast(sock_t *s, int on);
int sock_udp_set_ttl(sock_t *s, int ttl);

/* ---- Name resolution ---- */
/*
 * A lookup is an await like any other: a deadline bounds it, and
 * sock_op_cancel, sock_task_cancel and the runtime's stop end it. It runs
 * in the system's resolver (GetAddrInfoExW in its overlapped mode: no
 * thread of ours waits). A cancelled lookup is abandoned, not waited for:
 * the task resumes at once with CO_ECANCELED (CO_ETIMEDOUT after its
 * deadline) and the storage it gave is the caller's again; the request
 * frees itself when the system's lookup ends, and the runtime counts it as
 * a pending operation until then (sock_runtime_shutdown waits for it).
 * Under Wine GetAddrInfoExCancel does nothing, so an abandoned lookup runs
 * to its end; on Windows it is asked to stop. Needs Windows 8 or later.
 */

/* Resolves host (a name, UTF-8, at most 255 bytes; or a numeric address,
 * which finishes at once without a lookup) for `family`: AF_UNSPEC (either),
 * AF_INET or AF_INET6. Up to `capacity` addresses, each with `port`, go to
 * the caller's array addrs, in the resolver's order; op.bytes says how many.
 * addrs belongs to the lookup until the task wakes. op.error: CO_OK;
 * CO_ENOTFOUND (the name does not exist, or has no address of that family:
 * a numeric address of the other family too); CO_EAGAIN (temporary failure
 * of the name servers); CO_EINVAL (bad arguments, a name too long or not
 * UTF-8); CO_ENOMEM; CO_ECANCELED; CO_ETIMEDOUT; CO_ESHUTDOWN. The raw
 * code (WSAHOST_NOT_FOUND ...) is in op.win32_error. */
int sock_resolve_start(sock_op_t *op, sock_runtime_t *rt, const char *host, unsigned short port,
                       int family, sock_addr_t *addrs, size_t capacity, co_task_t *task);
/* ---- Named pipes ---------------------------------------------------------------- */
/*
 * A named pipe is a stream between two processes of one machine. An end of
 * one is a sock_t like a TCP connection, and the stream operations work on
 * it unchanged: sock_recv_start, sock_recv_exactly_start,
 * sock_wait_readable_start, sock_send_start, sock_send_all_start,
 * sock_sendv_start, sock_read_line_start; so do sock_close, sock_cancel,
 * sock_op_cancel, task cancellation and deadlines. A handler written for TCP
 * (echo, read a line) serves a pipe as it is. The differences:
 *   - The peer leaving is CO_EOF on a receive (op.win32_error keeps
 *     ERROR_BROKEN_PIPE when it closed its end, ERROR_PIPE_NOT_CONNECTED when
 *     a server disconnected the instance) and CO_ECONNRESET on a send
 *     (ERROR_NO_DATA, ERROR_BROKEN_PIPE or ERROR_PIPE_NOT_CONNECTED).
 *   - A receive on a server instance no client has opened yet fails with
 *     CO_ENOTCONN (ERROR_PIPE_LISTENING).
 *   - There is no half-close: sock_shutdown_send (like sock_local_addr and
 *     the socket options) gives CO_EINVAL on a pipe; close the end instead.
 *   - Message mode (SOCK_PIPE_MESSAGE): each send is one message. A receive
 *     whose buffer is shorter than the message gets its first part, with
 *     op.error CO_OK and sock_pipe_message_more() true; the next receives
 *     get the rest. Receive-exactly and read-a-line go across message
 *     boundaries as across TCP segments. A message of 0 bytes (which cosock
 *     never sends: a send of 0 bytes sends nothing) reads as CO_EOF.
 *   - A pipe's gather send writes one buffer per call (a pipe has no
 *     scatter-gather), so in message mode each buffer is its own message.
 *   - sock_wait_readable_start is a 0-byte read: in byte mode it waits for
 *     data as on TCP; in message mode it ends when a message is there.
 *
 * Security. Every server instance rejects remote clients
 * (PIPE_REJECT_REMOTE_CLIENTS), so a pipe is never reachable from the
 * network. The first instance of a name is created with
 * FILE_FLAG_FIRST_PIPE_INSTANCE, so that a name another process already
 * serves is an error (CO_EADDRINUSE) and never a silent second server that
 * would share its clients: squatting on a name fails. Under Wine 8, which
 * accepts FILE_FLAG_FIRST_PIPE_INSTANCE without enforcing it, the library
 * first asks whether the name is served (WaitNamedPipeW) and gives the same
 * error. The default security descriptor grants access to the creating
 * user and to SYSTEM only ("D:P(A;;GA;;;SY)(A;;GA;;;<user>)"), where
 * Windows' default would let every user read; pass your own in
 * sock_pipe_config_t to widen or narrow it. Clients open with
 * SECURITY_IDENTIFICATION, so a server can learn who they are but cannot
 * act as them.
 *
 * Serving N clients at once takes N instances of the name: make the first
 * with sock_pipe_create and more with sock_pipe_create_instance; await a
 * client on each with sock_pipe_wait_client_start. The usual loop keeps one
 * instance waiting at all times, so the name never disappears while the
 * server runs:
 *
 *     for (;;) {
 *         CO_AWAIT(t, sock_pipe_wait_client_start(&a->op, a->pipe, t));
 *         if (a->op.error < 0) break;
 *         if (sock_pipe_create_instance(a->pipe, &next) != CO_OK) break;
 *         spawn_handler(a->pipe);    // the handler owns it, closes it when done
 *         a->pipe = next;            // the next client comes here
 *     }
 *     sock_close(a->pipe);
 *
 * Names: "name" means "\\.\pipe\name"; a name that begins with "\\.\pipe\"
 * is taken as it is. UTF-8, at most 256 characters in all, no backslash
 * after the prefix (CO_EINVAL otherwise).
 */

/* Flags of a pipe (server and client). */
enum {
  SOCK_PIPE_MESSAGE = 1  /* message mode: each send is one message; else a byte stream */
};

typedef struct sock_pipe_config {
  unsigned flags;               /* SOCK_PIPE_MESSAGE, or 0 for a byte stream */
  unsigned max_instances;       /* instances of the name at most, 1 to 254;
                                   0 = no limit (PIPE_UNLIMITED_INSTANCES) */
  unsigned buffer_size;         /* the kernel's buffer each way, 0 = 64 KiB */
  void    *security_descriptor; /* a SECURITY_DESCRIPTOR (absolute or
                                   self-relative) for every instance instead of
                                   the default; copied, yours to free after */
} sock_pipe_config_t;

/* Creates the first server instance of the pipe `name` (config NULL: a byte
 * stream, no instance limit, 64 KiB buffers, the default security). The
 * instance is yours to sock_close; it waits for a client once
 * sock_pipe_wait_client_start is called (a client may open it before: the
 * wait then finishes at once). Returns CO_OK and *out, or: CO_EINVAL (bad
 * name or config, NULL rt or out), CO_EADDRINUSE (the name is served
 * already, by this process or another), CO_EACCES (the system refused the
 * security descriptor or the name), CO_ENOMEM, CO_ESHUTDOWN, or a
 * translated system error (CO_ENOBUFS ...). *out is NULL on failure. */
int sock_pipe_create(sock_runtime_t *rt, const char *name, const sock_pipe_config_t *config,
                     sock_t **out);

/* Creates one more server instance of the name `pipe` serves (same mode,
 * buffers and security), yours to sock_close. `pipe` is any open server
 * instance of that name, connected or not. Returns CO_OK and *out, or
 * CO_EINVAL (NULL, or `pipe` is not a server instance), CO_ENOBUFS (the
 * name has max_instances instances already: ERROR_PIPE_BUSY), CO_ENOMEM,
 * CO_ESHUTDOWN, or a translated system error. */
int sock_pipe_create_instance(sock_t *pipe, sock_t **out);

/* Awaits a client on a server instance (ConnectNamedPipe). op.error CO_OK:
 * a client has opened this instance (also when it came before the call:
 * ERROR_PIPE_CONNECTED is a success, finished at once), and the stream
 * operations work on it. A client that opened and closed again before the
 * call is let go (the instance is disconnected) and the wait goes on.
 * Errors: CO_EINVAL (NULL, not a server instance), CO_ECANCELED (closed,
 * cancelled; ERROR_HANDLES_CLOSED under Wine), CO_ETIMEDOUT (the task's
 * deadline), CO_ESHUTDOWN, CO_ECONNRESET (a client that left at once, twice). */
int sock_pipe_wait_client_start(sock_op_t *op, sock_t *pipe, co_task_t *task);

/* Ends a server instance's connection (DisconnectNamedPipe): what the
 * client has not read is lost, its pending operations end (a receive with
 * CO_EOF, ERROR_PIPE_NOT_CONNECTED), and the instance may await its next
 * client with sock_pipe_wait_client_start. Call it with no operation of
 * yours pending on the instance. Synchronous. CO_EINVAL for NULL or not a
 * server instance. */
int sock_pipe_disconnect(sock_t *pipe);

/* Opens the client end of the pipe `name` (flags: SOCK_PIPE_MESSAGE to read
 * messages from a message-mode pipe; 0 for a byte stream). While every
 * instance is busy (ERROR_PIPE_BUSY) it waits for a free one, on a pool
 * thread, for as long as the task's deadline allows (without one: until it
 * is cancelled). *out is set to NULL at the start (out NULL: CO_EINVAL) and
 * receives the connected end only on success: yours to sock_close. Always
 * pending unless refused. op.error: CO_OK; CO_ENOENT (no server of that
 * name: ERROR_FILE_NOT_FOUND); CO_ETIMEDOUT (the deadline passed while it
 * waited); CO_ECANCELED; CO_EACCES (the pipe's security refused us);
 * CO_ESHUTDOWN; CO_EINVAL (bad name or flags); CO_ENOMEM. */
int sock_pipe_open_start(sock_op_t *op, sock_runtime_t *rt, const char *name, unsigned flags,
                         sock_t **out, co_task_t *task);

/* After a receive on a message-mode pipe: 1 if it ended inside a message
 * (ERROR_MORE_DATA: the buffer was full; the next receive gets more of the
 * same message), 0 if it ended where a message does. */
int sock_pipe_message_more(const sock_op_t *op);

/* ---- Files --------------------------------------------------------------------- */
/*
 * Files opened for overlapped IO, on the same awaits as sockets: each read
 * and write names its own 64-bit offset (there is no file position), and
 * any number may be in flight on one file, from one or many tasks, each
 * with its own sock_op_t. A file is a sock_t: sock_close closes it
 * (operations still pending end with CO_ECANCELED), sock_cancel and
 * sock_op_cancel, task cancellation and deadlines reach its operations; the
 * stream operations do not apply (CO_EINVAL).
 *
 * Windows often finishes a cached read or write at once; then the task
 * carries on inline, with no trip through the pool (the file skips the
 * completion port on success). Under Wine 8 every file call completes
 * through the pool. Both paths give the same results; tests force the
 * first with SOCK_FAULT_SYNC (sock/sock_fault.h). A file operation on a
 * regular file usually finishes before a cancel can reach it: cancelling
 * one is allowed and safe, and it then reports its real result.
 */

/* Flags of sock_file_open. */
enum {
  SOCK_FILE_READ        = 0x01,  /* reads (GENERIC_READ) */
  SOCK_FILE_WRITE       = 0x02,  /* writes (GENERIC_WRITE) */
  SOCK_FILE_CREATE      = 0x04,  /* create it if missing (else it must exist) */
  SOCK_FILE_TRUNCATE    = 0x08,  /* cut it to 0 bytes on open (needs WRITE) */
  SOCK_FILE_EXCLUSIVE   = 0x10,  /* create it, failing with CO_EEXIST if it exists */
  SOCK_FILE_SHARE_READ  = 0x100, /* others may open it for reading meanwhile */
  SOCK_FILE_SHARE_WRITE = 0x200, /* ... for writing */
  SOCK_FILE_SHARE_DELETE= 0x400  /* ... delete or rename it */
};

/* Opens `path` (UTF-8) with FILE_FLAG_OVERLAPPED; the handle is not
 * inherited by child processes. `flags`: at least one of READ and WRITE,
 * plus any of the others. Returns CO_OK and *out (yours to sock_close), or:
 * CO_EINVAL (NULL, no READ/WRITE, an unknown flag, TRUNCATE without WRITE,
 * a bad path), CO_ENOENT (no such file or folder), CO_EEXIST (EXCLUSIVE and
 * it exists), CO_EACCES (denied, read-only, or open elsewhere without the
 * sharing asked for: ERROR_SHARING_VIOLATION), CO_ENOSPC, CO_ENOMEM,
 * CO_ESHUTDOWN. *out is NULL on failure. */
int sock_file_open(sock_runtime_t *rt, const char *path, unsigned flags, sock_t **out);

/* Reads up to len bytes (1 to 4 GiB - 1) at `offset`. op.error CO_OK:
 * op.bytes == len. CO_EOF: the end of the file came first, and op.bytes
 * says how many bytes were read before it (0 at or past the end); Windows
 * may say so at once (ERROR_HANDLE_EOF, no completion), Wine through the
 * completion: the result is the same. Other errors: CO_EINVAL (NULL, len 0
 * or too big, offset beyond 2^63 - 1, not a file), CO_EACCES (not opened
 * for reading: ERROR_ACCESS_DENIED), CO_ECANCELED, CO_ETIMEDOUT,
 * CO_ESHUTDOWN, or a translated system error. */
int sock_file_read_start(sock_op_t *op, sock_t *file, unsigned long long offset, char *buf,
                         size_t len, co_task_t *task);

/* Writes len bytes (up to 4 GiB - 1; 0 finishes at once) at `offset`,
 * growing the file as needed. op.bytes: how many were written, all len of
 * them on success. Errors: CO_EINVAL (as for reads), CO_EACCES (not opened
 * for writing), CO_ENOSPC (the disk is full), CO_ECANCELED, CO_ETIMEDOUT,
 * CO_ESHUTDOWN, or a translated system error. */
int sock_file_write_start(sock_op_t *op, sock_t *file, unsigned long long offset,
                          const char *buf, size_t len, co_task_t *task);

/* The file's size in bytes (GetFileSizeEx): CO_OK and *size, or CO_EINVAL. */
int sock_file_size(sock_t *file, unsigned long long *size);

/* Writes the system's buffers of the file to the disk (FlushFileBuffers).
 * Synchronous: it blocks the calling thread until the disk has the data.
 * CO_OK, CO_EINVAL (not a file), CO_EACCES (not opened for writing), or a
 * translated system error. */
int sock_file_flush(sock_t *file);
/* ---- TLS (Schannel) ------------------------------------------------------------ */
/*
 * A TLS session runs over a connected stream (a TCP connection from
 * sock_connect_start or an accept) and is itself a stream: a sock_t that
 * sock_recv_start, sock_recv_exactly_start, sock_wait_readable_start,
 * sock_send_start, sock_send_all_start, sock_sendv_start and the line
 * reader take unchanged, encrypting and decrypting underneath with the
 * Schannel that Windows ships (no other dependency). The handshake is an
 * await like any other:
 *
 *     sock_tls_config_t cfg = {0};
 *     cfg.host = "example.com";                    // SNI and the name checked
 *     CO_AWAIT(t, sock_connect_start(&c->op, rt, "example.com", 443, &c->tcp, t));
 *     if (c->op.error < 0) ...
 *     CO_AWAIT(t, sock_tls_client_start(&c->op, c->tcp, &cfg, &c->tls, t));
 *     if (c->op.error < 0) ...                     // c->tcp is closed already
 *     CO_AWAIT(t, sock_send_all_start(&c->op, c->tls, req, req_len, t));
 *     CO_AWAIT(t, sock_recv_start(&c->op, c->tls, c->buf, sizeof c->buf, t));
 *     ...
 *     CO_AWAIT(t, sock_tls_shutdown_start(&c->op, c->tls, t));  // close_notify
 *     sock_close(c->tls);                          // and the connection with it
 *
 * Ownership: sock_tls_client_start takes the connection in every case. On
 * success *out is the session, which owns the connection: one sock_close of
 * the session closes both. On failure the connection is closed already and
 * *out stays NULL. sock_cancel on the session cancels its operations and
 * those of the connection. In sock_runtime_counters a session counts as a
 * socket of its own besides its connection (two while it lives). The
 * connection's own functions (sock_local_addr, sock_set_nodelay,
 * sock_shutdown_send and the other socket options) do not take a session (it
 * has no socket of its own: CO_EINVAL); its graceful end is sock_tls_shutdown_start. Memory: a
 * session holds a 64 KiB receive buffer (even while it waits: a zero-byte
 * wait saves nothing on TLS) and, from its first send, a send buffer of
 * four records (about 66 KiB).
 *
 * Underneath: records are cut at the size Schannel negotiated (16 KiB of
 * plaintext), one receive may hold several records and one decryption may
 * yield more than one (both kept for the next reads), incomplete records
 * read more, and a post-handshake message (SEC_I_RENEGOTIATE: a TLS 1.3
 * ticket, a TLS 1.2 renegotiation) is answered before reading goes on.
 * Reads and writes may run at the same time in two tasks (a reader and a
 * writer), as on a TCP connection; Schannel's calls on one session are
 * serialised inside.
 *
 * Errors, besides those of the stream underneath (co/co_error.h; the raw
 * SEC_E_/CERT_E_ code stays in op.win32_error):
 *   CO_ECERTUNTRUSTED  the chain does not end at a trusted root (the system
 *                      store's, or the CA file's when one is given), a
 *                      self-signed certificate, a revoked or unusable one,
 *                      or a pinned fingerprint that does not match
 *                      (CERT_E_UNTRUSTEDROOT, CERT_E_CHAINING, SEC_E_UNTRUSTED_ROOT ...)
 *   CO_ECERTNAME       the certificate does not name config.host
 *                      (CERT_E_CN_NO_MATCH, SEC_E_WRONG_PRINCIPAL)
 *   CO_ECERTEXPIRED    the certificate has expired or is not valid yet
 *                      (CERT_E_EXPIRED, SEC_E_CERT_EXPIRED)
 *   CO_ETLS            the handshake failed (the peer speaks no TLS, no
 *                      common version or cipher, an alert) or a record could
 *                      not be decrypted (any other SEC_E_ code)
 *   CO_EOF             the peer sent close_notify (SEC_I_CONTEXT_EXPIRED
 *                      on Windows; under Wine, SEC_E_OK with no data for an
 *                      alert record: both are handled)
 *   CO_ECONNABORTED    the connection ended without close_notify (a
 *                      truncation: op.win32_error is ERROR_HANDLE_EOF)
 *   CO_ETIMEDOUT, CO_ECANCELED  a deadline or a cancel, as everywhere
 *
 * Versions: TLS 1.2 and TLS 1.3 where the system offers them (SCH_CREDENTIALS,
 * falling back to SCHANNEL_CRED on systems older than Windows 10 1809);
 * nothing older unless config.min_version asks. Tested: TLS 1.2 only,
 * under Wine 8 (whose Schannel has no TLS 1.3) against OpenSSL 3's
 * s_server; TLS 1.3 and renegotiation are written to Schannel's documented
 * protocol and not tested here. Wine 8 has no server side
 * (AcceptSecurityContext is unsupported): there is no server session yet;
 * one would come as sock_tls_server_start with the same config struct
 * (certificate fields added), leaving the client's calls unchanged.
 */

enum {
  SOCK_TLS_1_0 = 10,  /* config.min_version: allow TLS 1.0 and later */
  SOCK_TLS_1_1 = 11,  /* allow TLS 1.1 and later */
  SOCK_TLS_1_2 = 12   /* the default (0 means this) */
};

/* What a session checks and offers. Read during sock_tls_client_start
 * only: the strings may be freed once it returns. */
typedef struct sock_tls_config {
  const char *host;         /* the server's name (UTF-8): sent as SNI and required
                               in its certificate. NULL (or "", the same) only
                               with a pin or insecure_skip_verify: else CO_EINVAL */
  const char *ca_file;      /* a PEM file of CA certificates to trust instead of
                               the system's store (read at the start), or NULL */
  const char *pin_sha256;   /* accept exactly the certificate whose SHA-256 is
                               this (64 hex digits, ':' allowed between
                               bytes), instead of any chain and name check */
  int  insecure_skip_verify;/* 1: accept any certificate (no chain, name or
                               date check). For tests against throwaway
                               certificates only */
  const char *alpn;         /* protocols to offer, comma-separated ("h2,http/1.1"),
                               or NULL; sock_tls_get_info says what was chosen */
  unsigned min_version;     /* 0 = SOCK_TLS_1_2; SOCK_TLS_1_0/_1_1 allow older */
} sock_tls_config_t;

/* Runs a TLS client handshake over the connected stream `conn` and, once
 * the peer's certificate passes the config's check, gives the session in
 * *out (set to NULL at the start). Takes `conn` in every case (see
 * Ownership above). op.error: CO_OK, CO_ECERTUNTRUSTED, CO_ECERTNAME,
 * CO_ECERTEXPIRED, CO_ETLS, CO_ECONNRESET (the peer hung up), CO_ETIMEDOUT
 * (deadline), CO_ECANCELED; CO_EINVAL for a NULL argument, a conn that is
 * not a connection, a malformed pin, an unreadable or certificate-less CA
 * file (op.win32_error: the Win32 code), or no host without a pin or
 * insecure_skip_verify; CO_ENOMEM. Refused starts (CO_EINVAL ...) close
 * conn too. */
int sock_tls_client_start(sock_op_t *op, sock_t *conn, const sock_tls_config_t *config,
                          sock_t **out, co_task_t *task);

/* Sends close_notify (the end of this side's stream, TLS's graceful close);
 * receiving may go on until the peer's close_notify (CO_EOF). Sends after it
 * fail with CO_ENOTCONN. Then sock_close the session as usual. */
int sock_tls_shutdown_start(sock_op_t *op, sock_t *tls, co_task_t *task);

/* What a session negotiated. */
typedef struct sock_tls_info {
  const char *version;      /* "TLS 1.2", "TLS 1.3", ... (static) */
  unsigned    cipher_bits;  /* the cipher's strength */
  char        alpn[64];     /* the protocol ALPN chose, "" if none */
} sock_tls_info_t;

/* CO_OK and *out for an established session; CO_EINVAL otherwise. */
int sock_tls_get_info(sock_t *tls, sock_tls_info_t *out);

/* ---- Errors ------------------------------------------------------------------- */

/* The one translation from a WSA.../ERROR_... code to the error space. */
int sock_error_from_win32(unsigned long code);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* SOCK_SOCK_H */

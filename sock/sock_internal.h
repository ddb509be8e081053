/*
 * sock/sock_internal.h - what the files of sock/ share and users never see.
 * One section per file, in the order of the layers, bottom first:
 *
 *   syscall.c   the seam: every Win32/CRT call sock/ makes goes through one table
 *   runtime.c   create, shutdown, counters, every sock_runtime_* function
 *   task.c      counted tasks, their cancellation, deadline and sleep
 *   handle.c    a HANDLE + its PTP_IO + references + the cancel flag, any kind
 *   hub.c       the await protocol of every overlapped call, the one IO callback,
 *               wakes on a pool thread, cancelling one await
 *   tcp.c       the TCP connection kind: sockets, listening, options
 *   stream.c    receive, send and their "until done" forms, lines
 *   accept.c    the listener kind: AcceptEx slots, waiting tasks
 *   connect.c   resolve, then ConnectEx per address
 *   pipe.c      the named pipe kind: server instances, clients, security
 *   file.c      the file kind: reads and writes at offsets
 *   udp.c       the UDP kind: datagrams to and from addresses, its options
 *   resolve.c   name resolution as an await (GetAddrInfoExW, overlapped)
 *   socket.c    what any socket answers: peer address, buffer sizes, adoption,
 *               the never-waiting attempts
 *   timer.c     a repeating timer tasks await (a wait list of sync.c)
 *   sync.c      wait lists; events, semaphores, channels, wait groups
 *   error.c     the one translation of Win32 codes
 *   tls.c       the TLS session kind: Schannel over a stream (tls_verify.c: its
 *               certificate checks)
 */
#ifndef SOCK_SOCK_INTERNAL_H
#define SOCK_SOCK_INTERNAL_H

#include "sock.h"
#include "sock_fault.h"

#include <mswsock.h>

/* GetAddrInfoExW's completion routine. mingw-w64 declares the parameter as
 * a reserved PVOID and lacks GetAddrInfoExCancel; Wine's headers have both:
 * the seam (below) uses its own type, cast once in syscall.c. */
typedef void (CALLBACK *sock__lookup_routine)(DWORD error, DWORD bytes, LPWSAOVERLAPPED ov);
#if !defined(__WINE_WINBASE_H)
int WINAPI GetAddrInfoExCancel(LPHANDLE handle);
#endif
/* Schannel (tls.c, tls_verify.c; the seam's entries need the types). The
 * Windows SDK and mingw-w64 declare SCH_CREDENTIALS only with
 * SCHANNEL_USE_BLACKLISTS, and want UNICODE_STRING from <subauth.h>;
 * Wine's sspi.h has it already. */
#ifndef SECURITY_WIN32
#  define SECURITY_WIN32
#endif
#ifndef SCHANNEL_USE_BLACKLISTS
#  define SCHANNEL_USE_BLACKLISTS
#endif
#include <wincrypt.h>
#ifndef __WINE_WINBASE_H
#  include <subauth.h>
#endif
#include <security.h>
#include <schannel.h>

#ifndef FILE_SKIP_COMPLETION_PORT_ON_SUCCESS  /* missing from Wine's winbase.h */
#  define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1
#  define FILE_SKIP_SET_EVENT_ON_HANDLE        0x2
#endif

/* Wine's SDK headers (the clang-cl build here) lack the Windows SDK's inline
 * helpers for callback environments; these do what the SDK's do for a V1
 * environment, which is the one Wine's TP_CALLBACK_ENVIRON is. */
#ifdef __WINE_WINBASE_H
#  include <string.h>
static __inline void InitializeThreadpoolEnvironment(PTP_CALLBACK_ENVIRON env)
{
  memset(env, 0, sizeof *env);
  env->Version = 1;
}
static __inline void DestroyThreadpoolEnvironment(PTP_CALLBACK_ENVIRON env)
{
  (void)env;  /* nothing to release, as in the SDK */
}
static __inline void SetThreadpoolCallbackPool(PTP_CALLBACK_ENVIRON env, PTP_POOL pool)
{
  env->Pool = pool;
}
static __inline void SetThreadpoolCallbackCleanupGroup(PTP_CALLBACK_ENVIRON env,
                                                       PTP_CLEANUP_GROUP group,
                                                       PTP_CLEANUP_GROUP_CANCEL_CALLBACK cancel)
{
  env->CleanupGroup = group;
  env->CleanupGroupCancelCallback = cancel;
}
#endif

/* ---- syscall.c: the seam ----------------------------------------------------------- */

/* Every system and C library call of sock/ that can fail goes through this
 * table (SQLite's aSyscall[] is the model). It holds the real functions;
 * sock_fault.h swaps in failing wrappers for tests. A call costs one
 * indirect call more than a direct one. */
typedef struct sock__syscalls {
  SOCKET (WINAPI *WSASocketW)(int, int, int, LPWSAPROTOCOL_INFOW, GROUP, DWORD);
  BOOL (WINAPI *AcceptEx)(SOCKET, SOCKET, PVOID, DWORD, DWORD, DWORD, LPDWORD, LPOVERLAPPED);
  BOOL (WINAPI *ConnectEx)(SOCKET, const struct sockaddr *, int, PVOID, DWORD, LPDWORD,
                           LPOVERLAPPED);
  int (WINAPI *WSARecv)(SOCKET, LPWSABUF, DWORD, LPDWORD, LPDWORD, LPWSAOVERLAPPED,
                        LPWSAOVERLAPPED_COMPLETION_ROUTINE);
  int (WINAPI *WSASend)(SOCKET, LPWSABUF, DWORD, LPDWORD, DWORD, LPWSAOVERLAPPED,
                        LPWSAOVERLAPPED_COMPLETION_ROUTINE);
  PTP_IO (WINAPI *CreateThreadpoolIo)(HANDLE, PTP_WIN32_IO_CALLBACK, PVOID, PTP_CALLBACK_ENVIRON);
  PTP_TIMER (WINAPI *CreateThreadpoolTimer)(PTP_TIMER_CALLBACK, PVOID, PTP_CALLBACK_ENVIRON);
  PTP_WORK (WINAPI *CreateThreadpoolWork)(PTP_WORK_CALLBACK, PVOID, PTP_CALLBACK_ENVIRON);
  BOOL (WINAPI *TrySubmitThreadpoolCallback)(PTP_SIMPLE_CALLBACK, PVOID, PTP_CALLBACK_ENVIRON);
  int (WINAPI *getaddrinfo)(const char *, const char *, const struct addrinfo *,
                            struct addrinfo **);
  void *(*calloc)(size_t, size_t);
  int (WINAPI *bind)(SOCKET, const struct sockaddr *, int);
  int (WINAPI *listen)(SOCKET, int);
  /* Not a call: what a completion reports. The identity, or a wrapper that
   * turns a completion into a failure. */
  unsigned long (*completion)(unsigned long error);
  /* named pipes and files (pipe.c, file.c, stream.c for a pipe's transfers) */
  HANDLE (WINAPI *CreateNamedPipeW)(LPCWSTR, DWORD, DWORD, DWORD, DWORD, DWORD, DWORD,
                                    LPSECURITY_ATTRIBUTES);
  BOOL (WINAPI *ConnectNamedPipe)(HANDLE, LPOVERLAPPED);
  HANDLE (WINAPI *CreateFileW)(LPCWSTR, DWORD, DWORD, LPSECURITY_ATTRIBUTES, DWORD, DWORD,
                               HANDLE);
  BOOL (WINAPI *ReadFile)(HANDLE, LPVOID, DWORD, LPDWORD, LPOVERLAPPED);
  BOOL (WINAPI *WriteFile)(HANDLE, LPCVOID, DWORD, LPDWORD, LPOVERLAPPED);
  /* udp.c: datagrams; also the never-waiting attempts (no OVERLAPPED) */
  int (WINAPI *WSASendTo)(SOCKET, LPWSABUF, DWORD, LPDWORD, DWORD, const struct sockaddr *, int,
                          LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE);
  int (WINAPI *WSARecvFrom)(SOCKET, LPWSABUF, DWORD, LPDWORD, LPDWORD, struct sockaddr *, LPINT,
                            LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE);
  /* resolve.c: the overlapped form (the routine runs on a pool thread) */
  int (WINAPI *GetAddrInfoExW)(PCWSTR, PCWSTR, DWORD, LPGUID, const ADDRINFOEXW *,
                               PADDRINFOEXW *, struct timeval *, LPOVERLAPPED,
                               sock__lookup_routine, LPHANDLE);
  /* TLS (tls.c, tls_verify.c) */
  /* (the logon id is void * in the Windows SDK, PLUID in Wine's: a wrapper in syscall.c) */
  SECURITY_STATUS (SEC_ENTRY *AcquireCredentialsHandleW)(SEC_WCHAR *, SEC_WCHAR *, ULONG, void *,
                                                         void *, SEC_GET_KEY_FN, void *,
                                                         PCredHandle, PTimeStamp);
  INITIALIZE_SECURITY_CONTEXT_FN_W InitializeSecurityContextW;
  ENCRYPT_MESSAGE_FN EncryptMessage;
  DECRYPT_MESSAGE_FN DecryptMessage;
  BOOL (WINAPI *CertGetCertificateChain)(HCERTCHAINENGINE, PCCERT_CONTEXT, LPFILETIME,
                                         HCERTSTORE, PCERT_CHAIN_PARA, DWORD, LPVOID,
                                         PCCERT_CHAIN_CONTEXT *);
} sock__syscalls_t;

extern sock__syscalls_t sock__sys;
/* sock_fault_delay_lookups: how long a lookup's routine waits (tests). */
extern volatile LONG sock__lookup_delay_ms;
/* Fills the table with the real functions, once (sock_runtime_create and the
 * sock_fault_ functions call it before anything else). */
void sock__syscalls_init(void);

/* AcceptEx and ConnectEx are loaded per provider at run time; every TCP
 * provider of a machine gives the same ones. runtime.c stores them here. */
extern LPFN_ACCEPTEX  sock__accept_ex;
extern LPFN_CONNECTEX sock__connect_ex;

/* ---- runtime.c ----------------------------------------------------------------------- */

/* A task's lock (a canceller, its timer and its completion meet there) is
 * one of the runtime's, shared out by address: a lock per task would cost
 * 8 bytes in every task. */
#define SOCK__TASK_LOCKS 256

struct sock_runtime {
  TP_CALLBACK_ENVIRON env;       /* work items and timers: in the cleanup group */
  TP_CALLBACK_ENVIRON io_env;    /* IO objects: same pool, not in the group (handle.c) */
  PTP_POOL            pool;      /* a private pool, or NULL: the default one */
  PTP_CLEANUP_GROUP   cleanup;   /* every work item and timer, for shutdown */
  SRWLOCK             lock;      /* guards the two lists; taken before a task's */
  sock_t             *handles;   /* live handles, so shutdown can cancel them */
  sock_task_t        *tasks;     /* live tasks, to cancel and to list */
  volatile LONG       n_handles; /* the counters of sock_runtime_counters */
  volatile LONG       n_tasks;
  volatile LONG       n_pending;
  volatile LONG       shutting_down;
  int                 cancel_new;   /* sock_runtime_cancel_all ran: new tasks and handles start cancelled */
  unsigned            accepts_posted;
  unsigned char       skip_ok[2];  /* IFS provider: skip the port on success (v4, v6) */
  LPFN_GETACCEPTEXSOCKADDRS get_addrs;
  /* hub.c: wakes waiting for a pool thread, oldest first */
  SRWLOCK             wake_lock;
  sock_op_t          *wake_head, *wake_tail;
  PTP_WORK            wake_work;   /* one submission per queued wake */
  SRWLOCK             task_locks[SOCK__TASK_LOCKS];  /* order: lock, then a task's */
#if CO_DEBUG
  volatile DWORD      lock_owner;  /* thread holding `lock`, for SOCK__ASSERT_LOCKED */
  volatile DWORD      task_lock_owner[SOCK__TASK_LOCKS];  /* the same for task_locks */
#endif
};

/* rt->lock, with its holder recorded in debug builds, so that every
 * "under rt->lock" a comment states is checked where it matters. */
void sock__rt_lock(sock_runtime_t *rt);
void sock__rt_unlock(sock_runtime_t *rt);
#if CO_DEBUG
void sock__assert_failed(const char *what, const char *file, int line);
#  define SOCK__ASSERT(cond, what) \
     ((cond) ? (void)0 : sock__assert_failed((what), __FILE__, __LINE__))
#  define SOCK__ASSERT_LOCKED(rt) \
     SOCK__ASSERT((rt)->lock_owner == GetCurrentThreadId(), "rt->lock is held here")
#else
#  define SOCK__ASSERT(cond, what) ((void)0)
#  define SOCK__ASSERT_LOCKED(rt) ((void)0)
#endif

void sock__pending_add(sock_runtime_t *rt);
void sock__pending_done(sock_runtime_t *rt);
/* n_pending or n_tasks dropped to 0: wake whoever waits for it. Touches no
 * memory of rt (a callback's last act; shutdown may free rt right after). */
void sock__idle_signal(void);
int  sock__wait_zero(volatile LONG *counter, DWORD ms);
int  sock__shutting_down(const sock_runtime_t *rt);
ULONGLONG sock__now_ms(void);

/* ---- task.c: the task side of every await ------------------------------------------ */

/* The sock_task_t at the top of task's CO_CALL chain, or NULL for a plain
 * co task (which can do socket operations, but cannot be cancelled as a task). */
sock_task_t *sock__owner(co_task_t *task);
/* Under st's lock: why st may not await any more (CO_ECANCELED, CO_ETIMEDOUT)
 * or CO_OK. */
int  sock__task_reason(const sock_task_t *st);
/* Registers op as the await of op's task (if a sock_task_t), so that a
 * canceller or the deadline finds it. Returns the task's reason not to wait
 * (then nothing is registered) or CO_OK. */
int  sock__await_register(sock_op_t *op);
/* The await of op has ended: forget it. Returns the task's reason (a
 * completion reports it instead of ERROR_OPERATION_ABORTED) or CO_OK. */
int  sock__await_clear(sock_op_t *op);
/* Why op's await is being cancelled, as its task says: CO_ETIMEDOUT after
 * its deadline, else CO_ECANCELED. */
int  sock__await_reason(sock_op_t *op);
/* sock_op_cancel for a record whose task is st: a sleep ends here, the
 * rest through the hub. 1 if an await was there. */
int  sock__task_cancel_op(sock_task_t *st, sock_op_t *op);
/* Under rt->lock: sock_task_cancel for every task. */
void sock__cancel_tasks(sock_runtime_t *rt);

/* ---- handle.c: the object every kind shares ------------------------------------------ */

/* sock.state: the reference count, the flags and the kind share one word, so
 * that they cost no bytes of their own (the object is 40 bytes in all). */
enum {
  SOCK__REFS       = 0x00ffffff,  /* 1 for the owner + 1 per unfinished operation */
  SOCK__CLOSED     = 0x01000000,  /* sock_close was called */
  SOCK__CANCELLED  = 0x02000000,  /* sock_cancel: every operation ends CO_ECANCELED */
  SOCK__SKIP_PORT  = 0x04000000,  /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on */
  SOCK__INET6      = 0x08000000,  /* a socket of AF_INET6, else AF_INET */
  SOCK__KIND_SHIFT = 28,          /* bits 28-30: the kind (sock__kinds in handle.c) */
  SOCK__KIND_MASK  = 0x70000000
};

/* The kinds of handle; each has a file of its own and a row in handle.c. */
enum sock__kind_id {
  SOCK__KIND_TCP = 1,       /* a TCP connection (tcp.c) */
  SOCK__KIND_LISTENER = 2,  /* a listening TCP socket (accept.c) */
  SOCK__KIND_UDP = 3,       /* a UDP socket (udp.c) */
  SOCK__KIND_PIPE = 4,      /* an end of a named pipe, server or client (pipe.c) */
  SOCK__KIND_FILE = 5,      /* a file opened for overlapped IO (file.c) */
  SOCK__KIND_TLS = 6        /* a TLS session over a stream (tls.c): no handle of its own */
};

/* What one kind of handle does differently. */
typedef struct sock__kind {
  const char *name;
  size_t      size;                      /* its struct, which begins with a sock_t */
  void (*close_handle)(HANDLE h);        /* closesocket, CloseHandle ... */
  /* A completion of an overlapped call on the handle (from the hub, on a
   * pool thread). On a failure (error != 0) op.error and op.win32_error
   * are recorded already. The hub drops the call's reference after it. */
  void (*on_io)(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes);
  void (*on_cancel)(sock_t *s);          /* under rt->lock, after the flag; or NULL */
  void (*on_free)(sock_t *s);            /* releases what the kind holds; or NULL */
} sock__kind_t;

extern const sock__kind_t sock__tcp_kind;       /* tcp.c */
extern const sock__kind_t sock__listener_kind;  /* accept.c */
extern const sock__kind_t sock__pipe_kind;      /* pipe.c */
extern const sock__kind_t sock__file_kind;      /* file.c */
extern const sock__kind_t sock__udp_kind;       /* udp.c */
extern const sock__kind_t sock__tls_kind;       /* tls.c */

struct sock {
  PTP_IO          io;          /* its thread-pool IO object */
  sock_runtime_t *rt;
  sock_t         *prev, *next; /* in rt->handles: shutdown and cancel_all find it */
  LONG            handle;      /* the HANDLE or SOCKET, in 32 bits: see sock__os_handle() */
  volatile LONG   state;       /* SOCK__REFS, the SOCK__ flags and the kind (only
                                  interlocked writes once the handle is shared) */
};

/* A kernel handle (a SOCKET is one) keeps 32 significant bits on 64-bit
 * Windows, sign-extended, so that 32- and 64-bit processes can share them
 * ("Interprocess Communication Between 32-bit and 64-bit Applications").
 * Keeping 32 of its 64 bits saves 8 bytes per object; sock__handle_wrap
 * checks that the handle survives the round trip. */
static __inline HANDLE sock__os_handle(const sock_t *s)
{
  return (HANDLE)(LONG_PTR)s->handle;
}

static __inline SOCKET sock__socket(const sock_t *s)
{
  return (SOCKET)(LONG_PTR)s->handle;
}

static __inline int sock__is(const sock_t *s, LONG flag)
{
  return (s->state & flag) != 0;
}

static __inline unsigned sock__kind_id(const sock_t *s)
{
  return (unsigned)((s->state & SOCK__KIND_MASK) >> SOCK__KIND_SHIFT);
}

static __inline int sock__family(const sock_t *s)
{
  return sock__is(s, SOCK__INET6) ? AF_INET6 : AF_INET;
}

const sock__kind_t *sock__kind_of(const sock_t *s);
/* Wraps `h` (taking ownership: closed on failure) in a new object of `kind`
 * with its PTP_IO; `flags` are SOCK__ flags to start with. */
int  sock__handle_wrap(sock_runtime_t *rt, HANDLE h, unsigned kind, LONG flags, sock_t **out);
/* A new object of `kind` with no handle and no PTP_IO of its own (a TLS
 * session, whose calls go to the stream underneath): counted and listed
 * like any handle, so cancel_all and shutdown reach it. */
int  sock__handle_make(sock_runtime_t *rt, unsigned kind, sock_t **out);
void sock__retain(sock_t *s);
void sock__release(sock_t *s);
/* Under rt->lock: cancels the handle's operations, now and later. */
void sock__cancel_handle(sock_t *s);
/* Under rt->lock: sock__cancel_handle for every handle. */
void sock__cancel_handles(sock_runtime_t *rt);
/* Shutdown, with nothing pending: frees the handles their owners never closed. */
void sock__free_handles(sock_runtime_t *rt);
/* A UTF-8 name (a pipe's, a file's, a host's) as a new wide string from
 * sock__sys.calloc (free it), with `prefix` (wide, or NULL) before it; NULL
 * on invalid UTF-8 or "" (*error CO_EINVAL) or no memory (CO_ENOMEM). */
WCHAR *sock__widen(const WCHAR *prefix, const char *utf8, int *error);

/* ---- hub.c: the await protocol --------------------------------------------------------- */

/* op.flags: the state of one await, under the op's hub lock. */
enum {
  SOCK__OP_IO      = 0x01,  /* an overlapped call is in the kernel (its handle: hub.c sock__io_handle) */
  SOCK__OP_QUEUED  = 0x02,  /* in a wait list (overlapped.Internal), runtime in InternalHigh */
  SOCK__OP_WORK    = 0x04,  /* a work item runs for it (connect's resolution) */
  SOCK__OP_CANCEL  = 0x08,  /* sock_op_cancel or a task's canceller asked */
  SOCK__OP_GEN     = 0xf0,  /* which await of the record this is, counted mod 16 */
  SOCK__OP_GEN_ONE = 0x10
};
/* The hub lock of a record (striped by address, process-wide). Order: a
 * task's lock, then a record's, then a wait list's; a canceller that holds
 * a record's lock only tries a wait list's lock (hub.c). */
SRWLOCK *sock__op_lock(const sock_op_t *op);

/* Makes one overlapped system call for op on s (through the seam) with
 * &op->overlapped; returns 0 or the call's Win32 error (ERROR_IO_PENDING
 * included), and for a synchronous success the bytes in *bytes. */
typedef unsigned long (*sock__call_fn)(sock_t *s, sock_op_t *op, void *arg,
                                       unsigned long *bytes);

/* Prepares a record for a new operation: clears results and the hub's state. */
void sock__op_begin(sock_op_t *op, int kind, co_task_t *task);
/* Records a failure in op (portable and raw) and returns the portable code. */
int  sock__op_fail(sock_op_t *op, unsigned long win32_error);
/* The one way a start is refused (bad arguments, cancelled, shutting down):
 * op.error = code, and the code is returned for CO_AWAIT to see. */
int  sock__refuse(sock_op_t *op, int code);
/* Why nothing may start on s now (CO_ESHUTDOWN, CO_ECANCELED) or CO_OK. */
int  sock__admit(const sock_t *s);

/* Issues one overlapped call by the await protocol: refuses it (a negative
 * code: the task cancelled or timed out, s cancelled or closed, the runtime
 * shutting down, the await cancelled), or makes it and classifies the
 * outcome: CO_PENDING (a completion will come to s's kind: touch nothing of
 * op any more), or CO_OK with the synchronous outcome in *error and *bytes
 * (no completion will come). The four outcomes of a call are explained in
 * hub.c. Holds a reference on s and a pending count while the call is out. */
int  sock__hub_call(sock_t *s, sock_op_t *op, sock__call_fn call, void *arg,
                    unsigned long *error, unsigned long *bytes);
/* The IO callback of every handle's PTP_IO. */
void CALLBACK sock__hub_on_io(PTP_CALLBACK_INSTANCE instance, void *context,
                              void *overlapped, ULONG error, ULONG_PTR bytes, PTP_IO io);

/* Wakes op's task (its result already in op) and ends the pending count of
 * the await: now, on this thread (a completion's own callback), or later on
 * a pool thread, which is the only way for a waiter released from inside
 * another call (cancel, close, a signal): no lock of the releaser is met
 * again. Never fails: the runtime keeps one work object for it. */
void sock__wake_now(sock_runtime_t *rt, sock_op_t *op);
void sock__wake_later(sock_runtime_t *rt, sock_op_t *op);
/* Makes the runtime's wake work object (in its cleanup group, which frees it). */
int  sock__hub_init(sock_runtime_t *rt);

/* Sets or clears SOCK__OP_ flags of op under its hub lock (a sleep is not
 * marked: its task knows it, task.c). */
void sock__op_mark(sock_op_t *op, unsigned flag);
void sock__op_unmark(sock_op_t *op, unsigned flag);
/* Ends or cancels op's await with `reason` (a task's canceller, its
 * deadline, sock_op_cancel): CancelIoEx for a call in the kernel, out of its
 * list and woken for a queued wait. A sleep is its task's (task.c). Returns
 * 1 if an await was there. */
int  sock__op_cancel(sock_op_t *op, int reason);
/* Whether a cancel of op's await was asked (a work item checks it). */
int  sock__op_cancelled(sock_op_t *op);

/* An await served by a work item on a pool thread (connect's lookups and
 * attempts, a pipe client's wait for an instance), its task registered
 * (sock__await_register) by the caller. Submits `work(job)` with op marked
 * SOCK__OP_WORK and counted pending: CO_PENDING, or the failure recorded
 * in op with the marks undone (the job is still the caller's to free). */
int  sock__work_submit(sock_op_t *op, sock_runtime_t *rt, PTP_SIMPLE_CALLBACK work, void *job);
/* In the work item, between steps: why it must end now (the await
 * cancelled: the task's reason, CO_ETIMEDOUT after its deadline, else
 * CO_ECANCELED; the runtime stopping: CO_ESHUTDOWN), else CO_OK. */
int  sock__work_stop(sock_op_t *op, const sock_runtime_t *rt);
/* In the work item, once its job is freed: the result into op, the marks
 * and the registration undone, the task woken (last: it may free op). */
void sock__work_end(sock_op_t *op, unsigned long win32_error, int error);
/* SOCK__SKIP_PORT if synchronous successes on h may skip the completion
 * port (and h's event), as asked here; 0 if refused (completions then come
 * as usual). Only for handles whose every success the caller handles inline. */
LONG sock__skip_port(HANDLE h);

/* ---- tcp.c --------------------------------------------------------------------------- */
/* A new overlapped, non-inheritable socket of `family` and `type`
 * (SOCK_STREAM: TCP, SOCK_DGRAM: UDP), or INVALID_SOCKET with *error set. */
SOCKET sock__new_socket(int family, int type, int *error);
/* The local address to bind: host NULL or "" is every address of
 * `any_family`; a numeric address; or a name looked up at once (a local
 * name: the hosts file answers) for sockets of `type`. */
int  sock__local_addr(const char *host, unsigned short port, int type, int any_family,
                      sock_addr_t *addr);
/* Before bind: SO_REUSEADDR if `reuse`, else SO_EXCLUSIVEADDRUSE (nobody
 * takes the port over); IPV6_V6ONLY as `v6only` on an IPv6 socket. */
void sock__bind_options(SOCKET h, const sock_addr_t *addr, int reuse, int v6only);
/* Whether the socket's provider is an IFS one (skip-completion-port safe). */
int  sock__provider_is_ifs(SOCKET h);
/* Wraps a TCP socket as a handle of `kind` (TCP or listener). */
int  sock__tcp_wrap(sock_runtime_t *rt, SOCKET h, int family, unsigned kind, sock_t **out);

/* ---- stream.c ------------------------------------------------------------------------- */
void sock__stream_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes);
/* Runs a stream operation on again (its calls made until one is pending, or
 * its task woken): what a TLS session does once more ciphertext is in. */
void sock__stream_resume(sock_t *s, sock_op_t *op);

/* ---- accept.c / connect.c -------------------------------------------------------------- */
int  sock__listener_start(sock_t *s);  /* posts the slots of a new listener */
/* A waiting accept holds a reference on its listener, so that the list it
 * waits in outlives every canceller that found it there: the listener of a
 * woken accept record, whose reference the waker drops after the wake. */
sock_t *sock__accept_listener(const sock_op_t *op);
void sock__connect_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes);

/* ---- sync.c: wait lists ------------------------------------------------------------------ */
enum sock__op_kind {
  SOCK__RECV = 1,       /* one WSARecv */
  SOCK__RECV_EXACTLY,   /* WSARecv until len bytes */
  SOCK__WAIT_READABLE,  /* zero-byte WSARecv */
  SOCK__SEND,           /* one WSASend */
  SOCK__SEND_ALL,       /* WSASend until len bytes */
  SOCK__SENDV,          /* WSASend of a WSABUF array until all sent */
  SOCK__READ_LINE,      /* WSARecv into a reader until a newline */
  SOCK__ACCEPT,         /* a task waiting in a listener's queue */
  SOCK__ACCEPT_SLOT,    /* a listener's own posted AcceptEx */
  SOCK__CONNECT,        /* resolution, then ConnectEx per address */
  SOCK__SLEEP,          /* a task's timer */
  SOCK__SYNC,           /* an event, semaphore, channel or wait group */
  SOCK__PIPE_ACCEPT,    /* ConnectNamedPipe: a server instance awaits its client */
  SOCK__PIPE_OPEN,      /* a client opening a pipe (a work item while all are busy) */
  SOCK__FILE_READ,      /* one ReadFile at an offset */
  SOCK__FILE_WRITE,     /* one WriteFile at an offset */
  SOCK__UDP_SEND,       /* one WSASendTo (udp.c) */
  SOCK__UDP_RECV,       /* one WSARecvFrom (udp.c) */
  SOCK__RESOLVE,        /* a name lookup, abandoned on cancel (resolve.c) */
  SOCK__TIMER,          /* a repeating timer's tick (timer.c) */
  SOCK__TLS_HANDSHAKE,  /* a TLS client handshake: its calls on the stream underneath */
  SOCK__TLS_READ,       /* a stream op's receive of ciphertext on the stream underneath */
  SOCK__TLS_WRITE,      /* a stream op's send of records on the stream underneath */
  SOCK__TLS_CONTROL,    /* a reader's send of its answer to a post-handshake message */
  SOCK__TLS_SHUTDOWN    /* the send of close_notify */
};

void sock__waitlist_init(sock_waitlist_t *w);
/* Under w->lock: queues op (marked as queued on w, counted pending on rt). */
void sock__waitlist_push(sock_waitlist_t *w, int q, sock_op_t *op, sock_runtime_t *rt);
sock_op_t *sock__waitlist_pop(sock_waitlist_t *w, int q);
/* Under w->lock: takes op out of whichever queue holds it; 0 if none does. */
int  sock__waitlist_remove(sock_waitlist_t *w, sock_op_t *op);
/* Every waiter of queue q, as a chain through their OVERLAPPED, oldest first. */
sock_op_t *sock__waitlist_take_all(sock_waitlist_t *w, int q);
sock_op_t *sock__chain_next(const sock_op_t *op);
/* The runtime a queued record was counted on. */
sock_runtime_t *sock__queued_runtime(const sock_op_t *op);
/* Wakes every record of a chain taken from a list, with `error`, later. */
void sock__wake_chain(sock_op_t *op, int error);
/* Decides, under the list's lock, whether `op` passes now: returns CO_OK or
 * an error when it finished, CO_PENDING when it must wait. May hand back in
 * *wake one other record that the decision let pass. */
typedef int (*sock__try_fn)(sock_waitlist_t *w, sock_op_t *op, sock_op_t **wake);
/* Every wait in a list (sync.c's and a listener's): refused (op.error and
 * the code), finished now (try_now's CO_OK or error), or CO_PENDING: queued
 * in queue q of w, counted on rt, found by a canceller. */
int  sock__queue_wait(sock_op_t *op, sock_waitlist_t *w, int q, sock_runtime_t *rt,
                      sock__try_fn try_now);

/* ---- udp.c -------------------------------------------------------------------------- */
/* A datagram's largest payload: 65,507 bytes over IPv4, 65,527 over IPv6. */
#define SOCK__UDP_MAX_V4 65507u
#define SOCK__UDP_MAX_V6 65527u

/* ---- resolve.c ------------------------------------------------------------------------ */
/* One GetAddrInfoExW in its overlapped mode. The record is the caller's (a
 * resolve await's or a connect's job); `done` runs exactly once, on a pool
 * thread, unless sock__lookup_start returned anything but ERROR_IO_PENDING. */
typedef struct sock__lookup sock__lookup_t;
typedef void (*sock__lookup_done)(sock__lookup_t *lk, unsigned long win32_error);
struct sock__lookup {
  OVERLAPPED        ov;       /* first: the routine recovers the record from it */
  ADDRINFOEXW      *result;   /* the system's list (FreeAddrInfoExW), or NULL */
  HANDLE            cancel;   /* GetAddrInfoExCancel's handle (Windows; Wine leaves NULL) */
  sock__lookup_done done;
  int               family;   /* AF_UNSPEC, AF_INET, AF_INET6 */
  WCHAR            *name;     /* the host name, UTF-16, owned by the caller */
};
/* Converts host (UTF-8) for a lookup into `name` (`size` WCHARs); CO_EINVAL
 * if it does not fit or is not UTF-8. */
int sock__lookup_name(const char *host, WCHAR *name, size_t size);
/* Starts lk: ERROR_IO_PENDING (done will run), 0 (finished now: lk->result
 * holds the list, done will not run) or an error (done will not run). */
unsigned long sock__lookup_start(sock__lookup_t *lk);
/* A numeric IPv4 or IPv6 address, with `port`, of the family asked
 * (AF_UNSPEC: either): 1 and *out, else 0 (a name, to resolve). */
int sock__addr_numeric(const char *host, unsigned short port, int family, sock_addr_t *out);
/* Copies up to `cap` addresses of the list with `port`; returns how many. */
size_t sock__addrs_from_list(const ADDRINFOEXW *list, unsigned short port, sock_addr_t *out,
                             size_t cap);
/* The length of a sock_addr_t's sockaddr for its family. */
int sock__addr_len(const sock_addr_t *a);
/* Under op's hub lock, op a lookup's await (SOCK__RESOLVE, marked
 * SOCK__OP_WORK): abandons the request (it frees itself when its routine
 * runs), unmarks op and counts the wake to come as pending. Returns the
 * runtime to wake the task on (sock__wake_later, after the lock); *cancel:
 * the handle for sock__resolve_cancel_call, made after the lock is released. */
sock_runtime_t *sock__resolve_abandon(sock_op_t *op, HANDLE *cancel);
void sock__resolve_cancel_call(HANDLE cancel);
/* ---- pipe.c / file.c ------------------------------------------------------------------- */
/* Whether s is a socket (TCP connection, listener, UDP), not a pipe, a file
 * or a TLS session (which has no handle of its own): the socket-only calls
 * of tcp.c refuse the others. */
static __inline int sock__is_socket(const sock_t *s)
{
  unsigned kind = sock__kind_id(s);
  return kind == SOCK__KIND_TCP || kind == SOCK__KIND_LISTENER || kind == SOCK__KIND_UDP;
}
/* A file call needs overlapped.Offset/OffsetHigh, which share a union with
 * the overlapped.Pointer where the hub keeps the sock_t of a call in the
 * kernel; a file operation keeps its handle in op.bytes instead (hub.c,
 * sock__io_handle, says why that is safe). */
static __inline int sock__op_is_file(const sock_op_t *op)
{
  return op->kind == SOCK__FILE_READ || op->kind == SOCK__FILE_WRITE;
}
/* ---- tls.c / tls_verify.c: TLS sessions ------------------------------------------------ */

/* A stream op on a TLS session (stream.c's loop calls this instead of the
 * hub, with the buffers of the op's next step): moves plaintext between
 * the session and `bufs`. Returns CO_OK with the outcome in *error (0 or a
 * Win32/SEC_E code, recorded in op) and *bytes; CO_PENDING when it needs
 * the stream underneath (the session then calls sock__stream_on_io or
 * sock__stream_resume on it); or a refusal (op.error set). */
int  sock__tls_transfer(sock_t *s, sock_op_t *op, WSABUF *bufs, unsigned long count,
                        int sending, unsigned long *error, unsigned long *bytes);
/* A completion of a TLS session's call on its stream (stream.c routes the
 * SOCK__TLS_ op kinds here). */
void sock__tls_on_io(sock_t *conn, sock_op_t *op, unsigned long error, unsigned long bytes);

/* The certificate check of a client session, set from its config. */
typedef struct sock__tls_verify {
  int            mode;     /* SOCK__VERIFY_ below */
  HCERTSTORE     ca;       /* SOCK__VERIFY_CA: the CA file's certificates */
  unsigned char  pin[32];  /* SOCK__VERIFY_PIN: the SHA-256 of the one certificate */
} sock__tls_verify_t;

enum { SOCK__VERIFY_SYSTEM = 0, SOCK__VERIFY_CA, SOCK__VERIFY_PIN, SOCK__VERIFY_NONE };

/* Reads the config's check (loads the CA file, parses the pin). CO_OK, or
 * CO_EINVAL (bad pin, unreadable or empty CA file: *win32 says why) or
 * CO_ENOMEM. */
int  sock__tls_verify_init(sock__tls_verify_t *v, const sock_tls_config_t *config,
                           unsigned long *win32);
void sock__tls_verify_free(sock__tls_verify_t *v);
/* Checks the peer's certificate of an established context: 0, or the
 * CERT_E_/SEC_E_/CRYPT_E_ code that says why it is refused. */
unsigned long sock__tls_verify_peer(const sock__tls_verify_t *v, CtxtHandle *ctx,
                                    const WCHAR *host);

#endif /* SOCK_SOCK_INTERNAL_H */

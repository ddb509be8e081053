/*
 * sock/sock_internal.h - what the files of sock/ share and users never see:
 * the runtime and socket structs, operation kinds, and the one function that
 * issues overlapped calls by the await protocol.
 */
#ifndef SOCK_SOCK_INTERNAL_H
#define SOCK_SOCK_INTERNAL_H

#include "sock.h"

#include <mswsock.h>

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

/* What an operation record is doing; op.kind. */
enum sock__kind {
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
  SOCK__SYNC            /* an event, semaphore, channel or wait group */
};

/* How a parked task's await is cancelled; sock_task_t.wait_kind. */
enum sock__wait_kind {
  SOCK__WAIT_NONE = 0,  /* nothing cancellable pending */
  SOCK__WAIT_IO,        /* overlapped call: CancelIoEx(wait_obj socket, op) */
  SOCK__WAIT_QUEUE,     /* in a sock_waitlist_t (wait_obj): remove and wake */
  SOCK__WAIT_SLEEP      /* the task's timer: stop the sleep and wake */
};

/* A task's timer: one thread-pool timer serves its deadline and its sleeps. */
struct sock_timing {
  PTP_TIMER  timer;
  ULONGLONG  deadline_due;  /* sock__now_ms() time, 0 = no deadline */
  ULONGLONG  sleep_due;     /* 0 = not sleeping */
};

typedef struct sock__listener sock__listener_t;

/* A task's lock (a canceller, its timer and its completion meet there) is
 * one of the runtime's, shared out by address: a lock per task would cost
 * 8 bytes in every task. It is held across the overlapped call an await
 * issues, which under Wine is a trip to the wineserver, so the table is
 * wide enough that two busy tasks rarely share one. */
#define SOCK__TASK_LOCKS 256

struct sock_runtime {
  TP_CALLBACK_ENVIRON env;       /* work items and timers: in the cleanup group */
  TP_CALLBACK_ENVIRON io_env;    /* IO objects: same pool, not in the group (below) */
  PTP_POOL            pool;      /* a private pool, or NULL: the default one */
  PTP_CLEANUP_GROUP   cleanup;   /* every IO object and work item, for shutdown */
  SRWLOCK             lock;      /* guards the two lists; taken before a task's */
  sock_t             *sockets;   /* live sockets, so shutdown can cancel them */
  sock_task_t        *tasks;     /* live tasks, to cancel and to list */
  volatile LONG       n_sockets; /* the counters of sock_runtime_counters */
  volatile LONG       n_tasks;
  volatile LONG       n_pending;
  volatile LONG       shutting_down;
  int                 cancel_new;   /* sock_runtime_cancel_all ran: new tasks and sockets start cancelled */
  unsigned            accepts_posted;
  unsigned char       skip_ok[2];  /* IFS provider: skip the port on success (v4, v6) */
  LPFN_ACCEPTEX             accept_ex;   /* Winsock extension functions */
  LPFN_CONNECTEX            connect_ex;
  LPFN_GETACCEPTEXSOCKADDRS get_addrs;
  SRWLOCK             task_locks[SOCK__TASK_LOCKS];  /* order: lock, then a task's */
};

/* The lock of a task: its address, past the bits every allocation shares,
 * folded onto the table. */
static __inline SRWLOCK *sock__task_lock_of(sock_runtime_t *rt, const void *task)
{
  ULONG_PTR a = (ULONG_PTR)task;
  return &rt->task_locks[((a >> 4) ^ (a >> 12) ^ (a >> 20)) % SOCK__TASK_LOCKS];
}

/* sock.state: the reference count and the flags share one word, so that the
 * flags cost no bytes of their own (the socket is 40 bytes in all). */
enum {
  SOCK__REFS      = 0x00ffffff,  /* 1 for the owner + 1 per unfinished operation */
  SOCK__CLOSED    = 0x01000000,  /* sock_close was called */
  SOCK__CANCELLED = 0x02000000,  /* sock_cancel: every operation ends CO_ECANCELED */
  SOCK__SKIP_PORT = 0x04000000,  /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on */
  SOCK__INET6     = 0x08000000,  /* AF_INET6, else AF_INET */
  SOCK__LISTENING = 0x10000000   /* the head of a sock__listener_t (accept.c) */
};

struct sock {
  PTP_IO          io;          /* its thread-pool IO object */
  sock_runtime_t *rt;
  sock_t         *prev, *next; /* in rt->sockets: shutdown and cancel_all find it */
  LONG            handle;      /* the SOCKET, in 32 bits: see sock__handle() */
  volatile LONG   state;       /* SOCK__REFS and the SOCK__ flags (only interlocked
                                  writes once the socket is shared) */
};

/* A SOCKET is a kernel handle, and 64-bit Windows keeps handles to 32
 * significant bits, sign-extended, so that 32- and 64-bit processes can
 * share them ("Interprocess Communication Between 32-bit and 64-bit
 * Applications"). Keeping 32 of its 64 bits saves 8 bytes per socket;
 * sock__wrap checks that the handle survives the round trip. */
static __inline SOCKET sock__handle(const sock_t *s)
{
  return (SOCKET)(LONG_PTR)s->handle;
}

static __inline int sock__is(const sock_t *s, LONG flag)
{
  return (s->state & flag) != 0;
}

static __inline int sock__family(const sock_t *s)
{
  return sock__is(s, SOCK__INET6) ? AF_INET6 : AF_INET;
}

/* ---- runtime.c -------------------------------------------------------------- */
void sock__pending_add(sock_runtime_t *rt);
void sock__pending_done(sock_runtime_t *rt);
/* n_pending or n_tasks dropped to 0: wake whoever waits for it. Touches no
 * memory of rt (a callback's last act; shutdown may free rt right after). */
void sock__idle_signal(void);
/* Waits up to ms until *counter is 0; 1 if it is. */
int  sock__wait_zero(volatile LONG *counter, DWORD ms);
int  sock__shutting_down(const sock_runtime_t *rt);

/* ---- task.c: the task side of every await ------------------------------------- */
/* The sock_task_t at the top of task's CO_CALL chain, or NULL for a plain
 * co task (which can do socket operations, but cannot be cancelled). */
sock_task_t *sock__owner(co_task_t *task);
/* Locks task's owner (if any) for registering an await. *reason: CO_OK, or
 * CO_ECANCELED / CO_ETIMEDOUT when the task may not await any more. */
sock_task_t *sock__wait_lock(co_task_t *task, int *reason);
void sock__wait_unlock(sock_task_t *st);
/* Under the lock: the task now awaits op, cancelled according to kind. */
void sock__wait_set(sock_task_t *st, int kind, void *obj, sock_op_t *op);
/* The await of op has ended: forget it. Returns the reason the task's awaits
 * fail now (CO_ECANCELED, CO_ETIMEDOUT) or CO_OK. */
int  sock__wait_clear(sock_op_t *op);
/* Wakes op's task (its result already in op) and ends the pending count the
 * await held (counted only for a sock_task_t): here, or on a pool thread. */
void sock__wake_now(sock_op_t *op);
void sock__wake_later(sock_op_t *op);
ULONGLONG sock__now_ms(void);

/* ---- sync.c: wait lists -------------------------------------------------------- */
void sock__waitlist_init(sock_waitlist_t *w);
void sock__waitlist_push(sock_waitlist_t *w, int q, sock_op_t *op);
sock_op_t *sock__waitlist_pop(sock_waitlist_t *w, int q);
int  sock__waitlist_remove(sock_waitlist_t *w, sock_op_t *op);
/* Every waiter of queue q, as a chain through their OVERLAPPED, oldest first. */
sock_op_t *sock__waitlist_take_all(sock_waitlist_t *w, int q);
sock_op_t *sock__chain_next(const sock_op_t *op);

/* ---- socket.c ----------------------------------------------------------------- */
/* A new overlapped, non-inheritable TCP socket of `family`, or INVALID_SOCKET
 * with *error set. */
SOCKET sock__new_handle(int family, int *error);
/* Whether the socket's provider is an IFS one (skip-completion-port safe). */
int sock__provider_is_ifs(SOCKET h);
/* Wraps `handle` (taking ownership) in a sock_t with its PTP_IO. `size` is
 * sizeof(sock_t), or more for a struct that begins with one (a listener). */
int  sock__wrap(sock_runtime_t *rt, SOCKET handle, int family, size_t size, sock_t **out);
void sock__retain(sock_t *s);
void sock__release(sock_t *s);

/* ---- ops.c -------------------------------------------------------------------- */
/* Prepares a record for a new operation: clears results, sets kind and task. */
void sock__op_begin(sock_op_t *op, int kind, co_task_t *task);
/* Records a failure in op (portable and raw) and returns the portable code. */
int  sock__op_fail(sock_op_t *op, unsigned long win32_error);
/* Starts op with one reference on s: runs it until it is pending
 * (CO_PENDING) or finished (returns its final op.error, reference dropped). */
int  sock__start(sock_t *s, sock_op_t *op);
/* The IO callback's half: records a completion and runs op on; returns
 * CO_PENDING if it issued another call, else op.error. */
int  sock__drive_completed(sock_t *s, sock_op_t *op, unsigned long error,
                           unsigned long bytes);
/* The end of a pending operation: release s and wake the task. */
void sock__finish_pending(sock_t *s, sock_op_t *op);

/* ---- accept.c / connect.c ------------------------------------------------------ */
/* The bytes of a listener, whose struct begins with its sock_t. */
size_t sock__listener_size(void);
/* Fills in the rest of a listener that sock__wrap allocated at that size. */
int  sock__listener_create(sock_t *s);
void sock__listener_on_slot(sock_t *s, sock_op_t *op, unsigned long error,
                            unsigned long bytes);
/* With the listener's last reference: releases what it holds (not itself). */
void sock__listener_free(sock_t *s);
/* sock_cancel of a listener: wakes the tasks waiting for a connection. */
void sock__listener_cancel(sock_t *s);
/* The two halves of an overlapped call on s for op (WSARecv, WSASend,
 * ConnectEx). _begin locks op's task, refuses a task that may not await or a
 * cancelled socket (returns NULL, *reason says why), and readies op and s's
 * IO object. Make the call, then give _end its Win32 result (0, or the
 * error, ERROR_IO_PENDING included): it registers the await and returns
 * CO_PENDING, or undoes the readying for a call that finished at once and
 * returns CO_OK. socket.c explains the order against sock_cancel. */
sock_task_t *sock__call_begin(sock_t *s, sock_op_t *op, int *reason);
int  sock__call_end(sock_task_t *st, sock_t *s, sock_op_t *op, unsigned long error);
/* Under rt->lock: cancels the socket's operations, now and later. */
void sock__cancel_socket(sock_t *s);
void sock__connect_on_io(sock_t *s, sock_op_t *op, unsigned long error);

#endif /* SOCK_SOCK_INTERNAL_H */

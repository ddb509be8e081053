/*
 * sock/pipe.c - the named pipe kind: server instances (created with the
 * name's security and awaited by ConnectNamedPipe through the hub), client
 * ends (opened by a work item that waits while every instance is busy),
 * and what both hand to the stream operations of stream.c, which make a
 * pipe's ReadFile and WriteFile calls as they make a socket's WSARecv and
 * WSASend.
 *
 * The server instances of one name share one description of it (its path,
 * mode, buffer size and security descriptor), counted by the instances and
 * freed with the last one; a client end has none. Byte-mode ends skip the
 * completion port on success (a pipe write that fits the buffer finishes at
 * once, probe 5 of the Wine notes); message-mode ends do not, because an
 * immediate ERROR_MORE_DATA still sends its completion on Windows but not
 * under Wine in skip mode (hub.c's head comment).
 */
#include "sock_internal.h"

#include <sddl.h>
#include <stdlib.h>
#include <string.h>

#ifndef PIPE_REJECT_REMOTE_CLIENTS  /* missing from Wine's winbase.h */
#  define PIPE_REJECT_REMOTE_CLIENTS 0x00000008
#endif

#define SOCK__PIPE_PREFIX   L"\\\\.\\pipe\\"
#define SOCK__PIPE_PATH_MAX 256   /* characters, prefix included (CreateNamedPipe's limit) */
#define SOCK__PIPE_BUFFER   65536

/* What the server instances of one name share. */
typedef struct sock__pipe_name {
  volatile LONG        refs;      /* one per instance alive */
  unsigned             flags;     /* SOCK_PIPE_ */
  DWORD                max;       /* max instances, PIPE_UNLIMITED_INSTANCES for none */
  DWORD                buffer;    /* each way */
  PSECURITY_DESCRIPTOR sd;        /* self-relative, from sock__sys.calloc */
  WCHAR               *path;      /* "\\.\pipe\name", from sock__sys.calloc */
} sock__pipe_name_t;

/* An end of a pipe: a sock_t, and for a server instance its name. */
typedef struct sock__pipe {
  sock_t             base;
  sock__pipe_name_t *name;       /* NULL for a client end */
} sock__pipe_t;

/* ---- the kind ---------------------------------------------------------------------- */

static void sock__pipe_close(HANDLE h)
{
  CloseHandle(h);
}

static void sock__pipe_name_release(sock__pipe_name_t *n)
{
  if (n != NULL && InterlockedDecrement(&n->refs) == 0) {
    free(n->sd);
    free(n->path);
    free(n);
  }
}

static void sock__pipe_free(sock_t *s)
{
  sock__pipe_name_release(((sock__pipe_t *)s)->name);
}

/* A completion on a pipe: a client came (the wait's result is recorded by
 * the hub), or a stream operation's call. */
static void sock__pipe_on_io(sock_t *s, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  if (op->kind == SOCK__PIPE_ACCEPT)
    co_wake(op->task);
  else
    sock__stream_on_io(s, op, error, bytes);
}

const sock__kind_t sock__pipe_kind = {
  "pipe", sizeof(sock__pipe_t), sock__pipe_close, sock__pipe_on_io, NULL, sock__pipe_free
};

static sock__pipe_name_t *sock__pipe_name_of(sock_t *s)
{
  if (s == NULL || sock__kind_id(s) != SOCK__KIND_PIPE)
    return NULL;
  return ((sock__pipe_t *)s)->name;
}

/* ---- names --------------------------------------------------------------------------- */

/* "name" or "\\.\pipe\name" as the full path, or NULL (*error). */
static WCHAR *sock__pipe_path(const char *name, int *error)
{
  static const char prefix[] = "\\\\.\\pipe\\";
  const char *leaf = name;
  WCHAR *path;
  if (name == NULL) {
    *error = CO_EINVAL;
    return NULL;
  }
  if (_strnicmp(name, prefix, sizeof prefix - 1) == 0)
    leaf = name + sizeof prefix - 1;
  if (leaf[0] == '\0' || strchr(leaf, '\\') != NULL) {
    *error = CO_EINVAL;
    return NULL;
  }
  path = sock__widen(SOCK__PIPE_PREFIX, leaf, error);
  if (path != NULL && wcslen(path) > SOCK__PIPE_PATH_MAX) {
    free(path);
    *error = CO_EINVAL;
    return NULL;
  }
  return path;
}

/* ---- security ------------------------------------------------------------------------- */

/* A self-relative copy of `sd` (absolute or self-relative) in memory of
 * ours, or NULL with *error. */
static PSECURITY_DESCRIPTOR sock__sd_copy(PSECURITY_DESCRIPTOR sd, int *error)
{
  SECURITY_DESCRIPTOR_CONTROL control;
  DWORD revision, len = 0;
  PSECURITY_DESCRIPTOR copy;
  *error = CO_EINVAL;
  if (!IsValidSecurityDescriptor(sd) || !GetSecurityDescriptorControl(sd, &control, &revision))
    return NULL;
  if (control & SE_SELF_RELATIVE)
    len = GetSecurityDescriptorLength(sd);
  else if (MakeSelfRelativeSD(sd, NULL, &len) || GetLastError() != ERROR_INSUFFICIENT_BUFFER)
    return NULL;
  copy = sock__sys.calloc(1, len);
  if (copy == NULL) {
    *error = CO_ENOMEM;
    return NULL;
  }
  if (control & SE_SELF_RELATIVE)
    memcpy(copy, sd, len);
  else if (!MakeSelfRelativeSD(sd, copy, &len)) {
    free(copy);
    return NULL;
  }
  *error = CO_OK;
  return copy;
}

/* "D:P(A;;GA;;;SY)(A;;GA;;;<sid>)" in `out` (`size` characters); 0 if it
 * does not fit. */
static int sock__sddl_for(WCHAR *out, size_t size, const WCHAR *sid)
{
  static const WCHAR head[] = L"D:P(A;;GA;;;SY)(A;;GA;;;";
  size_t hlen = sizeof head / sizeof head[0] - 1, slen = wcslen(sid);
  if (hlen + slen + 2 > size)
    return 0;
  memcpy(out, head, hlen * sizeof(WCHAR));
  memcpy(out + hlen, sid, slen * sizeof(WCHAR));
  out[hlen + slen] = L')';
  out[hlen + slen + 1] = L'\0';
  return 1;
}

/* The default: full access for SYSTEM and for the user this process runs
 * as, nobody else (a protected DACL: nothing inherited). */
static PSECURITY_DESCRIPTOR sock__sd_default(int *error)
{
  union { TOKEN_USER user; char bytes[256]; } tu;  /* a SID is at most 68 bytes */
  HANDLE token = NULL;
  DWORD len = 0;
  WCHAR *sid = NULL, sddl[128];
  PSECURITY_DESCRIPTOR sd = NULL, copy = NULL;
  ULONG sd_len = 0;
  *error = CO_EACCES;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return NULL;
  if (GetTokenInformation(token, TokenUser, &tu, sizeof tu, &len) &&
      ConvertSidToStringSidW(tu.user.User.Sid, &sid) &&
      sock__sddl_for(sddl, sizeof sddl / sizeof sddl[0], sid) &&
      ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, &sd_len))
    copy = sock__sd_copy(sd, error);
  if (sd != NULL)
    LocalFree(sd);
  if (sid != NULL)
    LocalFree(sid);
  CloseHandle(token);
  return copy;
}

/* ---- server instances ------------------------------------------------------------------- */

/* Whether some server already serves `path`: a wait for a free instance
 * that does not end in "no such pipe". (Wine 8 does not enforce
 * FILE_FLAG_FIRST_PIPE_INSTANCE; on Windows this only comes first.) */
static int sock__pipe_served(const WCHAR *path)
{
  return WaitNamedPipeW(path, 1) || GetLastError() != ERROR_FILE_NOT_FOUND;
}

/* A new instance of `n` (the first one: with FILE_FLAG_FIRST_PIPE_INSTANCE)
 * wrapped as a pipe end holding a reference on n. */
static int sock__pipe_instance(sock_runtime_t *rt, sock__pipe_name_t *n, int first, sock_t **out)
{
  SECURITY_ATTRIBUTES sa;
  DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  DWORD mode = PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
  LONG flags = 0;
  HANDLE h;
  int rc;
  *out = NULL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  if (first) {
    if (sock__pipe_served(n->path))
      return CO_EADDRINUSE;
    open |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  }
  mode |= (n->flags & SOCK_PIPE_MESSAGE) ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                                         : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
  sa.nLength = sizeof sa;
  sa.lpSecurityDescriptor = n->sd;
  sa.bInheritHandle = FALSE;
  h = sock__sys.CreateNamedPipeW(n->path, open, mode, n->max, n->buffer, n->buffer, 0, &sa);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD error = GetLastError();
    if (first && (error == ERROR_ACCESS_DENIED || error == ERROR_PIPE_BUSY))
      return CO_EADDRINUSE;  /* the name is someone's already */
    return sock_error_from_win32(error);
  }
  if (!(n->flags & SOCK_PIPE_MESSAGE))
    flags |= sock__skip_port(h);
  rc = sock__handle_wrap(rt, h, SOCK__KIND_PIPE, flags, out);  /* closes h on failure */
  if (rc != CO_OK)
    return rc;
  InterlockedIncrement(&n->refs);
  ((sock__pipe_t *)*out)->name = n;
  return CO_OK;
}

/* The shared description from a config, or NULL with *error. */
static sock__pipe_name_t *sock__pipe_name_new(const char *name, const sock_pipe_config_t *c,
                                              int *error)
{
  sock__pipe_name_t *n;
  if (c != NULL && ((c->flags & ~(unsigned)SOCK_PIPE_MESSAGE) != 0 ||
                    c->max_instances >= PIPE_UNLIMITED_INSTANCES)) {
    *error = CO_EINVAL;
    return NULL;
  }
  n = sock__sys.calloc(1, sizeof *n);
  if (n == NULL) {
    *error = CO_ENOMEM;
    return NULL;
  }
  n->flags = c != NULL ? c->flags : 0;
  n->max = c != NULL && c->max_instances > 0 ? c->max_instances : PIPE_UNLIMITED_INSTANCES;
  n->buffer = c != NULL && c->buffer_size > 0 ? c->buffer_size : SOCK__PIPE_BUFFER;
  n->path = sock__pipe_path(name, error);
  if (n->path != NULL)
    n->sd = c != NULL && c->security_descriptor != NULL
                ? sock__sd_copy(c->security_descriptor, error)
                : sock__sd_default(error);
  if (n->sd == NULL) {
    free(n->path);
    free(n);
    return NULL;
  }
  return n;
}

int sock_pipe_create(sock_runtime_t *rt, const char *name, const sock_pipe_config_t *config,
                     sock_t **out)
{
  sock__pipe_name_t *n;
  int rc;
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (rt == NULL)
    return CO_EINVAL;
  if (sock__shutting_down(rt))
    return CO_ESHUTDOWN;
  n = sock__pipe_name_new(name, config, &rc);
  if (n == NULL)
    return rc;
  n->refs = 1;  /* ours, until the first instance holds its own */
  rc = sock__pipe_instance(rt, n, 1, out);
  sock__pipe_name_release(n);
  return rc;
}

int sock_pipe_create_instance(sock_t *pipe, sock_t **out)
{
  sock__pipe_name_t *n = sock__pipe_name_of(pipe);
  if (out == NULL)
    return CO_EINVAL;
  *out = NULL;
  if (n == NULL)
    return CO_EINVAL;
  return sock__pipe_instance(pipe->rt, n, 0, out);
}

/* ---- awaiting a client ------------------------------------------------------------------ */

/* The hub's call: one ConnectNamedPipe. */
static unsigned long sock__pipe_accept_call(sock_t *s, sock_op_t *op, void *arg,
                                            unsigned long *bytes)
{
  (void)arg;
  *bytes = 0;
  if (!sock__sys.ConnectNamedPipe(sock__os_handle(s), &op->overlapped))
    return GetLastError();
  return 0;
}

int sock_pipe_wait_client_start(sock_op_t *op, sock_t *pipe, co_task_t *task)
{
  unsigned long error = 0, bytes = 0;
  int tries;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__PIPE_ACCEPT, task);
  if (sock__pipe_name_of(pipe) == NULL || task == NULL)
    return sock__refuse(op, CO_EINVAL);
  for (tries = 0;; tries++) {
    int rc = sock__hub_call(pipe, op, sock__pipe_accept_call, NULL, &error, &bytes);
    if (rc != CO_OK)
      return rc;  /* CO_PENDING, or refused (op.error set) */
    if (error == 0 || error == ERROR_PIPE_CONNECTED) {  /* connected before we asked */
      op->error = CO_OK;
      op->win32_error = 0;
      return CO_OK;
    }
    if (error != ERROR_NO_DATA || tries > 0)
      return op->error;
    /* A client opened and closed again before the call: let it go. */
    DisconnectNamedPipe(sock__os_handle(pipe));
    op->error = CO_OK;  /* a completion records only failures */
    op->win32_error = 0;
  }
}

int sock_pipe_disconnect(sock_t *pipe)
{
  if (sock__pipe_name_of(pipe) == NULL)
    return CO_EINVAL;
  if (!DisconnectNamedPipe(sock__os_handle(pipe)))
    return sock_error_from_win32(GetLastError());
  return CO_OK;
}

int sock_pipe_message_more(const sock_op_t *op)
{
  return op != NULL && op->error == CO_OK && op->win32_error == ERROR_MORE_DATA;
}

/* ---- clients -------------------------------------------------------------------------- */

typedef struct sock__pipe_open {
  sock_runtime_t *rt;
  sock_op_t      *op;
  sock_t        **out;
  unsigned        flags;
  WCHAR          *path;
} sock__pipe_open_t;

/* Ends the open: frees the job, stores the result, wakes the task. */
static void sock__pipe_open_finish(sock__pipe_open_t *job, unsigned long win32_error, int error)
{
  sock_op_t *op = job->op;
  free(job->path);
  free(job);
  sock__work_end(op, win32_error, error);
}

/* The opened client end as a pipe end. */
static int sock__pipe_client(sock__pipe_open_t *job, HANDLE h)
{
  LONG flags = 0;
  if (job->flags & SOCK_PIPE_MESSAGE) {
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(h, &mode, NULL, NULL)) {
      int error = sock_error_from_win32(GetLastError());
      CloseHandle(h);
      return error;
    }
  } else {
    flags |= sock__skip_port(h);
  }
  return sock__handle_wrap(job->rt, h, SOCK__KIND_PIPE, flags, job->out);
}

/* Why the wait for an instance ends: the await cancelled (by whom the task
 * says: CO_ETIMEDOUT after its deadline), the runtime stopping; else CO_OK. */
static int sock__pipe_open_stop(sock__pipe_open_t *job)
{
  return sock__work_stop(job->op, job->rt);
}

/* The work item: open, and while every instance is busy, wait for one in
 * steps short enough that a cancel or the deadline is seen within 20 ms. */
static void CALLBACK sock__pipe_open_work(PTP_CALLBACK_INSTANCE instance, void *context)
{
  sock__pipe_open_t *job = context;
  sock_runtime_t *rt = job->rt;
  (void)instance;
  for (;;) {
    DWORD error;
    HANDLE h;
    int rc = sock__pipe_open_stop(job);
    if (rc != CO_OK) {
      sock__pipe_open_finish(job, 0, rc);
      break;
    }
    /* SECURITY_IDENTIFICATION: the server may learn who we are, not act as us. */
    h = sock__sys.CreateFileW(job->path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                              FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                                  SECURITY_IDENTIFICATION, NULL);
    if (h != INVALID_HANDLE_VALUE) {
      rc = sock__pipe_client(job, h);
      sock__pipe_open_finish(job, 0, rc);
      break;
    }
    error = GetLastError();
    if (error != ERROR_PIPE_BUSY) {
      sock__pipe_open_finish(job, error, sock_error_from_win32(error));
      break;
    }
    WaitNamedPipeW(job->path, 20);  /* a free instance, or 20 ms: try again either way */
  }
  sock__pending_done(rt);  /* counted until the woken task has returned */
}

int sock_pipe_open_start(sock_op_t *op, sock_runtime_t *rt, const char *name, unsigned flags,
                         sock_t **out, co_task_t *task)
{
  sock__pipe_open_t *job;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__PIPE_OPEN, task);
  if (out != NULL)
    *out = NULL;
  if (rt == NULL || out == NULL || task == NULL || (flags & ~(unsigned)SOCK_PIPE_MESSAGE) != 0)
    return sock__refuse(op, CO_EINVAL);
  if (sock__shutting_down(rt))
    return sock__refuse(op, CO_ESHUTDOWN);
  job = sock__sys.calloc(1, sizeof *job);
  if (job == NULL)
    return sock__refuse(op, CO_ENOMEM);
  job->path = sock__pipe_path(name, &rc);
  if (job->path == NULL) {
    free(job);
    return sock__refuse(op, rc);
  }
  job->rt = rt;
  job->op = op;
  job->out = out;
  job->flags = flags;
  rc = sock__await_register(op);  /* the task's canceller and deadline find the job */
  if (rc != CO_OK) {
    free(job->path);
    free(job);
    return sock__refuse(op, rc);
  }
  rc = sock__work_submit(op, rt, sock__pipe_open_work, job);
  if (rc != CO_PENDING) {  /* not submitted: the failure is in op */
    free(job->path);
    free(job);
  }
  return rc;
}

/*
 * sock/syscall.c - the seam: the table through which sock/ makes every system
 * and C library call that can fail, and the failing wrappers a test swaps in
 * (sock_fault.h). The table starts with the real functions; a wrapper decides
 * per call (the nth, or at random) whether to fail, and otherwise calls the
 * real function, so an armed entry still works for the calls it spares.
 */
#include "sock_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the real functions ------------------------------------------------------------ */

LPFN_ACCEPTEX  sock__accept_ex;
LPFN_CONNECTEX sock__connect_ex;

static BOOL WINAPI sock__real_accept_ex(SOCKET l, SOCKET a, PVOID buf, DWORD n, DWORD local,
                                        DWORD remote, LPDWORD bytes, LPOVERLAPPED ov)
{
  return sock__accept_ex(l, a, buf, n, local, remote, bytes, ov);
}

static BOOL WINAPI sock__real_connect_ex(SOCKET s, const struct sockaddr *to, int len,
                                         PVOID buf, DWORD n, LPDWORD sent, LPOVERLAPPED ov)
{
  return sock__connect_ex(s, to, len, buf, n, sent, ov);
}

static SECURITY_STATUS SEC_ENTRY sock__real_acquire_credentials(
    SEC_WCHAR *principal, SEC_WCHAR *package, ULONG use, void *logon, void *auth,
    SEC_GET_KEY_FN get_key, void *arg, PCredHandle cred, PTimeStamp expiry)
{
  return AcquireCredentialsHandleW(principal, package, use, logon, auth, get_key, arg, cred,
                                   expiry);
}

static unsigned long sock__real_completion(unsigned long error)
{
  return error;
}

/* Filled at run time, not by a static initialiser: the address of a DLL
 * import is not a constant to MSVC's C compiler (warning C4232). */
static sock__syscalls_t sock__real;
sock__syscalls_t sock__sys;
static INIT_ONCE sock__sys_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK sock__sys_fill(PINIT_ONCE once, PVOID param, PVOID *context)
{
  (void)once;
  (void)param;
  (void)context;
  sock__real.WSASocketW = WSASocketW;
  sock__real.AcceptEx = sock__real_accept_ex;
  sock__real.ConnectEx = sock__real_connect_ex;
  sock__real.WSARecv = WSARecv;
  sock__real.WSASend = WSASend;
  sock__real.CreateThreadpoolIo = CreateThreadpoolIo;
  sock__real.CreateThreadpoolTimer = CreateThreadpoolTimer;
  sock__real.CreateThreadpoolWork = CreateThreadpoolWork;
  sock__real.TrySubmitThreadpoolCallback = TrySubmitThreadpoolCallback;
  sock__real.getaddrinfo = getaddrinfo;
  sock__real.calloc = calloc;
  sock__real.bind = bind;
  sock__real.listen = listen;
  sock__real.completion = sock__real_completion;
  sock__real.CreateNamedPipeW = CreateNamedPipeW;
  sock__real.ConnectNamedPipe = ConnectNamedPipe;
  sock__real.CreateFileW = CreateFileW;
  sock__real.ReadFile = ReadFile;
  sock__real.WriteFile = WriteFile;
  sock__real.WSASendTo = WSASendTo;
  sock__real.WSARecvFrom = WSARecvFrom;
  /* Through void (*)(void): mingw-w64 types the routine as a reserved PVOID. */
  sock__real.GetAddrInfoExW =
      (int (WINAPI *)(PCWSTR, PCWSTR, DWORD, LPGUID, const ADDRINFOEXW *, PADDRINFOEXW *,
                      struct timeval *, LPOVERLAPPED, sock__lookup_routine,
                      LPHANDLE))(void (*)(void))GetAddrInfoExW;
  sock__real.AcquireCredentialsHandleW = sock__real_acquire_credentials;
  sock__real.InitializeSecurityContextW = InitializeSecurityContextW;
  sock__real.EncryptMessage = EncryptMessage;
  sock__real.DecryptMessage = DecryptMessage;
  sock__real.CertGetCertificateChain = CertGetCertificateChain;
  sock__sys = sock__real;
  return TRUE;
}

void sock__syscalls_init(void)
{
  InitOnceExecuteOnce(&sock__sys_once, sock__sys_fill, NULL, NULL);
}

/* ---- deciding a failure ------------------------------------------------------------- */

typedef struct sock__fault {
  volatile LONG calls;     /* seen while armed */
  volatile LONG failures;
  unsigned long first;     /* fail calls first .. last (counted from 1) */
  unsigned long last;      /* 0: no upper end */
  unsigned long error;     /* 0: the call's usual failure */
} sock__fault_t;

static sock__fault_t sock__faults[SOCK_SYS_COUNT];
static volatile LONG sock__random_p;     /* probability in millionths; 0 = off */
static volatile LONG sock__random_calls; /* the mask of entries it covers */
/* sock_fault_random's mask is an unsigned long, 32 bits on Windows: one bit
 * per entry. A new entry past the 32nd needs a wider mask. */
_Static_assert(SOCK_SYS_COUNT <= 32, "sock_fault_random's mask has a bit per seam entry");
static volatile LONG sock__random_seq;
static unsigned long sock__random_seed;

static const unsigned long sock__usual_error[SOCK_SYS_COUNT] = {
  WSAEMFILE, WSAECONNRESET, WSAECONNREFUSED, WSAECONNRESET, WSAECONNRESET,
  ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_ENOUGH_MEMORY,
  ERROR_NOT_ENOUGH_MEMORY, WSATRY_AGAIN, ERROR_NOT_ENOUGH_MEMORY, WSAEADDRINUSE, WSAENOBUFS,
  ERROR_NETNAME_DELETED, ERROR_NO_SYSTEM_RESOURCES, ERROR_BROKEN_PIPE, ERROR_ACCESS_DENIED,
  ERROR_BROKEN_PIPE, ERROR_NO_DATA, WSAECONNRESET, WSAECONNRESET, WSATRY_AGAIN,
  (unsigned long)SEC_E_NO_CREDENTIALS, (unsigned long)SEC_E_INTERNAL_ERROR,
  (unsigned long)SEC_E_INTERNAL_ERROR, (unsigned long)SEC_E_DECRYPT_FAILURE,
  (unsigned long)CRYPT_E_NOT_FOUND
};

static const char *const sock__names[SOCK_SYS_COUNT] = {
  "WSASocketW", "AcceptEx", "ConnectEx", "WSARecv", "WSASend", "CreateThreadpoolIo",
  "CreateThreadpoolTimer", "CreateThreadpoolWork", "TrySubmitThreadpoolCallback",
  "getaddrinfo", "calloc", "bind", "listen", "completion", "CreateNamedPipeW",
  "ConnectNamedPipe", "CreateFileW", "ReadFile", "WriteFile", "WSASendTo", "WSARecvFrom",
  "GetAddrInfoExW",
  "AcquireCredentialsHandleW", "InitializeSecurityContextW", "EncryptMessage",
  "DecryptMessage", "CertGetCertificateChain"
};

/* A well-mixed 64-bit value from a call's sequence number (splitmix64). */
static unsigned long long sock__mix(unsigned long long x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Whether this call of `call` fails; *error: with what. */
static int sock__fault_hit(sock_syscall_t call, unsigned long *error)
{
  sock__fault_t *f = &sock__faults[call];
  unsigned long n = (unsigned long)InterlockedIncrement(&f->calls);
  int fail = f->first != 0 && n >= f->first && (f->last == 0 || n <= f->last);
  if (!fail && ((unsigned long)sock__random_calls & (1ul << call)) && sock__random_p > 0) {
    unsigned long long r = sock__mix(sock__random_seed ^
                                     (unsigned long long)InterlockedIncrement(&sock__random_seq));
    fail = (long)(r % 1000000u) < sock__random_p;
  }
  if (!fail)
    return 0;
  InterlockedIncrement(&f->failures);
  *error = f->error != 0 && f->first != 0 ? f->error : sock__usual_error[call];
  return 1;
}

/* ---- the failing wrappers ------------------------------------------------------------ */

static SOCKET WINAPI sock__f_WSASocketW(int af, int type, int proto, LPWSAPROTOCOL_INFOW info,
                                        GROUP g, DWORD flags)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WSASOCKETW, &e)) {
    WSASetLastError((int)e);
    return INVALID_SOCKET;
  }
  return sock__real.WSASocketW(af, type, proto, info, g, flags);
}

static BOOL WINAPI sock__f_AcceptEx(SOCKET l, SOCKET a, PVOID buf, DWORD n, DWORD local,
                                    DWORD remote, LPDWORD bytes, LPOVERLAPPED ov)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_ACCEPTEX, &e)) {
    WSASetLastError((int)e);
    return FALSE;
  }
  return sock__real.AcceptEx(l, a, buf, n, local, remote, bytes, ov);
}

static BOOL WINAPI sock__f_ConnectEx(SOCKET s, const struct sockaddr *to, int len, PVOID buf,
                                     DWORD n, LPDWORD sent, LPOVERLAPPED ov)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CONNECTEX, &e)) {
    WSASetLastError((int)e);
    return FALSE;
  }
  return sock__real.ConnectEx(s, to, len, buf, n, sent, ov);
}

static int WINAPI sock__f_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD done,
                                  LPDWORD flags, LPWSAOVERLAPPED ov,
                                  LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WSARECV, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.WSARecv(s, bufs, count, done, flags, ov, routine);
}

static int WINAPI sock__f_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD done,
                                  DWORD flags, LPWSAOVERLAPPED ov,
                                  LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WSASEND, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.WSASend(s, bufs, count, done, flags, ov, routine);
}

static PTP_IO WINAPI sock__f_CreateThreadpoolIo(HANDLE h, PTP_WIN32_IO_CALLBACK fn, PVOID ctx,
                                                PTP_CALLBACK_ENVIRON env)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CREATETHREADPOOLIO, &e)) {
    SetLastError((DWORD)e);
    return NULL;
  }
  return sock__real.CreateThreadpoolIo(h, fn, ctx, env);
}

static PTP_TIMER WINAPI sock__f_CreateThreadpoolTimer(PTP_TIMER_CALLBACK fn, PVOID ctx,
                                                      PTP_CALLBACK_ENVIRON env)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CREATETHREADPOOLTIMER, &e)) {
    SetLastError((DWORD)e);
    return NULL;
  }
  return sock__real.CreateThreadpoolTimer(fn, ctx, env);
}

static PTP_WORK WINAPI sock__f_CreateThreadpoolWork(PTP_WORK_CALLBACK fn, PVOID ctx,
                                                    PTP_CALLBACK_ENVIRON env)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CREATETHREADPOOLWORK, &e)) {
    SetLastError((DWORD)e);
    return NULL;
  }
  return sock__real.CreateThreadpoolWork(fn, ctx, env);
}

static BOOL WINAPI sock__f_TrySubmitThreadpoolCallback(PTP_SIMPLE_CALLBACK fn, PVOID ctx,
                                                       PTP_CALLBACK_ENVIRON env)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_TRYSUBMITTHREADPOOLCALLBACK, &e)) {
    SetLastError((DWORD)e);
    return FALSE;
  }
  return sock__real.TrySubmitThreadpoolCallback(fn, ctx, env);
}

static int WINAPI sock__f_getaddrinfo(const char *host, const char *service,
                                      const struct addrinfo *hints, struct addrinfo **out)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_GETADDRINFO, &e)) {
    *out = NULL;
    return (int)e;
  }
  return sock__real.getaddrinfo(host, service, hints, out);
}

static void *sock__f_calloc(size_t n, size_t size)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CALLOC, &e))
    return NULL;
  return sock__real.calloc(n, size);
}

static int WINAPI sock__f_bind(SOCKET s, const struct sockaddr *a, int len)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_BIND, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.bind(s, a, len);
}

static int WINAPI sock__f_listen(SOCKET s, int backlog)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_LISTEN, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.listen(s, backlog);
}

static unsigned long sock__f_completion(unsigned long error)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_COMPLETION, &e))
    return e;
  return error;
}

static HANDLE WINAPI sock__f_CreateNamedPipeW(LPCWSTR name, DWORD open, DWORD mode, DWORD max,
                                              DWORD out, DWORD in, DWORD timeout,
                                              LPSECURITY_ATTRIBUTES sa)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CREATENAMEDPIPEW, &e)) {
    SetLastError((DWORD)e);
    return INVALID_HANDLE_VALUE;
  }
  return sock__real.CreateNamedPipeW(name, open, mode, max, out, in, timeout, sa);
}

static BOOL WINAPI sock__f_ConnectNamedPipe(HANDLE h, LPOVERLAPPED ov)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CONNECTNAMEDPIPE, &e)) {
    SetLastError((DWORD)e);
    return FALSE;
  }
  return sock__real.ConnectNamedPipe(h, ov);
}

static HANDLE WINAPI sock__f_CreateFileW(LPCWSTR name, DWORD access, DWORD share,
                                         LPSECURITY_ATTRIBUTES sa, DWORD disposition,
                                         DWORD flags, HANDLE tmpl)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CREATEFILEW, &e)) {
    SetLastError((DWORD)e);
    return INVALID_HANDLE_VALUE;
  }
  return sock__real.CreateFileW(name, access, share, sa, disposition, flags, tmpl);
}

/* SOCK_FAULT_SYNC (sock_fault.h): the transfer made and waited for on an
 * OVERLAPPED of our own whose event has its low bit set, which keeps the
 * completion from the handle's port, so the caller sees what a synchronous
 * completion looks like on Windows. The caller's OVERLAPPED only lends the
 * offset. */
static BOOL sock__sync_transfer(HANDLE h, void *buf, DWORD len, LPDWORD done,
                                const OVERLAPPED *theirs, int writing)
{
  OVERLAPPED ov;
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  BOOL ok;
  DWORD n = 0;
  if (ev == NULL)
    return FALSE;
  memset(&ov, 0, sizeof ov);
  ov.Offset = theirs->Offset;
  ov.OffsetHigh = theirs->OffsetHigh;
  ov.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
  ok = writing ? sock__real.WriteFile(h, buf, len, &n, &ov)
               : sock__real.ReadFile(h, buf, len, &n, &ov);
  if (ok || GetLastError() == ERROR_IO_PENDING)
    ok = GetOverlappedResult(h, &ov, &n, TRUE);
  if (!ok) {
    DWORD error = GetLastError();
    CloseHandle(ev);
    SetLastError(error);
    return FALSE;
  }
  CloseHandle(ev);
  if (done != NULL)
    *done = n;
  return TRUE;
}

static BOOL WINAPI sock__f_ReadFile(HANDLE h, LPVOID buf, DWORD len, LPDWORD done,
                                    LPOVERLAPPED ov)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_READFILE, &e)) {
    if (e == SOCK_FAULT_SYNC && ov != NULL)
      return sock__sync_transfer(h, buf, len, done, ov, 0);
    SetLastError((DWORD)e);
    return FALSE;
  }
  return sock__real.ReadFile(h, buf, len, done, ov);
}

static BOOL WINAPI sock__f_WriteFile(HANDLE h, LPCVOID buf, DWORD len, LPDWORD done,
                                     LPOVERLAPPED ov)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WRITEFILE, &e)) {
    if (e == SOCK_FAULT_SYNC && ov != NULL)
      return sock__sync_transfer(h, (void *)buf, len, done, ov, 1);
    SetLastError((DWORD)e);
    return FALSE;
  }
  return sock__real.WriteFile(h, buf, len, done, ov);
}

static int WINAPI sock__f_WSASendTo(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD done,
                                    DWORD flags, const struct sockaddr *to, int to_len,
                                    LPWSAOVERLAPPED ov,
                                    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WSASENDTO, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.WSASendTo(s, bufs, count, done, flags, to, to_len, ov, routine);
}

static int WINAPI sock__f_WSARecvFrom(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD done,
                                      LPDWORD flags, struct sockaddr *from, LPINT from_len,
                                      LPWSAOVERLAPPED ov,
                                      LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_WSARECVFROM, &e)) {
    WSASetLastError((int)e);
    return SOCKET_ERROR;
  }
  return sock__real.WSARecvFrom(s, bufs, count, done, flags, from, from_len, ov, routine);
}

/* Fails the way the call does at once: the error returned, no routine. */
static int WINAPI sock__f_GetAddrInfoExW(PCWSTR name, PCWSTR service, DWORD space, LPGUID id,
                                         const ADDRINFOEXW *hints, PADDRINFOEXW *out,
                                         struct timeval *timeout, LPOVERLAPPED ov,
                                         sock__lookup_routine routine, LPHANDLE cancel)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_GETADDRINFOEXW, &e)) {
    *out = NULL;
    WSASetLastError((int)e);
    return (int)e;
  }
  return sock__real.GetAddrInfoExW(name, service, space, id, hints, out, timeout, ov, routine,
                                   cancel);
}

/* The Schannel calls fail by returning their SECURITY_STATUS. */
static SECURITY_STATUS SEC_ENTRY sock__f_AcquireCredentialsHandleW(
    SEC_WCHAR *principal, SEC_WCHAR *package, ULONG use, void *logon, void *auth,
    SEC_GET_KEY_FN get_key, void *arg, PCredHandle cred, PTimeStamp expiry)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_ACQUIRECREDENTIALSHANDLEW, &e))
    return (SECURITY_STATUS)e;
  return sock__real.AcquireCredentialsHandleW(principal, package, use, logon, auth, get_key,
                                              arg, cred, expiry);
}

static SECURITY_STATUS SEC_ENTRY sock__f_InitializeSecurityContextW(
    PCredHandle cred, PCtxtHandle ctx, SEC_WCHAR *target, ULONG req, ULONG reserved1,
    ULONG rep, PSecBufferDesc in, ULONG reserved2, PCtxtHandle new_ctx, PSecBufferDesc out,
    ULONG *attr, PTimeStamp expiry)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_INITIALIZESECURITYCONTEXTW, &e))
    return (SECURITY_STATUS)e;
  return sock__real.InitializeSecurityContextW(cred, ctx, target, req, reserved1, rep, in,
                                               reserved2, new_ctx, out, attr, expiry);
}

static SECURITY_STATUS SEC_ENTRY sock__f_EncryptMessage(PCtxtHandle ctx, ULONG qop,
                                                        PSecBufferDesc msg, ULONG seq)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_ENCRYPTMESSAGE, &e))
    return (SECURITY_STATUS)e;
  return sock__real.EncryptMessage(ctx, qop, msg, seq);
}

static SECURITY_STATUS SEC_ENTRY sock__f_DecryptMessage(PCtxtHandle ctx, PSecBufferDesc msg,
                                                        ULONG seq, ULONG *qop)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_DECRYPTMESSAGE, &e))
    return (SECURITY_STATUS)e;
  return sock__real.DecryptMessage(ctx, msg, seq, qop);
}

static BOOL WINAPI sock__f_CertGetCertificateChain(HCERTCHAINENGINE engine, PCCERT_CONTEXT cert,
                                                   LPFILETIME when, HCERTSTORE more,
                                                   PCERT_CHAIN_PARA para, DWORD flags,
                                                   LPVOID reserved, PCCERT_CHAIN_CONTEXT *out)
{
  unsigned long e;
  if (sock__fault_hit(SOCK_SYS_CERTGETCERTIFICATECHAIN, &e)) {
    *out = NULL;
    SetLastError((DWORD)e);
    return FALSE;
  }
  return sock__real.CertGetCertificateChain(engine, cert, when, more, para, flags, reserved, out);
}

static const sock__syscalls_t sock__failing = {
  sock__f_WSASocketW, sock__f_AcceptEx, sock__f_ConnectEx, sock__f_WSARecv, sock__f_WSASend,
  sock__f_CreateThreadpoolIo, sock__f_CreateThreadpoolTimer, sock__f_CreateThreadpoolWork,
  sock__f_TrySubmitThreadpoolCallback, sock__f_getaddrinfo, sock__f_calloc, sock__f_bind,
  sock__f_listen, sock__f_completion, sock__f_CreateNamedPipeW, sock__f_ConnectNamedPipe,
  sock__f_CreateFileW, sock__f_ReadFile, sock__f_WriteFile, sock__f_WSASendTo,
  sock__f_WSARecvFrom, sock__f_GetAddrInfoExW, sock__f_AcquireCredentialsHandleW, sock__f_InitializeSecurityContextW, sock__f_EncryptMessage,
  sock__f_DecryptMessage, sock__f_CertGetCertificateChain
};

/* ---- arming ------------------------------------------------------------------------ */

/* The table viewed as an array of entries, to swap one by its index. The
 * struct holds function pointers only, all of one size. */
typedef void (*sock__any_fn)(void);

static void sock__swap(sock_syscall_t call, const sock__syscalls_t *from)
{
  sock__any_fn entry;
  size_t at = (size_t)call * sizeof entry;
  memcpy(&entry, (const char *)from + at, sizeof entry);
  memcpy((char *)&sock__sys + at, &entry, sizeof entry);
}

static void sock__clear_counts(sock_syscall_t call)
{
  sock__faults[call].calls = 0;
  sock__faults[call].failures = 0;
}

void sock_fault_nth(sock_syscall_t call, unsigned long nth, unsigned long count,
                    unsigned long error)
{
  sock__fault_t *f;
  if ((unsigned)call >= SOCK_SYS_COUNT)
    return;
  sock__syscalls_init();
  f = &sock__faults[call];
  sock__clear_counts(call);
  f->error = error;
  f->last = count == 0 ? 0 : nth + count - 1;
  f->first = nth == 0 ? 1 : nth;
  sock__swap(call, &sock__failing);
}

void sock_fault_random(double p, unsigned long calls, unsigned long seed)
{
  sock__syscalls_init();
  sock__random_seed = seed;
  sock__random_seq = 0;
  sock__random_p = (LONG)(p * 1000000.0);
  sock__random_calls = (LONG)calls;
  for (int i = 0; i < SOCK_SYS_COUNT; i++) {
    if (calls & (1UL << i)) {
      sock__clear_counts((sock_syscall_t)i);
      sock__swap((sock_syscall_t)i, &sock__failing);
    }
  }
}

volatile LONG sock__lookup_delay_ms;

void sock_fault_delay_lookups(unsigned ms)
{
  InterlockedExchange(&sock__lookup_delay_ms, (LONG)ms);
}

void sock_fault_reset(void)
{
  sock__syscalls_init();
  InterlockedExchange(&sock__lookup_delay_ms, 0);
  sock__random_p = 0;
  sock__random_calls = 0;
  for (int i = 0; i < SOCK_SYS_COUNT; i++) {
    sock__swap((sock_syscall_t)i, &sock__real);
    sock__faults[i].first = 0;
    sock__faults[i].last = 0;
    sock__faults[i].error = 0;
  }
}

unsigned long sock_fault_calls(sock_syscall_t call)
{
  return (unsigned)call < SOCK_SYS_COUNT ? (unsigned long)sock__faults[call].calls : 0;
}

unsigned long sock_fault_failures(sock_syscall_t call)
{
  return (unsigned)call < SOCK_SYS_COUNT ? (unsigned long)sock__faults[call].failures : 0;
}

const char *sock_syscall_name(sock_syscall_t call)
{
  return (unsigned)call < SOCK_SYS_COUNT ? sock__names[call] : "?";
}

/*
 * iocp_roundtrip.c: one message there and back on loopback, driven by the Win32 thread pool.
 *
 * What it teaches: the pattern every cosock socket operation is built on.
 *
 *   1. A socket gets a thread-pool IO object: CreateThreadpoolIo(socket, callback, ctx).
 *   2. Before EVERY overlapped call, StartThreadpoolIo(io) tells the pool "one completion
 *      is coming". If the call then fails at once (anything but WSA_IO_PENDING), no
 *      completion will come: CancelThreadpoolIo(io) takes the promise back. If it succeeds
 *      at once, the completion still arrives through the callback.
 *   3. The callback runs on a pool thread with the OVERLAPPED we passed and the result.
 *      It starts the next step, so the whole exchange is a chain of callbacks.
 *   4. Shutdown: close the sockets (pending operations complete as "aborted"), then
 *      WaitForThreadpoolIoCallbacks and CloseThreadpoolIo: after that no callback can
 *      run, and only then may the memory the callbacks use go away.
 *
 * The exchange (AcceptEx and ConnectEx come from WSAIoctl, as mswsock.dll recommends):
 *
 *   client                          server
 *   ConnectEx ------------------->  AcceptEx completes
 *   WSASend "hello..." ---------->  WSARecv completes
 *   WSARecv completes  <----------  WSASend (echo the same bytes)
 *
 * Prints what was sent and what came back; exits 0 only if they match ("round trip OK").
 * cosock's coroutines (co/) turn each of these callback chains into straight-line code.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* Vista: the thread-pool IO API */
#endif
#include <winsock2.h>
#include <mswsock.h>
#include <windows.h>

#include <stdio.h>
#include <string.h>

/* One side of the connection. It has one operation in flight at a time, so one
 * OVERLAPPED is enough; `step` says which operation that is. */
typedef struct side {
    OVERLAPPED ov;        /* first member: the callback gets &ov back            */
    SOCKET sock;          /* the connected socket (server: the accepted one)     */
    PTP_IO io;            /* the thread-pool IO object bound to `sock`           */
    int step;             /* which operation is in flight, see the callbacks     */
    char data[64];        /* send or receive buffer                              */
    DWORD len;            /* bytes in `data`                                     */
} side_t;

static const char message[] = "hello, thread pool";

static SOCKET listener = INVALID_SOCKET;
static PTP_IO listener_io;
static char accept_addrs[2 * (sizeof(SOCKADDR_IN) + 16)]; /* AcceptEx writes addresses here */
static side_t server, client;
static LPFN_ACCEPTEX accept_ex;
static LPFN_CONNECTEX connect_ex;
static HANDLE done;             /* set when both sides finished, or on the first error */
static volatile LONG remaining = 2;
static volatile LONG failed;

static void finish(int ok, const char *what, int err)
{
    if (!ok) {
        fprintf(stderr, "iocp_roundtrip: %s failed: error %d\n", what, err);
        InterlockedExchange(&failed, 1);
        SetEvent(done);
    } else if (InterlockedDecrement(&remaining) == 0) {
        SetEvent(done);
    }
}

/* Steps 2 of the pattern: start one overlapped operation (WSASend if `send` else
 * WSARecv) on `s`. Returns 0 if a completion will come, or the Winsock error. */
static int start_io(side_t *s, int send)
{
    WSABUF buf;
    DWORD flags = 0;
    int rc, err;

    buf.buf = s->data;
    buf.len = send ? s->len : (ULONG)sizeof(s->data);
    memset(&s->ov, 0, sizeof(s->ov));
    StartThreadpoolIo(s->io);
    if (send)
        rc = WSASend(s->sock, &buf, 1, NULL, 0, &s->ov, NULL);
    else
        rc = WSARecv(s->sock, &buf, 1, NULL, &flags, &s->ov, NULL);
    err = rc == 0 ? 0 : WSAGetLastError();
    if (err == 0 || err == WSA_IO_PENDING)
        return 0; /* success now or later: either way the callback will come */
    CancelThreadpoolIo(s->io);
    return err;
}

/* Server side, after the accept: receive the message, then send it back. */
static VOID CALLBACK on_server_io(PTP_CALLBACK_INSTANCE instance, PVOID context,
                                  PVOID overlapped, ULONG result, ULONG_PTR bytes, PTP_IO io)
{
    side_t *s = (side_t *)context;
    int err;

    (void)instance; (void)overlapped; (void)io;
    if (result != NO_ERROR) {
        finish(0, s->step == 0 ? "server WSARecv" : "server WSASend", (int)result);
    } else if (s->step == 0) {          /* received: echo the same bytes */
        s->len = (DWORD)bytes;
        s->step = 1;
        if ((err = start_io(s, 1)) != 0)
            finish(0, "server WSASend", err);
    } else {                            /* echo sent: the server is done */
        finish(1, NULL, 0);
    }
}

/* Listener: AcceptEx completed, so the pre-created socket server.sock is connected. */
static VOID CALLBACK on_accept(PTP_CALLBACK_INSTANCE instance, PVOID context,
                               PVOID overlapped, ULONG result, ULONG_PTR bytes, PTP_IO io)
{
    int err;

    (void)instance; (void)context; (void)overlapped; (void)bytes; (void)io;
    if (result != NO_ERROR) {
        finish(0, "AcceptEx", (int)result);
        return;
    }
    /* Without this, getpeername/shutdown do not work on an AcceptEx socket. */
    setsockopt(server.sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
               (const char *)&listener, (int)sizeof(listener));
    server.io = CreateThreadpoolIo((HANDLE)server.sock, on_server_io, &server, NULL);
    if (server.io == NULL)
        finish(0, "CreateThreadpoolIo", (int)GetLastError());
    else if ((err = start_io(&server, 0)) != 0)
        finish(0, "server WSARecv", err);
}

/* Client side: connected -> send the message -> receive the echo. */
static VOID CALLBACK on_client_io(PTP_CALLBACK_INSTANCE instance, PVOID context,
                                  PVOID overlapped, ULONG result, ULONG_PTR bytes, PTP_IO io)
{
    static const char *const names[] = {"ConnectEx", "client WSASend", "client WSARecv"};
    side_t *s = (side_t *)context;
    int err = 0;

    (void)instance; (void)overlapped; (void)io;
    if (result != NO_ERROR) {
        finish(0, names[s->step], (int)result);
        return;
    }
    switch (s->step) {
    case 0: /* connected: send */
        setsockopt(s->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
        s->len = (DWORD)(sizeof(message) - 1);
        memcpy(s->data, message, s->len);
        printf("client sent:     \"%.*s\" (%lu bytes)\n", (int)s->len, s->data, s->len);
        s->step = 1;
        err = start_io(s, 1);
        break;
    case 1: /* sent: receive the echo */
        s->step = 2;
        err = start_io(s, 0);
        break;
    default: /* echo received: the client is done */
        s->len = (DWORD)bytes;
        printf("client received: \"%.*s\" (%lu bytes)\n", (int)s->len, s->data, s->len);
        finish(1, NULL, 0);
        return;
    }
    if (err != 0)
        finish(0, names[s->step], err);
}

/* Ask Winsock for an extension function (AcceptEx, ConnectEx) of socket `s`. */
static int load_extension(SOCKET s, GUID guid, void *fn, DWORD size)
{
    DWORD got = 0;
    return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, (DWORD)sizeof(guid),
                    fn, size, &got, NULL, NULL) == 0;
}

/* Set up both sockets and start the first two operations: AcceptEx and ConnectEx. */
static const char *start(void)
{
    GUID accept_guid = WSAID_ACCEPTEX, connect_guid = WSAID_CONNECTEX;
    SOCKADDR_IN addr;
    int addr_len = (int)sizeof(addr);
    DWORD unused;

    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    server.sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    client.sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET || server.sock == INVALID_SOCKET || client.sock == INVALID_SOCKET)
        return "socket";
    if (!load_extension(listener, accept_guid, &accept_ex, (DWORD)sizeof(accept_ex)) ||
        !load_extension(client.sock, connect_guid, &connect_ex, (DWORD)sizeof(connect_ex)))
        return "WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)";

    /* Listen on 127.0.0.1 with a port the system picks; the client binds too: ConnectEx
     * needs a bound socket. */
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (SOCKADDR *)&addr, addr_len) != 0 || listen(listener, 1) != 0 ||
        bind(client.sock, (SOCKADDR *)&addr, addr_len) != 0)
        return "bind/listen";
    if (getsockname(listener, (SOCKADDR *)&addr, &addr_len) != 0)
        return "getsockname";

    listener_io = CreateThreadpoolIo((HANDLE)listener, on_accept, NULL, NULL);
    client.io = CreateThreadpoolIo((HANDLE)client.sock, on_client_io, &client, NULL);
    if (listener_io == NULL || client.io == NULL)
        return "CreateThreadpoolIo";

    /* The pattern, twice: promise a completion, start the call, take the promise back
     * if the call failed at once. */
    StartThreadpoolIo(listener_io);
    if (!accept_ex(listener, server.sock, accept_addrs, 0, (DWORD)sizeof(SOCKADDR_IN) + 16,
                   (DWORD)sizeof(SOCKADDR_IN) + 16, &unused, &server.ov) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
        CancelThreadpoolIo(listener_io);
        return "AcceptEx";
    }
    StartThreadpoolIo(client.io);
    if (!connect_ex(client.sock, (SOCKADDR *)&addr, addr_len, NULL, 0, NULL, &client.ov) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
        CancelThreadpoolIo(client.io);
        return "ConnectEx";
    }
    return NULL;
}

/* Step 4: close the sockets (pending operations complete as aborted), then wait until no
 * callback runs or can run, and free the IO objects. The listener goes first: its callback
 * is what creates server.io, so server.io is only read once that callback cannot run. */
static void close_io(PTP_IO io)
{
    if (io != NULL) {
        WaitForThreadpoolIoCallbacks(io, FALSE);
        CloseThreadpoolIo(io);
    }
}

static void shut_down(void)
{
    closesocket(client.sock);
    closesocket(server.sock);
    closesocket(listener);
    close_io(listener_io);
    close_io(client.io);
    close_io(server.io);
}

int main(void)
{
    WSADATA wsa;
    const char *failed_call;
    int ok;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "iocp_roundtrip: FAILED: WSAStartup\n");
        return 1;
    }
    done = CreateEventW(NULL, TRUE, FALSE, NULL);
    failed_call = start();
    if (failed_call != NULL)
        fprintf(stderr, "iocp_roundtrip: %s failed: error %d\n", failed_call, WSAGetLastError());
    else if (WaitForSingleObject(done, 10000) != WAIT_OBJECT_0)
        fprintf(stderr, "iocp_roundtrip: no completion within 10 s\n");
    shut_down();

    ok = failed_call == NULL && !failed && client.len == sizeof(message) - 1 &&
         memcmp(client.data, message, client.len) == 0;
    printf(ok ? "round trip OK\n" : "iocp_roundtrip: FAILED\n");
    CloseHandle(done);
    WSACleanup();
    return ok ? 0 : 1;
}

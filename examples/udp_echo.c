/*
 * udp_echo.c - a UDP echo server: every datagram goes back to its sender.
 *
 * What it teaches: datagrams with cosock.
 *   - A UDP socket is one sock_t shared by several receive tasks (here 8,
 *     --receivers): each keeps one receive pending, so datagrams arriving
 *     together are taken by different pool threads at once. There is no
 *     accept and no connection: the sender's address comes with each
 *     datagram (sock_udp_recv_from_start) and the answer goes to it
 *     (sock_udp_send_to_start).
 *   - A task's struct holds what survives the awaits: the operation record,
 *     the buffer, and the peer's address, which the kernel fills in when
 *     the datagram arrives.
 *   - Errors of one datagram are not errors of the server: a datagram
 *     longer than the buffer (CO_EMSGSIZE; the buffer here holds the
 *     largest UDP payload, so only a bigger buffer size would show it) or a
 *     send that fails is logged and the loop goes on. Only the stop
 *     (CO_ECANCELED) ends it.
 *   - The stop is the same as a TCP server's: sock_runtime_cancel_all ends
 *     every receive, each task ends, the socket is closed, the counters
 *     fall to zero.
 *
 * The same handler as raw thread-pool callbacks (what the step function
 * saves you; tests/bench/baseline_udp_echo.c is it in full):
 *
 *     static void post_recv(slot_t *s) {
 *         s->from_len = sizeof s->from;
 *         StartThreadpoolIo(io);
 *         if (WSARecvFrom(sock, &s->wsabuf, 1, NULL, &s->flags, &s->from,
 *                         &s->from_len, &s->ov, NULL) != 0 &&
 *             WSAGetLastError() != WSA_IO_PENDING && WSAGetLastError() != WSAEMSGSIZE)
 *             CancelThreadpoolIo(io);             // no completion will come
 *     }
 *     static void CALLBACK on_io(..., void *ov, ULONG err, ULONG_PTR n, PTP_IO io) {
 *         slot_t *s = CONTAINING_RECORD(ov, slot_t, ov);
 *         if (s->sending) { s->sending = 0; post_recv(s); return; }
 *         if (err == ERROR_OPERATION_ABORTED) return;    // stopping
 *         s->sending = 1;  s->wsabuf.len = (ULONG)n;
 *         StartThreadpoolIo(io);
 *         WSASendTo(sock, &s->wsabuf, 1, NULL, 0, &s->from, s->from_len, &s->ov, NULL);
 *     }
 *
 * With cosock the state machine ("sending" or not) is the step function's
 * resume point, and the four outcomes of each call are the library's.
 *
 * Run it (Debian, under Wine; close stdin or press Ctrl+C to stop):
 *     cmake --build --preset mingw --target udp_echo
 *     cmake/wine-run.sh build/mingw/examples/udp_echo.exe --port 7000
 * and talk to it from another terminal:  nc -u 127.0.0.1 7000
 * (or: socat - UDP:127.0.0.1:7000). Run with --help for every flag.
 */
#include "cli.h"

enum { MAX_RECEIVERS = 64, MAX_DATAGRAM = 65536 };

typedef struct receiver {
  sock_task_t task;              /* first: counted, so the stop can wait for it */
  sock_t     *sock;              /* shared by every receiver; main closes it */
  sock_op_t   op;                /* the record of the one await in flight */
  sock_addr_t peer;              /* the sender of the datagram in buf */
  char        buf[MAX_DATAGRAM]; /* the largest UDP payload fits */
} receiver_t;

static struct {
  int           verbose;
  volatile LONG datagrams;       /* statistics, printed with --verbose */
  volatile LONG errors;
} g;

static receiver_t *receivers[MAX_RECEIVERS];

static void log_datagram_error(receiver_t *r, const char *step)
{
  char what[96], from[64];
  InterlockedIncrement(&g.errors);
  snprintf(what, sizeof what, "%s %s", step, sock_addr_format(&r->peer, from, sizeof from));
  cli_log_op(what, &r->op);
}

static co_state_t receiver_step(co_task_t *t)
{
  receiver_t *r = (receiver_t *)t;
  CO_BEGIN(t);
  for (;;) {
    /* One datagram, and who sent it... */
    CO_AWAIT(t, sock_udp_recv_from_start(&r->op, r->sock, r->buf, sizeof r->buf, &r->peer, t));
    if (r->op.error == CO_ECANCELED || r->op.error == CO_ESHUTDOWN)
      break;                     /* the stop */
    if (r->op.error < 0) {       /* one bad datagram: log it, take the next */
      log_datagram_error(r, "receive from");
      if (r->op.error != CO_EMSGSIZE)
        continue;                /* a truncated one is still echoed, as far as it came */
    }
    /* ...and every byte of it back to the sender. */
    CO_AWAIT(t, sock_udp_send_to_start(&r->op, r->sock, r->buf, r->op.bytes, &r->peer, t));
    if (r->op.error == CO_ECANCELED || r->op.error == CO_ESHUTDOWN)
      break;
    if (r->op.error < 0)
      log_datagram_error(r, "send to");
    else
      InterlockedIncrement(&g.datagrams);
  }
  CO_END(t);
}

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  unsigned long port = 0, count = 8;
  int no_stdin = 0, dual_stack = 0, clean, rc, i;
  sock_runtime_t *rt = NULL;
  sock_t *sock = NULL;
  sock_counters_t counters;
  char what[128];
  const cli_flag_t flags[] = {
    {"--host", CLI_STRING, "H", "address to listen on (default 127.0.0.1; \"\" = all IPv4)", &host,
     0, 0},
    {"--port", CLI_NUMBER, "P", "port to listen on (default 0: any free port)", &port, 0, 65535},
    {"--receivers", CLI_NUMBER, "N", "receive tasks sharing the socket (default 8)", &count, 1,
     MAX_RECEIVERS},
    {"--dual-stack", CLI_SWITCH, NULL, "an IPv6 socket that serves IPv4 too (with --host \"\" or ::)",
     &dual_stack, 0, 0},
    {"--no-stdin", CLI_SWITCH, NULL, "do not stop at end of stdin (for a detached server)",
     &no_stdin, 0, 0},
    {"--verbose", CLI_SWITCH, NULL, "print statistics and the runtime's counters on stop",
     &g.verbose, 0, 0},
  };

  cli_parse(argc, argv, "udp_echo",
            "A UDP echo server: every datagram goes back to its sender. Stops on Ctrl+C or end "
            "of stdin.",
            flags, sizeof flags / sizeof flags[0]);
  if (!cli_stop_init(!no_stdin))
    return 1;
  rc = sock_runtime_create(&rt, NULL);
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 1;
  }
  rc = sock_udp_open(rt, host, (unsigned short)port, dual_stack ? SOCK_UDP_DUALSTACK : 0, &sock);
  if (rc != CO_OK) {
    snprintf(what, sizeof what, "opening %s:%lu", host, port);
    cli_log_error(what, rc, 0);
    sock_runtime_shutdown(rt);
    return 1;
  }
  cli_print_listening(sock);  /* "listening on H:P", with the real port */

  for (i = 0; i < (int)count; i++) {
    receivers[i] = (receiver_t *)calloc(1, sizeof *receivers[i]);
    if (receivers[i] == NULL) {
      cli_log_error("a receiver", CO_ENOMEM, 0);
      break;
    }
    receivers[i]->sock = sock;
    sock_spawn(rt, &receivers[i]->task, receiver_step, NULL);
  }

  cli_wait_stop(INFINITE);

  /* The stop: every receive ends with CO_ECANCELED, each task ends; then
   * the socket they shared is closed and the counters must reach zero. */
  clean = cli_server_stop(rt, sock, &counters);
  if (g.verbose || !clean)
    fprintf(stderr,
            "udp_echo: %ld datagrams echoed, %ld errors; counters at stop: %ld sockets, "
            "%ld tasks, %ld pending operations\n",
            (long)g.datagrams, (long)g.errors, counters.sockets, counters.tasks,
            counters.pending_ops);
  sock_runtime_shutdown(rt);
  for (i = 0; i < (int)count; i++)
    free(receivers[i]);  /* finished (their tasks ended before the counters fell) */
  cli_stop_exiting();
  return clean ? 0 : 1;
}

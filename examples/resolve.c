/*
 * resolve.c - look a name up, like `getent ahosts NAME`: one address a line.
 *
 *     resolve NAME [PORT] [--family 4|6] [--timeout MS]
 *
 * What it teaches: name resolution is an await like any other.
 *   - sock_resolve_start hands the name to the system's resolver
 *     (GetAddrInfoExW in its overlapped mode): no thread of the program
 *     waits for the answer; the task resumes when it comes.
 *   - A deadline bounds it (sock_deadline_set, --timeout): a lookup that
 *     takes longer is abandoned, the task resumes at once with
 *     CO_ETIMEDOUT, and the system's request frees itself when it ends
 *     (the runtime's shutdown waits for that).
 *   - The results go into storage the task owns (an array of sock_addr_t),
 *     ready for sock_connect_addr_start or sock_udp_send_to_start.
 *   - A numeric address needs no lookup: the start finishes at once.
 *
 * Prints each address (with the port as "H:P" or "[H]:P" when PORT is
 * given) and exits 0; when the name does not resolve it prints the error's
 * text on stderr and exits 2; a bad command line exits 2 with the usage.
 *
 * Run it (Debian, under Wine):
 *     cmake/wine-run.sh build/mingw/examples/resolve.exe localhost 80
 */
#include "cli.h"

enum { MAX_ADDRS = 32 };

typedef struct lookup {
  sock_task_t    task;              /* first: a deadline needs a sock_task_t */
  sock_op_t      op;
  const char    *name;
  unsigned short port;
  int            family;            /* AF_UNSPEC, AF_INET, AF_INET6 */
  unsigned long  timeout_ms;        /* 0: no deadline */
  sock_addr_t    addrs[MAX_ADDRS];  /* the answers land here */
  HANDLE         done;              /* set by the completion hook */
} lookup_t;

static lookup_t lookup;

static co_state_t lookup_step(co_task_t *t)
{
  lookup_t *l = (lookup_t *)t;
  CO_BEGIN(t);
  if (l->timeout_ms > 0 && sock_deadline_set(&l->task, (unsigned)l->timeout_ms) != CO_OK)
    CO_EXIT(t, CO_ENOMEM);
  CO_AWAIT(t, sock_resolve_start(&l->op, l->task.runtime, l->name, l->port, l->family, l->addrs,
                                 MAX_ADDRS, t));
  CO_END(t);  /* the result stays in l->op for main */
}

static void lookup_done(co_task_t *t)
{
  SetEvent(((lookup_t *)t)->done);
}

/* The command line: positional NAME and PORT, flags handed to cli_parse. */
static void parse(int argc, char **argv, const char **port_text, unsigned long *family,
                  unsigned long *timeout)
{
  static char *flag_argv[16];
  int flag_argc = 1, positional = 0, i;
  const cli_flag_t flags[] = {
    {"--family", CLI_NUMBER, "4|6", "IPv4 or IPv6 addresses only (default: both)", family, 4, 6},
    {"--timeout", CLI_NUMBER, "MS", "give up after MS milliseconds (default 10000; 0: never)",
     timeout, 0, 3600000},
  };
  const char *summary = "Resolves NAME [PORT] and prints one address a line, like getent ahosts.\n"
                        "Exits 2, with the error's text, when the name does not resolve.";
  flag_argv[0] = argv[0];
  for (i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') {  /* a flag, and its value */
      if (flag_argc + 2 >= (int)(sizeof flag_argv / sizeof flag_argv[0]))
        break;
      flag_argv[flag_argc++] = argv[i];
      if ((strcmp(argv[i], "--family") == 0 || strcmp(argv[i], "--timeout") == 0) && i + 1 < argc)
        flag_argv[flag_argc++] = argv[++i];
    } else if (positional == 0) {
      lookup.name = argv[i];
      positional++;
    } else if (positional == 1) {
      *port_text = argv[i];
      positional++;
    } else {
      flag_argv[flag_argc++] = argv[i];  /* a third word: cli_parse says what is wrong */
      break;
    }
  }
  cli_parse(flag_argc, flag_argv, "resolve", summary, flags, sizeof flags / sizeof flags[0]);
  if (*family == 5 || lookup.name == NULL) {
    fprintf(stderr, "resolve: %s\n", lookup.name == NULL ? "NAME is missing" : "--family is 4 or 6");
    exit(2);
  }
}

int main(int argc, char **argv)
{
  const char *port_text = NULL;
  unsigned long family = 0, timeout = 10000, i;
  sock_runtime_t *rt = NULL;
  char text[80];
  int rc;

  parse(argc, argv, &port_text, &family, &timeout);
  if (port_text != NULL) {
    char *end;
    unsigned long port = strtoul(port_text, &end, 10);
    if (port_text[0] < '0' || port_text[0] > '9' || *end != '\0' || port > 65535) {
      fprintf(stderr, "resolve: PORT is a number from 0 to 65535, not %s\n", port_text);
      return 2;
    }
    lookup.port = (unsigned short)port;
  }
  lookup.family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  lookup.timeout_ms = timeout;
  lookup.done = CreateEventW(NULL, TRUE, FALSE, NULL);
  rc = lookup.done != NULL ? sock_runtime_create(&rt, NULL) : CO_ENOMEM;
  if (rc != CO_OK) {
    cli_log_error("starting the runtime", rc, 0);
    return 1;
  }
  sock_spawn(rt, &lookup.task, lookup_step, lookup_done);
  WaitForSingleObject(lookup.done, INFINITE);
  sock_runtime_shutdown(rt);  /* waits for an abandoned lookup to end */
  CloseHandle(lookup.done);

  if (lookup.op.error < 0) {
    fprintf(stderr, "resolve: %s: %s (%s, win32 %lu)\n", lookup.name,
            co_strerror(lookup.op.error), co_errname(lookup.op.error), lookup.op.win32_error);
    return 2;
  }
  for (i = 0; i < lookup.op.bytes; i++) {
    if (port_text != NULL) {
      sock_addr_format(&lookup.addrs[i], text, sizeof text);
    } else {
      const sock_addr_t *a = &lookup.addrs[i];
      inet_ntop(a->si_family, a->si_family == AF_INET6 ? (void *)&a->Ipv6.sin6_addr
                                                       : (void *)&a->Ipv4.sin_addr,
                text, sizeof text);
    }
    printf("%s\n", text);
  }
  return 0;
}

/*
 * tests/bench/baseline_pipe_echo.c - a named pipe echo server written directly
 * on the Win32 thread-pool IO API, no cosock: what cosock's pipe_echo
 * (examples/pipe_echo.c) is measured against by run_pipe_file_bench.sh.
 *
 * The way one writes it by hand: N instances of the name, each with its own
 * PTP_IO, one OVERLAPPED and a 4 KiB buffer; a callback that runs a small
 * state machine (connect -> read -> write all -> read ...; on a broken pipe
 * disconnect and connect again). Byte mode, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
 * with synchronous completions handled inline in a loop (as cosock does),
 * PIPE_REJECT_REMOTE_CLIENTS, default security.
 *
 *   baseline_pipe_echo --name NAME [--instances N]
 * First line: "listening on \\.\pipe\NAME"; it stops at end of stdin.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PIPE_REJECT_REMOTE_CLIENTS
#  define PIPE_REJECT_REMOTE_CLIENTS 0x00000008
#endif
#ifndef FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
#  define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1
#  define FILE_SKIP_SET_EVENT_ON_HANDLE 0x2
#endif

enum { BUF = 4096, MAX_INSTANCES = 64 };
enum state { CONNECTING, READING, WRITING };

typedef struct instance {
  OVERLAPPED ov;       /* first */
  HANDLE     pipe;
  PTP_IO     io;
  enum state state;
  DWORD      have, sent;
  char       buf[BUF];
} instance_t;

static instance_t instances[MAX_INSTANCES];
static volatile LONG stopping;

/* Issues the next call for the state; returns 1 if it completed at once
 * (skip mode: no callback; *error and *bytes hold the result), 0 if a
 * callback will come or the instance is done. */
static int issue(instance_t *in, DWORD *error, DWORD *bytes)
{
  BOOL ok;
  if (stopping)
    return 0;
  memset(&in->ov, 0, sizeof in->ov);
  StartThreadpoolIo(in->io);
  *bytes = 0;
  if (in->state == CONNECTING)
    ok = ConnectNamedPipe(in->pipe, &in->ov);
  else if (in->state == READING)
    ok = ReadFile(in->pipe, in->buf, BUF, bytes, &in->ov);
  else
    ok = WriteFile(in->pipe, in->buf + in->sent, in->have - in->sent, bytes, &in->ov);
  *error = ok ? 0 : GetLastError();
  if (*error == ERROR_IO_PENDING)
    return 0;
  CancelThreadpoolIo(in->io);  /* success (skip mode) or a failure: no callback */
  return 1;
}

/* One outcome; sets the next state. */
static void advance(instance_t *in, DWORD error, DWORD bytes)
{
  if (in->state == CONNECTING) {
    if (error == 0 || error == ERROR_PIPE_CONNECTED)
      in->state = READING;
    else
      DisconnectNamedPipe(in->pipe);  /* ERROR_NO_DATA: a client came and went */
    return;
  }
  if (error != 0 || (in->state == READING && bytes == 0)) {  /* the client left */
    DisconnectNamedPipe(in->pipe);
    in->state = CONNECTING;
    return;
  }
  if (in->state == READING) {
    in->have = bytes;
    in->sent = 0;
    in->state = WRITING;
    return;
  }
  in->sent += bytes;
  if (in->sent == in->have)
    in->state = READING;
}

/* Runs the instance until a call is pending. */
static void drive(instance_t *in)
{
  DWORD error, bytes;
  while (issue(in, &error, &bytes))
    advance(in, error, bytes);
}

static void CALLBACK on_io(PTP_CALLBACK_INSTANCE ci, PVOID context, PVOID ov, ULONG error,
                           ULONG_PTR bytes, PTP_IO io)
{
  instance_t *in = context;
  (void)ci;
  (void)ov;
  (void)io;
  advance(in, error, (DWORD)bytes);
  drive(in);
}

int main(int argc, char **argv)
{
  const char *name = NULL;
  unsigned long n = 4, i;
  WCHAR path[300];
  char line[256];
  DWORD got;
  for (i = 1; i < (unsigned long)argc; i++) {
    if (strcmp(argv[i], "--name") == 0 && i + 1 < (unsigned long)argc)
      name = argv[++i];
    else if (strcmp(argv[i], "--instances") == 0 && i + 1 < (unsigned long)argc)
      n = strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: baseline_pipe_echo --name NAME [--instances N]\n");
      return 2;
    }
  }
  if (name == NULL || n < 1 || n > MAX_INSTANCES) {
    fprintf(stderr, "usage: baseline_pipe_echo --name NAME [--instances N (1-64)]\n");
    return 2;
  }
  wcscpy(path, L"\\\\.\\pipe\\");
  MultiByteToWideChar(CP_UTF8, 0, name, -1, path + wcslen(path), 250);
  for (i = 0; i < n; i++) {
    instance_t *in = &instances[i];
    in->pipe = CreateNamedPipeW(path, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                          (i == 0 ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                    PIPE_REJECT_REMOTE_CLIENTS,
                                PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, NULL);
    if (in->pipe == INVALID_HANDLE_VALUE) {
      fprintf(stderr, "baseline_pipe_echo: CreateNamedPipeW: %lu\n", GetLastError());
      return 1;
    }
    SetFileCompletionNotificationModes(in->pipe, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                                                     FILE_SKIP_SET_EVENT_ON_HANDLE);
    in->io = CreateThreadpoolIo(in->pipe, on_io, in, NULL);
    if (in->io == NULL) {
      fprintf(stderr, "baseline_pipe_echo: CreateThreadpoolIo: %lu\n", GetLastError());
      return 1;
    }
    in->state = CONNECTING;
  }
  printf("listening on \\\\.\\pipe\\%s\n", name);
  fflush(stdout);
  for (i = 0; i < n; i++)
    drive(&instances[i]);
  while (ReadFile(GetStdHandle(STD_INPUT_HANDLE), line, sizeof line, &got, NULL) && got > 0) {
  }
  InterlockedExchange(&stopping, 1);
  return 0;  /* the process's exit closes the pipes (a benchmark, not a library) */
}

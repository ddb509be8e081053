/*
 * tests/bench/baseline_file_copy.c - the two ways of copying a file that
 * cosock's file_copy (examples/file_copy.c) is measured against by
 * run_pipe_file_bench.sh, no cosock:
 *
 *   baseline_file_copy copyfile SRC DST        CopyFileW, the system's copy
 *   baseline_file_copy sync SRC DST [CHUNK]    a plain loop of synchronous ReadFile and
 *                                              WriteFile, CHUNK bytes each (default 1 MiB)
 *
 * Prints "baseline_file_copy: N bytes in S s: X MB/s" and exits 0, or 1 on a failure.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static WCHAR *wide(const char *s)
{
  int n = MultiByteToWideChar(CP_ACP, 0, s, -1, NULL, 0);
  WCHAR *w = (WCHAR *)malloc((size_t)n * sizeof(WCHAR));
  if (w != NULL)
    MultiByteToWideChar(CP_ACP, 0, s, -1, w, n);
  return w;
}

static int sync_copy(const WCHAR *src, const WCHAR *dst, DWORD chunk, unsigned long long *total)
{
  char *buf = (char *)malloc(chunk);
  HANDLE in = CreateFileW(src, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                          FILE_FLAG_SEQUENTIAL_SCAN, NULL);
  HANDLE out = CreateFileW(dst, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
  DWORD n, w;
  int ok = buf != NULL && in != INVALID_HANDLE_VALUE && out != INVALID_HANDLE_VALUE;
  while (ok && ReadFile(in, buf, chunk, &n, NULL) && n > 0) {
    ok = WriteFile(out, buf, n, &w, NULL) && w == n;
    *total += n;
  }
  if (in != INVALID_HANDLE_VALUE)
    CloseHandle(in);
  if (out != INVALID_HANDLE_VALUE)
    CloseHandle(out);
  free(buf);
  return ok;
}

int main(int argc, char **argv)
{
  LARGE_INTEGER f, t0, t1;
  unsigned long long total = 0;
  WIN32_FILE_ATTRIBUTE_DATA a;
  WCHAR *src, *dst;
  double s;
  int ok;
  if (argc < 4 || (strcmp(argv[1], "copyfile") != 0 && strcmp(argv[1], "sync") != 0)) {
    fprintf(stderr, "usage: baseline_file_copy copyfile|sync SRC DST [CHUNK]\n");
    return 2;
  }
  src = wide(argv[2]);
  dst = wide(argv[3]);
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  if (strcmp(argv[1], "copyfile") == 0) {
    ok = CopyFileW(src, dst, FALSE);
    if (ok && GetFileAttributesExW(dst, GetFileExInfoStandard, &a))
      total = ((unsigned long long)a.nFileSizeHigh << 32) | a.nFileSizeLow;
  } else {
    ok = sync_copy(src, dst, argc > 4 ? (DWORD)strtoul(argv[4], NULL, 10) : 1u << 20, &total);
  }
  QueryPerformanceCounter(&t1);
  if (!ok) {
    fprintf(stderr, "baseline_file_copy: %s failed: %lu\n", argv[1], GetLastError());
    return 1;
  }
  s = (double)(t1.QuadPart - t0.QuadPart) / (double)f.QuadPart;
  printf("baseline_file_copy: %llu bytes in %.3f s: %.1f MB/s\n", total, s,
         s > 0 ? (double)total / 1e6 / s : 0.0);
  return 0;
}

/*
 * tests/bench/tls_baseline.c - the limit the TLS download is measured
 * against: a hand-written blocking Schannel client, no cosock. One socket,
 * the InitializeSecurityContextW loop, then recv + DecryptMessage in a loop
 * over a 64 KiB buffer (the size cosock's session uses), EXTRA moved to the
 * front, until close_notify (SEC_I_CONTEXT_EXPIRED, or Wine's SEC_E_OK with
 * no data).
 *
 *   tls_baseline --port P [--path /big.bin]
 *   -> "download bytes=N seconds=S mib_per_s=M"  (from the request to the end)
 */
#define SECURITY_WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <security.h>
#include <schannel.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CAP = 64 * 1024 };

static char in[CAP];
static size_t have;

static void die(const char *what, long code)
{
  fprintf(stderr, "tls_baseline: %s: 0x%lx\n", what, (unsigned long)code);
  exit(1);
}

static void send_all(SOCKET s, const char *p, size_t n)
{
  while (n > 0) {
    int k = send(s, p, (int)n, 0);
    if (k <= 0)
      die("send", WSAGetLastError());
    p += k;
    n -= (size_t)k;
  }
}

static int recv_more(SOCKET s)
{
  int k = recv(s, in + have, (int)(CAP - have), 0);
  if (k < 0)
    die("recv", WSAGetLastError());
  have += (size_t)k;
  return k;
}

static void handshake(SOCKET s, CredHandle *cred, CtxtHandle *ctx)
{
  ULONG flags = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |
                ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_MANUAL_CRED_VALIDATION;
  SecBuffer ib[2], ob[1];
  SecBufferDesc id = { SECBUFFER_VERSION, 2, ib }, od = { SECBUFFER_VERSION, 1, ob };
  ULONG attrs;
  SECURITY_STATUS st;
  int first = 1;
  for (;;) {
    ob[0].BufferType = SECBUFFER_TOKEN;
    ob[0].pvBuffer = NULL;
    ob[0].cbBuffer = 0;
    if (first) {
      st = InitializeSecurityContextW(cred, NULL, NULL, flags, 0, 0, NULL, 0, ctx, &od, &attrs,
                                      NULL);
      first = 0;
    } else {
      ib[0].BufferType = SECBUFFER_TOKEN;
      ib[0].pvBuffer = in;
      ib[0].cbBuffer = (unsigned long)have;
      ib[1].BufferType = SECBUFFER_EMPTY;
      ib[1].pvBuffer = NULL;
      ib[1].cbBuffer = 0;
      st = InitializeSecurityContextW(cred, ctx, NULL, flags, 0, 0, &id, 0, NULL, &od, &attrs,
                                      NULL);
      if (st == SEC_E_INCOMPLETE_MESSAGE) {
        if (recv_more(s) == 0)
          die("handshake: closed", 0);
        continue;
      }
      if (ib[1].BufferType == SECBUFFER_EXTRA) {
        memmove(in, in + have - ib[1].cbBuffer, ib[1].cbBuffer);
        have = ib[1].cbBuffer;
      } else {
        have = 0;
      }
    }
    if (ob[0].cbBuffer > 0 && ob[0].pvBuffer != NULL) {
      send_all(s, ob[0].pvBuffer, ob[0].cbBuffer);
      FreeContextBuffer(ob[0].pvBuffer);
    }
    if (st == SEC_E_OK)
      return;
    if (st != SEC_I_CONTINUE_NEEDED)
      die("InitializeSecurityContextW", st);
    if (have == 0 && recv_more(s) == 0)
      die("handshake: closed", 0);
  }
}

int main(int argc, char **argv)
{
  unsigned short port = 0;
  const char *path = "/big.bin";
  WSADATA wsa;
  SOCKET s;
  struct sockaddr_in a;
  SCHANNEL_CRED sc;
  CredHandle cred;
  CtxtHandle ctx;
  SecPkgContext_StreamSizes sizes;
  LARGE_INTEGER f, t0, t1;
  long long bytes = 0;
  int one = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0)
      port = (unsigned short)atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--path") == 0)
      path = argv[i + 1];
  }
  if (port == 0) {
    fprintf(stderr, "usage: tls_baseline --port P [--path /big.bin]\n");
    return 2;
  }
  WSAStartup(MAKEWORD(2, 2), &wsa);
  s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0)
    die("connect", WSAGetLastError());
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);

  memset(&sc, 0, sizeof sc);
  sc.dwVersion = SCHANNEL_CRED_VERSION;
  sc.grbitEnabledProtocols = SP_PROT_TLS1_2_CLIENT;
  sc.dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS;
  if (AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W, SECPKG_CRED_OUTBOUND, NULL, &sc,
                                NULL, NULL, &cred, NULL) != SEC_E_OK)
    die("AcquireCredentialsHandleW", 0);
  handshake(s, &cred, &ctx);
  QueryContextAttributesW(&ctx, SECPKG_ATTR_STREAM_SIZES, &sizes);

  QueryPerformanceCounter(&t0);
  {  /* the request: one record */
    static char rec[1024];
    int n = snprintf(rec + sizes.cbHeader, 512, "GET %s HTTP/1.0\r\n\r\n", path);
    SecBuffer b[4] = {
      { sizes.cbHeader, SECBUFFER_STREAM_HEADER, rec },
      { (unsigned long)n, SECBUFFER_DATA, rec + sizes.cbHeader },
      { sizes.cbTrailer, SECBUFFER_STREAM_TRAILER, rec + sizes.cbHeader + n },
      { 0, SECBUFFER_EMPTY, NULL } };
    SecBufferDesc d = { SECBUFFER_VERSION, 4, b };
    if (EncryptMessage(&ctx, 0, &d, 0) != SEC_E_OK)
      die("EncryptMessage", 0);
    send_all(s, rec, b[0].cbBuffer + b[1].cbBuffer + b[2].cbBuffer);
  }
  for (;;) {  /* the body, to close_notify */
    SecBuffer b[4];
    SecBufferDesc d = { SECBUFFER_VERSION, 4, b };
    SECURITY_STATUS st;
    unsigned char type;
    SecBuffer *data = NULL, *extra = NULL;
    if (have == 0 && recv_more(s) == 0)
      break;
    type = (unsigned char)in[0];
    b[0].BufferType = SECBUFFER_DATA;
    b[0].pvBuffer = in;
    b[0].cbBuffer = (unsigned long)have;
    for (int i = 1; i < 4; i++) {
      b[i].BufferType = SECBUFFER_EMPTY;
      b[i].pvBuffer = NULL;
      b[i].cbBuffer = 0;
    }
    st = DecryptMessage(&ctx, &d, 0, NULL);
    if (st == SEC_E_INCOMPLETE_MESSAGE) {
      if (recv_more(s) == 0)
        die("truncated", 0);
      continue;
    }
    if (st == SEC_I_CONTEXT_EXPIRED)
      break;
    if (st != SEC_E_OK)
      die("DecryptMessage", st);
    for (int i = 0; i < 4; i++) {
      if (b[i].BufferType == SECBUFFER_DATA)
        data = &b[i];
      else if (b[i].BufferType == SECBUFFER_EXTRA)
        extra = &b[i];
    }
    if (data != NULL)
      bytes += data->cbBuffer;  /* a real client would use the plaintext here */
    if ((data == NULL || data->cbBuffer == 0) && extra == NULL && type == 21)
      break;  /* Wine's close_notify */
    if (extra != NULL) {
      memmove(in, in + have - extra->cbBuffer, extra->cbBuffer);
      have = extra->cbBuffer;
    } else {
      have = 0;
    }
  }
  QueryPerformanceCounter(&t1);
  QueryPerformanceFrequency(&f);
  {
    double seconds = (double)(t1.QuadPart - t0.QuadPart) / (double)f.QuadPart;
    printf("download bytes=%lld seconds=%.3f mib_per_s=%.1f\n", bytes, seconds,
           (double)bytes / 1048576.0 / seconds);
  }
  DeleteSecurityContext(&ctx);
  FreeCredentialsHandle(&cred);
  closesocket(s);
  WSACleanup();
  return 0;
}

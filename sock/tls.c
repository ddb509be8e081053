/*
 * sock/tls.c - the TLS session kind: a client session over Schannel on a
 * connected stream, and itself a stream.
 *
 * A session is a sock_t of its own kind with no handle and no IO object:
 * every call it makes goes to the connection underneath (which it owns),
 * through the hub, with the record of the operation that needs it. So a
 * deadline, sock_op_cancel, sock_task_cancel and sock_cancel reach a TLS
 * operation exactly as they reach a TCP one. While such a call is out, the
 * record's kind is one of SOCK__TLS_ (stream.c routes its completion here)
 * and its target names the session; the stream op's own kind and target
 * wait in the session (rd for a reader, wr for a writer) and are put back
 * when the call completes.
 *
 * The stream operations themselves are stream.c's: its loop asks this file
 * to move plaintext (sock__tls_transfer) where it would make a Winsock call.
 * A receive copies decrypted bytes out of the session's buffer, decrypting
 * and reading ciphertext as needed; a send encrypts what it is given into
 * records, sends them all, and only then reports the plaintext bytes as
 * sent.
 *
 * The receive buffer holds, in order: plaintext not yet read [pstart, pend)
 * (DecryptMessage decrypts in place) and ciphertext not yet decrypted
 * [cstart, cend). One receive may bring several records and one
 * DecryptMessage may yield more than one record's plaintext (Wine's does);
 * what is left is EXTRA, decrypted on the next read. Under Wine a received
 * close_notify is SEC_E_OK with no data (Windows says SEC_I_CONTEXT_EXPIRED):
 * both are the end of the stream.
 *
 * Lifetime: each call out on the connection holds a reference on the
 * session; the session holds the connection's owner reference and closes
 * it when it is freed (at shutdown the runtime frees both on its own).
 * Closing or cancelling the session cancels the connection, so a call out
 * there ends at once.
 */
#include "sock_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Missing from Wine's SDK headers (the clang-cl build). */
#ifndef SEC_I_INCOMPLETE_CREDENTIALS
#  define SEC_I_INCOMPLETE_CREDENTIALS ((SECURITY_STATUS)0x00090320L)
#endif
#ifndef SCH_USE_STRONG_CRYPTO
#  define SCH_USE_STRONG_CRYPTO 0x00400000
#endif

enum {
  SOCK__TLS_RCAP = 64 * 1024,        /* receive buffer: several records per receive */
  SOCK__TLS_RMAX = 1024 * 1024,      /* its limit (a handshake flight larger is refused) */
  SOCK__TLS_WRECORDS = 4,            /* records encrypted per send */
  SOCK__TLS_ALERT = 21               /* the record type of an alert */
};

/* A stream op's own kind and target while a call of the session uses its record. */
typedef struct sock__tls_side {
  unsigned char kind;
  unsigned char target[sizeof(((sock_op_t *)0)->target)];
} sock__tls_side_t;

typedef struct sock__tls {
  sock_t         base;           /* first: the handle object (kind TLS) */
  sock_t        *conn;           /* the stream underneath: owned, closed in on_free */
  SRWLOCK        lock;           /* Schannel's calls on ctx, one at a time */
  CredHandle     cred;
  CtxtHandle     ctx;
  unsigned char  has_cred, has_ctx;
  unsigned char  established;    /* the handshake and the certificate check passed */
  unsigned char  hs_done;        /* ISC said SEC_E_OK: send what is left, then check */
  unsigned char  need_more;      /* the ciphertext held is incomplete: receive first */
  unsigned char  eof;            /* close_notify received */
  unsigned char  renegotiating;  /* records go to ISC, not DecryptMessage */
  unsigned char  shut;           /* close_notify sent or being sent */
  unsigned char  retries;        /* SEC_I_INCOMPLETE_CREDENTIALS answered so far */
  unsigned char  control;        /* tok is a reader's answer to a post-handshake message */
  short          wr_error;       /* the send side is broken: records were lost */
  unsigned long  wr_win32;
  unsigned long  rd_status;      /* a failed decryption or a truncation (sticky) */
  SecPkgContext_StreamSizes sizes;
  WCHAR         *host;           /* SNI and the name checked, or NULL */
  unsigned char *alpn;           /* SEC_APPLICATION_PROTOCOLS for the first ISC */
  unsigned long  alpn_len;
  sock__tls_verify_t verify;
  sock_t       **out;            /* the handshake's result */
  char          *tok;            /* a token to send (Schannel's memory) */
  unsigned long  tok_len, tok_sent;
  char          *rbuf;           /* plaintext [pstart, pend), ciphertext [cstart, cend) */
  size_t         rcap, pstart, pend, cstart, cend;
  char          *wbuf;           /* records [wsent, wlen) being sent, wplain bytes of plaintext */
  size_t         wcap, wlen, wsent;
  unsigned long  wplain;
  sock__tls_side_t rd, wr;
} sock__tls_t;

/* ---- the kind ------------------------------------------------------------------------- */

static void sock__tls_close_handle(HANDLE h)
{
  (void)h;  /* no handle of its own: the connection is closed in on_free */
}

static void sock__tls_kind_on_io(sock_t *s, sock_op_t *op, unsigned long error,
                                 unsigned long bytes)
{
  (void)s;  /* no IO object of its own: completions come through the connection */
  (void)op;
  (void)error;
  (void)bytes;
}

/* Under rt->lock (sock_cancel, sock_close, cancel_all): the calls out are
 * on the connection, so cancelling the session cancels it. */
static void sock__tls_on_cancel(sock_t *s)
{
  sock__tls_t *T = (sock__tls_t *)s;
  if (T->conn != NULL)
    sock__cancel_handle(T->conn);
}

static void sock__tls_on_free(sock_t *s)
{
  sock__tls_t *T = (sock__tls_t *)s;
  if (T->tok != NULL)
    FreeContextBuffer(T->tok);
  if (T->has_ctx)
    DeleteSecurityContext(&T->ctx);
  if (T->has_cred)
    FreeCredentialsHandle(&T->cred);
  sock__tls_verify_free(&T->verify);
  free(T->rbuf);
  free(T->wbuf);
  free(T->host);
  free(T->alpn);
  /* At shutdown the runtime frees the connection itself (it is in its list). */
  if (T->conn != NULL && !sock__shutting_down(s->rt))
    sock_close(T->conn);
}

const sock__kind_t sock__tls_kind = {
  "tls", sizeof(sock__tls_t), sock__tls_close_handle, sock__tls_kind_on_io,
  sock__tls_on_cancel, sock__tls_on_free
};

/* ---- calls on the connection ------------------------------------------------------------ */

static unsigned long sock__tls_recv_call(sock_t *conn, sock_op_t *op, void *arg,
                                         unsigned long *bytes)
{
  sock__tls_t *T = arg;
  WSABUF b;
  DWORD done = 0, flags = 0;
  int rc;
  b.buf = T->rbuf + T->cend;
  b.len = (ULONG)(T->rcap - T->cend);
  rc = sock__sys.WSARecv(sock__socket(conn), &b, 1, &done, &flags, &op->overlapped, NULL);
  *bytes = done;
  return rc != 0 ? (unsigned long)WSAGetLastError() : 0;
}

/* Sends records (SOCK__TLS_WRITE) or the token (every other kind). */
static unsigned long sock__tls_send_call(sock_t *conn, sock_op_t *op, void *arg,
                                         unsigned long *bytes)
{
  sock__tls_t *T = arg;
  WSABUF b;
  DWORD done = 0;
  int rc;
  if (op->kind == SOCK__TLS_WRITE) {
    b.buf = T->wbuf + T->wsent;
    b.len = (ULONG)(T->wlen - T->wsent);
  } else {
    b.buf = T->tok + T->tok_sent;
    b.len = T->tok_len - T->tok_sent;
  }
  rc = sock__sys.WSASend(sock__socket(conn), &b, 1, &done, 0, &op->overlapped, NULL);
  *bytes = done;
  return rc != 0 ? (unsigned long)WSAGetLastError() : 0;
}

static void sock__tls_restore(sock_op_t *op, const sock__tls_side_t *side)
{
  op->kind = side->kind;
  memcpy(&op->target, side->target, sizeof side->target);
}

/* One call on the connection for op, as `kind`. A stream op's kind and
 * target wait in the session meanwhile. Returns the hub's answer: CO_PENDING
 * (the completion comes to sock__tls_on_io), CO_OK with *error and *bytes,
 * or a refusal (op.error set). */
static int sock__tls_call(sock__tls_t *T, sock_op_t *op, int kind, sock__call_fn fn,
                          unsigned long *error, unsigned long *bytes)
{
  sock__tls_side_t *side = kind == SOCK__TLS_WRITE ? &T->wr : &T->rd;
  int stream_op = op->kind < SOCK__TLS_HANDSHAKE;
  int rc;
  if (stream_op) {
    side->kind = op->kind;
    memcpy(side->target, &op->target, sizeof side->target);
  }
  op->kind = (unsigned char)kind;
  op->target.item = T;
  sock__retain(&T->base);  /* the call's: dropped when it is over */
  rc = sock__hub_call(T->conn, op, fn, T, error, bytes);
  if (rc == CO_PENDING)
    return rc;  /* touch nothing more: the completion may be running */
  if (stream_op)
    sock__tls_restore(op, side);
  sock__release(&T->base);  /* never the last: the caller's holds */
  return rc;
}

/* ---- the receive buffer ---------------------------------------------------------------- */

/* With no plaintext left: moves the ciphertext to the front and makes room
 * to receive. CO_OK, CO_ENOMEM, or CO_EMSGSIZE past SOCK__TLS_RMAX. */
static int sock__tls_make_room(sock__tls_t *T)
{
  char *bigger;
  if (T->cstart > 0) {
    memmove(T->rbuf, T->rbuf + T->cstart, T->cend - T->cstart);
    T->cend -= T->cstart;
    T->cstart = 0;
  }
  T->pstart = T->pend = 0;
  if (T->cend < T->rcap)
    return CO_OK;
  if (T->rcap >= SOCK__TLS_RMAX)
    return CO_EMSGSIZE;
  bigger = sock__sys.calloc(1, T->rcap * 2);
  if (bigger == NULL)
    return CO_ENOMEM;
  memcpy(bigger, T->rbuf, T->cend);
  free(T->rbuf);
  T->rbuf = bigger;
  T->rcap *= 2;
  return CO_OK;
}

/* ---- handshake steps ------------------------------------------------------------------ */

#define SOCK__TLS_ISC_FLAGS                                                          \
  (ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |       \
   ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_MANUAL_CRED_VALIDATION)

/* One InitializeSecurityContextW: the first (no input but ALPN), or over
 * the ciphertext held (`with_input`), or with none (close_notify). Keeps
 * its token to send; consumes its input; sets hs_done, need_more. Returns
 * its status: SEC_E_OK, SEC_I_CONTINUE_NEEDED, SEC_E_INCOMPLETE_MESSAGE or
 * a failure. */
static SECURITY_STATUS sock__tls_isc(sock__tls_t *T, int with_input)
{
  SecBuffer in[2], out[1];
  SecBufferDesc in_desc, out_desc;
  ULONG attrs = 0;
  int first = !T->has_ctx;
  SECURITY_STATUS st;
  in_desc.ulVersion = out_desc.ulVersion = SECBUFFER_VERSION;
  in_desc.pBuffers = in;
  in_desc.cBuffers = 0;
  if (first && T->alpn != NULL) {
    in[0].BufferType = SECBUFFER_APPLICATION_PROTOCOLS;
    in[0].pvBuffer = T->alpn;
    in[0].cbBuffer = T->alpn_len;
    in_desc.cBuffers = 1;
  } else if (!first && with_input) {
    in[0].BufferType = SECBUFFER_TOKEN;
    in[0].pvBuffer = T->rbuf + T->cstart;
    in[0].cbBuffer = (unsigned long)(T->cend - T->cstart);
    in[1].BufferType = SECBUFFER_EMPTY;
    in[1].pvBuffer = NULL;
    in[1].cbBuffer = 0;
    in_desc.cBuffers = 2;
  }
  out[0].BufferType = SECBUFFER_TOKEN;
  out[0].pvBuffer = NULL;
  out[0].cbBuffer = 0;
  out_desc.cBuffers = 1;
  out_desc.pBuffers = out;

  AcquireSRWLockExclusive(&T->lock);
  st = sock__sys.InitializeSecurityContextW(&T->cred, first ? NULL : &T->ctx, T->host,
                                            SOCK__TLS_ISC_FLAGS, 0, 0,
                                            in_desc.cBuffers > 0 ? &in_desc : NULL, 0,
                                            first ? &T->ctx : NULL, &out_desc, &attrs, NULL);
  ReleaseSRWLockExclusive(&T->lock);
  if (first && (st == SEC_E_OK || st == SEC_I_CONTINUE_NEEDED))
    T->has_ctx = 1;

  if (out[0].pvBuffer != NULL) {
    if (out[0].cbBuffer > 0 && !FAILED(st)) {
      T->tok = out[0].pvBuffer;
      T->tok_len = out[0].cbBuffer;
      T->tok_sent = 0;
    } else {
      FreeContextBuffer(out[0].pvBuffer);
    }
  }
  if (st == SEC_E_INCOMPLETE_MESSAGE) {
    T->need_more = 1;
    return st;
  }
  if (st == SEC_I_INCOMPLETE_CREDENTIALS && T->retries++ < 2)
    return SEC_I_CONTINUE_NEEDED;  /* a client certificate was asked for: go on without */
  if (st != SEC_E_OK && st != SEC_I_CONTINUE_NEEDED)
    return FAILED(st) ? st : SEC_E_INTERNAL_ERROR;
  if (in_desc.cBuffers == 2) {  /* what the call used; EXTRA is the next message's */
    unsigned long extra = in[1].BufferType == SECBUFFER_EXTRA ? in[1].cbBuffer : 0;
    T->cstart = T->cend - extra;
    T->need_more = T->cstart == T->cend;
  } else if (first) {
    T->need_more = 1;  /* the server's answer to the ClientHello */
  }  /* (close_notify's call leaves the reader's state alone) */
  if (st == SEC_E_OK) {
    T->hs_done = 1;
    T->renegotiating = 0;
  }
  return st;
}

/* Records a Schannel or certificate failure (SEC_E_/CERT_E_) in op. */
static int sock__tls_fail(sock_op_t *op, unsigned long status)
{
  if (status == ERROR_HANDLE_EOF) {  /* the connection ended without close_notify */
    op->win32_error = status;
    op->error = CO_ECONNABORTED;
    return op->error;
  }
  return sock__op_fail(op, status);
}

/* The handshake is over on our side: the sizes, the certificate, the result. */
static int sock__tls_established(sock__tls_t *T, sock_op_t *op)
{
  unsigned long why;
  SECURITY_STATUS st = QueryContextAttributesW(&T->ctx, SECPKG_ATTR_STREAM_SIZES, &T->sizes);
  if (st != SEC_E_OK)
    return sock__tls_fail(op, (unsigned long)st);
  why = sock__tls_verify_peer(&T->verify, &T->ctx, T->host);
  if (why != 0)
    return sock__tls_fail(op, why);
  T->established = 1;
  *T->out = &T->base;
  return CO_OK;
}

/* Whether a peer's first byte can begin a TLS record (change_cipher_spec,
 * alert, handshake, application_data): a server that answers with anything
 * else (an HTTP error, a banner) is refused at once instead of being read
 * until its "record" of up to 64 KiB is complete. */
static int sock__tls_record_type_ok(char type)
{
  return type >= 20 && type <= 23;
}

/* Runs the handshake (or the send of close_notify) until a call is pending
 * (CO_PENDING) or it is over (CO_OK, or op.error's failure). */
static int sock__tls_hs_run(sock__tls_t *T, sock_op_t *op)
{
  unsigned long error, bytes;
  int rc;
  for (;;) {
    if (T->tok_sent < T->tok_len) {
      rc = sock__tls_call(T, op, op->kind, sock__tls_send_call, &error, &bytes);
      if (rc != CO_OK)
        return rc;
      if (error != 0)
        return op->error;
      T->tok_sent += bytes;
      continue;
    }
    if (T->tok != NULL) {
      FreeContextBuffer(T->tok);
      T->tok = NULL;
      T->tok_len = T->tok_sent = 0;
    }
    if (op->kind == SOCK__TLS_SHUTDOWN)
      return CO_OK;
    if (T->hs_done)
      return sock__tls_established(T, op);
    if (T->need_more) {
      if ((rc = sock__tls_make_room(T)) != CO_OK)
        return sock__refuse(op, rc);
      rc = sock__tls_call(T, op, SOCK__TLS_HANDSHAKE, sock__tls_recv_call, &error, &bytes);
      if (rc != CO_OK)
        return rc;
      if (error != 0)
        return op->error;
      if (bytes == 0) {  /* the peer hung up in the middle */
        op->win32_error = ERROR_HANDLE_EOF;
        return op->error = CO_ECONNRESET;
      }
      T->cend += bytes;
      T->need_more = 0;
      continue;
    }
    if (!T->established && T->cend > T->cstart &&
        !sock__tls_record_type_ok(T->rbuf[T->cstart]))
      return sock__tls_fail(op, (unsigned long)SEC_E_ILLEGAL_MESSAGE);  /* not TLS at all */
    {
      SECURITY_STATUS st = sock__tls_isc(T, 1);
      if (FAILED(st) && st != SEC_E_INCOMPLETE_MESSAGE)
        return sock__tls_fail(op, (unsigned long)st);
    }
  }
}

/* A handshake or shutdown has ended (not pending): a failed handshake
 * takes the session (and the connection) with it. */
static int sock__tls_hs_end(sock__tls_t *T, sock_op_t *op, int rc)
{
  if (rc != CO_OK && op->kind == SOCK__TLS_HANDSHAKE)
    sock_close(&T->base);
  return rc;
}

/* ---- setting up -------------------------------------------------------------------------- */

/* "h2,http/1.1" as SEC_APPLICATION_PROTOCOLS: the size of the lists, the
 * kind (ALPN), the size of the list, then each name after its length. */
static int sock__tls_alpn(sock__tls_t *T, const char *list)
{
  size_t n = strlen(list), at = 10, start = 0;
  unsigned long ext = SecApplicationProtocolNegotiationExt_ALPN, lists;
  unsigned short list_len;
  if (n == 0 || n > 1000)
    return CO_EINVAL;
  T->alpn = sock__sys.calloc(1, 10 + n + 1);
  if (T->alpn == NULL)
    return CO_ENOMEM;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || list[i] == ',') {
      size_t len = i - start;
      if (len == 0 || len > 255)
        return CO_EINVAL;
      T->alpn[at++] = (unsigned char)len;
      memcpy(T->alpn + at, list + start, len);
      at += len;
      start = i + 1;
    }
  }
  list_len = (unsigned short)(at - 10);
  lists = (unsigned long)list_len + 6;
  memcpy(T->alpn, &lists, 4);
  memcpy(T->alpn + 4, &ext, 4);
  memcpy(T->alpn + 8, &list_len, 2);
  T->alpn_len = (unsigned long)at;
  return CO_OK;
}

/* The client's credentials: SCH_CREDENTIALS (Windows 10 1809 and later,
 * and Wine), else SCHANNEL_CRED. We check certificates ourselves
 * (tls_verify.c), so Schannel is told not to. */
static SECURITY_STATUS sock__tls_credentials(sock__tls_t *T, unsigned min_version)
{
  DWORD old = SP_PROT_SSL2_CLIENT | SP_PROT_SSL3_CLIENT, enabled;
  DWORD flags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS |
                SCH_USE_STRONG_CRYPTO;
  SCH_CREDENTIALS sch;
  TLS_PARAMETERS params;
  SCHANNEL_CRED legacy;
  SECURITY_STATUS st;
  if (min_version == 0 || min_version > SOCK_TLS_1_1)
    old |= SP_PROT_TLS1_0_CLIENT | SP_PROT_TLS1_1_CLIENT;
  else if (min_version > SOCK_TLS_1_0)
    old |= SP_PROT_TLS1_0_CLIENT;
  memset(&sch, 0, sizeof sch);
  memset(&params, 0, sizeof params);
  sch.dwVersion = SCH_CREDENTIALS_VERSION;
  sch.dwFlags = flags;
  params.grbitDisabledProtocols = old;
  sch.cTlsParameters = 1;
  sch.pTlsParameters = &params;
  st = sock__sys.AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W,
                                           SECPKG_CRED_OUTBOUND, NULL, &sch, NULL, NULL,
                                           &T->cred, NULL);
  if (st == SEC_E_OK)
    return st;
  enabled = SP_PROT_TLS1_2_CLIENT | SP_PROT_TLS1_3_CLIENT |
            ((SP_PROT_TLS1_0_CLIENT | SP_PROT_TLS1_1_CLIENT) & ~old);
  memset(&legacy, 0, sizeof legacy);
  legacy.dwVersion = SCHANNEL_CRED_VERSION;
  legacy.dwFlags = flags;
  legacy.grbitEnabledProtocols = enabled;
  st = sock__sys.AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W,
                                           SECPKG_CRED_OUTBOUND, NULL, &legacy, NULL, NULL,
                                           &T->cred, NULL);
  if (st != SEC_E_OK) {  /* a Schannel without TLS 1.3 may refuse to be asked for it */
    legacy.grbitEnabledProtocols &= ~(DWORD)SP_PROT_TLS1_3_CLIENT;
    st = sock__sys.AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W,
                                             SECPKG_CRED_OUTBOUND, NULL, &legacy, NULL, NULL,
                                             &T->cred, NULL);
  }
  return st;
}

/* Everything a session needs before its first ISC. */
static int sock__tls_setup(sock__tls_t *T, const sock_tls_config_t *config, sock_op_t *op)
{
  SECURITY_STATUS st;
  int rc;
  if ((config->host == NULL || config->host[0] == '\0') && config->pin_sha256 == NULL &&
      !config->insecure_skip_verify)
    return CO_EINVAL;  /* nothing to check the certificate against ("" is no name) */
  if (config->host != NULL && config->host[0] != '\0' &&
      (T->host = sock__widen(NULL, config->host, &rc)) == NULL)
    return rc;
  if (config->alpn != NULL && (rc = sock__tls_alpn(T, config->alpn)) != CO_OK)
    return rc;
  if ((rc = sock__tls_verify_init(&T->verify, config, &op->win32_error)) != CO_OK)
    return rc;
  T->rbuf = sock__sys.calloc(1, SOCK__TLS_RCAP);
  if (T->rbuf == NULL)
    return CO_ENOMEM;
  T->rcap = SOCK__TLS_RCAP;
  st = sock__tls_credentials(T, config->min_version);
  if (st != SEC_E_OK)
    return sock__tls_fail(op, (unsigned long)st);
  T->has_cred = 1;
  return CO_OK;
}

/* ---- the handshake -------------------------------------------------------------------------- */

int sock_tls_client_start(sock_op_t *op, sock_t *conn, const sock_tls_config_t *config,
                          sock_t **out, co_task_t *task)
{
  sock__tls_t *T;
  sock_t *s;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (op == NULL) {
    sock_close(conn);
    return CO_EINVAL;
  }
  sock__op_begin(op, SOCK__TLS_HANDSHAKE, task);
  if (conn == NULL || config == NULL || out == NULL || task == NULL ||
      sock__kind_id(conn) != SOCK__KIND_TCP) {
    sock_close(conn);
    return sock__refuse(op, CO_EINVAL);
  }
  if ((rc = sock__admit(conn)) != CO_OK ||
      (rc = sock__handle_make(conn->rt, SOCK__KIND_TLS, &s)) != CO_OK) {
    sock_close(conn);
    return sock__refuse(op, rc);
  }
  T = (sock__tls_t *)s;
  T->conn = conn;  /* from here on, closing s closes conn */
  InitializeSRWLock(&T->lock);
  T->out = out;
  op->target.item = T;
  rc = sock__tls_setup(T, config, op);
  if (rc == CO_OK) {
    SECURITY_STATUS st = sock__tls_isc(T, 0);  /* the ClientHello */
    rc = FAILED(st) ? sock__tls_fail(op, (unsigned long)st) : sock__tls_hs_run(T, op);
  } else {
    op->error = (short)rc;
  }
  if (rc == CO_PENDING)
    return rc;
  return sock__tls_hs_end(T, op, rc);
}

int sock_tls_shutdown_start(sock_op_t *op, sock_t *s, co_task_t *task)
{
  sock__tls_t *T = (sock__tls_t *)s;
  DWORD type = SCHANNEL_SHUTDOWN;
  SecBuffer b;
  SecBufferDesc d;
  SECURITY_STATUS st;
  int rc;
  if (op == NULL)
    return CO_EINVAL;
  sock__op_begin(op, SOCK__TLS_SHUTDOWN, task);
  if (s == NULL || task == NULL || sock__kind_id(s) != SOCK__KIND_TLS || !T->established)
    return sock__refuse(op, CO_EINVAL);
  if ((rc = sock__admit(s)) != CO_OK)
    return sock__refuse(op, rc);
  if (T->shut)
    return CO_OK;  /* sent already */
  if (T->tok != NULL)  /* a reader is answering the peer's handshake message */
    return sock__refuse(op, CO_EBUSY);
  T->shut = 1;
  b.BufferType = SECBUFFER_TOKEN;
  b.pvBuffer = &type;
  b.cbBuffer = sizeof type;
  d.ulVersion = SECBUFFER_VERSION;
  d.cBuffers = 1;
  d.pBuffers = &b;
  AcquireSRWLockExclusive(&T->lock);
  st = ApplyControlToken(&T->ctx, &d);
  ReleaseSRWLockExclusive(&T->lock);
  if (st == SEC_E_OK)
    st = sock__tls_isc(T, 0);
  if (FAILED(st))
    return sock__tls_fail(op, (unsigned long)st);
  op->target.item = T;
  return sock__tls_hs_run(T, op);
}

/* ---- receiving ------------------------------------------------------------------------------ */

/* Decrypts what ciphertext is held (no plaintext is): plaintext, the end
 * of the stream, a post-handshake message, "need more" or a failure. */
static void sock__tls_decrypt(sock__tls_t *T)
{
  SecBuffer b[4];
  SecBufferDesc d;
  SecBuffer *data = NULL, *extra = NULL;
  unsigned char type = (unsigned char)T->rbuf[T->cstart];
  SECURITY_STATUS st;
  b[0].BufferType = SECBUFFER_DATA;
  b[0].pvBuffer = T->rbuf + T->cstart;
  b[0].cbBuffer = (unsigned long)(T->cend - T->cstart);
  for (int i = 1; i < 4; i++) {
    b[i].BufferType = SECBUFFER_EMPTY;
    b[i].pvBuffer = NULL;
    b[i].cbBuffer = 0;
  }
  d.ulVersion = SECBUFFER_VERSION;
  d.cBuffers = 4;
  d.pBuffers = b;
  AcquireSRWLockExclusive(&T->lock);
  st = sock__sys.DecryptMessage(&T->ctx, &d, 0, NULL);
  ReleaseSRWLockExclusive(&T->lock);
  if (st == SEC_E_INCOMPLETE_MESSAGE) {
    T->need_more = 1;
    return;
  }
  if (st != SEC_E_OK && st != SEC_I_RENEGOTIATE && st != SEC_I_CONTEXT_EXPIRED) {
    T->rd_status = (unsigned long)st;
    return;
  }
  for (int i = 0; i < 4; i++) {
    if (b[i].BufferType == SECBUFFER_DATA && data == NULL)
      data = &b[i];
    else if (b[i].BufferType == SECBUFFER_EXTRA && extra == NULL)
      extra = &b[i];
  }
  T->pstart = T->pend = T->cstart;
  if (data != NULL && data->cbBuffer > 0) {  /* in place: within what was decrypted */
    T->pstart = (size_t)((char *)data->pvBuffer - T->rbuf);
    T->pend = T->pstart + data->cbBuffer;
  }
  T->cstart = extra != NULL ? T->cend - extra->cbBuffer : T->cend;
  if (st == SEC_I_CONTEXT_EXPIRED)
    T->eof = 1;  /* Windows: close_notify */
  else if (st == SEC_E_OK && T->pend == T->pstart && extra == NULL && type == SOCK__TLS_ALERT)
    T->eof = 1;  /* Wine: close_notify is SEC_E_OK with no data */
  else if (st == SEC_I_RENEGOTIATE)
    T->renegotiating = 1;  /* the EXTRA holds a handshake message for ISC */
}

/* A stream op's receive step: plaintext into buf (bytes 0 at the end of
 * the stream, or for a zero-length wait). */
static int sock__tls_recv(sock__tls_t *T, sock_op_t *op, WSABUF *buf, unsigned long *error,
                          unsigned long *bytes)
{
  unsigned long e, b;
  int rc;
  for (;;) {
    if (T->pend > T->pstart) {
      /* Fill the buffer from what is decrypted, then from whole records
       * already received (no call: one step instead of one per record). */
      size_t got = 0;
      do {
        size_t n = T->pend - T->pstart;
        if (n > buf->len - got)
          n = buf->len - got;
        memcpy(buf->buf + got, T->rbuf + T->pstart, n);
        T->pstart += n;
        got += n;
        if (got == buf->len || T->cend == T->cstart || T->need_more || T->renegotiating ||
            T->eof || T->rd_status != 0)
          break;
        sock__tls_decrypt(T);
      } while (T->pend > T->pstart);
      *bytes = (unsigned long)got;
      return CO_OK;
    }
    if (T->rd_status != 0) {
      *error = T->rd_status;
      sock__tls_fail(op, T->rd_status);
      return CO_OK;
    }
    if (T->eof)
      return CO_OK;  /* 0 bytes: the stream's CO_EOF */
    if (T->control) {  /* our answer to a post-handshake message */
      if (T->tok_sent == T->tok_len) {
        FreeContextBuffer(T->tok);
        T->tok = NULL;
        T->tok_len = T->tok_sent = 0;
        T->control = 0;
        continue;
      }
      rc = sock__tls_call(T, op, SOCK__TLS_CONTROL, sock__tls_send_call, &e, &b);
      if (rc != CO_OK || e != 0) {
        *error = e;
        return rc;
      }
      T->tok_sent += b;
      continue;
    }
    if (T->cend > T->cstart && !T->need_more) {
      if (T->renegotiating) {
        SECURITY_STATUS st = sock__tls_isc(T, 1);
        if (FAILED(st) && st != SEC_E_INCOMPLETE_MESSAGE)
          T->rd_status = (unsigned long)st;
        else if (T->tok != NULL)
          T->control = 1;
      } else {
        sock__tls_decrypt(T);
      }
      continue;
    }
    if ((rc = sock__tls_make_room(T)) != CO_OK)
      return sock__refuse(op, rc);
    rc = sock__tls_call(T, op, SOCK__TLS_READ, sock__tls_recv_call, &e, &b);
    if (rc != CO_OK || e != 0) {
      *error = e;
      return rc;
    }
    if (b == 0)
      T->rd_status = ERROR_HANDLE_EOF;  /* the connection ended without close_notify */
    T->cend += b;
    T->need_more = 0;
  }
}

/* ---- sending -------------------------------------------------------------------------------- */

/* Encrypts what the buffers hold, up to SOCK__TLS_WRECORDS records, into
 * wbuf. SEC_E_OK (wlen > 0), or a failure with nothing encrypted. */
static SECURITY_STATUS sock__tls_encrypt(sock__tls_t *T, WSABUF *bufs, unsigned long count)
{
  size_t header = T->sizes.cbHeader, trailer = T->sizes.cbTrailer, at = 0, off = 0;
  unsigned long plain = 0;
  SECURITY_STATUS st = SEC_E_OK;
  if (T->wbuf == NULL) {
    T->wcap = SOCK__TLS_WRECORDS * (header + T->sizes.cbMaximumMessage + trailer);
    T->wbuf = sock__sys.calloc(1, T->wcap);
    if (T->wbuf == NULL)
      return SEC_E_INSUFFICIENT_MEMORY;
  }
  while (count > 0 && at + header + trailer < T->wcap) {
    size_t room = T->wcap - at - header - trailer, n = 0;
    char *data = T->wbuf + at + header;
    SecBuffer b[4];
    SecBufferDesc d;
    if (room > T->sizes.cbMaximumMessage)
      room = T->sizes.cbMaximumMessage;
    while (n < room && count > 0) {  /* gather a record's plaintext */
      size_t take = bufs->len - off;
      if (take > room - n)
        take = room - n;
      memcpy(data + n, bufs->buf + off, take);
      n += take;
      off += take;
      if (off == bufs->len) {
        bufs++;
        count--;
        off = 0;
      }
    }
    if (n == 0)
      break;
    b[0].BufferType = SECBUFFER_STREAM_HEADER;
    b[0].pvBuffer = T->wbuf + at;
    b[0].cbBuffer = (unsigned long)header;
    b[1].BufferType = SECBUFFER_DATA;
    b[1].pvBuffer = data;
    b[1].cbBuffer = (unsigned long)n;
    b[2].BufferType = SECBUFFER_STREAM_TRAILER;
    b[2].pvBuffer = data + n;
    b[2].cbBuffer = (unsigned long)trailer;
    b[3].BufferType = SECBUFFER_EMPTY;
    b[3].pvBuffer = NULL;
    b[3].cbBuffer = 0;
    d.ulVersion = SECBUFFER_VERSION;
    d.cBuffers = 4;
    d.pBuffers = b;
    AcquireSRWLockExclusive(&T->lock);
    st = sock__sys.EncryptMessage(&T->ctx, 0, &d, 0);
    ReleaseSRWLockExclusive(&T->lock);
    if (st != SEC_E_OK)
      break;
    /* The real trailer may be shorter than STREAM_SIZES says (Wine: 24 of 256). */
    at += b[0].cbBuffer + b[1].cbBuffer + b[2].cbBuffer;
    plain += (unsigned long)n;
  }
  if (at == 0)
    return st != SEC_E_OK ? st : SEC_E_INTERNAL_ERROR;
  T->wlen = at;  /* a later record's failure is met by the next send */
  T->wsent = 0;
  T->wplain = plain;
  return SEC_E_OK;
}

/* Records are lost with a failed send: the stream cannot go on. */
static void sock__tls_break_send(sock__tls_t *T, sock_op_t *op)
{
  T->wr_error = op->error;
  T->wr_win32 = op->win32_error;
  T->wlen = T->wsent = 0;
}

/* A stream op's send step: reports plaintext bytes once all their records
 * are sent. */
static int sock__tls_send(sock__tls_t *T, sock_op_t *op, WSABUF *bufs, unsigned long count,
                          unsigned long *error, unsigned long *bytes)
{
  unsigned long e, b;
  int rc;
  if (T->wr_error != 0) {
    op->error = T->wr_error;
    op->win32_error = T->wr_win32;
    *error = T->wr_win32 != 0 ? T->wr_win32 : ERROR_OPERATION_ABORTED;
    return CO_OK;
  }
  if (T->shut)
    return sock__refuse(op, CO_ENOTCONN);
  if (T->wlen == 0) {
    SECURITY_STATUS st = sock__tls_encrypt(T, bufs, count);
    if (st != SEC_E_OK) {
      *error = (unsigned long)st;
      sock__tls_fail(op, (unsigned long)st);
      return CO_OK;
    }
  }
  for (;;) {
    if (T->wsent == T->wlen) {
      *bytes = T->wplain;
      T->wlen = T->wsent = 0;
      return CO_OK;
    }
    rc = sock__tls_call(T, op, SOCK__TLS_WRITE, sock__tls_send_call, &e, &b);
    if (rc == CO_PENDING)
      return rc;
    if (rc != CO_OK || e != 0) {
      sock__tls_break_send(T, op);
      *error = e;
      return rc;
    }
    T->wsent += b;
  }
}

/* ---- the stream's step and the completions ------------------------------------------------ */

int sock__tls_transfer(sock_t *s, sock_op_t *op, WSABUF *bufs, unsigned long count,
                       int sending, unsigned long *error, unsigned long *bytes)
{
  sock__tls_t *T = (sock__tls_t *)s;
  int rc = T->established ? sock__admit(s) : CO_EINVAL;
  /* The task's reasons not to go on (cancelled, deadline), as the hub asks
   * them for a Winsock call: a step served from the buffer makes none. */
  if (rc == CO_OK && (rc = sock__await_register(op)) == CO_OK)
    sock__await_clear(op);
  if (rc != CO_OK) {
    if (sending && T->wlen > 0) {  /* records of this op left unsent: the stream is lost */
      op->error = (short)rc;
      op->win32_error = 0;
      sock__tls_break_send(T, op);
    }
    return sock__refuse(op, rc);
  }
  *error = 0;
  *bytes = 0;
  if (sending)
    return sock__tls_send(T, op, bufs, count, error, bytes);
  return sock__tls_recv(T, op, bufs, error, bytes);
}

void sock__tls_on_io(sock_t *conn, sock_op_t *op, unsigned long error, unsigned long bytes)
{
  sock__tls_t *T = op->target.item;
  int kind = op->kind, rc;
  (void)conn;
  switch (kind) {
  case SOCK__TLS_HANDSHAKE:
  case SOCK__TLS_SHUTDOWN:
    if (error != 0) {
      rc = op->error;  /* recorded by the hub */
    } else if (T->tok_sent < T->tok_len) {
      T->tok_sent += bytes;
      rc = sock__tls_hs_run(T, op);
    } else if (bytes == 0) {
      op->win32_error = ERROR_HANDLE_EOF;
      rc = op->error = CO_ECONNRESET;
    } else {
      T->cend += bytes;
      T->need_more = 0;
      rc = sock__tls_hs_run(T, op);
    }
    if (rc != CO_PENDING) {
      sock__tls_hs_end(T, op, rc);
      co_wake(op->task);
    }
    break;
  case SOCK__TLS_WRITE:
    sock__tls_restore(op, &T->wr);
    if (error != 0) {
      sock__tls_break_send(T, op);
      sock__stream_on_io(&T->base, op, error, 0);
    } else if ((T->wsent += bytes) < T->wlen) {
      sock__stream_resume(&T->base, op);  /* sends the rest of the records */
    } else {
      unsigned long plain = T->wplain;  /* all sent: the plaintext they carry is */
      T->wlen = T->wsent = 0;
      sock__stream_on_io(&T->base, op, 0, plain);
    }
    break;
  default:  /* SOCK__TLS_READ, SOCK__TLS_CONTROL: a reader's */
    sock__tls_restore(op, &T->rd);
    if (error != 0) {
      sock__stream_on_io(&T->base, op, error, 0);
    } else {
      if (kind == SOCK__TLS_CONTROL) {
        T->tok_sent += bytes;
      } else {
        if (bytes == 0)
          T->rd_status = ERROR_HANDLE_EOF;
        T->cend += bytes;
        T->need_more = 0;
      }
      sock__stream_resume(&T->base, op);  /* decrypts, copies, or reads on */
    }
    break;
  }
  sock__release(&T->base);  /* the call's reference: after the wake, whose task may close */
}

/* ---- what was negotiated ---------------------------------------------------------------------- */

int sock_tls_get_info(sock_t *s, sock_tls_info_t *out)
{
  sock__tls_t *T = (sock__tls_t *)s;
  SecPkgContext_ConnectionInfo info;
  SecPkgContext_ApplicationProtocol proto;
  if (s == NULL || out == NULL || sock__kind_id(s) != SOCK__KIND_TLS || !T->established)
    return CO_EINVAL;
  memset(out, 0, sizeof *out);
  out->version = "unknown";
  if (QueryContextAttributesW(&T->ctx, SECPKG_ATTR_CONNECTION_INFO, &info) == SEC_E_OK) {
    out->cipher_bits = info.dwCipherStrength;
    if (info.dwProtocol & SP_PROT_TLS1_3_CLIENT)
      out->version = "TLS 1.3";
    else if (info.dwProtocol & SP_PROT_TLS1_2_CLIENT)
      out->version = "TLS 1.2";
    else if (info.dwProtocol & SP_PROT_TLS1_1_CLIENT)
      out->version = "TLS 1.1";
    else if (info.dwProtocol & SP_PROT_TLS1_0_CLIENT)
      out->version = "TLS 1.0";
  }
  memset(&proto, 0, sizeof proto);
  if (T->alpn != NULL &&
      QueryContextAttributesW(&T->ctx, SECPKG_ATTR_APPLICATION_PROTOCOL, &proto) == SEC_E_OK &&
      proto.ProtoNegoStatus == SecApplicationProtocolNegotiationStatus_Success &&
      proto.ProtocolIdSize < sizeof out->alpn) {
    memcpy(out->alpn, proto.ProtocolId, proto.ProtocolIdSize);
    out->alpn[proto.ProtocolIdSize] = '\0';
  }
  return CO_OK;
}

/*
 * sock/tls_verify.c - the certificate check of a TLS client session,
 * secure by default. Schannel is told not to check (manual validation), and
 * this file does it once the handshake is through, in one of four ways:
 *
 *   system   the chain must end at a root of the system's store, and the
 *            SSL policy must pass for the host name (CertGetCertificateChain
 *            + CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL));
 *   CA file  the same, except that the root must be one of the file's
 *            certificates (and only those: a system root does not do);
 *   pin      the certificate's SHA-256 must be the one given (no chain,
 *            name or date check: the pin says which certificate it is);
 *   none     insecure_skip_verify: anything goes.
 *
 * The answer is a CERT_E_/SEC_E_ code that error.c translates.
 */
#include "sock_internal.h"

#include <stdlib.h>
#include <string.h>

#ifndef SECURITY_FLAG_IGNORE_UNKNOWN_CA  /* <wininet.h>'s, which we do not need else */
#  define SECURITY_FLAG_IGNORE_UNKNOWN_CA 0x00000100
#endif

enum { SOCK__CA_FILE_MAX = 4 * 1024 * 1024 };

/* ---- the config ------------------------------------------------------------------------ */

static int sock__hex(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* 64 hex digits, with ':' (or nothing) between bytes. */
static int sock__parse_pin(const char *s, unsigned char pin[32])
{
  for (int i = 0; i < 32; i++) {
    int hi, lo;
    if (i > 0 && *s == ':')
      s++;
    hi = sock__hex(s[0]);
    lo = hi < 0 ? -1 : sock__hex(s[1]);
    if (lo < 0)
      return CO_EINVAL;
    pin[i] = (unsigned char)(hi * 16 + lo);
    s += 2;
  }
  return *s == '\0' ? CO_OK : CO_EINVAL;
}

/* The whole file, NUL-terminated, in *text (the caller frees it). */
static int sock__read_file(const char *path, char **text, unsigned long *win32)
{
  WCHAR *wide;
  HANDLE f;
  LARGE_INTEGER size;
  DWORD got = 0;
  int rc;
  *text = NULL;
  if ((wide = sock__widen(NULL, path, &rc)) == NULL) {  /* invalid UTF-8: CO_EINVAL */
    *win32 = rc == CO_EINVAL ? ERROR_INVALID_NAME : 0;
    return rc;
  }
  f = CreateFileW(wide, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                  FILE_ATTRIBUTE_NORMAL, NULL);
  free(wide);
  if (f == INVALID_HANDLE_VALUE) {
    *win32 = GetLastError();
    return CO_EINVAL;
  }
  if (!GetFileSizeEx(f, &size) || size.QuadPart > SOCK__CA_FILE_MAX) {
    *win32 = ERROR_FILE_TOO_LARGE;
    CloseHandle(f);
    return CO_EINVAL;
  }
  *text = sock__sys.calloc(1, (size_t)size.QuadPart + 1);
  if (*text == NULL) {
    CloseHandle(f);
    return CO_ENOMEM;
  }
  if (!ReadFile(f, *text, (DWORD)size.QuadPart, &got, NULL)) {
    *win32 = GetLastError();
    CloseHandle(f);
    free(*text);
    *text = NULL;
    return CO_EINVAL;
  }
  CloseHandle(f);
  return CO_OK;
}

/* Every "-----BEGIN CERTIFICATE-----" block of a PEM text into a memory
 * store. CO_OK with at least one certificate, else CO_EINVAL. */
static int sock__load_pem(const char *text, HCERTSTORE store, unsigned long *win32)
{
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  static const char end[] = "-----END CERTIFICATE-----";
  int count = 0;
  const char *p = text;
  while ((p = strstr(p, begin)) != NULL) {
    const char *q = strstr(p, end);
    DWORD len = 0;
    BYTE *der;
    if (q == NULL)
      break;
    q += sizeof end - 1;
    if (!CryptStringToBinaryA(p, (DWORD)(q - p), CRYPT_STRING_BASE64HEADER, NULL, &len, NULL,
                              NULL)) {
      *win32 = GetLastError();
      return CO_EINVAL;
    }
    if ((der = sock__sys.calloc(1, len)) == NULL)
      return CO_ENOMEM;
    if (CryptStringToBinaryA(p, (DWORD)(q - p), CRYPT_STRING_BASE64HEADER, der, &len, NULL,
                             NULL) &&
        CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der, len,
                                         CERT_STORE_ADD_ALWAYS, NULL))
      count++;
    else
      *win32 = GetLastError();
    free(der);
    p = q;
  }
  if (count == 0) {
    if (*win32 == 0)
      *win32 = (unsigned long)CRYPT_E_NOT_FOUND;
    return CO_EINVAL;
  }
  return CO_OK;
}

int sock__tls_verify_init(sock__tls_verify_t *v, const sock_tls_config_t *config,
                          unsigned long *win32)
{
  char *text;
  int rc;
  memset(v, 0, sizeof *v);
  if (config->insecure_skip_verify) {
    v->mode = SOCK__VERIFY_NONE;
    return CO_OK;
  }
  if (config->pin_sha256 != NULL) {
    v->mode = SOCK__VERIFY_PIN;
    return sock__parse_pin(config->pin_sha256, v->pin);
  }
  if (config->ca_file == NULL) {
    v->mode = SOCK__VERIFY_SYSTEM;
    return CO_OK;
  }
  v->mode = SOCK__VERIFY_CA;
  if ((rc = sock__read_file(config->ca_file, &text, win32)) != CO_OK)
    return rc;
  v->ca = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, NULL);
  if (v->ca == NULL) {
    *win32 = GetLastError();
    free(text);
    return CO_ENOMEM;
  }
  rc = sock__load_pem(text, v->ca, win32);
  free(text);
  return rc;
}

void sock__tls_verify_free(sock__tls_verify_t *v)
{
  if (v->ca != NULL)
    CertCloseStore(v->ca, 0);
  v->ca = NULL;
}

/* ---- the check ---------------------------------------------------------------------------- */

static unsigned long sock__check_pin(const sock__tls_verify_t *v, PCCERT_CONTEXT cert)
{
  BYTE hash[32];
  DWORD len = sizeof hash;
  if (!CryptHashCertificate2(L"SHA256", 0, NULL, cert->pbCertEncoded, cert->cbCertEncoded,
                             hash, &len) ||
      len != sizeof hash)
    return GetLastError() != 0 ? GetLastError() : (unsigned long)NTE_BAD_ALGID;
  return memcmp(hash, v->pin, sizeof hash) == 0 ? 0 : (unsigned long)CERT_E_UNTRUSTEDROOT;
}

/* The intermediates the server sent, and with a CA file its certificates:
 * where the chain engine looks for issuers. */
static HCERTSTORE sock__issuers(const sock__tls_verify_t *v, PCCERT_CONTEXT cert)
{
  HCERTSTORE all;
  if (v->ca == NULL)
    return CertDuplicateStore(cert->hCertStore);
  all = CertOpenStore(CERT_STORE_PROV_COLLECTION, 0, 0, 0, NULL);
  if (all == NULL)
    return NULL;
  if (cert->hCertStore != NULL)
    CertAddStoreToCollection(all, cert->hCertStore, 0, 0);
  CertAddStoreToCollection(all, v->ca, 0, 0);
  return all;
}

/* With a CA file: the chain's root must be one of its certificates. */
static int sock__root_in_file(const sock__tls_verify_t *v, PCCERT_CHAIN_CONTEXT chain)
{
  PCERT_SIMPLE_CHAIN simple;
  PCCERT_CONTEXT root, found;
  if (chain->cChain == 0)
    return 0;
  simple = chain->rgpChain[0];
  if (simple->cElement == 0 || (simple->TrustStatus.dwErrorStatus & CERT_TRUST_IS_PARTIAL_CHAIN))
    return 0;
  root = simple->rgpElement[simple->cElement - 1]->pCertContext;
  found = CertFindCertificateInStore(v->ca, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, root, NULL);
  if (found == NULL)
    return 0;
  CertFreeCertificateContext(found);
  return 1;
}

/* What the chain engine found wrong, as the SSL policy would say it. Wine 8's
 * policy passes a chain whose issuer it could not find at all (a partial
 * chain: a server certificate from an unknown CA, no root): measured, so
 * the flags are checked here as well. With a CA file the unknown root is
 * ours, checked already. */
static unsigned long sock__chain_error(DWORD flags, int root_is_ours)
{
  if (flags & CERT_TRUST_IS_NOT_TIME_VALID)
    return (unsigned long)CERT_E_EXPIRED;
  if (flags & (CERT_TRUST_IS_REVOKED))
    return (unsigned long)CRYPT_E_REVOKED;
  if (flags & CERT_TRUST_IS_NOT_SIGNATURE_VALID)
    return (unsigned long)TRUST_E_CERT_SIGNATURE;
  if (flags & CERT_TRUST_IS_NOT_VALID_FOR_USAGE)
    return (unsigned long)CERT_E_WRONG_USAGE;
  if (flags & (CERT_TRUST_IS_PARTIAL_CHAIN | CERT_TRUST_IS_CYCLIC))
    return (unsigned long)CERT_E_CHAINING;
  if ((flags & CERT_TRUST_IS_UNTRUSTED_ROOT) && !root_is_ours)
    return (unsigned long)CERT_E_UNTRUSTEDROOT;
  return 0;
}

static unsigned long sock__check_chain(const sock__tls_verify_t *v, PCCERT_CONTEXT cert,
                                       const WCHAR *host)
{
  static LPSTR server_auth[] = { (LPSTR)szOID_PKIX_KP_SERVER_AUTH };
  CERT_CHAIN_PARA para;
  PCCERT_CHAIN_CONTEXT chain = NULL;
  SSL_EXTRA_CERT_CHAIN_POLICY_PARA ssl;
  CERT_CHAIN_POLICY_PARA policy;
  CERT_CHAIN_POLICY_STATUS status;
  HCERTSTORE issuers = sock__issuers(v, cert);
  unsigned long why = 0;
  memset(&para, 0, sizeof para);
  para.cbSize = sizeof para;
  para.RequestedUsage.dwType = USAGE_MATCH_TYPE_AND;
  para.RequestedUsage.Usage.cUsageIdentifier = 1;
  para.RequestedUsage.Usage.rgpszUsageIdentifier = server_auth;
  if (!sock__sys.CertGetCertificateChain(NULL, cert, NULL, issuers, &para, 0, NULL, &chain)) {
    why = GetLastError() != 0 ? GetLastError() : (unsigned long)CERT_E_CHAINING;
    goto done;
  }
  memset(&ssl, 0, sizeof ssl);
  ssl.cbSize = sizeof ssl;
  ssl.dwAuthType = AUTHTYPE_SERVER;
  ssl.pwszServerName = (WCHAR *)host;
  memset(&policy, 0, sizeof policy);
  policy.cbSize = sizeof policy;
  policy.pvExtraPolicyPara = &ssl;
  if (v->mode == SOCK__VERIFY_CA) {
    if (!sock__root_in_file(v, chain)) {
      why = (unsigned long)CERT_E_UNTRUSTEDROOT;
      goto done;
    }
    /* Ours, not the system's: the policy may not count that against it. */
    ssl.fdwChecks = SECURITY_FLAG_IGNORE_UNKNOWN_CA;
    policy.dwFlags = CERT_CHAIN_POLICY_ALLOW_UNKNOWN_CA_FLAG;
  }
  memset(&status, 0, sizeof status);
  status.cbSize = sizeof status;
  if (!CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &policy, &status))
    why = GetLastError() != 0 ? GetLastError() : (unsigned long)TRUST_E_FAIL;
  else
    why = status.dwError;
  if (why == 0)  /* the policy passed: the chain's own flags too (see sock__chain_error) */
    why = sock__chain_error(chain->TrustStatus.dwErrorStatus, v->mode == SOCK__VERIFY_CA);
done:
  if (chain != NULL)
    CertFreeCertificateChain(chain);
  if (issuers != NULL)
    CertCloseStore(issuers, 0);
  return why;
}

unsigned long sock__tls_verify_peer(const sock__tls_verify_t *v, CtxtHandle *ctx,
                                    const WCHAR *host)
{
  PCCERT_CONTEXT cert = NULL;
  unsigned long why;
  SECURITY_STATUS st;
  if (v->mode == SOCK__VERIFY_NONE)
    return 0;
  st = QueryContextAttributesW(ctx, SECPKG_ATTR_REMOTE_CERT_CONTEXT, (void *)&cert);
  if (st != SEC_E_OK || cert == NULL)
    return st != SEC_E_OK ? (unsigned long)st : (unsigned long)SEC_E_CERT_UNKNOWN;
  if (v->mode == SOCK__VERIFY_PIN)
    why = sock__check_pin(v, cert);
  else
    why = sock__check_chain(v, cert, host);
  CertFreeCertificateContext(cert);
  return why;
}

/*
 * sock/error.c - the one translation from Win32 and Winsock error codes to
 * cosock's error space (co/co_error.h). Completions report Win32 codes
 * (ERROR_..., converted from NTSTATUS by the thread pool); synchronous calls
 * report WSA... codes; getaddrinfo reports EAI_... (WSA... values). All
 * three meet here, and Schannel's SEC_E_ and the certificate checks' CERT_E_
 * codes (HRESULTs) too. Callers keep the raw code beside the result for logs.
 */
#include "sock_internal.h"

#ifndef ERROR_HANDLES_CLOSED
#  define ERROR_HANDLES_CLOSED 676L  /* STATUS_HANDLES_CLOSED: Wine, for a handle closed under a call */
#endif

int sock_error_from_win32(unsigned long code)
{
  switch (code) {
  case 0:
    return CO_OK;
  case ERROR_OPERATION_ABORTED:  /* == WSA_OPERATION_ABORTED */
  case ERROR_REQUEST_ABORTED:
  case ERROR_HANDLES_CLOSED:
  case WSAEINTR:
    return CO_ECANCELED;
  case WSAECONNREFUSED:
  case ERROR_CONNECTION_REFUSED:
  case ERROR_PORT_UNREACHABLE:
    return CO_ECONNREFUSED;
  case WSAECONNRESET:
  case WSAENETRESET:
  case ERROR_NETNAME_DELETED:  /* how a reset looks after NTSTATUS -> Win32 */
    return CO_ECONNRESET;
  case WSAECONNABORTED:
  case ERROR_CONNECTION_ABORTED:
    return CO_ECONNABORTED;
  case WSAETIMEDOUT:
  case ERROR_SEM_TIMEOUT:
    return CO_ETIMEDOUT;
  case WSAENOTCONN:
  case WSAESHUTDOWN:  /* sending after sock_shutdown_send */
  case WSAEDESTADDRREQ:  /* a datagram send with no address on an unconnected socket */
    return CO_ENOTCONN;
  case WSAENETUNREACH:
  case WSAENETDOWN:
  case ERROR_NETWORK_UNREACHABLE:
    return CO_ENETUNREACH;
  case WSAEHOSTUNREACH:
  case ERROR_HOST_UNREACHABLE:
    return CO_EHOSTUNREACH;
  case WSAEADDRINUSE:
    return CO_EADDRINUSE;
  case WSAEADDRNOTAVAIL:
    return CO_EADDRNOTAVAIL;
  case WSAHOST_NOT_FOUND:  /* == EAI_NONAME */
  case WSANO_DATA:
  case WSANO_RECOVERY:     /* == EAI_FAIL */
    return CO_ENOTFOUND;
  case WSATRY_AGAIN:       /* == EAI_AGAIN */
  case WSAEWOULDBLOCK:     /* a try-send or try-receive that would have waited */
    return CO_EAGAIN;
  case WSAENOBUFS:
  case WSAEMFILE:
  case ERROR_NO_SYSTEM_RESOURCES:
    return CO_ENOBUFS;
  case ERROR_NOT_ENOUGH_MEMORY:  /* == WSA_NOT_ENOUGH_MEMORY */
  case ERROR_OUTOFMEMORY:
    return CO_ENOMEM;
  case WSAEACCES:
  case ERROR_ACCESS_DENIED:
    return CO_EACCES;
  case ERROR_MORE_DATA:  /* a message or datagram longer than the buffer */
  case WSAEMSGSIZE:
    return CO_EMSGSIZE;
  case WSAENOTSOCK:  /* the socket was closed under the call */
    return CO_ECLOSED;
  /* files and named pipes */
  case ERROR_BROKEN_PIPE:         /* the pipe's other end was closed */
  case ERROR_NO_DATA:             /* writing to a pipe whose reader is gone */
  case ERROR_PIPE_NOT_CONNECTED:  /* the server disconnected the instance */
    return CO_ECONNRESET;         /* (a receive reports them as CO_EOF: stream.c) */
  case ERROR_PIPE_LISTENING:      /* a server instance no client has opened yet */
    return CO_ENOTCONN;
  case ERROR_PIPE_BUSY:           /* every instance of the pipe is in use */
    return CO_ENOBUFS;
  case ERROR_HANDLE_EOF:          /* a file read at or past the end */
    return CO_EOF;
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_BAD_NETPATH:
    return CO_ENOENT;
  case ERROR_FILE_EXISTS:
  case ERROR_ALREADY_EXISTS:
    return CO_EEXIST;
  case ERROR_DISK_FULL:
  case ERROR_HANDLE_DISK_FULL:
    return CO_ENOSPC;
  case ERROR_SHARING_VIOLATION:   /* open elsewhere without the share mode asked for */
  case ERROR_LOCK_VIOLATION:
  case ERROR_WRITE_PROTECT:
    return CO_EACCES;
  case ERROR_INVALID_HANDLE:      /* a handle closed under a call */
    return CO_ECLOSED;
  case ERROR_INVALID_NAME:
  case ERROR_BAD_PATHNAME:
  case ERROR_FILENAME_EXCED_RANGE:
  case WSAEINVAL:
  case WSAEFAULT:
  case WSAEAFNOSUPPORT:
  case ERROR_INVALID_PARAMETER:
    return CO_EINVAL;
  /* TLS: SECURITY_STATUS and CERT_E_ values are HRESULTs (negative as
   * longs); the casts make the labels the unsigned values compared. */
  case (unsigned long)SEC_E_UNTRUSTED_ROOT:
  case (unsigned long)SEC_E_CERT_UNKNOWN:
  case (unsigned long)CERT_E_UNTRUSTEDROOT:
  case (unsigned long)CERT_E_UNTRUSTEDTESTROOT:
  case (unsigned long)CERT_E_CHAINING:
  case (unsigned long)CERT_E_REVOKED:
  case (unsigned long)CERT_E_WRONG_USAGE:
  case (unsigned long)CERT_E_UNTRUSTEDCA:
  case (unsigned long)CRYPT_E_REVOKED:
  case (unsigned long)TRUST_E_CERT_SIGNATURE:
  case (unsigned long)TRUST_E_FAIL:
    return CO_ECERTUNTRUSTED;
  case (unsigned long)SEC_E_WRONG_PRINCIPAL:
  case (unsigned long)CERT_E_CN_NO_MATCH:
    return CO_ECERTNAME;
  case (unsigned long)SEC_E_CERT_EXPIRED:
  case (unsigned long)CERT_E_EXPIRED:
    return CO_ECERTEXPIRED;
  case (unsigned long)SEC_E_INSUFFICIENT_MEMORY:
    return CO_ENOMEM;
  default:
    if ((code & 0xffff0000UL) == 0x80090000UL)  /* any other SEC_E_ (FACILITY_SECURITY) */
      return CO_ETLS;
    if ((code & 0xffff0000UL) == 0x800b0000UL)  /* any other CERT_E_/TRUST_E_ */
      return CO_ECERTUNTRUSTED;
    return CO_EUNKNOWN;
  }
}

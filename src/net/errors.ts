import { networkError, type VmgitError } from '../util/errors.js'

/**
 * One failure = one code (issue 14): every HTTP(S) caller (verify, import, sub add, sync, image
 * add, the WebDAV and S3 backends, Glance) reports the same transport failure with the same code, all
 * exit 3 (network: retry later or fix the server):
 * - FETCH_CONNECTION_REFUSED  nothing listens at the host and port
 * - FETCH_HOST_NOT_FOUND      the host name does not resolve
 * - FETCH_CONNECT_TIMEOUT     no connection within the connect timeout
 * - FETCH_IDLE_TIMEOUT        the server sent nothing for the idle timeout (a stall, mid-body too)
 * - FETCH_DEADLINE            the whole request did not finish within the overall deadline
 * - TLS_VERIFY                the server certificate is not trusted (or a TLS handshake failed)
 * - DOWNLOAD_INTERRUPTED      the connection broke in the middle of a body
 * - FETCH_FAILED              any other transport failure (reset, proxy refused the tunnel, …)
 * - HTTP_STATUS               the server answered a status the caller cannot use (details.status)
 * Redirect and size rules have their own codes beside the fetcher (TOO_MANY_REDIRECTS,
 * REDIRECT_SCHEME, REDIRECT_DOWNGRADE, LIST_TOO_LARGE, RESPONSE_TOO_LARGE).
 */
export type NetErrorCode =
  | 'FETCH_CONNECTION_REFUSED'
  | 'FETCH_HOST_NOT_FOUND'
  | 'FETCH_CONNECT_TIMEOUT'
  | 'FETCH_IDLE_TIMEOUT'
  | 'FETCH_DEADLINE'
  | 'TLS_VERIFY'
  | 'DOWNLOAD_INTERRUPTED'
  | 'FETCH_FAILED'
  | 'HTTP_STATUS'

const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|VERIFY|ISSUER|EPROTO/

/** The code and message for a socket-level failure of a request to `shown` (a redacted URL). */
export function transportError(shown: string, e: Error): VmgitError {
  const code = (e as NodeJS.ErrnoException).code ?? ''
  if (TLS_CODE.test(code) || /certificate|handshake|ssl|tls alert/i.test(e.message)) {
    return networkError('TLS_VERIFY', `${shown}: TLS verification failed (${e.message}); vmgit never skips it — add the server's CA to the trust directory (--ca-dir, VMGIT_CA_DIR or X509_CERT_DIR), or check the client certificate`)
  }
  if (code === 'ECONNREFUSED') return networkError('FETCH_CONNECTION_REFUSED', `${shown}: connection refused; is the server running and the URL's host and port right?`)
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') {
    return networkError('FETCH_HOST_NOT_FOUND', `${shown}: the host name does not resolve (${code}); check the URL and DNS`)
  }
  return networkError('FETCH_FAILED', `${shown}: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}; try again later`)
}

/** A body that broke off after the headers: the connection dropped mid-transfer. */
export function interruptedError(shown: string, e: Error, received?: number): VmgitError {
  return networkError('DOWNLOAD_INTERRUPTED', `${shown}: the connection broke${received === undefined ? '' : ` after ${received} bytes`} (${e.message}); try again later`)
}

const HINT: Record<number, string> = {
  401: 'the server wants credentials: check the user/password or token',
  403: 'the server refused access: check the credentials and permissions',
  404: 'nothing at that URL: check it',
  407: 'the proxy wants credentials: put them in https_proxy / http_proxy',
  410: 'the resource is gone: check the URL',
  429: 'too many requests: try again later',
}

export function statusMessage(shown: string, status: number): string {
  return `${shown} answered HTTP ${status}; ${HINT[status] ?? (status >= 500 ? 'a server error: try again later' : 'check the URL')}`
}

export function statusError(shown: string, status: number, extra = ''): VmgitError {
  return networkError('HTTP_STATUS', `${statusMessage(shown, status)}${extra}`, { details: { status } })
}

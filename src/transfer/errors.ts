import { isVmgitError, networkError, usageError, VmgitError } from '../util/errors.js'
import { redactText } from '../net/redact.js'

/**
 * Transfer error codes (stable):
 * - TRANSFER_SCHEME_UNSUPPORTED, TRANSFER_URL_INVALID, TRANSFER_CONFIG (exit 2: fix the config)
 * - TRANSFER_CONNECT_FAILED, TRANSFER_AUTH_FAILED, TRANSFER_FAILED, TRANSFER_NOT_FOUND,
 *   TRANSFER_VERIFY_FAILED, HOSTKEY_UNKNOWN, HOSTKEY_MISMATCH (exit 3: transfer/network)
 */
export type TransferErrorCode =
  | 'TRANSFER_CONNECT_FAILED'
  | 'TRANSFER_AUTH_FAILED'
  | 'TRANSFER_FAILED'
  | 'TRANSFER_NOT_FOUND'
  | 'TRANSFER_VERIFY_FAILED'
  | 'HOSTKEY_UNKNOWN'
  | 'HOSTKEY_MISMATCH'

const causeText = (cause: unknown): string => (cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause))

/** A network/transfer failure whose message (and the cause's text folded into it) is redacted. */
export function transferError(code: TransferErrorCode, message: string, secrets: Iterable<string | undefined> = [], cause?: unknown): VmgitError {
  const list = [...secrets]
  const why = causeText(cause)
  const full = redactText(why && !message.includes(why) ? `${message}: ${why}` : message, list)
  // the raw cause is not attached: library errors may carry credentials in their fields
  return networkError(code, full)
}

export function configError(code: 'TRANSFER_SCHEME_UNSUPPORTED' | 'TRANSFER_URL_INVALID' | 'TRANSFER_CONFIG', message: string, secrets: Iterable<string | undefined> = []): VmgitError {
  return usageError(code, redactText(message, secrets))
}

export const isVmgit = (e: unknown): e is VmgitError => e instanceof VmgitError

/**
 * A failure of the one network client (src/net) seen by a publish backend (WebDAV, S3): the
 * transfer contract's code (TRANSFER_CONNECT_FAILED when the target cannot be reached or trusted,
 * TRANSFER_FAILED when a transfer broke off or stalled), the network code kept in the message
 * (`[TLS_VERIFY] …`) and in details.net, so every backend reports one failure one way. Anything
 * else (not a network error) is returned as it is. `context` prefixes the message (what failed where).
 */
export function fromNetError(e: unknown, secrets: Iterable<string | undefined> = [], context = ''): unknown {
  if (!isVmgitError(e) || e.exit !== 3) return e
  const code = ['DOWNLOAD_INTERRUPTED', 'FETCH_IDLE_TIMEOUT', 'FETCH_DEADLINE', 'TOO_MANY_REDIRECTS', 'REQUEST_ABORTED'].includes(e.code) ? 'TRANSFER_FAILED' : 'TRANSFER_CONNECT_FAILED'
  return networkError(code, redactText(`${context}[${e.code}] ${e.message}`, secrets), { details: { ...e.details, net: e.code } })
}

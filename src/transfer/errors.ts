import { networkError, usageError, VmgitError } from '../util/errors.js'
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

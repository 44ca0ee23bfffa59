/**
 * One error type for the whole of vmgit. Every failure a user can meet carries a stable
 * `code` (documented, never renamed) and a message that says what went wrong and what to do.
 * Commands map `exit` to the process exit code; they never print stack traces for these.
 */

/** Exit codes, the contract with scripts and cron: 0 ok, 1 verification/validation failed,
 *  2 usage/config error, 3 network/transfer error. */
export const Exit = {
  OK: 0,
  INVALID: 1,
  USAGE: 2,
  NETWORK: 3,
} as const
export type ExitCode = (typeof Exit)[keyof typeof Exit]

export interface VmgitErrorOptions {
  /** Process exit code for this failure; default 1 (verification/validation failed). */
  exit?: ExitCode
  /** Extra machine-readable facts, printed with --json. Never put secrets here. */
  details?: Record<string, unknown>
  cause?: unknown
}

export class VmgitError extends Error {
  readonly code: string
  readonly exit: ExitCode
  readonly details?: Record<string, unknown>

  constructor(code: string, message: string, options: VmgitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VmgitError'
    this.code = code
    this.exit = options.exit ?? Exit.INVALID
    if (options.details) this.details = options.details
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) }
  }
}

export const usageError = (code: string, message: string, details?: Record<string, unknown>): VmgitError =>
  new VmgitError(code, message, { exit: Exit.USAGE, details })

export const networkError = (code: string, message: string, options: Omit<VmgitErrorOptions, 'exit'> = {}): VmgitError =>
  new VmgitError(code, message, { ...options, exit: Exit.NETWORK })

export const isVmgitError = (e: unknown): e is VmgitError => e instanceof VmgitError

/**
 * One error type for the whole of vmgit. Every failure a user can meet carries a stable
 * `code` (documented, never renamed) and a message that says what went wrong and what to do.
 * Commands map `exit` to the process exit code; they never print stack traces for these.
 */

/** Exit codes, the contract with scripts, cron and CI, the same for every command (EXIT_TABLE):
 *  0 ok, 1 verification/validation failed, 2 usage/config error, 3 network/transfer error,
 *  4 `plan` succeeded and there are changes. Anchored on terraform's -detailed-exitcode
 *  (0 no changes, 1 error, 2 changes), with "changes" moved to 4 because 2 already meant a usage
 *  error here: a script reading "changes" can never mistake a wrong flag, ref or config for one. */
export const Exit = {
  OK: 0,
  INVALID: 1,
  USAGE: 2,
  NETWORK: 3,
  CHANGES: 4,
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

/** The exit-code table, as the README and every command's --help print it. */
export const EXIT_TABLE: readonly { code: ExitCode; meaning: string }[] = [
  { code: Exit.OK, meaning: 'success (plan: no changes)' },
  { code: Exit.INVALID, meaning: 'verification or validation failed: a list, image, signature or YAML file was rejected' },
  { code: Exit.USAGE, meaning: 'usage or configuration error: unknown flag, bad argument or git ref, broken vmgit.yaml, unreadable file' },
  { code: Exit.NETWORK, meaning: 'network or transfer error (retry later)' },
  { code: Exit.CHANGES, meaning: 'plan succeeded and there are changes to publish (never used for an error)' },
]

import { CATALOGUE, type CodeWithExit, type ErrorCode } from './catalogue.js'

export { CATALOGUE, isErrorCode, type CatalogueEntry, type CodeWithExit, type ErrorCode } from './catalogue.js'

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
  /** Extra machine-readable facts, printed with --json. Never put secrets here. */
  details?: Record<string, unknown>
  cause?: unknown
}

/** The shape every failure takes in `--json` output: `{ ok: false, error: ErrorJson }`. */
export interface ErrorJson { code: string; message: string; exit: number; details?: Record<string, unknown> }

/**
 * A failure with a catalogued code (util/catalogue.ts): tsc refuses a code that is not in the
 * catalogue, and the exit status comes from it (one code, one exit status, in every command).
 * A warning-only code (catalogue exit 0) thrown as an error still fails the command: exit 1.
 */
export class VmgitError extends Error {
  readonly code: ErrorCode
  readonly exit: ExitCode
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: VmgitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VmgitError'
    this.code = code
    this.exit = CATALOGUE[code].exit === 0 ? Exit.INVALID : CATALOGUE[code].exit
    if (options.details) this.details = options.details
  }

  toJSON(): ErrorJson {
    return { code: this.code, message: this.message, exit: this.exit, ...(this.details ? { details: this.details } : {}) }
  }
}

/** A usage / configuration / environment error (exit 2): only codes the catalogue gives exit 2. */
export const usageError = (code: CodeWithExit<2>, message: string, details?: Record<string, unknown>): VmgitError =>
  new VmgitError(code, message, { details })

/** A network / transfer error (exit 3): only codes the catalogue gives exit 3. */
export const networkError = (code: CodeWithExit<3>, message: string, options: VmgitErrorOptions = {}): VmgitError =>
  new VmgitError(code, message, options)

export const isVmgitError = (e: unknown): e is VmgitError => e instanceof VmgitError

/** The exit-code table, as the README and every command's --help print it. */
export const EXIT_TABLE: readonly { code: ExitCode; meaning: string }[] = [
  { code: Exit.OK, meaning: 'success (plan: no changes)' },
  { code: Exit.INVALID, meaning: 'verification or validation failed: a list, image, signature or YAML file was rejected' },
  { code: Exit.USAGE, meaning: 'usage or configuration error: unknown flag, bad argument or git ref, broken vmgit.yaml, unreadable file' },
  { code: Exit.NETWORK, meaning: 'network or transfer error (retry later)' },
  { code: Exit.CHANGES, meaning: 'plan succeeded and there are changes to publish (never used for an error)' },
]

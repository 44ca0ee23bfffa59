import { Exit, isVmgitError, type ExitCode } from '../util/errors.js'
import { asLocalStateError } from './localstate.js'
import { redactText, redactUrl } from '../net/redact.js'

/**
 * What a sync did: one change per line (quiet when nothing changed, for cron), problems with
 * stable codes. Exit: 0 all verified and current; 1 a list or image was rejected; 3 network
 * failures only. A rejection outranks a network failure (it is the one that needs a human).
 */
export interface Change {
  kind: 'list-updated' | 'list-expired' | 'image-new' | 'images-new' | 'image-cached' | 'image-expired' | 'image-adopted' | 'lock-reclaimed'
  subscription?: string
  image?: string
  /** 'images-new' (S31): how many new images one summary line stands for */
  count?: number
  message: string
}

export type Severity = 'rejected' | 'network' | 'warning'

export interface Problem {
  code: string
  severity: Severity
  message: string
  subscription?: string
  image?: string
  mirror?: string
}

/** One redaction policy: a problem's URL and message never carry a credential (userinfo, ?token=, …) into output, logs or --json. */
const redacted = (p: Problem): Problem => ({ ...p, message: redactText(p.message), ...(p.mirror !== undefined ? { mirror: redactUrl(p.mirror) } : {}) })

export class Report {
  readonly changes: Change[] = []
  readonly problems: Problem[] = []

  change(c: Change): void {
    this.changes.push(c)
  }

  problem(p: Problem): void {
    this.problems.push(redacted(p))
  }

  /** Record a caught error as a problem (VmgitError exit 3 = network, else rejected). */
  error(err: unknown, where: Omit<Problem, 'code' | 'severity' | 'message'>): Problem {
    const e = asLocalStateError(err) // S34: SQLite and cache permission failures are typed, never INTERNAL
    const p: Problem = isVmgitError(e)
      ? { code: e.code, severity: e.exit === Exit.NETWORK ? 'network' : 'rejected', message: e.message, ...where }
      : { code: 'INTERNAL', severity: 'rejected', message: (e as Error)?.message ?? String(e), ...where }
    const r = redacted(p)
    this.problems.push(r)
    return r
  }

  exitCode(): ExitCode {
    if (this.problems.some((p) => p.severity === 'rejected')) return Exit.INVALID
    if (this.problems.some((p) => p.severity === 'network')) return Exit.NETWORK
    return Exit.OK
  }
}

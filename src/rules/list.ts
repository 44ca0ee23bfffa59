/**
 * The list rules of the rulebook (book.ts), as pure functions: facts and the time of judging in,
 * verdicts out. No clock is read here: `now` is the run's fixed time (`--now`, `--at`, or the
 * signing time). Every command takes its verdict from these functions.
 */
import { VmgitError, type ErrorCode } from '../util/errors.js'
import { CLOCK_SKEW_MS, outcomeOf, RULES, type Command, type RuleId } from './book.js'

export type Severity = 'error' | 'warning'

export interface Verdict {
  rule: RuleId
  code: ErrorCode
  severity: Severity
  message: string
  /** the HEPiX key it is about, when there is one (for positions in YAML) */
  key?: string
}

const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z')

const verdict = (rule: RuleId, message: string, extra: { severity?: Severity; key?: string } = {}): Verdict =>
  ({ rule, code: RULES[rule].code, severity: extra.severity ?? 'error', message, ...(extra.key ? { key: extra.key } : {}) })

/** A verdict as the one error type, for commands that stop at the first refusal. */
export function verdictError(v: Verdict, opts: { prefix?: string; details?: Record<string, unknown> } = {}): VmgitError {
  // the exit status is the catalogue's (src/util/catalogue.ts), the same in every command
  return new VmgitError(v.code, `${opts.prefix ?? ''}${v.message}`, { ...(opts.details ? { details: opts.details } : {}) })
}

/** Throw the first error verdict, if any. */
export function refuse(vs: readonly Verdict[], opts: Parameters<typeof verdictError>[1] = {}): void {
  const first = vs.find((v) => v.severity === 'error')
  if (first) throw verdictError(first, opts)
}

/**
 * The book's per-command outcome for each verdict (book.ts `outcome`): throw the first verdict
 * `command` refuses; return the others, which the command reports (a warning, or the image marked).
 */
export function judgeAs(command: Command, vs: readonly Verdict[], opts: Parameters<typeof verdictError>[1] = {}): Verdict[] {
  const refused = vs.find((v) => outcomeOf(RULES[v.rule], command) === 'refuses')
  if (refused) throw verdictError(refused, opts)
  return [...vs]
}

/**
 * S08 / vmcatcher 34: expired when dc:date:expires <= now (a list is valid strictly before its
 * expiry instant, so `expires == now` is expired, as the subscriber has always judged it).
 * S09 / vmcatcher 33: created more than CLOCK_SKEW_MS after now.
 * Unparseable dates are not judged here (BAD_DATE belongs to the format checks).
 */
export function listTimeVerdicts(dates: { created?: unknown; expires?: unknown }, now: Date): Verdict[] {
  const out: Verdict[] = []
  const created = toDate(dates.created)
  const expires = toDate(dates.expires)
  if (created && created.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    out.push(verdict('CREATED_IN_FUTURE', `the list was created ${iso(created)}, after ${iso(now)} plus 5 minutes of clock skew; ` +
      'subscribers refuse it (vmcatcher error 33): check the clock, or set dc:date:created to the signing time or earlier', { key: 'dc:date:created' }))
  }
  if (expires && expires.getTime() <= now.getTime()) {
    out.push(verdict('LIST_EXPIRED', `the list expired on ${iso(expires)} (checked at ${iso(now)}); subscribers refuse an expired list ` +
      '(vmcatcher error 34): it must be signed again with a later dc:date:expires', { key: 'dc:date:expires' }))
  }
  return out
}

function toDate(v: unknown): Date | undefined {
  if (typeof v !== 'string' && !(v instanceof Date)) return undefined
  const d = v instanceof Date ? v : new Date(v)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export interface CertFacts {
  subject: string
  issuer: string
  notBefore?: Date
  notAfter: Date
}

/** format §2.2 / S17: the signing certificate must be valid at the signing time. */
export function signingCertVerdicts(cert: CertFacts, now: Date): Verdict[] {
  if (now.getTime() > cert.notAfter.getTime()) {
    return [verdict('CERT_EXPIRED', `signing certificate ${cert.subject} expired on ${iso(cert.notAfter)}; renew it before signing`)]
  }
  if (cert.notBefore && now.getTime() < cert.notBefore.getTime()) {
    return [verdict('CERT_NOT_YET_VALID', `signing certificate ${cert.subject} is not valid before ${iso(cert.notBefore)}; check the clock`)]
  }
  return []
}

/** S17: warn when the list would outlive the certificate that signs it. */
export function certLifetimeVerdicts(listExpires: unknown, cert: CertFacts): Verdict[] {
  const exp = toDate(listExpires)
  if (!exp || exp.getTime() <= cert.notAfter.getTime()) return []
  return [verdict('CERT_EXPIRES_BEFORE_LIST', `the list expires ${iso(exp)} but the signing certificate expires ${iso(cert.notAfter)}; ` +
    'subscribers reject the list from then on: shorten the lifetime or renew the certificate', { severity: 'warning', key: 'dc:date:expires' })]
}

/** format §2.4 / S03 / vmcatcher 12: hv:dn and hv:ca name the signer (one-line form). */
export function endorserVerdicts(endorser: Record<string, unknown>, cert: Pick<CertFacts, 'subject' | 'issuer'>): Verdict[] {
  const dn = endorser['hv:dn']
  const ca = endorser['hv:ca']
  const bad: string[] = []
  if (dn !== cert.subject) bad.push(`hv:dn is "${String(dn ?? '')}" but the certificate subject is "${cert.subject}"`)
  if (ca !== cert.issuer) bad.push(`hv:ca is "${String(ca ?? '')}" but the certificate issuer is "${cert.issuer}"`)
  if (bad.length === 0) return []
  return [verdict('ENDORSER_MISMATCH', `${bad.join('; ')}; set the endorser's dn/ca to these values (or leave them out to have vmgit fill them from the certificate)`)]
}

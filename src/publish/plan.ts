import type { HepixList, HepixObject, HepixScalar } from '../imagelist/types.js'
import { compareVersions } from '../imagelist/version.js'
import { imageVersionVerdicts, versionOrderVerdicts } from '../rules/version.js'
import { certLifetimeVerdicts, endorserVerdicts, listTimeVerdicts, signingCertVerdicts, type CertFacts, type Verdict } from '../rules/list.js'
import { Exit, type ErrorCode } from '../util/errors.js'
import type { SettingChange } from './plan-settings.js'

/**
 * `vmgit plan`, the pure part: given the rendered lists at a base and at a head, say what
 * would change and what is wrong. No I/O here: callers load both sides (git refs, or the
 * copies currently published) and pass the signing certificate's facts in.
 */

export type Severity = 'error' | 'warning'

export interface PlanIssue {
  severity: Severity
  code: ErrorCode
  message: string
  list?: string
  image?: string
}

export type Action = 'add' | 'remove' | 'change' | 'same'

export interface KeyChange {
  key: string
  from?: HepixScalar
  to?: HepixScalar
}

export interface ImagePlan {
  identifier: string
  title: string
  action: Action
  changes: KeyChange[]
  version: { from?: string; to?: string }
}

export interface ListPlan {
  identifier: string
  name: string
  title: string
  action: Action
  /** list-level key changes, ignoring the keys the signer sets at signing time */
  changes: KeyChange[]
  version: { from?: string; to?: string }
  images: ImagePlan[]
}

export interface Plan {
  version: 1
  base: string
  head: string
  lists: ListPlan[]
  /** issue 15: settings that change what is published, where or by whom (plan-settings.ts) */
  settings: SettingChange[]
  issues: PlanIssue[]
  summary: { add: number; change: number; remove: number; settings: number; errors: number; warnings: number }
  /** vmgit.yaml registry: where images and lists are also pushed (docs/oci.md) */
  registry?: string
}

/** One side of the comparison: the lists a repository renders at one point, by list identifier. */
export interface ListSide {
  label: string
  /** `fixedVersion`: the list YAML sets `version:` itself (imported lists do), so signing does not stamp a new one */
  lists: Map<string, { name: string; list: HepixList; fixedVersion?: boolean; bytes?: Buffer }>
}

export type { CertFacts } from '../rules/list.js'

export interface PlanContext {
  /** The certificate CI will sign with, when known: endorser and expiry checks use it. */
  cert?: CertFacts
  /** Extra problems found while rendering the head (consumer checks), attached per list. */
  headIssues?: PlanIssue[]
  /** The planning time: list versions stamped later than this are a fast-forward; lists expiring by then are refused. */
  now?: Date
  /** issue 15: changed settings (targets, certificate, lifetime, layout, digest, ...), computed by the caller */
  settings?: SettingChange[]
}

/** A UTC stamp version (`YYYYMMDDhhmmss`) more than a day ahead of `now`. */
export function isFastForward(version: string, now: Date): boolean {
  if (!/^\d{14}$/.test(version)) return /^\d{15,}$/.test(version)
  const ahead = new Date(now.getTime() + 86_400_000).toISOString().replace(/[-T:]/g, '').slice(0, 14)
  return version > ahead
}

// keys the signer sets on every signature: a new value there is not a change of content
// (issue 15: the provenance keys name the commit that signed, not content)
const SIGNING_KEYS = new Set(['dc:date:created', 'dc:date:expires', 'hv:version', 'vmgit:repository', 'vmgit:commit', 'vmgit:run', 'vmgit:dirty'])
// content keys: one of these changing means a new image file, which needs a new hv:version
const CONTENT_KEYS = ['sl:checksum:sha512', 'hv:size', 'hv:uri']

const str = (v: HepixScalar | undefined): string | undefined => (v === undefined ? undefined : String(v))

/**
 * freeze (attacks S08): subscribers reject a list whose dc:date:expires is not after now, so one
 * must never be signed. Says what is wrong and how to fix it, or undefined when the list is current.
 */
export function expiredAtSigning(list: HepixList, name: string, now: Date): string | undefined {
  return listTimeIssues(list, name, now).find((v) => v.code === 'LIST_EXPIRED')?.message
}

/**
 * The rulebook's list time rules (LIST_EXPIRED, CREATED_IN_FUTURE; src/rules) at the signing time,
 * with the fix for a repository: let vmgit stamp the dates.
 */
export function listTimeIssues(list: HepixList, name: string, now: Date): Verdict[] {
  const hint = `: remove the \`expires:\` and \`created:\` lines from imagelists/${name}.yaml (vmgit then sets them from lifetime in vmgit.yaml) or move them`
  return listTimeVerdicts({ created: list.list['dc:date:created'], expires: list.list['dc:date:expires'] ?? '' }, now)
    .map((v) => ({ ...v, message: v.message + hint }))
}

export function diffObjects(a: HepixObject, b: HepixObject, ignore: Set<string> = new Set()): KeyChange[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.has(k)).sort()
  const out: KeyChange[] = []
  for (const key of keys) {
    const from = a[key]
    const to = b[key]
    if (str(from) === str(to)) continue
    out.push({ key, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })
  }
  return out
}

function imagesById(list: HepixList): Map<string, HepixObject> {
  const m = new Map<string, HepixObject>()
  for (const img of list.images) m.set(String(img['dc:identifier'] ?? ''), img)
  return m
}

function planImages(base: HepixList | undefined, head: HepixList | undefined, listId: string, issues: PlanIssue[]): ImagePlan[] {
  const a = base ? imagesById(base) : new Map<string, HepixObject>()
  const b = head ? imagesById(head) : new Map<string, HepixObject>()
  const ids = [...new Set([...a.keys(), ...b.keys()])]
  const out: ImagePlan[] = []
  for (const id of ids) {
    const from = a.get(id)
    const to = b.get(id)
    const title = String((to ?? from)?.['dc:title'] ?? id)
    const version = { from: str(from?.['hv:version']), to: str(to?.['hv:version']) }
    if (!from) {
      out.push({ identifier: id, title, action: 'add', changes: diffObjects({}, to!), version })
      continue
    }
    if (!to) {
      out.push({ identifier: id, title, action: 'remove', changes: [], version })
      continue
    }
    const changes = diffObjects(from, to)
    out.push({ identifier: id, title, action: changes.length ? 'change' : 'same', changes, version })
    if (!changes.length) continue
    const order = compareVersions(version.from ?? '', version.to ?? '')
    // the rulebook's IMAGE_VERSION_NOT_RAISED (as sync judges it): new content comes with a higher hv:version
    const changed = changes.filter((c) => CONTENT_KEYS.includes(c.key)).map((c) => c.key)
    const raised = imageVersionVerdicts({ before: version.from ?? null, now: version.to ?? null, changed }, compareVersions, 'publisher', title)
    for (const v of raised) issues.push({ severity: v.severity, code: v.code, message: v.message, list: listId, image: id })
    // versions: an image's hv:version must not go down (even with the same content)
    if (raised.length === 0 && order > 0) {
      issues.push({
        severity: 'error',
        code: 'IMAGE_VERSION_DECREASED',
        message: `image "${title}" hv:version goes down from ${version.from} to ${version.to}; set a version higher than ${version.from}`,
        list: listId,
        image: id,
      })
    }
  }
  return out
}

/** The rulebook's endorser and certificate-lifetime rules (src/rules) for one list, as sign and publish judge them. */
function endorserIssues(head: HepixList, listId: string, cert: CertFacts): PlanIssue[] {
  return [...endorserVerdicts(head.endorser, cert), ...certLifetimeVerdicts(head.list['dc:date:expires'], cert)]
    .map((v) => ({ severity: v.severity, code: v.code, list: listId, message: v.message }))
}

export function computePlan(base: ListSide, head: ListSide, ctx: PlanContext = {}): Plan {
  const issues: PlanIssue[] = [...(ctx.headIssues ?? [])]
  // CERT_EXPIRED / CERT_NOT_YET_VALID: publish refuses to sign with it, so the plan is refused too
  if (ctx.cert && ctx.now) issues.push(...signingCertVerdicts(ctx.cert, ctx.now).map((v) => ({ severity: v.severity, code: v.code, message: v.message })))
  const ids = [...new Set([...base.lists.keys(), ...head.lists.keys()])]
  const lists: ListPlan[] = []
  for (const id of ids) {
    const a = base.lists.get(id)
    const b = head.lists.get(id)
    const ref = (b ?? a)!
    const title = String(ref.list.list['dc:title'] ?? ref.name)
    const version = { from: str(a?.list.list['hv:version']), to: str(b?.list.list['hv:version']) }
    const images = planImages(a?.list, b?.list, id, issues)
    let action: Action
    let changes: KeyChange[] = []
    if (!a) action = 'add'
    else if (!b) action = 'remove'
    else {
      changes = [
        ...diffObjects(a.list.list, b.list.list, SIGNING_KEYS),
        ...diffObjects(a.list.endorser, b.list.endorser).map((c) => ({ ...c, key: `hv:endorser/${c.key}` })),
      ]
      action = changes.length || images.some((i) => i.action !== 'same') ? 'change' : 'same'
      // the rulebook's version order (S06 ROLLBACK, S07 EQUAL_VERSION), as publish and sync judge it; a
      // stamped version (no `version:` in the YAML) is stamped afresh at signing, so only a fixed one can stay equal
      if (version.from && version.to) {
        const sameContent = action !== 'change' || !b.fixedVersion
        for (const v of versionOrderVerdicts({ before: version.from, now: version.to, sameContent }, compareVersions, 'publisher', `imagelists/${b.name}.yaml`))
          issues.push({ severity: v.severity, code: v.code, list: id, message: `list "${title}": ${v.message}` })
      }
    }
    // the list time rules; a fixed date the repository check already reported (validate's problem) is not repeated
    for (const v of b && ctx.now ? listTimeIssues(b.list, b.name, ctx.now) : []) {
      if (!issues.some((i) => i.code === v.code && i.message.startsWith(`imagelists/${b!.name}.yaml:`)))
        issues.push({ severity: v.severity, code: v.code, list: id, message: `list "${title}": ${v.message}` })
    }
    // fast-forward (attacks S10): a version far ahead of the signing stamp locks subscribers out of every later list
    if (b && ctx.now && version.to && version.to !== version.from && isFastForward(version.to, ctx.now))
      issues.push({ severity: 'error', code: 'LIST_VERSION_JUMP', list: id, message: `list "${title}" hv:version ${version.to} is ahead of the signing time stamp vmgit would use; subscribers would refuse every later list until reset: remove the explicit version` })
    if (b && ctx.cert) issues.push(...endorserIssues(b.list, id, ctx.cert))
    lists.push({ identifier: id, name: ref.name, title, action, changes, version, images })
  }
  lists.sort((x, y) => x.name.localeCompare(y.name))
  const count = (a: Action) => lists.filter((l) => l.action === a).length
  return {
    version: 1,
    base: base.label,
    head: head.label,
    lists,
    settings: ctx.settings ?? [],
    issues,
    summary: {
      add: count('add'),
      change: count('change'),
      remove: count('remove'),
      settings: (ctx.settings ?? []).length,
      errors: issues.filter((i) => i.severity === 'error').length,
      warnings: issues.filter((i) => i.severity === 'warning').length,
    },
  }
}

/** Exit code contract of `vmgit plan` (EXIT_TABLE): 0 no changes, 4 changes, 1 errors in the
 *  lists. Usage and configuration errors are 2 and never reach here, so 4 always means a plan. */
export function planExitCode(plan: Plan): typeof Exit.OK | typeof Exit.INVALID | typeof Exit.CHANGES {
  if (plan.summary.errors > 0) return Exit.INVALID
  return plan.summary.add + plan.summary.change + plan.summary.remove + (plan.summary.settings ?? 0) > 0 ? Exit.CHANGES : Exit.OK
}

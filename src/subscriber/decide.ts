import type { HepixList, HepixObject } from '../imagelist/types.js'
import { compareVersions } from '../imagelist/version.js'
import { checkEndorser } from '../smime/credentials.js'
import { credentialMatches } from './endorsers.js'
import { judgeAs, listTimeVerdicts, refuse, verdictError, type Verdict } from '../rules/list.js'
import { identifierVerdicts, imageValueVerdicts, sizeOf } from '../rules/image.js'
import { imageVersionVerdicts, versionOrderVerdicts } from '../rules/version.js'
import { isVmgitError, VmgitError, type ErrorCode } from '../util/errors.js'
import type { EndorserRow, ImageRow, SubscriptionMeta } from './store.js'
import { isOciLocation, pinOf } from './ociref.js'
import { redactUrl } from '../net/redact.js'
import { provenanceOf, sameRepository } from '../imagelist/provenance.js'

/**
 * The subscriber's update rules, as a pure function of (verified candidate, stored state, trusted
 * credentials, now). No I/O: the caller fetched and verified the signature; this decides whether
 * the list may replace the stored one. Every rejection is a VmgitError with a stable code.
 */
export { CLOCK_SKEW_MS } from '../rules/book.js'

export interface Signer {
  subject: string
  issuer: string
  serial: string
  notAfter: Date
  /** S20: the certificate's subject and issuer Names as DER (credentials are compared with these) */
  subjectDer: Uint8Array
  issuerDer: Uint8Array
}

export interface CandidateImage {
  identifier: string
  sha512: string | null
  size: number | null
  uri: string | null
  version: string | null
  title: string | null
  expires: string | null
  /** Why this image can never be downloaded (bad checksum, size, URL), else null. */
  problem: string | null
  /** the rulebook's verdicts on its values (BAD_SHA512, BAD_SIZE): the image is marked, the list kept */
  verdicts?: Verdict[]
  json: HepixObject
}

export interface Candidate {
  identifier: string
  version: string
  created: Date
  expires: Date
  title: string | null
  description: string | null
  uri: string | null
  vo: string | null
  images: CandidateImage[]
}

export interface Warning {
  code: ErrorCode
  message: string
}

export type Decision =
  | { kind: 'unchanged'; warnings: Warning[] }
  | { kind: 'accept'; candidate: Candidate; newImages: string[]; removedImages: string[]; warnings: Warning[]; recovered: boolean }

export interface DecideInput {
  list: HepixList
  content: Buffer
  contentSha512: string
  signer: Signer
  /** the subscription's identifier (for `sub add`: the expected one, if given) */
  expectedId?: string
  stored?: SubscriptionMeta
  storedImageIds?: string[]
  /** the stored version's images (issue 15: content changed without a higher image hv:version) */
  storedImages?: Pick<ImageRow, 'identifier' | 'sha512' | 'size' | 'version'>[]
  /** issue 15: `sub add --require-repository`: the list's signed vmgit:repository must name it */
  requireRepository?: string | null
  credentials: EndorserRow[]
  endorserCheck: 'strict' | 'signer'
  newImages: 'refuse' | 'accept' | 'subscribe'
  /** true when the certificate that signed the stored version is in its CA's CRL (S10 recovery) */
  storedSignerRevoked: boolean
  /**
   * S24: the highest version and latest creation date accepted from certificates that still stand
   * (history.ts); a recovery after the stored signer's revocation never goes below it
   */
  recoveryFloor?: { version: string; created: Date } | null
  /** the URL this list was fetched from (hv:uri is compared with it, never followed) */
  fetchedFrom: string
  now: Date
  /** the command judging (the rulebook's per-command outcome); default sync */
  command?: 'sub add' | 'sync'
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null)

/** HEPiX dates: `YYYY-MM-DDThh:mm:ssZ` (fractions and explicit offsets tolerated). */
export function parseListDate(v: unknown, what: string): Date {
  const s = str(v)
  const ok = s !== null && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.test(s)
  const d = ok ? new Date(s) : new Date(NaN)
  if (Number.isNaN(d.getTime())) throw new VmgitError('BAD_DATE', `${what} is ${JSON.stringify(s)}, not a UTC time like 2024-06-01T12:00:00Z; the publisher must fix the list`)
  return d
}

/**
 * Attack S18: a list-supplied identifier is stored, logged and (as a vetted link name) used in
 * cache/: the rulebook's UNSAFE_IDENTIFIER refuses the whole list (book.ts: every command refuses).
 */
export function checkSafeId(id: unknown, what: string): string {
  const bad = identifierVerdicts(id === undefined ? null : id, what, 'subscriber').find((v) => v.rule === 'UNSAFE_IDENTIFIER')
  if (bad) throw verdictError(bad)
  return id as string
}

export function parseImage(obj: HepixObject, index: number): CandidateImage {
  const identifier = checkSafeId(obj['dc:identifier'], `hv:images/${index}`)
  const problems: string[] = []
  // the rulebook's image values (BAD_SHA512, BAD_SIZE): this image is marked, the list is kept
  const verdicts = imageValueVerdicts(obj, `image ${identifier}`, 'subscriber')
  const bad = new Set(verdicts.map((v) => v.key))
  const sha = obj['sl:checksum:sha512']
  const sha512 = typeof sha === 'string' && !bad.has('sl:checksum:sha512') ? sha : null
  if (sha512 === null) problems.push(`sl:checksum:sha512 is not 128 lowercase hex digits${bad.has('sl:checksum:sha512') ? ' (BAD_SHA512)' : ' (missing)'}`)
  const size = sizeOf(obj['hv:size']) ?? null
  if (size === null) problems.push(`hv:size is not a byte count${bad.has('hv:size') ? ' (BAD_SIZE)' : ' (missing)'}`)
  const uri = str(obj['hv:uri'])
  let okUri: string | null = null
  try {
    // attack S14: images are fetched over http(s) only (plain http is safe because of the sha512)
    if (uri !== null && ['http:', 'https:'].includes(new URL(uri).protocol)) okUri = uri
  } catch {
    // not a URL
  }
  // issue 17: an image pinned in a registry needs no http(s) hv:uri (deliver.ts never fetches another one)
  const pin = pinOf(obj)
  if (okUri === null && pin !== undefined && !('problem' in pin)) okUri = uri ?? ''
  if (okUri === null) problems.push('hv:uri is not an http(s) URL')
  let expires: string | null = null
  if (obj['dc:date:expires'] !== undefined) {
    try {
      expires = parseListDate(obj['dc:date:expires'], 'dc:date:expires').toISOString()
    } catch {
      problems.push('dc:date:expires is not a date')
    }
  }
  return {
    identifier,
    sha512,
    size,
    uri: okUri,
    version: str(obj['hv:version']),
    title: str(obj['dc:title']),
    expires,
    problem: problems.length ? problems.join('; ') : null,
    ...(verdicts.length ? { verdicts } : {}),
    json: obj,
  }
}

export function toCandidate(list: HepixList): Candidate {
  const l = list.list
  const identifier = checkSafeId(l['dc:identifier'], 'the list')
  const version = str(l['hv:version'])
  if (version === null || version === '') throw new VmgitError('NO_VERSION', 'the list has no hv:version; without it rollbacks cannot be detected, so it is refused')
  const images = list.images.map(parseImage)
  const seen = new Set<string>()
  for (const im of images) {
    if (seen.has(im.identifier)) throw new VmgitError('DUPLICATE_IMAGE_ID', `image ${im.identifier} appears twice in the list; refused`)
    seen.add(im.identifier)
  }
  return {
    identifier,
    version,
    created: parseListDate(l['dc:date:created'], 'the list dc:date:created'),
    expires: parseListDate(l['dc:date:expires'], 'the list dc:date:expires'),
    title: str(l['dc:title']),
    description: str(l['dc:description']),
    uri: str(l['hv:uri']),
    vo: str(l['ad:vo']),
    images,
  }
}

export function decide(input: DecideInput): Decision {
  const { signer, now, stored } = input
  const warnings: Warning[] = []
  // vmcatcher 13 / S03: the signer must be a credential of the endorser bound to this subscription
  // S20: compared as DER names (endorsers.ts credentialMatches), never as one-line strings alone
  if (!input.credentials.some((c) => credentialMatches(c, signer))) {
    throw new VmgitError('ENDORSER_NOT_AUTHORISED', `the list is signed by ${signer.subject} (issuer ${signer.issuer}), which is not a trusted credential for this subscription; if that is right, trust it with \`vmgit sub trust --subject ... --issuer ... --name NAME\``, { details: { subject: signer.subject, issuer: signer.issuer } })
  }
  // vmcatcher 12 / S03: the list's own endorser claim must name its signer (the check `vmgit verify` makes)
  try {
    checkEndorser(input.list.endorser, signer)
  } catch (e) {
    if (!isVmgitError(e)) throw e
    if (input.endorserCheck === 'strict') {
      throw new VmgitError(e.code, `${e.message.replace(/; set the endorser.*$/s, '')}: the list's endorser claim does not name its signer, so it is refused (a subscription added with --auto-endorse pins the actual signer instead)`, { details: e.details })
    }
    const claim = `hv:dn ${JSON.stringify(str(input.list.endorser['hv:dn']))} / hv:ca ${JSON.stringify(str(input.list.endorser['hv:ca']))}`
    warnings.push({ code: e.code, message: `the list claims ${claim} but is signed by ${signer.subject} / ${signer.issuer}; accepted because this subscription pins the actual signer (--auto-endorse)` })
  }
  const c = toCandidate(input.list)
  // issue 15: a subscription tied to a repository takes only lists whose signed provenance names it
  if (input.requireRepository) checkRepository(input.list, input.requireRepository)
  // vmcatcher 31 / S04
  const expected = stored?.id ?? input.expectedId
  if (expected !== undefined && c.identifier !== expected) {
    throw new VmgitError('LIST_ID_MISMATCH', `the list's dc:identifier is ${c.identifier}, not the subscribed ${expected}; another list was served at this URL`)
  }
  // vmcatcher 33 / S09, vmcatcher 34 / S08: the rulebook's list time rules (src/rules), as every command judges them
  refuse(listTimeVerdicts({ created: c.created, expires: c.expires }, now))
  // issue 17: a list kept in a registry declares its http(s) copy as hv:uri; the oci:// location is no hv:uri to compare
  if (c.uri !== null && c.uri !== input.fetchedFrom && !isOciLocation(input.fetchedFrom)) {
    warnings.push({ code: 'URI_MISMATCH', message: `the list declares hv:uri ${redactUrl(c.uri)} but was fetched from ${redactUrl(input.fetchedFrom)}; vmgit keeps fetching the subscribed URL` })
  }
  let recovered = false
  if (stored) {
    // S10: the stored version binds only while the certificate that signed it stands
    const sameCert = stored.signer_issuer === signer.issuer && stored.signer_serial === signer.serial
    const forget = !sameCert && input.storedSignerRevoked
    if (!forget) {
      // S06 (compared with the stored list even if that one has expired), S07 (TUF 5.4.3.1: same
      // version, different bytes): the rulebook's version order (ROLLBACK, EQUAL_VERSION)
      const sameContent = input.contentSha512 === stored.content_sha512
      refuse(versionOrderVerdicts({ before: stored.version, now: c.version, sameContent, createdBefore: new Date(stored.list_created), createdNow: c.created }, compareVersions, 'subscriber', stored.id))
      if (sameContent && compareVersions(c.version, stored.version) === 0) return { kind: 'unchanged', warnings }
    } else {
      checkRecovery(c, input.contentSha512, stored, input.recoveryFloor ?? null)
      recovered = true
      warnings.push({ code: 'FAST_FORWARD_RECOVERY', message: `the certificate that signed stored version ${stored.version} (serial ${stored.signer_serial}) is revoked; version ${c.version} signed by serial ${signer.serial} replaces it` })
    }
  }
  if (stored && input.storedImages && !recovered) warnings.push(...checkImageVersions(c, input.storedImages))
  // the rulebook's image values: each command's outcome (sub add, sync: the image is marked unusable, the list kept)
  for (const v of judgeAs(input.command ?? 'sync', c.images.flatMap((i) => i.verdicts ?? []))) warnings.push({ code: v.code, message: v.message })
  const before = new Set(input.storedImageIds ?? [])
  const now_ = new Set(c.images.map((i) => i.identifier))
  const newImages = stored ? c.images.map((i) => i.identifier).filter((id) => !before.has(id)) : []
  const removedImages = [...before].filter((id) => !now_.has(id))
  // vmcatcher 32: a subscription that refuses new images refuses the whole version
  if (input.newImages === 'refuse' && newImages.length > 0) {
    throw new VmgitError('NEW_IMAGE_REFUSED', `the list adds image(s) ${newImages.length > 10 ? `${newImages.slice(0, 10).join(', ')} and ${newImages.length - 10} more` : newImages.join(', ')} and this subscription refuses new images (--new-images refuse); the stored list is kept. To accept them, subscribe again with --new-images accept`)
  }
  return { kind: 'accept', candidate: c, newImages, removedImages, warnings, recovered }
}

/**
 * S24: recovery after the stored signer's revocation (S10) may go below the stored hv:version (the
 * revoked key may have fast-forwarded it), but never back in time: the candidate must not be created
 * before the stored list, and must be above — not equal to — the highest version accepted from a
 * certificate that still stands, and created no earlier than it; with no such version on record, created
 * strictly after the stored list. (The revocation date in the CRL is
 * not used: publishers often sign the recovery list before their CA publishes the CRL, and the two
 * rules above already refuse every list older than the state this site trusted.) The very content
 * of the stored list re-signed by a valid credential is no rollback and passes.
 */
function checkRecovery(c: Candidate, contentSha512: string, stored: SubscriptionMeta, floor: { version: string; created: Date } | null): void {
  if (contentSha512 === stored.content_sha512) return
  const storedCreated = new Date(stored.list_created)
  if (c.created.getTime() < storedCreated.getTime()) {
    throw new VmgitError('ROLLBACK', `the certificate that signed stored version ${stored.version} is revoked, but this list (hv:version ${c.version}) was created ${c.created.toISOString()}, before the stored one (${stored.list_created}): an old list replayed after a revocation is refused; the publisher must sign a new list`)
  }
  if (!floor) {
    // no version from a certificate that still stands to compare with: the list must be strictly newer in time
    if (c.created.getTime() <= storedCreated.getTime()) {
      throw new VmgitError('ROLLBACK', `the certificate that signed stored version ${stored.version} is revoked, and this list (hv:version ${c.version}) was not created after the stored one (${stored.list_created}), the only list this site accepted: an old list replayed after a revocation is refused; the publisher must sign a new list`)
    }
    return
  }
  const cmp = compareVersions(c.version, floor.version)
  if (cmp <= 0 || c.created.getTime() < floor.created.getTime()) {
    throw new VmgitError('ROLLBACK', `the certificate that signed stored version ${stored.version} is revoked, but this list (hv:version ${c.version}, created ${c.created.toISOString()}) is not newer than version ${floor.version} (created ${floor.created.toISOString()}), which this site accepted from a certificate that still stands: an old list replayed after a revocation is refused; the publisher must sign a new, higher version (or, after checking with the publisher, \`vmgit sub reset ${stored.id}\`)`)
  }
}

/**
 * issue 15: `sub add --require-repository URL`. The list's signed `vmgit:repository` must name the
 * same repository (scheme/host case, `.git`, a trailing `/`, ssh and https forms of one host path
 * compare equal; credentials never count). A list without provenance is refused too: the stricter
 * reading, since an operator who pins a repository means "only what that repository published".
 */
export function checkRepository(list: HepixList, required: string): void {
  const p = provenanceOf(list.list)
  if (p.repository && sameRepository(p.repository, required)) return
  throw new VmgitError(
    'REPOSITORY_MISMATCH',
    p.repository
      ? `the list was published from ${p.repository} (vmgit:repository), not from ${required}, which this subscription requires; the stored list is kept. If the publisher moved, subscribe again with the new --require-repository`
      : `the list carries no vmgit:repository (it was not published by vmgit with provenance), and this subscription requires ${required}; the stored list is kept. Ask the publisher to enable provenance, or subscribe again without --require-repository`,
    { details: { required, ...(p.repository ? { repository: p.repository } : {}) } },
  )
}

/**
 * issue 15 (subscriber keeps the good copy): an image whose sha512 or hv:size changes should come with
 * a higher image hv:version. vmcatcher never compares image versions (its cache expires the old copy
 * and downloads the new one on any sha512 or size change: vmcatcher_cache/controler.py expire()),
 * and the spec says consumers do not. vmgit reports it with its own code, IMAGE_VERSION_NOT_RAISED,
 * as a WARNING and accepts the list: refusing the whole list would freeze every other image of it
 * (AppDB VO lists carry hundreds) on one publisher slip, and the harm the issue names is handled
 * where it happens: the verified cached copy stays in cache/ until the new bytes are verified
 * (cache.ts expire, deliver.ts install), so a bad new file never costs the good one.
 * See docs/subscriber.md.
 */
export function checkImageVersions(c: Candidate, stored: Pick<ImageRow, 'identifier' | 'sha512' | 'size' | 'version'>[]): Warning[] {
  const old = new Map(stored.map((i) => [i.identifier, i]))
  const out: Warning[] = []
  for (const im of c.images) {
    const o = old.get(im.identifier)
    if (!o || o.sha512 === null || im.sha512 === null) continue
    const changed = o.sha512 !== im.sha512 || (o.size !== null && im.size !== null && o.size !== im.size)
    if (!changed) continue
    // the rulebook's IMAGE_VERSION_NOT_RAISED, as plan judges it (sync's outcome: a warning)
    const what = o.sha512 !== im.sha512 ? ['sl:checksum:sha512'] : ['hv:size']
    for (const v of judgeAs('sync', imageVersionVerdicts({ before: o.version, now: im.version, changed: what }, compareVersions, 'subscriber', im.identifier))) out.push({ code: v.code, message: v.message })
  }
  return out
}

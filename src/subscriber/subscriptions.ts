import { publicRepositoryUrl } from '../imagelist/provenance.js'
import { loadTrustStore } from '../smime/trust.js'
import { usageError, VmgitError } from '../util/errors.js'
import { shCommand } from '../util/escape.js'
import { applyNew } from './apply.js'
import { decide, type Warning } from './decide.js'
import { credentialMatches, endorserOf, defaultEndorserName, trustEndorser, uniqueEndorserName } from './endorsers.js'
import { DEFAULT_LIMITS, Fetcher, type FetchLimits } from '../net/http.js'
import { fetchList } from './listsource.js'
import { isOciLocation, parseOciLocation } from './ociref.js'
import { splitCredentials, type SplitUrl } from '../net/redact.js'
import { credentialsOf, type DB, logAction } from './store.js'
import { verifyListBytes, type VerifiedList } from './verify.js'
import { forgetHistory } from './history.js'

/**
 * `vmgit sub add`: fetch and verify the list like a sync would, decide which endorser it is bound
 * to, and record it in one transaction.
 *
 * Endorser binding:
 * - the signer (certificate subject + issuer) already trusted → bound to that endorser name;
 * - `--auto-endorse` → the ACTUAL signer's certificate names (DER) are trusted, never the list's own
 *   hv:dn/hv:ca claim, for THIS subscription only (S20), under a fresh endorser name (the CN, or
 *   CN-2, … when an endorser or subscription already uses it) unless --endorser names one; the
 *   subscription pins it. If the list's hv:dn/hv:ca do not name that signer (the cloudkeeper
 *   fixture lists), the subscription is recorded with endorser_check 'signer': later versions
 *   must still be signed by a credential of that endorser, and the mismatch is reported as a
 *   warning instead of ENDORSER_MISMATCH. Without --auto-endorse the claim must match (strict).
 */
export interface AddOptions {
  urls: string[]
  id?: string
  autoEndorse: boolean
  endorser?: string
  newImages: 'refuse' | 'accept' | 'subscribe'
  caDir: string
  crlCheck: boolean
  now: Date
  limits?: Partial<FetchLimits>
  /** issue 15: every version (this one included) must carry vmgit:repository naming this repository */
  requireRepository?: string
}

export interface AddResult {
  id: string
  version: string
  title: string | null
  images: number
  endorser: string
  endorserCheck: 'strict' | 'signer'
  /** remembered for every later sync of this subscription */
  crlCheck: boolean
  trusted?: { name: string; subject: string; issuer: string }
  warnings: Warning[]
  url: string
  requireRepository?: string
}

/** S30: a suggested command is POSIX-quoted: pasted into a shell it passes each DN as exactly one argument. */
const trustHint = (signer: { subject: string; issuer: string }, name?: string): string =>
  shCommand(['vmgit', 'sub', 'trust', ...(name === undefined ? [] : ['--name', name]), '--subject', signer.subject, '--issuer', signer.issuer])

/** A list location as stored: http(s)/file URLs without userinfo, or a registry list in its canonical oci:// form (tag explicit). */
export function splitLocation(location: string): SplitUrl {
  if (!isOciLocation(location)) return splitCredentials(location)
  // registry credentials come from the environment or an auth.json (src/oci/credentials.ts), never from the location
  return { url: parseOciLocation(location).url }
}

async function fetchFirst(fetcher: Fetcher, urls: SplitUrl[], limits: FetchLimits): Promise<{ bytes: Buffer; position: number; etag?: string; lastModified?: string }> {
  let last: unknown
  for (const [position, u] of urls.entries()) {
    try {
      const f = await fetchList(fetcher, { url: u.url, username: u.username, password: u.password }, { limits, conditional: false })
      if (f.kind === 'body') return { bytes: f.bytes, position, ...(f.etag ? { etag: f.etag } : {}), ...(f.lastModified ? { lastModified: f.lastModified } : {}) }
    } catch (e) {
      last = e
    }
  }
  throw last
}

export async function addSubscription(db: DB, o: AddOptions): Promise<AddResult> {
  if (o.urls.length === 0) throw usageError('NO_URL', 'give the list URL to subscribe to')
  if (o.id !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(o.id)) throw usageError('BAD_ID', `--id ${JSON.stringify(o.id)} is not a list identifier (a UUID)`)
  const urls = o.urls.map(splitLocation)
  const requireRepository = o.requireRepository === undefined ? undefined : checkRequiredRepository(o.requireRepository)
  const trust = await loadTrustStore(o.caDir)
  const fetcher = new Fetcher({ caDir: o.caDir })
  let fetched
  let v: VerifiedList
  const limits = { ...DEFAULT_LIMITS, ...o.limits }
  try {
    fetched = await fetchFirst(fetcher, urls, limits)
    v = await verifyListBytes(fetched.bytes, { trust, now: o.now, crlCheck: o.crlCheck, maxImages: limits.maxImages })
  } finally {
    fetcher.close()
  }
  const signer = v.signer
  const claimMatches = v.list.endorser['hv:dn'] === signer.subject && v.list.endorser['hv:ca'] === signer.issuer
  // S20: the signer is looked up by its DER names among credentials valid for every subscription
  let name = o.endorser ?? endorserOf(db, signer)
  let trusted: AddResult['trusted']
  if (name !== undefined && !credentialsOf(db, name).some((c) => credentialMatches(c, signer)) && !o.autoEndorse) {
    throw new VmgitError('ENDORSER_NOT_AUTHORISED', `the list is signed by ${signer.subject} (issuer ${signer.issuer}), which is not a credential of endorser ${JSON.stringify(name)}; add it with \`${trustHint(signer, name)}\` or use --auto-endorse`, { details: { subject: signer.subject, issuer: signer.issuer, suggestion: trustHint(signer, name) } })
  }
  if (name === undefined && !o.autoEndorse) {
    throw new VmgitError('ENDORSER_NOT_TRUSTED', `the list is signed by ${signer.subject} (issuer ${signer.issuer}), which this host does not trust; trust it with \`${trustHint(signer)}\` after checking it out of band, or subscribe with --auto-endorse`, { details: { subject: signer.subject, issuer: signer.issuer, suggestion: trustHint(signer) } })
  }
  // S20: --auto-endorse without --endorser never joins an existing endorser: a fresh name (CN, CN-2, …)
  name ??= uniqueEndorserName(db, defaultEndorserName(signer.subject))
  const endorserCheck: 'strict' | 'signer' = o.autoEndorse && !claimMatches ? 'signer' : 'strict'
  const credentials = [...credentialsOf(db, name)]
  if (o.autoEndorse && !credentials.some((c) => credentialMatches(c, signer))) {
    // the actual signer's certificate names, valid for this subscription only (recorded below)
    credentials.push({ name, subject: signer.subject, issuer: signer.issuer, created_at: o.now.toISOString(), subject_der: Buffer.from(signer.subjectDer), issuer_der: Buffer.from(signer.issuerDer) })
    trusted = { name, subject: signer.subject, issuer: signer.issuer }
  }
  const primary = urls[0]!
  const d = decide({ command: 'sub add',
    list: v.list, content: v.content, contentSha512: v.contentSha512, signer, expectedId: o.id, credentials,
    endorserCheck, newImages: o.newImages, storedSignerRevoked: false, fetchedFrom: urls[fetched.position]!.url, now: o.now,
    ...(requireRepository ? { requireRepository } : {}),
  })
  if (d.kind !== 'accept') throw new VmgitError('INTERNAL', 'a first version cannot be unchanged')
  const boundName = name
  db.transaction(() => {
    if (trusted) trustEndorser(db, { ...trusted, subjectDer: signer.subjectDer, issuerDer: signer.issuerDer, subscriptionId: d.candidate.identifier }, o.now)
    applyNew(db, { candidate: d.candidate, smime: fetched.bytes, content: v.content, contentSha512: v.contentSha512, signer, certificate: v.certificate, newImages: [], recovered: false },
      { endorser: boundName, endorserCheck, newImages: o.newImages, crlCheck: o.crlCheck, urls },
      { position: fetched.position, ...(fetched.etag ? { etag: fetched.etag } : {}), ...(fetched.lastModified ? { lastModified: fetched.lastModified } : {}) }, o.now)
    if (requireRepository) db.prepare('UPDATE subscription SET require_repository = ? WHERE id = ?').run(requireRepository, d.candidate.identifier)
  })()
  return {
    id: d.candidate.identifier, version: d.candidate.version, title: d.candidate.title, images: d.candidate.images.length,
    endorser: boundName, endorserCheck, crlCheck: o.crlCheck, ...(trusted ? { trusted } : {}), warnings: d.warnings, url: primary.url,
    ...(requireRepository ? { requireRepository } : {}),
  }
}

/** issue 15: the repository URL as stored and compared (credentials, query and fragment never kept). */
function checkRequiredRepository(url: string): string {
  const clean = publicRepositoryUrl(url)
  if (!clean) throw usageError('BAD_REPOSITORY_URL', `--require-repository ${JSON.stringify(url)} is not a repository URL; give it as the list's vmgit:repository shows it (vmgit verify), e.g. https://github.com/org/images`)
  return clean
}

/** `vmgit sub remove`: forget the subscription; the next sync expires its cached images (with events). */
export function removeSubscription(db: DB, id: string, now: Date): void {
  db.transaction(() => {
    const r = db.prepare('DELETE FROM subscription WHERE id = ?').run(id)
    if (r.changes === 0) throw usageError('NO_SUCH_SUBSCRIPTION', `no subscription ${id}; \`vmgit sub list\` shows them`)
    db.prepare('DELETE FROM subscription_status WHERE subscription_id = ?').run(id)
    // S20: a credential trusted for this subscription only (--auto-endorse) goes with it
    db.prepare('DELETE FROM endorser WHERE subscription_id = ?').run(id)
    logAction(db, now, id, 'unsubscribed', 'subscription removed; cached images expire at the next sync')
  })()
}

/**
 * `vmgit sub reset` (attack S10 recovery after a key compromise): forget the stored version so the
 * next verified list is accepted whatever its hv:version. Logged; nothing else changes.
 */
export function resetSubscription(db: DB, id: string, now: Date): { previousVersion: string } {
  let previousVersion = ''
  db.transaction(() => {
    const row = db.prepare('SELECT version, signer_serial FROM subscription WHERE id = ?').get(id) as { version: string; signer_serial: string } | undefined
    if (!row) throw usageError('NO_SUCH_SUBSCRIPTION', `no subscription ${id}; \`vmgit sub list\` shows them`)
    previousVersion = row.version
    // the empty version sorts below every real one; the stored content and images stay until replaced
    db.prepare("UPDATE subscription SET version = '', list_created = '1970-01-01T00:00:00.000Z', content_sha512 = '', signer_serial = '', signer_cert = x'' WHERE id = ?").run(id)
    db.prepare('UPDATE subscription_url SET etag = NULL, last_modified = NULL WHERE subscription_id = ?').run(id)
    forgetHistory(db, id) // S24: the recorded versions no longer bind either
    logAction(db, now, id, 'reset', `stored version ${row.version} (signer serial ${row.signer_serial}) forgotten by an operator`)
  })()
  return { previousVersion }
}

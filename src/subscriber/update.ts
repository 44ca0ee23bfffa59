import type { TrustStore } from '../smime/trust.js'
import { compareVersions } from '../imagelist/version.js'
import { isVmgitError, VmgitError } from '../util/errors.js'
import { applyUpdate } from './apply.js'
import { type Decision, decide, toCandidate } from './decide.js'
import type { EventRunner } from './events.js'
import type { Fetcher, FetchLimits } from '../net/http.js'
import { recoveryFloor } from './history.js'
import { announceNewImages } from './newimages.js'
import { askList, type ListPrefetch } from './prefetch.js'
import { adoptSignature, recheckStored, storedListProblem } from './recheck.js'
import type { Report } from './report.js'
import { credentialsOf, type DB, getImages, getSubscriptionMeta, getUrls, type SubscriptionMeta, type UrlRow } from './store.js'
import { dropOtherValidators, recordStatus, setValidators } from './store-sync.js'
import { isRevoked, verifyListBytes, type VerifiedList } from './verify.js'

/**
 * The list phase of a sync for one subscription.
 *
 * S16/S25: every list URL (mirror) is asked, every run. A 304 is no news — it only says that mirror
 * still serves what it served us last — so one mirror's "unchanged" never hides a newer version
 * on another. Each reply is verified and judged against the stored list on its own; of those that
 * may replace it, the highest hv:version (then the latest dc:date:created, then the first URL)
 * is applied, once. Mirrors left behind are reported as MIRROR_LAGGING (a warning), bad replies per
 * mirror (warnings when another mirror delivered). A bad reply never touches the stored state.
 *
 * Conditional requests stay cheap: a mirror keeps an ETag/Last-Modified only while the bytes they
 * name carry the stored content (accepted or unchanged). When another mirror's version is
 * accepted, the others' validators are dropped, so their next reply is a full, judged body.
 *
 * S23: when the stored list was not replaced, it is re-verified against this run's trust store
 * (recheck.ts).
 */
export interface UpdateContext {
  db: DB
  fetcher: Fetcher
  trust: TrustStore
  now: Date
  crlCheck: boolean
  limits: FetchLimits
  report: Report
  events: EventRunner
  /** replies already asked for (issue 6: the next subscriptions' requests overlap this one's verification) */
  prefetch?: ListPrefetch
}

interface Validators {
  position: number
  etag?: string
  lastModified?: string
}

type Reply =
  | { url: UrlRow; kind: 'not-modified' }
  | { url: UrlRow; kind: 'unchanged'; validators: Validators; resigned?: { bytes: Buffer; v: VerifiedList } }
  | { url: UrlRow; kind: 'eligible'; validators: Validators; bytes: Buffer; v: VerifiedList; d: Extract<Decision, { kind: 'accept' }> }
  | { url: UrlRow; kind: 'failed'; error: unknown }

export async function updateSubscription(ctx: UpdateContext, sub: SubscriptionMeta): Promise<void> {
  const { db, report, now } = ctx
  const credentials = credentialsOf(db, sub.endorser, sub.id) // S20: including credentials valid for this subscription only
  const mirrors: Record<number, string> = {}
  if (credentials.length === 0) {
    // the endorser was untrusted: nothing from this subscription is offered any more
    const e = new VmgitError('SUBSCRIPTION_UNAUTHORISED', `list ${sub.id} is bound to endorser ${JSON.stringify(sub.endorser)}, which has no trusted credentials any more; its images are expired. Trust a credential under that name again, or remove the subscription`)
    report.error(e, { subscription: sub.id })
    recordStatus(db, sub.id, now, { ok: false, code: e.code, message: e.message, mirrors })
    return
  }
  // S24: the recovery floor (CRL lookups over the version history) is needed only when a new body
  // arrives after the stored signer's revocation: computed then, once, not on every unchanged run
  let floorOnce: ReturnType<typeof recoveryFloor> | undefined
  const floor = (): ReturnType<typeof recoveryFloor> => (floorOnce ??= recoveryFloor(db, sub.id, ctx.trust))
  // asked together: a dead mirror costs its timeout once, not once per mirror behind it
  const replies: Reply[] = await Promise.all(getUrls(db, sub.id).map((u) => askMirror(ctx, sub, credentials, u, floor)))

  // S25: the highest verified version that may replace the stored one wins
  const eligible = replies.filter((r): r is Extract<Reply, { kind: 'eligible' }> => r.kind === 'eligible')
  eligible.sort((a, b) => compareVersions(b.d.candidate.version, a.d.candidate.version) || b.d.candidate.created.getTime() - a.d.candidate.created.getTime() || a.url.position - b.url.position)
  let best: (typeof eligible)[number] | undefined
  for (const e of eligible) {
    try {
      await accept(ctx, sub, e)
      best = e
      break
    } catch (error) {
      replies[replies.indexOf(e)] = { url: e.url, kind: 'failed', error }
    }
  }

  const failures: { url: UrlRow; error: unknown }[] = []
  const lagging: { url: UrlRow; what: string }[] = []
  const keep = (pos: number, v: Validators): void => setValidators(db, sub.id, pos, v.etag ?? null, v.lastModified ?? null)
  for (const r of replies) {
    const pos = r.url.position
    if (r === best) {
      mirrors[pos] = 'ACCEPTED'
      continue
    }
    if (r.kind === 'failed') {
      mirrors[pos] = isVmgitError(r.error) ? r.error.code : 'INTERNAL'
      failures.push({ url: r.url, error: r.error })
      continue
    }
    if (!best) {
      // the stored version stands: an unchanged mirror keeps (or learns) validators naming it
      mirrors[pos] = r.kind === 'not-modified' ? 'NOT_MODIFIED' : 'UNCHANGED'
      if (r.kind === 'unchanged') keep(pos, r.validators)
      continue
    }
    if (r.kind === 'eligible' && r.v.contentSha512 === best.v.contentSha512) {
      // the same new version (perhaps signed again) on another mirror
      mirrors[pos] = 'UNCHANGED'
      keep(pos, r.validators)
      continue
    }
    if (r.kind === 'eligible' && compareVersions(r.d.candidate.version, best.d.candidate.version) === 0) {
      // two different signed lists with one hv:version (S07): the first judged is kept, the other reported
      mirrors[pos] = 'EQUAL_VERSION'
      failures.push({ url: r.url, error: new VmgitError('EQUAL_VERSION', `this mirror serves hv:version ${r.d.candidate.version} with other signed content than ${best.url.url}; the list from ${best.url.url} was taken (the publisher must raise hv:version)`) })
    } else {
      mirrors[pos] = 'LAGGING'
      lagging.push({ url: r.url, what: r.kind === 'not-modified' ? `still serves what it served before (304), while ${best.url.url} serves hv:version ${best.d.candidate.version}` : `serves hv:version ${r.kind === 'eligible' ? r.d.candidate.version : sub.version}, while ${best.url.url} serves ${best.d.candidate.version}` })
    }
    // its validators named an older version: its next reply must be a full body, judged again
    setValidators(db, sub.id, pos, null, null)
  }
  const success = best !== undefined || replies.some((r) => r.kind === 'not-modified' || r.kind === 'unchanged')
  for (const f of failures) {
    const p = report.error(f.error, { subscription: sub.id, mirror: f.url.url })
    p.message = `list ${sub.id} from ${f.url.url}: ${p.message}`
    // another mirror delivered a verified, current list: this one's failure is a warning
    if (success) p.severity = 'warning'
  }
  for (const l of lagging) {
    report.problem({ code: 'MIRROR_LAGGING', severity: 'warning', subscription: sub.id, mirror: l.url.url, message: `list ${sub.id} from ${l.url.url}: this mirror lags behind: it ${l.what}; tell its operator` })
  }
  // S23: the same content signed again by another credential rescues a stored signature that no longer verifies
  let resigned = false
  const again = best ? undefined : replies.find((r): r is Extract<Reply, { kind: 'unchanged' }> => r.kind === 'unchanged' && r.resigned !== undefined)
  if (again?.resigned) {
    const meta = getSubscriptionMeta(db, sub.id)
    const problem = meta && (await storedListProblem(ctx, meta))
    if (meta && problem && !(meta.list_expires <= now.toISOString())) {
      try {
        adoptSignature(db, sub.id, { smime: again.resigned.bytes, v: again.resigned.v, ...again.validators }, now)
        resigned = true
        report.change({ kind: 'list-updated', subscription: sub.id, message: `list ${sub.id}: its stored signature no longer verifies (${problem.code}); the same version ${meta.version}, signed again by ${again.resigned.v.signer.subject}, replaces it` })
      } catch (e) {
        report.error(e, { subscription: sub.id, mirror: again.url.url })
      }
    }
  }
  // S23: a stored list that was not replaced is verified again against this run's trust store
  const stored = await recheckStored(ctx, sub.id, best !== undefined || resigned)
  const last = failures[failures.length - 1]
  const lastErr = last && isVmgitError(last.error) ? last.error : undefined
  recordStatus(db, sub.id, now, stored
    ? { ok: false, code: stored.code, message: stored.message, mirrors }
    : success ? { ok: true, mirrors } : { ok: false, code: lastErr?.code ?? 'INTERNAL', message: lastErr?.message ?? String(last?.error), mirrors })
}

/** Fetch, verify and judge one mirror's reply against the stored list; never writes anything. */
async function askMirror(ctx: UpdateContext, sub: SubscriptionMeta, credentials: ReturnType<typeof credentialsOf>, u: UrlRow, floor: () => ReturnType<typeof recoveryFloor>): Promise<Reply> {
  try {
    const f = await (ctx.prefetch?.take(sub.id, u) ?? askList(ctx.fetcher, u, ctx.limits))
    if (f.kind === 'unchanged') return { url: u, kind: 'not-modified' }
    const v = await verifyListBytes(f.bytes, { trust: ctx.trust, now: ctx.now, crlCheck: ctx.crlCheck, maxImages: ctx.limits.maxImages })
    toCandidate(v.list) // identifier, version and dates parse (before anything is compared)
    const sameCert = v.signer.issuer === sub.signer_issuer && v.signer.serial === sub.signer_serial
    const storedSignerRevoked = sameCert ? false : await isRevoked(sub.signer_cert, ctx.trust)
    const d = decide({
      list: v.list,
      content: v.content,
      contentSha512: v.contentSha512,
      signer: v.signer,
      stored: sub,
      ...storedImagesOf(ctx.db, sub.id),
      requireRepository: sub.require_repository ?? null,
      credentials,
      endorserCheck: sub.endorser_check,
      newImages: sub.new_images,
      storedSignerRevoked,
      recoveryFloor: storedSignerRevoked ? await floor() : null,
      fetchedFrom: u.url,
      now: ctx.now,
    })
    const validators: Validators = { position: u.position, ...(f.etag ? { etag: f.etag } : {}), ...(f.lastModified ? { lastModified: f.lastModified } : {}) }
    if (d.kind === 'unchanged') return { url: u, kind: 'unchanged', validators, ...(sameCert ? {} : { resigned: { bytes: f.bytes, v } }) }
    return { url: u, kind: 'eligible', validators, bytes: f.bytes, v, d }
  } catch (error) {
    return { url: u, kind: 'failed', error }
  }
}

/** Apply the winning reply (one transaction, S15) and report it; other mirrors' validators are dropped. */
async function accept(ctx: UpdateContext, sub: SubscriptionMeta, r: Extract<Reply, { kind: 'eligible' }>): Promise<void> {
  const { db, report } = ctx
  const { d, v } = r
  db.transaction(() => {
    dropOtherValidators(db, sub.id, r.url.position)
    applyUpdate(db, sub.id, { candidate: d.candidate, smime: r.bytes, content: v.content, contentSha512: v.contentSha512, signer: v.signer, certificate: v.certificate, newImages: d.newImages, recovered: d.recovered }, r.validators, ctx.now)
  }).immediate()
  // warnings were reported when this version was accepted: an unchanged list stays quiet (cron)
  for (const w of d.warnings) report.problem({ code: w.code, severity: 'warning', subscription: sub.id, mirror: r.url.url, message: `list ${sub.id}: ${w.message}` })
  const c = d.candidate
  const parts = [d.newImages.length && `${d.newImages.length} new image(s)`, d.removedImages.length && `${d.removedImages.length} removed`].filter(Boolean)
  report.change({ kind: 'list-updated', subscription: sub.id, message: `list ${sub.id} updated: hv:version ${sub.version} -> ${c.version}${parts.length ? ` (${parts.join(', ')})` : ''}` })
  await announceNewImages(ctx, sub, c, d.newImages)
}

function storedImagesOf(db: DB, id: string): { storedImageIds: string[]; storedImages: ReturnType<typeof getImages> } {
  const rows = getImages(db, id)
  return { storedImageIds: rows.map((i) => i.identifier), storedImages: rows }
}

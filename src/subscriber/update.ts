import type { TrustStore } from '../smime/trust.js'
import { isVmgitError, VmgitError } from '../util/errors.js'
import { applyUpdate, markExpiredIfDue, markSignerRevoked, recordStatus } from './apply.js'
import { decide } from './decide.js'
import type { EventRunner } from './events.js'
import type { Fetcher, FetchLimits } from './fetch.js'
import { fetchList } from './listsource.js'
import type { Report } from './report.js'
import { credentialsOf, type DB, getImages, getSubscriptionMeta, getUrls, type SubscriptionMeta } from './store.js'
import { isRevoked, verifyListBytes } from './verify.js'

/**
 * The list phase of a sync for one subscription: try its URLs in order (mirrors, S16); the first
 * that yields a verified list that may replace the stored one — or proves it unchanged — ends the
 * search. A bad reply never touches the stored state; it is reported per mirror.
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
}

type Outcome = { ok: true; result: string } | { ok: false; error: unknown }

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
  const failures: { position: number; url: string; error: unknown }[] = []
  let success: Outcome | undefined
  for (const u of getUrls(db, sub.id)) {
    const outcome = await tryMirror(ctx, sub, credentials, u.position)
    mirrors[u.position] = outcome.ok ? outcome.result : isVmgitError(outcome.error) ? outcome.error.code : 'INTERNAL'
    if (outcome.ok) {
      success = outcome
      break
    }
    failures.push({ position: u.position, url: u.url, error: outcome.error })
  }
  for (const f of failures) {
    const p = report.error(f.error, { subscription: sub.id, mirror: f.url })
    p.message = `list ${sub.id} from ${f.url}: ${p.message}`
    // another mirror delivered a verified, current list: this one's failure is a warning
    if (success) p.severity = 'warning'
  }
  const last = failures[failures.length - 1]
  const lastErr = last && isVmgitError(last.error) ? last.error : undefined
  recordStatus(db, sub.id, now, success ? { ok: true, mirrors } : { ok: false, code: lastErr?.code ?? 'INTERNAL', message: lastErr?.message ?? String(last?.error), mirrors })
  // S08: an unchanged (or unreplaceable) list that outlived its expiry freezes nothing: it expires
  let fresh = getSubscriptionMeta(db, sub.id)
  if (fresh && markExpiredIfDue(db, sub.id, now)) {
    const when = fresh.signer_not_after < fresh.list_expires ? `its signer certificate expired on ${fresh.signer_not_after}` : `it expired on ${fresh.list_expires}`
    report.change({ kind: 'list-expired', subscription: sub.id, message: `list ${sub.id}: ${when}; its images are no longer offered` })
  } else if (fresh?.status === 'ok' && ctx.crlCheck && (await isRevoked(fresh.signer_cert, ctx.trust)) && markSignerRevoked(db, sub.id, now)) {
    report.change({ kind: 'list-expired', subscription: sub.id, message: `list ${sub.id}: the certificate that signed it (serial ${fresh.signer_serial}) is revoked; its images are no longer offered` })
  }
  fresh = getSubscriptionMeta(db, sub.id)
  if (fresh?.status === 'expired') {
    report.problem({ code: 'LIST_EXPIRED', severity: 'rejected', subscription: sub.id, message: `list ${sub.id}: the stored version ${fresh.version} is expired or its signer is no longer valid, and no newer verified version was found; its images are not offered` })
  }
}

async function tryMirror(ctx: UpdateContext, sub: SubscriptionMeta, credentials: ReturnType<typeof credentialsOf>, position: number): Promise<Outcome> {
  const { db, now } = ctx
  const u = getUrls(db, sub.id).find((x) => x.position === position)!
  try {
    const f = await fetchList(ctx.fetcher, { url: u.url, username: u.username, password: u.password, etag: u.etag, lastModified: u.last_modified }, { limits: ctx.limits, conditional: true })
    if (f.kind === 'unchanged') return { ok: true, result: 'NOT_MODIFIED' }
    const v = await verifyListBytes(f.bytes, { trust: ctx.trust, now, crlCheck: ctx.crlCheck })
    const sameCert = v.signer.issuer === sub.signer_issuer && v.signer.serial === sub.signer_serial
    const storedSignerRevoked = sameCert ? false : await isRevoked(sub.signer_cert, ctx.trust)
    const d = decide({
      list: v.list,
      content: v.content,
      contentSha512: v.contentSha512,
      signer: v.signer,
      stored: sub,
      storedImageIds: getImages(db, sub.id).map((i) => i.identifier),
      credentials,
      endorserCheck: sub.endorser_check,
      newImages: sub.new_images,
      storedSignerRevoked,
      fetchedFrom: u.url,
      now,
    })
    // warnings were reported when this version was accepted: an unchanged list stays quiet (cron)
    if (d.kind === 'accept') for (const w of d.warnings) ctx.report.problem({ code: w.code, severity: 'warning', subscription: sub.id, mirror: u.url, message: `list ${sub.id}: ${w.message}` })
    const validators = { position, ...(f.etag ? { etag: f.etag } : {}), ...(f.lastModified ? { lastModified: f.lastModified } : {}) }
    if (d.kind === 'unchanged') {
      // same signed content (perhaps re-signed): remember the new validators so the next run gets a 304
      db.prepare('UPDATE subscription_url SET etag = ?, last_modified = ? WHERE subscription_id = ? AND position = ?').run(validators.etag ?? null, validators.lastModified ?? null, sub.id, position)
      return { ok: true, result: 'UNCHANGED' }
    }
    applyUpdate(db, sub.id, { candidate: d.candidate, smime: f.bytes, content: v.content, contentSha512: v.contentSha512, signer: v.signer, certificate: v.certificate, newImages: d.newImages, recovered: d.recovered }, validators, now)
    const c = d.candidate
    const parts = [d.newImages.length && `${d.newImages.length} new image(s)`, d.removedImages.length && `${d.removedImages.length} removed`].filter(Boolean)
    ctx.report.change({ kind: 'list-updated', subscription: sub.id, message: `list ${sub.id} updated: hv:version ${sub.version} -> ${c.version}${parts.length ? ` (${parts.join(', ')})` : ''}` })
    for (const id of d.newImages) {
      const im = c.images.find((i) => i.identifier === id)!
      ctx.report.change({ kind: 'image-new', subscription: sub.id, image: id, message: `list ${sub.id} offers new image ${id}${im.title ? ` (${im.title})` : ''}${sub.new_images === 'subscribe' ? ', selected automatically' : ''}` })
      await ctx.events.fire('SubscriptionImageNew', { image: im.json, listId: sub.id, vo: c.vo })
    }
    return { ok: true, result: 'ACCEPTED' }
  } catch (error) {
    return { ok: false, error }
  }
}

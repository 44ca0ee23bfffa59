import path from 'node:path'
import { SHA512_HEX } from '../util/hash.js'
import { type Foreign, hashRegular, kindWords, lstatOrUndefined, removeEntry } from '../util/safefs.js'
import { blobPath, ensureDirs, listFiles, placeLink, removeLink, toExpired } from './cachefs.js'
import { claimsRefused } from './claims.js'
import { entryKey, expiryReason, type Wanted, wantedImages } from './desired.js'
import { type CacheOptions, deliver, type EntryJson } from './deliver.js'
import type { EventData } from './events.js'
import type { BlobRow, CacheEntryRow, DB } from './store.js'

/**
 * The cache phase of a sync: reconcile files with the database (after a crash), re-verify,
 * expire what is no longer endorsed, download what is selected, and fire vmcatcher's events in
 * its order (ExpirePrefix → move → ExpirePostfix; AvailablePrefix → move → AvailablePostfix).
 *
 * One image's failure never stops the others (S27): every file step runs per image and a failure is
 * charged to that image only. What is not a regular file of ours is removed and reported
 * (CACHE_FOREIGN_FILE); see src/util/safefs.ts for the rules.
 */
export type { CacheOptions } from './deliver.js'

const blobs = (db: DB): BlobRow[] => db.prepare('SELECT * FROM blob ORDER BY sha512').all() as BlobRow[]
const entries = (db: DB): CacheEntryRow[] => db.prepare('SELECT * FROM cache_entry ORDER BY subscription_id, identifier').all() as CacheEntryRow[]

export async function runCache(o: CacheOptions): Promise<void> {
  await ensureDirs(o.dirs)
  // S27: links, FIFOs and devices planted in partial/ and expired/ go before anything is written there
  reportForeign(o, (await listFiles(o.dirs.partial, 'partial')).foreign)
  reportForeign(o, (await listFiles(o.dirs.expired, 'expired')).foreign.filter((f) => f.removed))
  // who held each identifier before this run (S28): taken before expiry replaces any entry
  const holders = entries(o.db)
  await reconcile(o)
  await verifyBlobs(o)
  const { wanted, unusable } = wantedImages(o.db, o.now)
  for (const u of unusable) {
    o.report.problem({ code: 'IMAGE_METADATA_INVALID', severity: 'rejected', subscription: u.subscriptionId, image: u.identifier, message: `image ${u.identifier} is selected but cannot be downloaded: ${u.problem}` })
  }
  for (const r of claimsRefused(o.db, wanted, holders)) {
    wanted.delete(entryKey(r.claim.subscriptionId, r.claim.identifier))
    o.report.problem({ code: 'IDENTIFIER_CONFLICT', severity: 'rejected', subscription: r.claim.subscriptionId, image: r.claim.identifier, message: r.message })
  }
  await expire(o, wanted)
  await prunePartial(o, wanted)
  if (o.download) await deliver({ ...o, expireReplaced: (e) => expireEntry(o, e, 'replaced by a new version') }, wanted)
}

/** S27: report what was planted in a cache directory (and removed, or left when a directory). */
function reportForeign(o: CacheOptions, foreign: Foreign[]): void {
  for (const f of foreign) {
    const what = f.kind === 'file' ? 'a regular file with other hard links' : kindWords(f.kind)
    const done = f.removed ? 'it was removed without being followed' : 'it was left alone; nothing is written through it'
    o.report.problem({ code: 'CACHE_FOREIGN_FILE', severity: 'warning', message: `${f.path} is ${what}, not a file vmgit wrote; ${done}` })
  }
}

/** After a crash: adopt verified files that reached cache/ but not the database; drop rows without files. */
async function reconcile(o: CacheOptions): Promise<void> {
  const known = new Map(blobs(o.db).map((b) => [b.sha512, b]))
  const swept = await listFiles(o.dirs.cache, 'cache')
  // sub-directories of cache/ (a handler's templates/) are left alone, and only reported when they block a name
  reportForeign(o, swept.foreign.filter((f) => f.removed))
  const files = swept.files
  const byName = new Map(files.map((f) => [f.name, f]))
  for (const b of known.values()) {
    if (byName.has(b.sha512)) continue
    o.db.transaction(() => {
      o.db.prepare('DELETE FROM cache_entry WHERE sha512 = ?').run(b.sha512)
      o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(b.sha512)
    })()
    o.report.problem({ code: 'CACHE_FILE_MISSING', severity: 'warning', message: `cached file ${b.sha512.slice(0, 16)}… disappeared from ${o.dirs.cache}; it will be downloaded again if still wanted` })
  }
  const links = new Set(entries(o.db).map((e) => e.link).filter((l): l is string => l !== null))
  const blobInodes = new Map(files.filter((f) => known.has(f.name)).map((f) => [`${f.dev}:${f.ino}`, f.name]))
  for (const f of files) {
    if (known.has(f.name) || links.has(f.name)) continue
    const p = path.join(o.dirs.cache, f.name)
    try {
      if (f.name.startsWith('.vmgit-link-') || blobInodes.has(`${f.dev}:${f.ino}`)) {
        await removeEntry(p) // a link made just before a crash; it is re-made on delivery
        continue
      }
      if (SHA512_HEX.test(f.name)) {
        const d = await hashRegular(p)
        if (d.sha512 === f.name) {
          o.db.prepare('INSERT OR REPLACE INTO blob (sha512, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)').run(f.name, d.size, f.mtimeMs, o.now.toISOString())
          o.report.change({ kind: 'image-adopted', message: `adopted verified file ${f.name.slice(0, 16)}… left by an interrupted run` })
          continue
        }
      }
      const base = await toExpired(o.dirs, p, f.name, o.now, false)
      o.report.problem({ code: 'CACHE_UNKNOWN_FILE', severity: 'warning', message: `${p} is not a verified image; moved to ${path.join(o.dirs.expired, base)}` })
    } catch (e) {
      o.report.error(e, {})
    }
  }
  // links someone removed are made again (handlers open cache/<identifier>)
  for (const e of entries(o.db)) {
    if (e.link === null || byName.has(e.link) || !byName.has(e.sha512)) continue
    try {
      await placeLink(o.dirs, e.sha512, e.link)
    } catch (err) {
      o.report.error(err, { subscription: e.subscription_id, image: e.identifier })
    }
  }
}

/** partial/ keeps only downloads that are still wanted (they are resumed); anything else goes. */
async function prunePartial(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  const keep = new Set([...wanted.values()].flatMap((w) => [w.sha512, `${w.sha512}.${w.size}`]))
  const swept = await listFiles(o.dirs.partial, 'partial')
  reportForeign(o, swept.foreign)
  for (const f of swept.files) {
    if (!keep.has(f.name)) await removeEntry(path.join(o.dirs.partial, f.name))
  }
}

/** --check re-hashes every file; otherwise a changed size or mtime triggers a re-hash. Corrupt → expired/. */
async function verifyBlobs(o: CacheOptions): Promise<void> {
  for (const b of blobs(o.db)) {
    try {
      await verifyBlob(o, b)
    } catch (e) {
      o.report.error(e, {})
    }
  }
}

async function verifyBlob(o: CacheOptions, b: BlobRow): Promise<void> {
  const p = blobPath(o.dirs, b.sha512)
  const s = await lstatOrUndefined(p)
  if (!s?.isFile()) return // reconcile removed what is not a regular file; a missing one was dropped
  if (!o.check && s.size === b.size && Math.trunc(s.mtimeMs) === b.mtime_ms) return
  const d = await hashRegular(p)
  if (d.sha512 === b.sha512 && d.size === b.size) {
    o.db.prepare('UPDATE blob SET mtime_ms = ?, verified_at = ? WHERE sha512 = ?').run(Math.trunc(s.mtimeMs), o.now.toISOString(), b.sha512)
    return
  }
  const mine = o.db.prepare('SELECT * FROM cache_entry WHERE sha512 = ?').all(b.sha512) as CacheEntryRow[]
  for (const e of mine) await expireEntry(o, e, 'corrupt: failed re-verification')
  o.report.problem({ code: 'CACHE_CORRUPT', severity: 'warning', message: `cached file ${b.sha512.slice(0, 16)}… no longer matches its sha512; moved to expired/ and downloaded again if still wanted` })
  if ((await lstatOrUndefined(p))?.isFile()) await toExpired(o.dirs, p, b.sha512, o.now, false)
  o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(b.sha512)
}

function eventData(e: { subscription_id: string; json: string }, filename: string): EventData {
  const j = JSON.parse(e.json) as EntryJson
  return { image: j.image, listId: e.subscription_id, vo: j.vo, filename }
}

/** One cached image leaves the cache: ExpirePrefix → move to expired/ → ExpirePostfix. */
async function expireEntry(o: CacheOptions, e: CacheEntryRow, reason: string): Promise<void> {
  const name = e.link ?? e.sha512
  await o.events.fire('ExpirePrefix', eventData(e, name))
  const sharedLink = e.link !== null && (o.db.prepare('SELECT COUNT(*) AS n FROM cache_entry WHERE link = ? AND NOT (subscription_id = ? AND identifier = ?)').get(e.link, e.subscription_id, e.identifier) as { n: number }).n > 0
  if (e.link !== null && !sharedLink) await removeLink(o.dirs, e.sha512, e.link)
  const others = (o.db.prepare('SELECT COUNT(*) AS n FROM cache_entry WHERE sha512 = ? AND NOT (subscription_id = ? AND identifier = ?)').get(e.sha512, e.subscription_id, e.identifier) as { n: number }).n
  let expiredName = name
  const p = blobPath(o.dirs, e.sha512)
  if ((await lstatOrUndefined(p))?.isFile()) expiredName = await toExpired(o.dirs, p, name, o.now, others > 0)
  o.db.transaction(() => {
    o.db.prepare('DELETE FROM cache_entry WHERE subscription_id = ? AND identifier = ?').run(e.subscription_id, e.identifier)
    if (others === 0) o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(e.sha512)
  })()
  o.report.change({ kind: 'image-expired', subscription: e.subscription_id, image: e.identifier, message: `image ${e.identifier} (list ${e.subscription_id}) expired: ${reason}` })
  await o.events.fire('ExpirePostfix', eventData(e, expiredName))
}

async function expire(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  const sizes = new Map(blobs(o.db).map((b) => [b.sha512, b.size]))
  for (const e of entries(o.db)) {
    const w = wanted.get(entryKey(e.subscription_id, e.identifier))
    // S28: a list that now claims another hv:size for the same bytes no longer vouches for them
    const lies = w !== undefined && w.sha512 === e.sha512 && sizes.get(e.sha512) !== undefined && sizes.get(e.sha512) !== w.size
    if (w && w.sha512 === e.sha512 && !lies) continue
    // issue 15: replaced by a new version: the good copy stays in cache/ until its successor is
    // verified; delivery expires it then (deliver.ts install), and a failed download leaves it here.
    // S15: only while this run fetches the successor: with --no-download none comes, so the copy
    // whose sha512 the current version no longer names leaves cache/ now (as vmcatcher does)
    if (w && w.sha512 !== e.sha512 && o.download) continue
    try {
      await expireEntry(o, e, lies ? `hv:size ${w.size} now contradicts the verified file (${sizes.get(e.sha512)} bytes)` : expiryReason(o.db, e, o.now, w))
    } catch (err) {
      o.report.error(err, { subscription: e.subscription_id, image: e.identifier })
    }
  }
  // files no entry uses any more (e.g. adopted after a crash, then not wanted)
  const wantedSha = new Set([...wanted.values()].map((w) => w.sha512))
  for (const b of o.db.prepare('SELECT * FROM blob WHERE sha512 NOT IN (SELECT sha512 FROM cache_entry)').all() as BlobRow[]) {
    if (wantedSha.has(b.sha512)) continue
    const p = blobPath(o.dirs, b.sha512)
    try {
      if ((await lstatOrUndefined(p))?.isFile()) await toExpired(o.dirs, p, b.sha512, o.now, false)
      o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(b.sha512)
    } catch (err) {
      o.report.error(err, {})
    }
  }
}

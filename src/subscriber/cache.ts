import { rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { hashFile, SHA512_HEX } from '../util/hash.js'
import { blobPath, type CacheDirs, ensureDirs, linkNameFor, listFiles, placeLink, removeLink, toExpired } from './cachefs.js'
import { entryKey, expiryReason, type Wanted, wantedImages } from './desired.js'
import { downloadImage } from './download.js'
import type { EventData, EventRunner } from './events.js'
import type { Fetcher, FetchLimits } from './fetch.js'
import type { Progress } from './progress.js'
import type { Report } from './report.js'
import type { BlobRow, CacheEntryRow, DB } from './store.js'

/**
 * The cache phase of a sync: reconcile files with the database (after a crash), re-verify,
 * expire what is no longer endorsed, download what is selected, and fire vmcatcher's events in
 * its order (ExpirePrefix → move → ExpirePostfix; AvailablePrefix → move → AvailablePostfix).
 */
export interface CacheOptions {
  db: DB
  dirs: CacheDirs
  fetcher: Fetcher
  events: EventRunner
  report: Report
  now: Date
  jobs: number
  /** re-hash every cached file (else trust the size+mtime recorded at verification) */
  check: boolean
  download: boolean
  limits: FetchLimits
  /** per-image deadline from its size */
  deadlineFor: (size: number) => number
  progress?: Progress
  fsync?: boolean
}

interface EntryJson {
  image: Record<string, string | number>
  vo: string | null
}

const blobs = (db: DB): BlobRow[] => db.prepare('SELECT * FROM blob ORDER BY sha512').all() as BlobRow[]
const entries = (db: DB): CacheEntryRow[] => db.prepare('SELECT * FROM cache_entry ORDER BY subscription_id, identifier').all() as CacheEntryRow[]

export async function runCache(o: CacheOptions): Promise<void> {
  await ensureDirs(o.dirs)
  await reconcile(o)
  await verifyBlobs(o)
  const { wanted, unusable } = wantedImages(o.db, o.now)
  for (const u of unusable) {
    o.report.problem({ code: 'IMAGE_METADATA_INVALID', severity: 'rejected', subscription: u.subscriptionId, image: u.identifier, message: `image ${u.identifier} is selected but cannot be downloaded: ${u.problem}` })
  }
  await expire(o, wanted)
  await prunePartial(o, wanted)
  if (o.download) await deliver(o, wanted)
}

/** After a crash: adopt verified files that reached cache/ but not the database; drop rows without files. */
async function reconcile(o: CacheOptions): Promise<void> {
  const known = new Map(blobs(o.db).map((b) => [b.sha512, b]))
  const files = await listFiles(o.dirs.cache)
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
    if (f.name.startsWith('.vmgit-link-') || blobInodes.has(`${f.dev}:${f.ino}`)) {
      await rm(p, { force: true }) // a link made just before a crash; it is re-made on delivery
      continue
    }
    if (SHA512_HEX.test(f.name)) {
      const d = await hashFile(p)
      if (d.sha512 === f.name) {
        o.db.prepare('INSERT OR REPLACE INTO blob (sha512, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)').run(f.name, d.size, f.mtimeMs, o.now.toISOString())
        o.report.change({ kind: 'image-adopted', message: `adopted verified file ${f.name.slice(0, 16)}… left by an interrupted run` })
        continue
      }
    }
    const base = await toExpired(o.dirs, p, f.name, o.now, false)
    o.report.problem({ code: 'CACHE_UNKNOWN_FILE', severity: 'warning', message: `${p} is not a verified image; moved to ${path.join(o.dirs.expired, base)}` })
  }
  // links someone removed are made again (handlers open cache/<identifier>)
  for (const e of entries(o.db)) {
    if (e.link !== null && !byName.has(e.link) && byName.has(e.sha512)) await placeLink(o.dirs, e.sha512, e.link)
  }
}

/** partial/ keeps only downloads that are still wanted (they are resumed); anything else goes. */
async function prunePartial(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  const keep = new Set([...wanted.values()].map((w) => w.sha512))
  for (const f of await listFiles(o.dirs.partial)) {
    if (!keep.has(f.name)) await rm(path.join(o.dirs.partial, f.name), { force: true })
  }
}

/** --check re-hashes every file; otherwise a changed size or mtime triggers a re-hash. Corrupt → expired/. */
async function verifyBlobs(o: CacheOptions): Promise<void> {
  for (const b of blobs(o.db)) {
    const p = blobPath(o.dirs, b.sha512)
    let s
    try {
      s = await stat(p)
    } catch {
      continue
    }
    if (!o.check && s.size === b.size && Math.trunc(s.mtimeMs) === b.mtime_ms) continue
    const d = await hashFile(p)
    if (d.sha512 === b.sha512 && d.size === b.size) {
      o.db.prepare('UPDATE blob SET mtime_ms = ?, verified_at = ? WHERE sha512 = ?').run(Math.trunc(s.mtimeMs), o.now.toISOString(), b.sha512)
      continue
    }
    const mine = o.db.prepare('SELECT * FROM cache_entry WHERE sha512 = ?').all(b.sha512) as CacheEntryRow[]
    for (const e of mine) await expireEntry(o, e, 'corrupt: failed re-verification')
    o.report.problem({ code: 'CACHE_CORRUPT', severity: 'warning', message: `cached file ${b.sha512.slice(0, 16)}… no longer matches its sha512; moved to expired/ and downloaded again if still wanted` })
    if (await stat(p).catch(() => undefined)) await toExpired(o.dirs, p, b.sha512, o.now, false)
    o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(b.sha512)
  }
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
  if (await stat(p).catch(() => undefined)) expiredName = await toExpired(o.dirs, p, name, o.now, others > 0)
  o.db.transaction(() => {
    o.db.prepare('DELETE FROM cache_entry WHERE subscription_id = ? AND identifier = ?').run(e.subscription_id, e.identifier)
    if (others === 0) o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(e.sha512)
  })()
  o.report.change({ kind: 'image-expired', subscription: e.subscription_id, image: e.identifier, message: `image ${e.identifier} (list ${e.subscription_id}) expired: ${reason}` })
  await o.events.fire('ExpirePostfix', eventData(e, expiredName))
}

async function expire(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  for (const e of entries(o.db)) {
    const w = wanted.get(entryKey(e.subscription_id, e.identifier))
    if (w && w.sha512 === e.sha512) continue
    await expireEntry(o, e, expiryReason(o.db, e, o.now, w))
  }
  // files no entry uses any more (e.g. adopted after a crash, then not wanted)
  const wantedSha = new Set([...wanted.values()].map((w) => w.sha512))
  for (const b of o.db.prepare('SELECT * FROM blob WHERE sha512 NOT IN (SELECT sha512 FROM cache_entry)').all() as BlobRow[]) {
    if (wantedSha.has(b.sha512)) continue
    const p = blobPath(o.dirs, b.sha512)
    if (await stat(p).catch(() => undefined)) await toExpired(o.dirs, p, b.sha512, o.now, false)
    o.db.prepare('DELETE FROM blob WHERE sha512 = ?').run(b.sha512)
  }
}

/** Serialises deliveries so that events never interleave, whatever the download parallelism. */
class Serial {
  private tail: Promise<void> = Promise.resolve()
  run(fn: () => Promise<void>): Promise<void> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => undefined)
    return next
  }
}

async function deliver(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  const have = new Set((o.db.prepare('SELECT subscription_id, identifier FROM cache_entry').all() as CacheEntryRow[]).map((e) => entryKey(e.subscription_id, e.identifier)))
  const todo = new Map<string, Wanted[]>()
  for (const [k, w] of wanted) {
    if (have.has(k)) continue
    const list = todo.get(w.sha512) ?? []
    list.push(w)
    todo.set(w.sha512, list)
  }
  const serial = new Serial()
  const queue = [...todo.entries()]
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const [sha512, ws] = item
      const present = o.db.prepare('SELECT 1 FROM blob WHERE sha512 = ?').get(sha512) !== undefined
      let partialFile: string | undefined
      if (!present) {
        partialFile = await fetchOne(o, sha512, ws)
        if (partialFile === undefined) continue
      }
      await serial.run(() => install(o, sha512, ws, partialFile))
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, queue.length)) }, worker))
}

/** Download one content (trying each listed URI for it in turn); undefined when it failed. */
async function fetchOne(o: CacheOptions, sha512: string, ws: Wanted[]): Promise<string | undefined> {
  const first = ws[0]!
  const uris = [...new Set(ws.map((w) => w.uri))]
  let lastErr: unknown
  for (const uri of uris) {
    const bar = o.progress?.start(first.identifier, first.size)
    try {
      const r = await downloadImage(o.fetcher, { sha512, size: first.size, uri }, o.dirs.partial, {
        limits: { ...o.limits, deadlineMs: o.deadlineFor(first.size) },
        onProgress: (n) => bar?.update(n),
        fsync: o.fsync,
      })
      bar?.done()
      o.db.prepare('DELETE FROM download_status WHERE sha512 = ?').run(sha512)
      return r.file
    } catch (e) {
      bar?.done()
      lastErr = e
    }
  }
  for (const w of ws) o.report.error(lastErr, { subscription: w.subscriptionId, image: w.identifier })
  const p = o.report.problems[o.report.problems.length - 1]
  o.db
    .prepare(
      `INSERT INTO download_status (sha512, attempts, last_attempt_at, last_error_code, last_error_message) VALUES (?, 1, ?, ?, ?)
       ON CONFLICT (sha512) DO UPDATE SET attempts = attempts + 1, last_attempt_at = excluded.last_attempt_at,
         last_error_code = excluded.last_error_code, last_error_message = excluded.last_error_message`,
    )
    .run(sha512, o.now.toISOString(), p?.code ?? null, p?.message ?? null)
  return undefined
}

/** AvailablePrefix (file verified in partial/) → into cache/ → AvailablePostfix, per image. */
async function install(o: CacheOptions, sha512: string, ws: Wanted[], partialFile: string | undefined): Promise<void> {
  const names = ws.map((w) => linkNameFor(w.identifier))
  for (const [i, w] of ws.entries()) {
    await o.events.fire('AvailablePrefix', { image: w.image, listId: w.subscriptionId, vo: w.vo, filename: names[i] ?? sha512 })
  }
  if (partialFile !== undefined) {
    await rename(partialFile, blobPath(o.dirs, sha512))
    const s = await stat(blobPath(o.dirs, sha512))
    o.db.prepare('INSERT OR REPLACE INTO blob (sha512, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)').run(sha512, s.size, Math.trunc(s.mtimeMs), o.now.toISOString())
  }
  for (const [i, w] of ws.entries()) {
    let link = names[i] ?? null
    if (link !== null) {
      const owner = o.db.prepare('SELECT sha512 FROM cache_entry WHERE link = ? LIMIT 1').get(link) as { sha512: string } | undefined
      if (owner && owner.sha512 !== sha512) {
        o.report.problem({ code: 'IDENTIFIER_SHARED', severity: 'warning', subscription: w.subscriptionId, image: w.identifier, message: `cache/${link} already holds another list's image with the same identifier; this one is only at cache/${sha512}` })
        link = null
      } else if (!owner) {
        await placeLink(o.dirs, sha512, link)
      }
    }
    const json: EntryJson = { image: w.image, vo: w.vo }
    o.db.prepare('INSERT OR REPLACE INTO cache_entry (subscription_id, identifier, sha512, link, json, cached_at) VALUES (?, ?, ?, ?, ?, ?)').run(w.subscriptionId, w.identifier, sha512, link, JSON.stringify(json), o.now.toISOString())
    o.report.change({ kind: 'image-cached', subscription: w.subscriptionId, image: w.identifier, message: `image ${w.identifier} (list ${w.subscriptionId}) verified and cached as ${path.join(o.dirs.cache, link ?? sha512)}` })
    await o.events.fire('AvailablePostfix', { image: w.image, listId: w.subscriptionId, vo: w.vo, filename: link ?? sha512 })
  }
}

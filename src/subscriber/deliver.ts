import path from 'node:path'
import { VmgitError } from '../util/errors.js'
import { DiskBudget, lstatOrUndefined, nameTaken, renameRegular } from '../util/safefs.js'
import { blobPath, type CacheDirs, linkNameFor, placeLink } from './cachefs.js'
import { partialNames } from './claims.js'
import { entryKey, type Wanted } from './desired.js'
import { type DownloadOutcome, downloadImage } from './download.js'
import type { EventRunner } from './events.js'
import type { Fetcher, FetchLimits } from '../net/http.js'
import { pinnedBlob } from './ocisource.js'
import type { Progress } from './progress.js'
import type { Report } from './report.js'
import { imageSources } from './sources.js'
import type { BlobRow, CacheEntryRow, DB } from './store.js'

/**
 * The delivery phase of a sync: download what is selected and not yet cached (one download per
 * content, `jobs` at a time, space reserved per running download: S29), then AvailablePrefix →
 * into cache/ → AvailablePostfix per image, serialised so events never interleave. A failure is
 * charged to the images of that content only (S27); lies about hv:size to the list that tells them (S28).
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
  /** issue 15: expire the entry a verified successor replaces (ExpirePrefix → expired/ → ExpirePostfix) */
  expireReplaced?: (e: CacheEntryRow) => Promise<void>
  /** issue 17: images a list pins in a registry are fetched from there first, hv:uri second (sources.ts) */
  preferRegistry?: boolean
}

export interface EntryJson {
  image: Record<string, string | number>
  vo: string | null
}

const describe = (e: unknown): string => (e instanceof VmgitError ? `[${e.code}] ${e.message}` : (e as Error)?.message ?? String(e))

/** Serialises deliveries so that events never interleave, whatever the download parallelism. */
class Serial {
  private tail: Promise<void> = Promise.resolve()
  run(fn: () => Promise<void>): Promise<void> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => undefined)
    return next
  }
}

export async function deliver(o: CacheOptions, wanted: Map<string, Wanted>): Promise<void> {
  // an entry holding other bytes (the previous version, kept until this one is verified) is not "have"
  const have = new Map((o.db.prepare('SELECT subscription_id, identifier, sha512 FROM cache_entry').all() as CacheEntryRow[]).map((e) => [entryKey(e.subscription_id, e.identifier), e.sha512]))
  const todo = new Map<string, Wanted[]>()
  for (const [k, w] of wanted) {
    if (have.get(k) === w.sha512) continue
    const list = todo.get(w.sha512) ?? []
    list.push(w)
    todo.set(w.sha512, list)
  }
  const serial = new Serial()
  const budget = new DiskBudget()
  const queue = [...todo.entries()]
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const [sha512, ws] = item
      try {
        await deliverContent(o, sha512, ws, serial, budget)
      } catch (e) {
        // one content's failure is charged to its images only; the others go on (S27)
        for (const w of ws) o.report.error(e, { subscription: w.subscriptionId, image: w.identifier })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, queue.length)) }, worker))
}

/**
 * One content (sha512) for one or more images. S28: lists may disagree on its hv:size; only one size
 * is true. Each claimed size is tried with the URIs of the lists that claim it, into its own partial
 * file (claims.ts partialNames), the first-subscribed list's size first, then smallest first, so a
 * lie (a huge size, an endless URI) costs only the liar; once the bytes are verified, every image
 * claiming another size is refused (IMAGE_SIZE_CONFLICT, charged to its list).
 */
async function deliverContent(o: CacheOptions, sha512: string, ws: Wanted[], serial: Serial, budget: DiskBudget): Promise<void> {
  const blob = o.db.prepare('SELECT * FROM blob WHERE sha512 = ?').get(sha512) as BlobRow | undefined
  let size = blob?.size
  let fetched: DownloadOutcome | undefined
  const charged = new Set<Wanted>()
  if (size === undefined) {
    const names = partialNames(o.db, ws)
    // the first-subscribed list's size first, then the others smallest first
    const sizes = [...names.keys()].sort((a, b) => Number(names.get(a) !== sha512) - Number(names.get(b) !== sha512) || a - b)
    for (const s of sizes) {
      const claim = ws.filter((w) => w.size === s)
      fetched = await fetchOne(o, sha512, claim, budget, names.get(s)!)
      if (fetched) {
        size = s
        break
      }
      for (const w of claim) charged.add(w)
    }
    if (size === undefined) return
  }
  const good: Wanted[] = []
  for (const w of ws) {
    if (w.size === size) good.push(w)
    else if (!charged.has(w)) {
      o.report.problem({ code: 'IMAGE_SIZE_CONFLICT', severity: 'rejected', subscription: w.subscriptionId, image: w.identifier, message: `image ${w.identifier} (list ${w.subscriptionId}) claims hv:size ${w.size} for bytes whose verified size is ${size} (sha512 ${sha512.slice(0, 16)}…); this list's entry is wrong and was not delivered` })
    }
  }
  const file = fetched
  await serial.run(() => install(o, sha512, good, file))
}

/**
 * Download one content, trying each source for it in turn (sources.ts: a registry pin, hv:uri);
 * undefined when it failed. A registry that failed before another source delivered is a warning
 * (OCI_FALLBACK); when every source failed, each registry failure is reported beside the last error.
 */
async function fetchOne(o: CacheOptions, sha512: string, ws: Wanted[], budget: DiskBudget, partialName: string): Promise<DownloadOutcome | undefined> {
  const first = ws[0]!
  const plan = imageSources(o.db, ws, o.preferRegistry ?? false)
  for (const p of plan.invalid) o.report.problem({ code: 'OCI_PIN_INVALID', severity: 'warning', subscription: p.w.subscriptionId, image: p.w.identifier, message: p.message })
  let lastErr: unknown = new VmgitError('NO_IMAGE_SOURCE', `image ${first.identifier} (list ${first.subscriptionId}) has no usable source: neither an http(s) hv:uri nor a valid registry pin`)
  const registryErrors: { shown: string; error: unknown }[] = []
  for (const src of plan.sources) {
    const bar = o.progress?.start(first.identifier, first.size)
    const limits = { ...o.limits, deadlineMs: o.deadlineFor(first.size) }
    try {
      // the registry source: the pinned manifest is checked before a byte of the image is asked for
      const blob = src.kind === 'oci' ? await pinnedBlob(o.fetcher, src.pin, first.size, limits) : undefined
      const r = await downloadImage(o.fetcher, { sha512, size: first.size, uri: src.kind === 'uri' ? src.uri : first.uri, ...(blob ? { blob } : {}) }, o.dirs.partial, {
        limits,
        onProgress: (n) => bar?.update(n),
        fsync: o.fsync,
        budget,
        partialName,
        onForeign: (message) => o.report.problem({ code: 'CACHE_FOREIGN_FILE', severity: 'warning', message }),
      })
      bar?.done()
      o.db.prepare('DELETE FROM download_status WHERE sha512 = ?').run(sha512)
      for (const f of registryErrors) {
        for (const w of ws) o.report.problem({ code: 'OCI_FALLBACK', severity: 'warning', subscription: w.subscriptionId, image: w.identifier, message: `image ${w.identifier}: ${f.shown} failed (${describe(f.error)}); the verified bytes came from ${src.kind === 'uri' ? src.uri : `oci://${src.pin.reference}`} instead` })
      }
      return r
    } catch (e) {
      bar?.done()
      if (src.kind === 'oci') registryErrors.push({ shown: `oci://${src.pin.reference}`, error: e })
      lastErr = e
      // a full disk is not the URI's fault: the next mirror would meet the same disk
      if (e instanceof VmgitError && e.code === 'DISK_FULL') break
    }
  }
  // every registry failure is told (a deleted or tampered image), then the last error of all
  for (const f of registryErrors) if (f.error !== lastErr) for (const w of ws) o.report.error(f.error, { subscription: w.subscriptionId, image: w.identifier })
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

/**
 * The name an image gets in cache/ besides its sha512: its identifier, unless unsafe, or held for other
 * bytes by another entry (S28: never another list's bytes behind an identifier). A directory already
 * there is this image's failure alone (CACHE_NAME_TAKEN).
 */
async function nameFor(o: CacheOptions, w: Wanted, sha512: string): Promise<string | null> {
  const link = linkNameFor(w.identifier)
  if (link === null) return null
  const owner = o.db.prepare('SELECT sha512 FROM cache_entry WHERE link = ? AND sha512 != ? LIMIT 1').get(link, sha512) as { sha512: string } | undefined
  if (owner) {
    o.report.problem({ code: 'IDENTIFIER_SHARED', severity: 'warning', subscription: w.subscriptionId, image: w.identifier, message: `cache/${link} already holds another list's image with the same identifier; this one is only at cache/${sha512}` })
    return null
  }
  if ((await lstatOrUndefined(path.join(o.dirs.cache, link)))?.isDirectory()) throw nameTaken(path.join(o.dirs.cache, link))
  return link
}

/** AvailablePrefix (file verified in partial/) → into cache/ → AvailablePostfix, per image. */
async function install(o: CacheOptions, sha512: string, ws: Wanted[], fetched: DownloadOutcome | undefined): Promise<void> {
  // a directory in the way of cache/<sha512> fails this content before any event announces it
  if (fetched !== undefined && (await lstatOrUndefined(blobPath(o.dirs, sha512)))?.isDirectory()) throw nameTaken(blobPath(o.dirs, sha512))
  const ready: { w: Wanted; link: string | null }[] = []
  for (const w of ws) {
    try {
      // issue 15: the successor is verified (in partial/ or already in cache/): only now does the previous version leave
      const prev = o.db.prepare('SELECT * FROM cache_entry WHERE subscription_id = ? AND identifier = ? AND sha512 != ?').get(w.subscriptionId, w.identifier, sha512) as CacheEntryRow | undefined
      if (prev && o.expireReplaced) await o.expireReplaced(prev)
      ready.push({ w, link: await nameFor(o, w, sha512) })
    } catch (e) {
      o.report.error(e, { subscription: w.subscriptionId, image: w.identifier })
    }
  }
  for (const { w, link } of ready) {
    await o.events.fire('AvailablePrefix', { image: w.image, listId: w.subscriptionId, vo: w.vo, filename: link ?? sha512 })
  }
  if (fetched !== undefined) {
    // S27: lstat before rename: still the regular file, the very inode, this run wrote
    await renameRegular(fetched.file, blobPath(o.dirs, sha512), fetched)
    const s = await lstatOrUndefined(blobPath(o.dirs, sha512))
    o.db.prepare('INSERT OR REPLACE INTO blob (sha512, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)').run(sha512, s?.size ?? fetched.bytes, Math.trunc(s?.mtimeMs ?? 0), o.now.toISOString())
  }
  for (const r of ready) {
    const { w } = r
    let link = r.link
    if (link !== null) {
      try {
        const shared = o.db.prepare('SELECT 1 FROM cache_entry WHERE link = ? AND sha512 = ? LIMIT 1').get(link, sha512) !== undefined
        if (!shared || !(await lstatOrUndefined(path.join(o.dirs.cache, link)))) await placeLink(o.dirs, sha512, link)
      } catch (e) {
        o.report.error(e, { subscription: w.subscriptionId, image: w.identifier })
        link = null
      }
    }
    const json: EntryJson = { image: w.image, vo: w.vo }
    o.db.prepare('INSERT OR REPLACE INTO cache_entry (subscription_id, identifier, sha512, link, json, cached_at) VALUES (?, ?, ?, ?, ?, ?)').run(w.subscriptionId, w.identifier, sha512, link, JSON.stringify(json), o.now.toISOString())
    o.report.change({ kind: 'image-cached', subscription: w.subscriptionId, image: w.identifier, message: `image ${w.identifier} (list ${w.subscriptionId}) verified and cached as ${path.join(o.dirs.cache, link ?? sha512)}` })
    await o.events.fire('AvailablePostfix', { image: w.image, listId: w.subscriptionId, vo: w.vo, filename: link ?? sha512 })
  }
}

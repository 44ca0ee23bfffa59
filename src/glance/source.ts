import { blobPath } from '../subscriber/cachefs.js'
import { entryKey, wantedImages } from '../subscriber/desired.js'
import { getSubscription, type DB } from '../subscriber/store.js'
import { cacheEntries, imageEntryJson, openStoreReadonly } from '../subscriber/store-readonly.js'
import { provenanceOf, type Provenance } from '../imagelist/provenance.js'
import { endorsedFromEntry, type EndorsedImage } from './model.js'

/**
 * Read-only view of the subscriber database (engineer D's store) for the Glance handler: the
 * verified cache (what `reconcile` makes Glance match), the list signer (the endorser property),
 * and whether an expired version is about to be replaced. Its SQL lives in the subscriber's
 * store (src/subscriber/store-readonly.ts).
 */
export { openStoreReadonly }

interface EntryJson {
  image?: Record<string, string | number>
  vo?: string | null
}

/** The list's signer DN as verified when the stored version was accepted. */
export function endorserOf(db: DB, listId: string): string | undefined {
  return getSubscription(db, listId)?.signer_subject || undefined
}

/** issue 15: the signed provenance of the stored list (vmgit:repository, vmgit:commit, vmgit:run). */
export function provenanceFor(db: DB, listId: string): Provenance {
  try {
    const content = getSubscription(db, listId)?.content
    const doc = JSON.parse(content?.toString('utf8') ?? '') as { 'hv:imagelist'?: Record<string, unknown> }
    return provenanceOf(doc['hv:imagelist'] ?? {})
  } catch {
    return {}
  }
}

/** Every image in the verified cache, with its file (cache/<sha512>) and its list's signer. */
export function verifiedImages(db: DB, cacheDir: string): { images: EndorsedImage[]; problems: { list: string; identifier: string; message: string }[] } {
  const rows = cacheEntries(db)
  const images: EndorsedImage[] = []
  const problems: { list: string; identifier: string; message: string }[] = []
  for (const r of rows) {
    try {
      const j = JSON.parse(r.json) as EntryJson
      // the cache entry's own sha512 names the verified file: it wins over the listed value
      const entry = { ...j.image, 'dc:identifier': r.identifier, 'sl:checksum:sha512': r.sha512 }
      const endorser = endorserOf(db, r.subscription_id)
      const provenance = provenanceFor(db, r.subscription_id)
      images.push(endorsedFromEntry(r.subscription_id, entry, { vo: j.vo ?? null, file: blobPath({ cache: cacheDir, partial: '', expired: '' }, r.sha512), ...(endorser ? { endorser } : {}), provenance }))
    } catch (e) {
      problems.push({ list: r.subscription_id, identifier: r.identifier, message: (e as Error).message })
    }
  }
  return { images, problems }
}

/**
 * The image's current list entry, when it is still wanted with other content: an ExpirePostfix
 * for the old version arrives before the new one is downloaded (vmcatcher's event order), and
 * the old version must stay in Glance until its successor is uploaded.
 */
export function pendingReplacement(db: DB, now: Date, listId: string, identifier: string, expiredSha512: string | undefined): boolean {
  const w = wantedImages(db, now).wanted.get(entryKey(listId, identifier))
  return w !== undefined && expiredSha512 !== undefined && w.sha512 !== expiredSha512
}

/** The full list entry of an image (more keys than the event variables carry, e.g. sl:osname). */
export function listedEntry(db: DB, listId: string, identifier: string): Record<string, string | number> | undefined {
  const json = imageEntryJson(db, listId, identifier)
  if (json === undefined) return undefined
  try {
    return JSON.parse(json) as Record<string, string | number>
  } catch {
    return undefined
  }
}

import { existsSync } from 'node:fs'
import { VmgitError } from '../util/errors.js'
import { propertyOps, type GlanceClient, type GlanceImage, type PatchOp } from './client.js'
import type { GlanceConfig } from './config.js'
import { prepareImage } from './convert.js'
import { imageName, imageProperties, P, type EndorsedImage, type VmgitState } from './model.js'

/**
 * What happens in Glance when an image becomes available, is replaced or expires. Every step is
 * idempotent and re-entrant: a run killed at any point leaves images that the next run (event or
 * `vmgit glance reconcile`) finishes or removes, and an image is published only after Glance
 * reports exactly the bytes vmgit uploaded.
 */
export interface GlanceAction {
  action: 'uploaded' | 'finished' | 'reactivated' | 'updated' | 'unchanged' | 'retired' | 'expired' | 'deleted' | 'cleaned' | 'kept'
  list: string
  identifier: string
  /** The Glance image id. */
  image?: string
  message: string
}

export interface HandlerContext {
  client: GlanceClient
  config: GlanceConfig
  now: Date
  /** Aborts an upload in flight (SIGTERM from the event runner's timeout). */
  signal?: AbortSignal
}

const state = (i: GlanceImage): VmgitState | undefined => i[P.state] as VmgitState | undefined
const BUSY = new Set(['saving', 'uploading', 'importing'])

/** The images vmgit manages for one list entry; re-checked here, whatever Glance's filter did. */
export async function findManaged(client: GlanceClient, listId: string, identifier?: string): Promise<GlanceImage[]> {
  const filters: Record<string, string> = { [P.managed]: 'true', [P.list]: listId, ...(identifier ? { [P.identifier]: identifier } : {}) }
  const found = await client.listImages(filters)
  // never touch an image vmgit did not make, even if a filter was ignored
  return found
    .filter((i) => i[P.managed] === 'true' && i[P.list] === listId && (identifier === undefined || i[P.identifier] === identifier))
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
}

/** All images vmgit manages in this Glance. */
export async function allManaged(client: GlanceClient): Promise<GlanceImage[]> {
  return (await client.listImages({ [P.managed]: 'true' })).filter((i) => i[P.managed] === 'true' && typeof i[P.list] === 'string' && typeof i[P.identifier] === 'string')
}

const act = (a: GlanceAction['action'], img: { listId: string; identifier: string }, image: string | undefined, message: string): GlanceAction => ({
  action: a,
  list: img.listId,
  identifier: img.identifier,
  ...(image ? { image } : {}),
  message,
})

/** An upload that died with its process: queued/killed at once, saving after `staleUploadMs`. */
function isAbandoned(ctx: HandlerContext, i: GlanceImage): boolean {
  if (i.status === 'queued' || i.status === 'killed') return true
  return BUSY.has(i.status) && ctx.now.getTime() - Date.parse(i.updated_at) > ctx.config.staleUploadMs
}

/** AvailablePostfix: make `img` current in Glance, then retire every other version of it. */
export async function importImage(ctx: HandlerContext, img: EndorsedImage): Promise<GlanceAction[]> {
  const { client } = ctx
  const actions: GlanceAction[] = []
  const all = await findManaged(client, img.listId, img.identifier)
  let target: GlanceImage | undefined
  let how: GlanceAction['action'] = 'unchanged'
  for (const i of all.filter((x) => x[P.sha512] === img.sha512)) {
    if (i.status === 'active' && state(i) === 'uploading') {
      // crashed after the upload, before publishing: finish it if Glance holds exactly our bytes
      if (!target && i[P.uploadSha512] && i.os_hash_algo === 'sha512' && i.os_hash_value === i[P.uploadSha512]) {
        target = i
        how = 'finished'
        continue
      }
    } else if (i.status === 'active' && !target) {
      target = i
      continue
    } else if (i.status === 'deactivated' && !target) {
      await client.reactivate(i.id)
      target = { ...i, status: 'active' }
      how = 'reactivated'
      continue
    } else if (BUSY.has(i.status) && !isAbandoned(ctx, i)) {
      throw new VmgitError('GLANCE_UPLOAD_IN_PROGRESS', `image ${img.identifier} is being uploaded to Glance (image ${i.id}, ${i.status} since ${i.updated_at}); try again later`)
    }
    // an abandoned upload, or a duplicate of the image kept above
    await client.deleteImage(i.id)
    actions.push(act('cleaned', img, i.id, `removed ${i.status} image ${i.id} of ${img.identifier} left by an interrupted run or duplicated`))
  }
  if (!target) {
    target = await uploadNew(ctx, img)
    how = 'uploaded'
  }
  const changed = await publish(ctx, target, img)
  const verb = how === 'unchanged' && changed ? 'updated' : how
  actions.push(act(verb, img, target.id, `${verb} ${img.identifier} ${img.version ?? ''} as Glance image ${target.id} (${ctx.config.visibility})`.replace(/ {2}/g, ' ')))
  // a new version goes live first; only then are the old ones retired
  for (const old of all.filter((x) => x[P.sha512] !== img.sha512)) actions.push(...(await retire(ctx, old, img)))
  return actions
}

/** Create → upload → verify. On any failure the new image is deleted again (best effort). */
async function uploadNew(ctx: HandlerContext, img: EndorsedImage): Promise<GlanceImage> {
  if (!img.file || !existsSync(img.file)) {
    throw new VmgitError('CACHE_FILE_MISSING', `image ${img.identifier} has no cached file${img.file ? ` (${img.file} is gone)` : ''} to upload; run \`vmgit sync\` to download it again`)
  }
  const prepared = await prepareImage(img.file, { targetFormat: ctx.config.targetFormat, sourceSha512: img.sha512, ...(ctx.config.workDir ? { workDir: ctx.config.workDir } : {}) })
  try {
    const props = Object.fromEntries(Object.entries(imageProperties(img)).filter(([, v]) => v !== undefined))
    const created = await ctx.client.createImage({
      ...props,
      name: imageName(img),
      disk_format: prepared.diskFormat,
      container_format: 'bare',
      // private until the data is verified: a half-uploaded image is never published
      visibility: 'private',
      [P.state]: 'uploading',
      ...(prepared.sha512 ? { [P.uploadSha512]: prepared.sha512 } : {}),
      [P.sourceFormat]: prepared.sourceFormat,
    })
    try {
      const sent = await ctx.client.upload(created.id, prepared.path, ctx.signal)
      // the bytes sent are the verified ones (unchanged file) and Glance stored exactly them
      const expected = prepared.sha512 ?? sent.sha512
      const after = await ctx.client.getImage(created.id)
      if (sent.sha512 !== expected || !after || after.status !== 'active' || after.size !== sent.size || (after.os_hash_algo === 'sha512' && after.os_hash_value !== expected)) {
        throw new VmgitError('GLANCE_UPLOAD_MISMATCH', `Glance image ${created.id} (${after?.status}, ${after?.size} bytes) does not hold the ${sent.size} verified bytes uploaded for ${img.identifier}; it was deleted`)
      }
      // recorded for a run that crashes before publishing: it may finish this image
      return await ctx.client.setProperties(after, { [P.uploadSha512]: expected })
    } catch (e) {
      await ctx.client.deleteImage(created.id).catch(() => undefined)
      throw e
    }
  } finally {
    await prepared.cleanup()
  }
}

/** Visibility, members and properties as configured; true when something had to change. */
async function publish(ctx: HandlerContext, image: GlanceImage, img: EndorsedImage): Promise<boolean> {
  const ops: PatchOp[] = propertyOps(image, { ...imageProperties(img), [P.state]: 'current', [P.retireAfter]: undefined })
  if (image.visibility !== ctx.config.visibility) ops.push({ op: 'replace', path: '/visibility', value: ctx.config.visibility })
  if (ops.length) await ctx.client.patchImage(image.id, ops)
  let added = 0
  if (ctx.config.visibility === 'shared' && ctx.config.share.length) {
    const members = new Set(await ctx.client.listMembers(image.id))
    for (const p of ctx.config.share.filter((x) => !members.has(x))) {
      await ctx.client.addMember(image.id, p)
      added++
    }
  }
  return ops.length > 0 || added > 0
}

/** An older version: deactivated now and deleted after the grace period (at once with grace 0). */
async function retire(ctx: HandlerContext, old: GlanceImage, img: EndorsedImage): Promise<GlanceAction[]> {
  if (state(old) === 'retiring') return []
  if (ctx.config.graceMs === 0 || old.status !== 'active') {
    await ctx.client.deleteImage(old.id)
    return [act('deleted', img, old.id, `deleted ${old.status} image ${old.id} (${img.identifier} ${String(old[P.version] ?? '')}), replaced by ${img.version ?? 'a new version'}`)]
  }
  await ctx.client.deactivate(old.id)
  const until = new Date(ctx.now.getTime() + ctx.config.graceMs).toISOString()
  await ctx.client.setProperties(old, { [P.state]: 'retiring', [P.retireAfter]: until })
  return [act('retired', img, old.id, `deactivated image ${old.id} (${img.identifier} ${String(old[P.version] ?? '')}), replaced by ${img.version ?? 'a new version'}; deleted after ${until}`)]
}

/** ExpirePostfix: the endorser withdrew the image (or this version of it). */
export async function expireImage(ctx: HandlerContext, key: { listId: string; identifier: string; sha512?: string }): Promise<GlanceAction[]> {
  const actions: GlanceAction[] = []
  const all = (await findManaged(ctx.client, key.listId, key.identifier)).filter((i) => !key.sha512 || i[P.sha512] === key.sha512)
  for (const i of all) {
    // a replaced version keeps its own, shorter, retirement
    if (state(i) === 'retiring') continue
    if (ctx.config.onExpiry === 'delete' || (i.status !== 'active' && i.status !== 'deactivated')) {
      await ctx.client.deleteImage(i.id)
      actions.push(act('deleted', key, i.id, `deleted Glance image ${i.id} of expired image ${key.identifier}`))
      continue
    }
    if (i.status === 'deactivated' && state(i) === 'expired') continue
    if (i.status === 'active') await ctx.client.deactivate(i.id)
    await ctx.client.setProperties(i, { [P.state]: 'expired', [P.retireAfter]: undefined })
    actions.push(act('expired', key, i.id, `deactivated Glance image ${i.id} of expired image ${key.identifier}`))
  }
  return actions
}

/** Delete retired versions whose grace period is over, and uploads abandoned long ago. */
export async function collectRetired(ctx: HandlerContext, managed?: GlanceImage[]): Promise<GlanceAction[]> {
  const actions: GlanceAction[] = []
  for (const i of managed ?? (await allManaged(ctx.client))) {
    const key = { listId: String(i[P.list]), identifier: String(i[P.identifier]) }
    const after = i[P.retireAfter]
    const due = state(i) === 'retiring' && typeof after === 'string' && Date.parse(after) <= ctx.now.getTime()
    const abandoned = state(i) === 'uploading' && i.status !== 'active' && isAbandoned(ctx, i)
    if (!due && !abandoned) continue
    if (await ctx.client.deleteImage(i.id)) actions.push(act(due ? 'deleted' : 'cleaned', key, i.id, due ? `deleted image ${i.id} (${key.identifier}): its grace period ended` : `removed abandoned upload ${i.id} (${key.identifier})`))
  }
  return actions
}

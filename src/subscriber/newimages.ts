import { VmgitError } from '../util/errors.js'
import type { Candidate } from './decide.js'
import type { EventRunner } from './events.js'
import type { Report } from './report.js'
import type { SubscriptionMeta } from './store.js'

/**
 * Attack S31 (amplification): a signed list with tens of thousands of images, renamed in every
 * version, must not become tens of thousands of rows, output lines and event-handler shells run
 * under the sync lock.
 *
 * Decisions:
 * - A verified list with more than `maxImages` images (default 8192, --max-images) is refused as a
 *   whole with TOO_MANY_IMAGES; the stored version is kept.
 * - SubscriptionImageNew fires for at most NEW_IMAGE_EVENT_CAP new images of one list version (in
 *   list order); above that, the version is still accepted, the output is ONE summary line
 *   (kind 'images-new') instead of a line per image, and a NEW_IMAGE_EVENTS_CAPPED warning says how
 *   many events were not run and how to see the images (`vmgit sub images`). A handler that needs
 *   every image reconciles from the cache instead (AvailablePostfix, `vmgit glance reconcile`).
 */
export const NEW_IMAGE_EVENT_CAP = 32

export function checkImageCount(count: number, max: number): void {
  if (count > max) {
    throw new VmgitError('TOO_MANY_IMAGES', `the list has ${count} images, more than the ${max} allowed per list; refused and the stored version kept (attack S31: amplification). If the publisher really lists that many, raise --max-images (or VMGIT_MAX_IMAGES)`, { details: { images: count, max } })
  }
}

export interface AnnounceContext {
  report: Report
  events: EventRunner
}

/** Report the new images of an accepted version and fire their SubscriptionImageNew events (capped). */
export async function announceNewImages(ctx: AnnounceContext, sub: Pick<SubscriptionMeta, 'id' | 'new_images'>, c: Candidate, newImages: readonly string[]): Promise<void> {
  const auto = sub.new_images === 'subscribe' ? ', selected automatically' : ''
  const byId = new Map(c.images.map((i) => [i.identifier, i]))
  if (newImages.length > NEW_IMAGE_EVENT_CAP) {
    const sample = newImages.slice(0, 3).join(', ')
    ctx.report.change({ kind: 'images-new', subscription: sub.id, count: newImages.length, message: `list ${sub.id} offers ${newImages.length} new images (${sample}, …)${auto}; \`vmgit sub images\` lists them` })
    ctx.report.problem({
      code: 'NEW_IMAGE_EVENTS_CAPPED', severity: 'warning', subscription: sub.id,
      message: `list ${sub.id} added ${newImages.length} images in one version; SubscriptionImageNew ran for the first ${NEW_IMAGE_EVENT_CAP} only (${newImages.length - NEW_IMAGE_EVENT_CAP} not run, attack S31: amplification)`,
    })
  }
  for (const [n, id] of newImages.entries()) {
    const im = byId.get(id)!
    if (newImages.length <= NEW_IMAGE_EVENT_CAP) {
      ctx.report.change({ kind: 'image-new', subscription: sub.id, image: id, message: `list ${sub.id} offers new image ${id}${im.title ? ` (${im.title})` : ''}${auto}` })
    }
    if (n >= NEW_IMAGE_EVENT_CAP) break
    await ctx.events.fire('SubscriptionImageNew', { image: im.json, listId: sub.id, vo: c.vo })
  }
}

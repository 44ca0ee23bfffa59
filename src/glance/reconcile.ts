import { isVmgitError, type ErrorCode } from '../util/errors.js'
import { allManaged, collectRetired, expireImage, importImage, type GlanceAction, type HandlerContext } from './handler.js'
import { P, type EndorsedImage } from './model.js'

/**
 * `vmgit glance reconcile`: make Glance match the verified cache, whatever events were missed.
 * Every cached image gets a current, published Glance image (uploaded, finished or reactivated);
 * older versions are retired; images vmgit manages whose list entry left the cache are expired;
 * retired versions past their grace period and abandoned uploads are deleted. A second run with
 * nothing changed does nothing. A failure with one image never stops the others.
 */
export interface ReconcileProblem {
  list: string
  identifier: string
  code: ErrorCode
  message: string
}

export interface ReconcileResult {
  actions: GlanceAction[]
  problems: ReconcileProblem[]
}

const key = (list: string, identifier: string): string => `${list}\u0000${identifier}`

export async function reconcile(ctx: HandlerContext, wanted: EndorsedImage[]): Promise<ReconcileResult> {
  const actions: GlanceAction[] = []
  const problems: ReconcileProblem[] = []
  const note = (list: string, identifier: string, e: unknown): void => {
    if (isVmgitError(e) && e.exit === 2) throw e // credentials, policy, configuration: stop, nothing else would work
    problems.push({ list, identifier, code: isVmgitError(e) ? e.code : 'INTERNAL', message: (e as Error).message })
  }
  const wantedKeys = new Set(wanted.map((w) => key(w.listId, w.identifier)))
  for (const img of wanted) {
    try {
      actions.push(...(await importImage(ctx, img)))
    } catch (e) {
      note(img.listId, img.identifier, e)
    }
  }
  // what vmgit put into Glance for list entries that are no longer in the verified cache
  const gone = new Map<string, { listId: string; identifier: string }>()
  for (const i of await allManaged(ctx.client)) {
    const listId = String(i[P.list])
    const identifier = String(i[P.identifier])
    if (!wantedKeys.has(key(listId, identifier))) gone.set(key(listId, identifier), { listId, identifier })
  }
  for (const g of gone.values()) {
    try {
      actions.push(...(await expireImage(ctx, g)))
    } catch (e) {
      note(g.listId, g.identifier, e)
    }
  }
  try {
    actions.push(...(await collectRetired(ctx)))
  } catch (e) {
    note('', '', e)
  }
  return { actions, problems }
}

import { parseImageListJson } from '../imagelist/parse.js'
import type { HepixList } from '../imagelist/types.js'
import { parseSmime } from '../smime/mime.js'
import type { TransferPool } from '../transfer/index.js'
import { VmgitError } from '../util/errors.js'

export interface PublishedList {
  /** the list as published now; undefined when the copy there cannot be read as a signed list */
  list?: HepixList
  bytes: Buffer
  /** the target, secrets masked */
  display: string
  warning?: string
}

/**
 * What is published at a list's write target now (the base that publish and `plan` without
 * --base compare against). Undefined when nothing is there yet. The signature is not checked:
 * whatever is there is only compared with, never trusted; a copy that is not a readable signed
 * list is reported and replaced.
 */
export async function readPublished(pool: TransferPool, target: string): Promise<PublishedList | undefined> {
  const { transfer, target: t } = await pool.get(target)
  if (!(await transfer.stat(t.path))) return undefined
  const bytes = await transfer.get(t.path)
  try {
    return { list: parseImageListJson(parseSmime(bytes).content), bytes, display: t.display }
  } catch (e) {
    const why = e instanceof VmgitError ? `${e.code}: ${e.message}` : String(e)
    return { bytes, display: t.display, warning: `the copy published at ${t.display} is not a readable signed image list (${why}); it will be replaced` }
  }
}

import { renderList } from '../imagelist/render.js'
import type { Layout } from '../imagelist/types.js'
import { usageError, VmgitError } from '../util/errors.js'
import { findList, layoutOf, toHepix } from './hepix.js'
import { CONFIG_FILE } from './load.js'
import { isError, type Problem } from './problems.js'
import { PER_LIST_CODES } from '../rules/book.js'
import type { ListEntry, Repository } from './types.js'

export interface RenderedList {
  /** File name without .yaml. */
  name: string
  identifier: string
  layout: Layout
  /** The exact bytes to sign. */
  content: string
  /** Problems in the files this list is made of (warnings, and the date verdicts sign and publish refuse on). */
  warnings: Problem[]
  /** True when the endorser leaves dn/ca to the signing certificate: this rendering has none. */
  dnFromCertificate: boolean
}

/** The lists a render call means: one by name or identifier, all, or the only one there is. */
export function selectLists(repo: Repository, name: string | undefined, all: boolean): ListEntry[] {
  if (name !== undefined && all) throw usageError('LIST_AND_ALL', 'give a LIST or --all, not both')
  if (name !== undefined) return [findList(repo, name)]
  const lists = [...repo.lists.values()]
  if (all || lists.length === 1) return lists
  if (lists.length === 0) throw usageError('NO_LISTS', `${repo.dir} has no imagelists/*.yaml; add one (vmgit init writes an example)`)
  throw usageError('LIST_REQUIRED', `the repository has ${lists.length} lists (${lists.map((l) => l.name).join(', ')}); name one or pass --all`)
}

/** Problems in the files a list is made of (vmgit.yaml, the list, its endorser, its images). */
export function problemsOf(repo: Repository, list: ListEntry): Problem[] {
  const files = new Set([CONFIG_FILE, list.file, `endorsers/${list.endorser}.yaml`, ...list.images.map((i) => `images/${i}.yaml`)])
  return repo.problems.filter((p) => files.has(p.file))
}

/**
 * Render one list to its exact bytes. Refuses (INVALID_REPOSITORY, with the problems in
 * details) when any file it is made of has an error, e.g. one that would make a consumer
 * drop an image; warnings travel with the result.
 */
export function renderOne(repo: Repository, list: ListEntry, opts: { now: Date; layout?: Layout }): RenderedList {
  const problems = problemsOf(repo, list)
  // the rulebook's date verdicts judge signing and publishing, not rendering: an imported list renders
  // as it was signed (they travel as problems with the result; sign and publish refuse on them)
  const errors = problems.filter((p) => isError(p) && !PER_LIST_CODES.has(p.code))
  if (errors.length > 0)
    throw new VmgitError(
      'INVALID_REPOSITORY',
      `${list.file} cannot be rendered: ${errors.length} error${errors.length === 1 ? '' : 's'} in its files (listed above); fix them, vmgit validate shows them all`,
      { details: { problems: errors } },
    )
  const hepix = toHepix(repo, list.name, { now: opts.now })
  const layout = opts.layout ?? layoutOf(repo, list)
  return {
    name: list.name,
    identifier: String(hepix.list['dc:identifier'] ?? ''),
    layout,
    content: renderList(hepix, layout),
    warnings: problems,
    dnFromCertificate: hepix.endorser['hv:dn'] === undefined || hepix.endorser['hv:ca'] === undefined,
  }
}

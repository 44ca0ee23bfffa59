import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { usageError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'
import { checkActionRef, USES_PLACEHOLDER } from '../model/workflow.js'

/** templates/ ships beside dist/ (package.json "files"). */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/repo/', import.meta.url))

export interface InitResult {
  dir: string
  files: { file: string; action: 'created' | 'overwritten' }[]
}

/** Template path → repository path. `dot-github` avoids a dot directory inside the npm package. */
const target = (rel: string) => rel.replace(/^dot-github\//, '.github/')

async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + e.name
    if (e.isDirectory()) out.push(...(await walk(path.join(dir, e.name), rel + '/')))
    else out.push(rel)
  }
  return out
}

/**
 * Scaffold a repository that `vmgit validate` accepts as it is: vmgit.yaml, one endorser,
 * one image, one list and a pull-request workflow. Fresh UUIDs for the image and the list.
 * Refuses to overwrite any existing file unless `force` (and then writes nothing else first).
 */
export async function initRepository(dir: string, opts: { force?: boolean; actionRef?: string } = {}): Promise<InitResult> {
  const actionRef = opts.actionRef === undefined ? undefined : checkActionRef(opts.actionRef)
  const abs = path.resolve(dir)
  const templates = await walk(TEMPLATE_DIR)
  const existing = templates.map(target).filter((rel) => existsSync(path.join(abs, rel)))
  if (existing.length > 0 && !opts.force)
    throw usageError('INIT_EXISTS', `${dir} already has ${existing.join(', ')}; nothing was written. Use --force to overwrite, or init another directory`)
  const ids: Record<string, string> = { IMAGE_ID: randomUUID(), LIST_ID: randomUUID() }
  const files: InitResult['files'] = []
  for (const rel of templates) {
    let text = (await readFile(path.join(TEMPLATE_DIR, rel), 'utf8')).replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => ids[k] ?? m)
    // the workflow's `uses:` of the vmgit action: the real reference, or the placeholder validate warns about
    if (actionRef && rel.startsWith('dot-github/')) text = text.replace(USES_PLACEHOLDER, (_m, uses: string) => uses + actionRef)
    const out = target(rel)
    await writeFileAtomic(path.join(abs, out), text)
    files.push({ file: out, action: existing.includes(out) ? 'overwritten' : 'created' })
  }
  return { dir: abs, files }
}

/** Use case of \`vmgit bump\`: moved from the command file (no behaviour change). No oclif use. */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { parse } from 'yaml'
import { Git } from '../git/git.js'
import { bumpVersion, compareVersions } from '../imagelist/version.js'
import { updateYamlText } from '../model/yaml-write.js'
import { writeFileAtomic } from '../util/fs.js'
import { keyOf, nextUri, readImage, type Change } from './image.js'

export interface Bumped {
  name: string
  file: string
  from?: string
  to: string
  changes: Change[]
  reason: string
}

export interface BumpResult {
  base?: string
  bumped: Bumped[]
}

type Data = Record<string, unknown>
const get = (d: Data, hk: string, fr: string) => d[keyOf(d, hk, fr)]
const CONTENT: [string, string][] = [['sl:checksum:sha512', 'sha512'], ['hv:size', 'size'], ['hv:uri', 'uri']]

/** Bump one image's hv:version (HEPiX rule) and, per vmgit.yaml image_uri, its uri. */
export async function bumpImage(repo: string, name: string, now: Date, opts: { reason: string; from?: string; rename?: boolean }): Promise<Bumped> {
  const img = await readImage(repo, name)
  const kVer = keyOf(img.data, 'hv:version', 'version')
  const kUri = keyOf(img.data, 'hv:uri', 'uri')
  const current = img.data[kVer] === undefined ? undefined : String(img.data[kVer])
  // from the higher of the file's and the base's version: a version must never go down
  const from = opts.from !== undefined && (current === undefined || compareVersions(opts.from, current) > 0) ? opts.from : current
  const to = bumpVersion(from ?? '0')
  const data: Data = { ...img.data, [kVer]: to }
  if (opts.rename !== false) {
    const n = await nextUri(repo, { uri: String(img.data[kUri] ?? ''), name, version: to, identifier: String(get(img.data, 'dc:identifier', 'identifier') ?? ''), sha512: String(get(img.data, 'sl:checksum:sha512', 'sha512') ?? ''), now, ...(typeof get(img.data, 'hv:format', 'format') === 'string' ? { format: String(get(img.data, 'hv:format', 'format')) } : {}) })
    data[kUri] = n.uri
  }
  const changes = [kVer, kUri].filter((k) => img.data[k] !== data[k]).map((k) => ({ key: k, from: img.data[k], to: data[k] }))
  const text = updateYamlText('image', img.text, data)
  if (text !== undefined) await writeFileAtomic(img.file, text)
  return { name, file: `images/${name}.yaml`, ...(current !== undefined ? { from: current } : {}), to, changes, reason: opts.reason }
}

/**
 * Images whose sha512, size or uri changed since `base` while their hv:version did not
 * increase: the mistake `vmgit plan` reports, fixed. Images are matched by dc:identifier
 * (then by file name), so renamed files count; images new since `base` are left alone.
 */
export async function bumpAllChanged(repo: string, base: string, now: Date): Promise<BumpResult> {
  const git = await Git.open(repo)
  const commit = await git.revParse(base)
  const old = new Map<string, { name: string; data: Data }>()
  for (const [p, buf] of await git.readTree(commit, (f) => /^images\/[^/]+\.yaml$/.test(f))) {
    let data: unknown
    try {
      data = parse(buf.toString('utf8'))
    } catch {
      continue // a broken file at the base has nothing to compare against
    }
    if (typeof data !== 'object' || data === null) continue
    const name = path.basename(p, '.yaml')
    const id = get(data as Data, 'dc:identifier', 'identifier')
    old.set(typeof id === 'string' ? `id:${id}` : `name:${name}`, { name, data: data as Data })
    old.set(`name:${name}`, { name, data: data as Data })
  }
  const names = (await readdir(path.join(repo, 'images')).catch(() => [] as string[])).filter((f) => f.endsWith('.yaml') && !f.startsWith('.')).map((f) => f.slice(0, -5)).sort()
  const bumped: Bumped[] = []
  for (const name of names) {
    const { data } = await readImage(repo, name)
    const id = get(data, 'dc:identifier', 'identifier')
    const before = (typeof id === 'string' ? old.get(`id:${id}`) : undefined) ?? old.get(`name:${name}`)
    if (!before) continue
    const changed = CONTENT.filter(([hk, fr]) => get(data, hk, fr) !== get(before.data, hk, fr)).map(([, fr]) => fr)
    if (!changed.length) continue
    const was = get(before.data, 'hv:version', 'version')
    const now_ = get(data, 'hv:version', 'version')
    // rule: changed content needs a strictly higher hv:version than the base had
    if (was !== undefined && now_ !== undefined && compareVersions(String(now_), String(was)) > 0) continue
    const uriChanged = changed.includes('uri')
    const b = await bumpImage(repo, name, now, { reason: `${changed.join(', ')} changed since ${base}`, ...(was !== undefined ? { from: String(was) } : {}), rename: !uriChanged })
    bumped.push(b)
  }
  return { base: commit, bumped }
}

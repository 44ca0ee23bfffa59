import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import { crossProblems, fileProblems, missingKeyProblems } from './checks.js'
import { consumerProblems } from './consumer-check.js'
import { FIELDS, IMAGE_LOCAL, LIST_LOCAL, type Kind } from './friendly.js'
import { hepixOf } from './hepix.js'
import { sortProblems, type Problem } from './problems.js'
import { schemaProblems } from './schemas.js'
import { parseDuration } from './time.js'
import { DEFAULT_CONFIG, type EndorserEntry, type ImageEntry, type ListEntry, type RepoConfig, type Repository } from './types.js'
import { parseYamlSource, problemAt, readYamlFile } from './yaml-source.js'

type FileKind = Exclude<Kind, 'config'>
export const DIRS: Record<FileKind, string> = { endorser: 'endorsers', image: 'images', imagelist: 'imagelists' }
export const CONFIG_FILE = 'vmgit.yaml'
/** Names lists can reference and vmgit can write: no path separators, no leading dot. */
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

const CONFIG_KEYS = ['version', 'layout', 'lifetime', 'digest', 'signing', 'targets', 'appdb_keys', 'image_uri', 'prune_grace', 'provenance', 'source_roots']

const isMapData = (d: unknown): d is Record<string, unknown> => typeof d === 'object' && d !== null && !Array.isArray(d)

export interface LoadOptions {
  /** Time used to render lists for the consumer check (only shapes matter there). Default: now. */
  now?: Date
}

/**
 * Read every YAML file of an endorser's repository and report every problem found (not just
 * the first), each at file:line:col. Never throws for content problems; throws a usage error
 * when `dir` is not a vmgit repository at all.
 */
export async function loadRepository(dir: string, opts: LoadOptions = {}): Promise<Repository> {
  const abs = path.resolve(dir)
  const st = await stat(abs).catch(() => undefined)
  if (!st?.isDirectory()) throw usageError('REPO_NOT_FOUND', `${dir} is not a directory; pass --repo DIR (or set VMGIT_REPO) or run vmgit init`)
  const top = new Set(await readdir(abs))
  if (!top.has(CONFIG_FILE) && !Object.values(DIRS).some((d) => top.has(d)))
    throw usageError('NOT_A_REPOSITORY', `${dir} has no vmgit.yaml, endorsers/, images/ or imagelists/; run vmgit init ${dir}, or pass --repo DIR`)

  const problems: Problem[] = []
  const repo: Repository = { dir: abs, config: { ...DEFAULT_CONFIG }, endorsers: new Map(), images: new Map(), lists: new Map(), problems }

  if (top.has(CONFIG_FILE)) {
    // issue 14: size, file type and UTF-8 are checked before the parser sees a byte
    const read = await readYamlFile(path.join(abs, CONFIG_FILE), CONFIG_FILE)
    const { src, problems: ps } = parseYamlSource(CONFIG_FILE, read && 'text' in read ? read.text : '')
    if (read && 'problem' in read) ps.unshift(read.problem)
    problems.push(...ps)
    repo.configSrc = src
    if (ps.every((p) => p.severity !== 'error')) {
      if (isMapData(src.data)) {
        problems.push(...schemaProblems('config', src, CONFIG_KEYS))
        repo.config = configOf(src.data)
      } else problems.push(problemAt(src, [], 'error', 'NOT_A_MAP', 'vmgit.yaml must be a map of settings, starting with "version: 1"'))
    }
  } else {
    problems.push({ file: CONFIG_FILE, line: 1, col: 1, severity: 'warning', code: 'CONFIG_MISSING', message: 'vmgit.yaml is missing; using defaults (run vmgit init to create one)' })
  }

  for (const kind of ['endorser', 'image', 'imagelist'] as const) {
    const sub = DIRS[kind]
    if (!top.has(sub)) continue
    const names = (await readdir(path.join(abs, sub))).sort()
    const loaded = await Promise.all(
      names.map(async (n) => {
        const file = `${sub}/${n}`
        if (/\.yml$/.test(n)) problems.push({ file, line: 1, col: 1, severity: 'warning', code: 'BAD_FILE_NAME', message: `${file} is ignored: vmgit reads *.yaml files; rename it` })
        if (!n.endsWith('.yaml') || n.startsWith('.')) return undefined
        // issue 14: size, file type and UTF-8 are checked before the parser sees a byte; a refused
        // file still exists (as not parsed), so lists naming it do not also say it is missing
        const read = await readYamlFile(path.join(abs, file), file)
        if (!read) return undefined
        return 'text' in read ? { name: n.slice(0, -5), file, text: read.text } : { name: n.slice(0, -5), file, text: '', refused: read.problem }
      }),
    )
    for (const f of loaded) if (f) addFile(repo, kind, f.name, f.file, f.text, f.refused)
  }

  problems.push(...crossProblems(repo))
  problems.push(...consumerProblems(repo, opts.now ?? new Date()))
  repo.problems = sortProblems(problems)
  return repo
}

function addFile(repo: Repository, kind: FileKind, name: string, file: string, text: string, refused?: Problem): void {
  const { src, problems } = parseYamlSource(file, text)
  if (refused) problems.unshift(refused)
  repo.problems.push(...problems)
  const parsed = problems.every((p) => p.severity !== 'error')
  const data = isMapData(src.data) ? src.data : {}
  if (parsed && !isMapData(src.data))
    repo.problems.push(problemAt(src, [], 'error', 'NOT_A_MAP', `${file} must be a YAML map of keys (it is ${src.data === null || src.data === undefined ? 'empty' : 'not a map'})`))
  if (!FILE_NAME.test(name))
    repo.problems.push({ file, line: 1, col: 1, severity: 'error', code: 'BAD_FILE_NAME', message: `file name "${name}" cannot be referenced; use letters, digits, . _ - only` })
  const ok = parsed && isMapData(src.data)
  if (ok) {
    const known = [...FIELDS[kind].map((f) => f.name), ...(kind === 'image' ? IMAGE_LOCAL : kind === 'imagelist' ? LIST_LOCAL : [])]
    repo.problems.push(...schemaProblems(kind, src, known), ...fileProblems(kind, src, data), ...missingKeyProblems(kind, src, data))
  }
  const base = { name, file, src, ok, data, hepix: hepixOf(kind, data) }
  if (kind === 'endorser') repo.endorsers.set(name, base satisfies EndorserEntry)
  else if (kind === 'image') repo.images.set(name, { ...base, ...(typeof data.source === 'string' ? { source: data.source } : {}) } satisfies ImageEntry)
  else {
    const layout = data.layout === 'vmcaster' || data.layout === 'appdb' ? data.layout : undefined
    const list: ListEntry = {
      ...base,
      endorser: typeof data.endorser === 'string' ? data.endorser : '',
      images: Array.isArray(data.images) ? data.images.map(String) : [],
      ...(layout ? { layout } : {}),
    }
    repo.lists.set(name, list)
  }
}

function configOf(d: Record<string, unknown>): RepoConfig {
  const c: RepoConfig = { ...DEFAULT_CONFIG }
  if (d.layout === 'vmcaster' || d.layout === 'appdb') c.layout = d.layout
  if (typeof d.lifetime === 'string') {
    const ms = parseDuration(d.lifetime)
    if (ms !== undefined) [c.lifetime, c.lifetimeMs] = [d.lifetime, ms]
  }
  if (d.digest === 'sha1' || d.digest === 'sha256') c.digest = d.digest
  const s = d.signing as Record<string, unknown> | undefined
  if (isMapData(s) && typeof s.cert === 'string') c.signing = { cert: s.cert }
  if (Array.isArray(d.targets))
    c.targets = d.targets.filter(isMapData).flatMap((t) =>
      typeof t.match === 'string' && typeof t.replace === 'string' ? [{ match: t.match, replace: t.replace, regex: t.regex === true }] : [],
    )
  if (d.appdb_keys === 'off') c.appdbKeys = 'off'
  // issue 15: `provenance: false` | `provenance: { repository: URL }` (default: on, from the origin remote)
  if (d.provenance === false) c.provenance = { enabled: false }
  else if (isMapData(d.provenance)) {
    const p = d.provenance
    c.provenance = { enabled: p.enabled !== false, ...(typeof p.repository === 'string' && p.repository ? { repository: p.repository } : {}) }
  }
  if (Array.isArray(d.source_roots)) c.sourceRoots = d.source_roots.filter((r): r is string => typeof r === 'string' && r !== '')
  return c
}


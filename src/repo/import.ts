import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { detectLayout, parseImageListJson } from '../imagelist/parse.js'
import { parseSmime } from '../smime/mime.js'
import type { HepixList, HepixObject, Layout } from '../imagelist/types.js'
import { compareVersions } from '../imagelist/version.js'
import { listValueVerdicts } from '../rules/image.js'
import { judgeAs } from '../rules/list.js'
import { usageError, VmgitError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'
import { byKey, FIELDS, IMAGE_LOCAL, NAMESPACED_KEY, RESERVED_KEYS, type Kind } from '../model/friendly.js'
import { CONFIG_FILE, DIRS, FILE_NAME, loadRepository } from '../model/load.js'
import { commonName, slug, uniqueName } from '../model/names.js'
import { readSource, type ReadSourceOptions } from '../net/source.js'
import { redactUrl } from '../net/redact.js'
import type { Repository } from '../model/types.js'
import { updateYamlText, yamlText } from '../model/yaml-write.js'

export type FileAction = 'created' | 'updated' | 'unchanged' | 'kept'

export interface ImportedFile {
  name: string
  file: string
  action: FileAction
}

export interface ImportResult {
  list: ImportedFile & { identifier: string }
  endorser: ImportedFile
  images: (ImportedFile & { identifier: string })[]
  layout: Layout
  /** 'verified' when opts.verify checked an S/MIME signature, 'unverified' when it was only unwrapped, 'none' for plain JSON. */
  signature: 'verified' | 'unverified' | 'none'
  /** Things the user should know (dropped keys, images kept at a newer version, ...). */
  notes: string[]
}

export interface ImportOptions {
  /** File name (without .yaml) for a list imported for the first time. */
  name?: string
  /**
   * Signature hook: given the whole S/MIME file, check its signature and return the exact
   * signed content, or throw a VmgitError. Without it the content is unwrapped unverified.
   */
  verify?: (smime: Buffer) => Promise<Buffer>
  /** S33: import a plain JSON list from an http(s) URL (default: refused, UNSIGNED_SOURCE) */
  allowUnsigned?: boolean
  /** S33: unwrap a signed list from an http(s) URL without `verify` (default: refused, SIGNATURE_NOT_VERIFIED) */
  insecureSkipVerify?: boolean
  fetch?: ReadSourceOptions
}

/** S33: a list fetched over the network is trusted only through its signature. */
const isRemote = (source: string): boolean => /^https?:\/\//i.test(source)

/**
 * Import an HEPiX list (JSON or S/MIME, file or URL) into the repository at `dir`: writes the
 * endorser, image and list YAML so that `render` reproduces the same list (same layout, same
 * version and dates). Re-importing updates files in place; an image already present under any
 * file name (same dc:identifier) is reused.
 */
export async function importList(dir: string, source: string, opts: ImportOptions = {}): Promise<ImportResult> {
  if (opts.name !== undefined && !FILE_NAME.test(opts.name))
    throw usageError('BAD_NAME', `--name ${opts.name} is not a safe file name; use letters, digits, . _ - (no slashes)`)
  const bytes = await readSource(source, opts.fetch)
  let content = bytes
  let signature: ImportResult['signature'] = 'none'
  // S33: a bare JSON served where the signed list should be is refused unless asked for explicitly
  if (isRemote(source) && !isSmime(bytes) && !opts.allowUnsigned) {
    throw new VmgitError('UNSIGNED_SOURCE', `${redactUrl(source)} served an unsigned document, not a signed (S/MIME) image list; anyone on the path could have written it. ` +
      'Import the signed list URL, or pass --allow-unsigned if this list is really published without a signature')
  }
  if (isRemote(source) && isSmime(bytes) && !opts.verify && !opts.insecureSkipVerify) {
    throw new VmgitError('SIGNATURE_NOT_VERIFIED', `${redactUrl(source)} is a signed list but no signature check was given; verify it against a trust directory (or pass --insecure-skip-verify)`)
  }
  if (isSmime(bytes)) {
    // the one place where imported bytes are trusted: verify the signature here
    content = opts.verify ? await opts.verify(bytes) : parseSmime(bytes).content
    signature = opts.verify ? 'verified' : 'unverified'
  }
  const hepix = parseImageListJson(content)
  // the rulebook's identifier and image-value rules with import's outcome (book.ts): an unsafe
  // identifier is refused before anything is written; a bad checksum or size, or an identifier that
  // is not a UUID, is imported as it is and reported (validate then refuses what publish would)
  const notes: string[] = judgeAs('import', listValueVerdicts(hepix, 'publisher')).map((v) => `[${v.code}] ${v.message}`)
  const layout = detectLayout(content.toString('utf8')) ?? guessLayout(hepix)
  const repo = await existingRepo(dir)
  const plan = new Writer(dir)

  const listId = str(hepix.list['dc:identifier'])
  const prevList = [...(repo?.lists.values() ?? [])].find((l) => listId !== undefined && l.hepix['dc:identifier'] === listId)
  if (prevList && opts.name !== undefined && opts.name !== prevList.name)
    throw usageError('LIST_ALREADY_IMPORTED', `this list (${listId}) is already ${prevList.file}; drop --name to update it, or rename that file first`)
  const listName = prevList?.name ?? opts.name ?? uniqueName(slug(str(hepix.list['dc:title']) ?? '', 'imagelist'), (n) => repo?.lists.has(n) ?? false)
  if (!prevList && repo?.lists.has(listName))
    throw usageError('NAME_TAKEN', `imagelists/${listName}.yaml already holds another list; choose another --name`)

  // endorser: the one the list already names, else one with the same DN and CA, else a new file
  const x509 = hepix.endorser
  const sameDn = [...(repo?.endorsers.values() ?? [])].find(
    (e) => e.ok && str(x509['hv:dn']) && e.hepix['hv:dn'] === x509['hv:dn'] && e.hepix['hv:ca'] === x509['hv:ca'],
  )
  const prevEndorser = prevList && repo?.endorsers.get(prevList.endorser)
  // S33: re-importing a list never swaps the identity the repository signs it with
  if (prevEndorser?.ok) {
    const changed = (['hv:dn', 'hv:ca'] as const).filter((k) => prevEndorser.hepix[k] !== undefined && prevEndorser.hepix[k] !== '' && prevEndorser.hepix[k] !== x509[k])
    if (changed.length) {
      throw new VmgitError('ENDORSER_CHANGED', `this list (${listId}) is endorsed in ${prevEndorser.file} by ${changed.map((k) => `${k} ${JSON.stringify(prevEndorser.hepix[k])}`).join(', ')}, ` +
        `but the imported list names ${changed.map((k) => `${k} ${JSON.stringify(x509[k] ?? '')}`).join(', ')}; nothing was written. If the endorser really changed, update ${prevEndorser.file} first and import again`)
    }
  }
  const eName =
    (prevEndorser?.ok ? prevEndorser.name : undefined) ??
    sameDn?.name ??
    uniqueName(slug(commonName(str(x509['hv:dn']) ?? '') ?? str(x509['dc:creator']) ?? '', 'endorser'), (n) => repo?.endorsers.has(n) ?? false)
  const endorser = await plan.write('endorser', eName, yamlOf('endorser', x509, notes, 'hv:endorser'))

  const images: ImportResult['images'] = []
  const chosen = new Set<string>()
  for (const [i, img] of hepix.images.entries()) {
    const id = str(img['dc:identifier']) ?? ''
    const prev = [...(repo?.images.values() ?? [])].find((e) => id !== '' && e.hepix['dc:identifier'] === id)
    const name =
      prev?.name ?? uniqueName(slug(str(img['dc:title']) ?? id, `image-${i + 1}`), (n) => (repo?.images.has(n) ?? false) || chosen.has(n))
    if (chosen.has(name)) notes.push(`the list names image ${id} twice; images/${name}.yaml holds the last one`)
    chosen.add(name)
    const oldV = prev?.hepix['hv:version']
    const newV = img['hv:version']
    // never downgrade an image another list may already publish at a newer version
    if (prev?.ok && oldV !== undefined && newV !== undefined && compareVersions(String(oldV), String(newV)) > 0) {
      notes.push(`kept ${prev.file} at version ${oldV} (the imported list has ${newV})`)
      images.push({ name, file: prev.file, action: 'kept', identifier: id })
      continue
    }
    images.push({ ...(await plan.write('image', name, yamlOf('image', img, notes, `image ${id}`))), identifier: id })
  }

  const listData = yamlOf('imagelist', hepix.list, notes, 'hv:imagelist')
  listData.layout = layout
  listData.endorser = eName
  listData.images = hepix.images.map((_, i) => images[i]?.name ?? '')
  const list = { ...(await plan.write('imagelist', listName, listData)), identifier: listId ?? '' }
  if (!repo?.configSrc && !existsSync(path.join(dir, CONFIG_FILE))) await plan.writeRaw(CONFIG_FILE, yamlText('config', { version: 1, layout }))
  return { list, endorser, images, layout, signature, notes }
}

/** MIME headers declaring multipart/signed: the S/MIME container vmcaster and openssl write. */
export function isSmime(bytes: Buffer): boolean {
  const head = bytes.subarray(0, 4096).toString('latin1')
  const end = head.search(/\r?\n\r?\n/)
  const headers = (end < 0 ? head : head.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ')
  return /^(mime-version|content-type)\s*:/i.test(headers) && /content-type\s*:\s*multipart\/signed/i.test(headers)
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** No layout fingerprint (e.g. 2-space JSON): AppDB writes every value as a string, vmcaster an integer hv:size. */
const guessLayout = (l: HepixList): Layout => (l.images.some((i) => typeof i['hv:size'] === 'number') ? 'vmcaster' : 'appdb')

async function existingRepo(dir: string): Promise<Repository | undefined> {
  try {
    return await loadRepository(dir)
  } catch (e) {
    if (e instanceof VmgitError && (e.code === 'NOT_A_REPOSITORY' || e.code === 'REPO_NOT_FOUND')) return undefined
    throw e
  }
}

/** HEPiX object → YAML map: friendly names in table order, then raw namespaced keys as they came. */
export function yamlOf(kind: Exclude<Kind, 'config'>, obj: HepixObject, notes: string[], where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of FIELDS[kind]) {
    let v = obj[f.key]
    if (v === undefined) continue
    if (f.type === 'integer' && typeof v === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(v)) v = Number(v) // AppDB writes hv:size as a string
    else if (f.type === 'string' && typeof v === 'number') {
      notes.push(`${where}: ${f.key} was the number ${v}; imported as the string "${v}"`)
      v = String(v)
    }
    out[f.name] = v
  }
  for (const [k, v] of Object.entries(obj)) {
    if (byKey(kind, k)) continue
    if (NAMESPACED_KEY.test(k) && !RESERVED_KEYS[kind].includes(k)) out[k] = v
    else notes.push(`${where}: dropped key "${k}" (not a namespaced HEPiX key vmgit can keep)`)
  }
  return out
}

/** Writes each file only when its content changes, atomically, and records what it did. */
class Writer {
  constructor(private readonly dir: string) {}

  async write(kind: Exclude<Kind, 'config'>, name: string, data: Record<string, unknown>): Promise<ImportedFile> {
    const file = `${DIRS[kind]}/${name}.yaml`
    const abs = path.join(this.dir, file)
    const old = await readFile(abs, 'utf8').catch(() => undefined)
    if (old === undefined) {
      await writeFileAtomic(abs, yamlText(kind, data))
      return { name, file, action: 'created' }
    }
    // source: is vmgit's own (where publish uploads from); an import never knows it
    const text = updateYamlText(kind, old, data, kind === 'image' ? IMAGE_LOCAL : [])
    if (text === undefined) return { name, file, action: 'unchanged' }
    await writeFileAtomic(abs, text)
    return { name, file, action: 'updated' }
  }

  async writeRaw(file: string, text: string): Promise<void> {
    await writeFileAtomic(path.join(this.dir, file), text)
  }
}

import type { HepixList, HepixObject } from '../imagelist/types.js'
import type { Repository } from '../model/types.js'
import type { PutOptions, TransferPool } from '../transfer/index.js'
import { parseTarget, verifyRemote } from '../transfer/index.js'
import { VmgitError } from '../util/errors.js'
import { hashFile } from '../util/hash.js'
import { loadSourcePolicy, resolveSource, type SourcePolicy } from './source-root.js'

export type ImageAction = 'uploaded' | 'present' | 'external' | 'would-upload' | 'registry'

export interface ImageResult {
  action: ImageAction
  target?: string
}

/** A file a published list names: the bytes subscribers expect there. */
export interface NamedFile {
  sha512: string
  size: number
  /** the list that names it (file name) */
  list: string
  uri: string
  /** where it is written (a target URL) */
  target: string
}

/** One key per file across backends: the connection and the (decoded) path on it. */
export const keyOf = (connectionKey: string, filePath: string): string => {
  let p = filePath
  if (connectionKey.startsWith('http')) {
    try {
      p = decodeURIComponent(filePath)
    } catch {
      // not percent-encoded: as it is
    }
  }
  return `${connectionKey}\n${p}`
}
export const fileKey = (targetUrl: string): string => {
  const t = parseTarget(targetUrl)
  return keyOf(t.key, t.path)
}

/**
 * Puts the images a list needs in place, each at most once per run (several lists may share
 * an image). An image whose hv:uri no target maps is hosted elsewhere (a vendor's URL) and is
 * left alone, unless it has a `source:`, which means the endorser meant to upload it.
 */
export class ImageUploader {
  private readonly done = new Map<string, Promise<ImageResult>>()
  /** files actually written in this run (an image shared by several lists counts once) */
  uploads = 0
  /** per published list (the lists published in this run included): the files it names, by fileKey */
  private readonly named = new Map<string, Map<string, NamedFile>>()
  /** published lists that could not be read: the files they name are unknown */
  private readonly unreadable = new Set<string>()

  constructor(
    private readonly repo: Repository,
    private readonly pool: TransferPool,
    private readonly resolveTarget: (uri: string) => string | undefined,
    private readonly onProgress?: (title: string) => PutOptions['onProgress'],
    /** issue 15: where a source may resolve (default: inside the repository only) */
    private policy?: Promise<SourcePolicy>,
    /** a registry is configured: an image with a source and no target goes to the registry only */
    private readonly registry = false,
  ) {}

  ensure(img: HepixObject, opts: { alreadyPublished: boolean; dryRun: boolean }): Promise<ImageResult> {
    const key = `${img['dc:identifier']}\n${img['hv:uri']}\n${img['sl:checksum:sha512']}\n${opts.dryRun}`
    let p = this.done.get(key)
    if (!p) {
      p = this.ensureOnce(img, opts)
      this.done.set(key, p)
    }
    return p
  }

  /** Record what a published list names (before this run, or just published by it). */
  protect(listName: string, list: HepixList): void {
    this.named.set(listName, this.filesOf(listName, list))
  }

  /** The files of ours (a target maps their uri) a list names, by fileKey. */
  filesOf(listName: string, list: HepixList): Map<string, NamedFile> {
    const files = new Map<string, NamedFile>()
    for (const img of list.images) {
      const uri = String(img['hv:uri'] ?? '')
      const target = uri ? this.resolveTarget(uri) : undefined
      if (target) files.set(fileKey(target), { sha512: String(img['sl:checksum:sha512'] ?? ''), size: Number(img['hv:size']), list: listName, uri, target })
    }
    return files
  }

  /** What a published list names at this file, if any does. */
  namedAt(key: string): NamedFile | undefined {
    for (const files of this.named.values()) {
      const f = files.get(key)
      if (f) return f
    }
    return undefined
  }

  /** Every published list that names this file with other bytes. */
  private conflicting(key: string, expected: { sha512: string; size: number }): NamedFile | undefined {
    for (const files of this.named.values()) {
      const f = files.get(key)
      if (f && (f.sha512 !== expected.sha512 || f.size !== expected.size)) return f
    }
    return undefined
  }

  /** A published list that exists but cannot be read: until it can, no file is replaced. */
  unknownList(listName: string): void {
    this.unreadable.add(listName)
  }

  unreadableLists(): string[] {
    return [...this.unreadable]
  }

  private sourceOf(img: HepixObject): string | undefined {
    for (const e of this.repo.images.values()) if (e.hepix['dc:identifier'] === img['dc:identifier']) return e.source
    return undefined
  }

  private async ensureOnce(img: HepixObject, opts: { alreadyPublished: boolean; dryRun: boolean }): Promise<ImageResult> {
    const title = String(img['dc:title'] ?? img['dc:identifier'])
    const uri = String(img['hv:uri'] ?? '')
    const source = this.sourceOf(img)
    const targetUrl = this.resolveTarget(uri)
    if (!targetUrl) {
      if (source && this.registry) return { action: 'registry' }
      if (source) throw new VmgitError('NO_TARGET', `image "${title}" has a source to upload but no target in vmgit.yaml matches its uri ${uri}; add one (targets: - match: … replace: …)`)
      return { action: 'external' }
    }
    const expected = { size: Number(img['hv:size']), sha512: String(img['sl:checksum:sha512']) }
    const { transfer, target } = await this.pool.get(targetUrl)
    // immutable URLs: the bytes at a URL a published list names are those bytes until no list names it
    const named = this.conflicting(fileKey(targetUrl), expected)
    if (named) {
      throw new VmgitError('IMAGE_URL_IN_USE', `image "${title}": ${uri} is named by the published list ${named.list} with other bytes (${named.size} bytes, sha512 ${named.sha512.slice(0, 16)}…); replacing the file would break that list for every subscriber. Give the new version its own URL: set image_uri: "{base}/{name}-{version}.{ext}" in vmgit.yaml and run vmgit image update (or change the image's uri by hand)`)
    }
    const remote = await transfer.stat(target.path)
    // a file already there with the published size is the one the current list vouches for
    if (remote?.size === expected.size && opts.alreadyPublished) return { action: 'present', target: target.display }
    if (!source) {
      if (remote?.size === expected.size) return { action: 'present', target: target.display }
      throw new VmgitError('IMAGE_MISSING', `image "${title}" is not at ${target.display} and has no source: to upload it from; add source: to its YAML file or upload it there`)
    }
    // issue 15: a pull request is untrusted input: the source must resolve (links followed) inside the repository
    this.policy ??= loadSourcePolicy({ ...this.repo, config: { ...this.repo.config, sourceRoots: [] } })
    const local = await resolveSource(await this.policy, this.repo.dir, source, title)
    // content: never upload a file that is not the one the YAML (and so the signed list) describes
    const d = await hashFile(local).catch((e: NodeJS.ErrnoException) => {
      throw new VmgitError('IMAGE_SOURCE_UNREADABLE', `image "${title}": cannot read its source ${source}: ${e.code ?? e.message}`)
    })
    if (d.sha512 !== expected.sha512 || d.size !== expected.size) {
      throw new VmgitError('IMAGE_SOURCE_MISMATCH', `image "${title}": ${source} (${d.size} bytes, sha512 ${d.sha512.slice(0, 16)}…) is not the file its YAML describes (${expected.size} bytes, sha512 ${expected.sha512.slice(0, 16)}…); run \`vmgit image update\` first`)
    }
    if (remote?.size === expected.size && transfer.canReadBack) {
      const same = await verifyRemote(transfer, target.path, expected).then(() => true, () => false)
      if (same) return { action: 'present', target: target.display }
    }
    if (remote && this.unreadable.size) {
      throw new VmgitError('IMAGE_URL_IN_USE', `image "${title}": ${target.display} exists with other bytes and the published list(s) ${[...this.unreadable].join(', ')} cannot be read, so vmgit cannot tell whether subscribers use it; fix or remove the unreadable list, or give the new version its own URL (image_uri in vmgit.yaml)`)
    }
    if (opts.dryRun) return { action: 'would-upload', target: target.display }
    await transfer.put(local, target.path, { onProgress: this.onProgress?.(title), contentType: 'application/octet-stream' })
    await verifyRemote(transfer, target.path, expected)
    this.uploads++
    return { action: 'uploaded', target: target.display }
  }
}

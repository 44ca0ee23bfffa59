import path from 'node:path'
import type { HepixObject } from '../imagelist/types.js'
import type { Repository } from '../model/types.js'
import type { PutOptions, TransferPool } from '../transfer/index.js'
import { verifyRemote } from '../transfer/index.js'
import { VmgitError } from '../util/errors.js'
import { hashFile } from '../util/hash.js'

export type ImageAction = 'uploaded' | 'present' | 'external' | 'would-upload' | 'registry'

export interface ImageResult {
  action: ImageAction
  target?: string
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

  constructor(
    private readonly repo: Repository,
    private readonly pool: TransferPool,
    private readonly resolveTarget: (uri: string) => string | undefined,
    private readonly onProgress?: (title: string) => PutOptions['onProgress'],
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
      if (source) throw new VmgitError('NO_TARGET', `image "${title}" has a source to upload but no target in vmgit.yaml matches its uri ${uri}; add one (targets: - match: … replace: …)`, { exit: 2 })
      return { action: 'external' }
    }
    const expected = { size: Number(img['hv:size']), sha512: String(img['sl:checksum:sha512']) }
    const { transfer, target } = await this.pool.get(targetUrl)
    const remote = await transfer.stat(target.path)
    // a file already there with the published size is the one the current list vouches for
    if (remote?.size === expected.size && opts.alreadyPublished) return { action: 'present', target: target.display }
    if (!source) {
      if (remote?.size === expected.size) return { action: 'present', target: target.display }
      throw new VmgitError('IMAGE_MISSING', `image "${title}" is not at ${target.display} and has no source: to upload it from; add source: to its YAML file or upload it there`)
    }
    const local = path.resolve(this.repo.dir, source)
    // content: never upload a file that is not the one the YAML (and so the signed list) describes
    const d = await hashFile(local).catch((e: NodeJS.ErrnoException) => {
      throw new VmgitError('IMAGE_SOURCE_UNREADABLE', `image "${title}": cannot read its source ${source}: ${e.code ?? e.message}`, { exit: 2 })
    })
    if (d.sha512 !== expected.sha512 || d.size !== expected.size) {
      throw new VmgitError('IMAGE_SOURCE_MISMATCH', `image "${title}": ${source} (${d.size} bytes, sha512 ${d.sha512.slice(0, 16)}…) is not the file its YAML describes (${expected.size} bytes, sha512 ${expected.sha512.slice(0, 16)}…); run \`vmgit image update\` first`)
    }
    if (remote?.size === expected.size && transfer.canReadBack) {
      const same = await verifyRemote(transfer, target.path, expected).then(() => true, () => false)
      if (same) return { action: 'present', target: target.display }
    }
    if (opts.dryRun) return { action: 'would-upload', target: target.display }
    await transfer.put(local, target.path, { onProgress: this.onProgress?.(title), contentType: 'application/octet-stream' })
    await verifyRemote(transfer, target.path, expected)
    this.uploads++
    return { action: 'uploaded', target: target.display }
  }
}

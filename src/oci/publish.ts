/**
 * The registry side of `vmgit publish` (contract: docs/oci.md). The publish pipeline calls, in
 * this order (crash order: nothing published names a digest that is not in the registry yet):
 *   prepare(list)   hash each image source (sha256 + sha512 in one pass; the file must be the one
 *                   its YAML describes) and build its manifest: pure, so plan and dry runs agree;
 *   annotate(list)  put `vmgit:oci:reference` / `vmgit:oci:digest` on each image entry, before
 *                   the change check and inside the signed bytes;
 *   pushImages      blobs, manifest by digest, then tags;
 *   pushList        after the list is signed and uploaded: the list artifact, its version tag,
 *                   `latest`, then a referrer of each image manifest (API or tag schema).
 */
import { runGit } from '../git/git.js'
import type { HepixList, HepixObject } from '../imagelist/types.js'
import type { Repository } from '../model/types.js'
import { usageError, VmgitError } from '../util/errors.js'
import { hashFile } from '../util/hash.js'
import { EMPTY_CONFIG, EMPTY_DESCRIPTOR, imageManifest, imageTags, LIST_MEDIA_TYPE, listManifest } from './artifact.js'
import { type Env, MEDIA, RegistryClient, sha256 } from './client.js'
import { childRepository, formatReference, type OciRepo, parseDestination } from './reference.js'
import { addReferrerByTag, putManifest, uploadBlob, type UploadSessions } from './push.js'
import { FileUploadSessions, sessionsPath } from './sessions.js'

export interface RegistrySettings {
  /** as written, oci://HOST[:PORT]/PREFIX */
  url: string
  dest: OciRepo
  movingTag: string
  chunkSize: number
}

const SECRET_KEYS = ['password', 'token', 'auth', 'username', 'identitytoken', 'secret']

/** vmgit.yaml `registry:` (a string or {url, moving_tag, chunk_size}); undefined when absent. */
export function registrySettings(raw: unknown): RegistrySettings | undefined {
  const r = (raw as { registry?: unknown } | null)?.registry
  if (r === undefined || r === null) return undefined
  const obj = typeof r === 'string' ? { url: r } : (r as Record<string, unknown>)
  if (typeof obj !== 'object' || Array.isArray(obj)) throw usageError('CONFIG_INVALID', 'vmgit.yaml registry: write oci://HOST[:PORT]/PREFIX, or a map with url, moving_tag and chunk_size')
  // secrets: matched whatever the case (`Password:` is as much a committed password as `password:`)
  const k = Object.keys(obj).find((key) => SECRET_KEYS.includes(key.toLowerCase()))
  if (k) throw usageError('TARGET_SECRET_IN_CONFIG', `vmgit.yaml registry: "${k}" must not be stored in vmgit.yaml (it is committed to git); set VMGIT_REGISTRY_USERNAME and VMGIT_REGISTRY_PASSWORD, or log in (skopeo login) to write an auth.json`)
  const url = obj.url
  if (typeof url !== 'string') throw usageError('CONFIG_INVALID', 'vmgit.yaml registry: url must be oci://HOST[:PORT]/PREFIX')
  const movingTag = obj.moving_tag === undefined ? 'latest' : obj.moving_tag
  if (typeof movingTag !== 'string' || movingTag === '') throw usageError('CONFIG_INVALID', 'vmgit.yaml registry: moving_tag must be a tag or a template like "{sl:osversion}"')
  const chunk = obj.chunk_size === undefined ? 0 : obj.chunk_size
  if (typeof chunk !== 'number' || !Number.isInteger(chunk) || chunk < 0) throw usageError('CONFIG_INVALID', 'vmgit.yaml registry: chunk_size must be a whole number of bytes (0: one PATCH per blob)')
  return { url, dest: parseDestination(url), movingTag, chunkSize: chunk }
}

export interface ImageArtifact {
  name: string
  repo: OciRepo
  file: string
  layer: { digest: string; size: number }
  manifest: Buffer
  digest: string
  tags: { version?: string; moving: string }
  /** HOST[:PORT]/REPO@sha256:… */
  reference: string
}

async function gitLine(dir: string, args: string[]): Promise<string | undefined> {
  try {
    const out = (await runGit(dir, args)).toString('utf8').trim()
    return out || undefined
  } catch {
    return undefined
  }
}

/** The git remote as the public may see it: user info (a CI token) removed, not masked. */
export function publicRemote(remote: string): string {
  try {
    const u = new URL(remote)
    u.username = ''
    u.password = ''
    return u.href
  } catch {
    // scp-like `user@host:path`
    return remote.replace(/^[^@/\s]*@/, '')
  }
}

export interface RegistryPublisherOptions {
  /**
   * issue 15 (a pull request is untrusted input): the real path of an image's `source:`, refused
   * (SOURCE_OUTSIDE_REPOSITORY) outside the repository and its allowed roots: the publish layer's
   * resolveSource, the same rule the target uploads obey. Never a path joined here.
   */
  resolveSource: (source: string, title: string) => Promise<string>
  env?: Env
  client?: RegistryClient
  log?: (line: string) => void
}

export class RegistryPublisher {
  readonly client: RegistryClient
  private readonly artifacts = new Map<string, Promise<ImageArtifact | undefined>>()
  private readonly pushed = new Map<string, Promise<void>>()
  private source: Promise<string | undefined> | undefined
  private readonly sessions: UploadSessions | undefined

  constructor(
    readonly settings: RegistrySettings,
    private readonly repo: Repository,
    private readonly opts: RegistryPublisherOptions,
  ) {
    this.client = opts.client ?? new RegistryClient(settings.dest.registry, { ...(opts.env ? { env: opts.env } : {}) })
    const file = sessionsPath(opts.env ?? process.env)
    this.sessions = file ? new FileUploadSessions(file) : undefined
  }

  close(): void {
    this.client.close()
  }

  /** The artifact of image `name` (undefined: no local source, hosted elsewhere), computed once. */
  artifact(name: string): Promise<ImageArtifact | undefined> {
    let p = this.artifacts.get(name)
    if (!p) {
      p = this.build(name)
      this.artifacts.set(name, p)
    }
    return p
  }

  private async build(name: string): Promise<ImageArtifact | undefined> {
    const entry = this.repo.images.get(name)
    if (!entry?.ok || !entry.source) return undefined
    const img: HepixObject = entry.hepix
    const title = String(img['dc:title'] ?? name)
    const file = await this.opts.resolveSource(entry.source, title)
    const d = await hashFile(file, { sha256: true }).catch((e: NodeJS.ErrnoException) => {
      if (e instanceof VmgitError) throw e
      throw new VmgitError('IMAGE_SOURCE_UNREADABLE', `image "${title}": cannot read its source ${entry.source}: ${e.code ?? e.message}`)
    })
    // content: never push bytes that are not the ones the YAML (and so the signed list) describes
    if (d.sha512 !== String(img['sl:checksum:sha512']) || d.size !== Number(img['hv:size'])) {
      throw new VmgitError('IMAGE_SOURCE_MISMATCH', `image "${title}": ${entry.source} (${d.size} bytes) is not the file its YAML describes (${String(img['hv:size'])} bytes, sha512 ${String(img['sl:checksum:sha512']).slice(0, 16)}…); run \`vmgit image update\` first`)
    }
    const repo = childRepository(this.settings.dest, name)
    const tags = imageTags(img, this.settings.movingTag)
    const revision = await gitLine(this.repo.dir, ['log', '-1', '--format=%H', '--', entry.file])
    this.source ??= gitLine(this.repo.dir, ['remote', 'get-url', 'origin']).then((u) => (u ? publicRemote(u) : undefined))
    const source = await this.source
    const layer = { digest: `sha256:${d.sha256!}`, size: d.size }
    const manifest = imageManifest({ name, img, layer, ...(revision ? { revision } : {}), ...(source ? { source } : {}) }, tags.version)
    const digest = sha256(manifest)
    return { name, repo, file, layer, manifest, digest, tags, reference: formatReference({ ...repo, digest }) }
  }

  /** Artifacts of a list's images, in list order (undefined where an image has no source). */
  async prepare(listName: string): Promise<(ImageArtifact | undefined)[]> {
    const names = this.repo.lists.get(listName)?.images ?? []
    const out: (ImageArtifact | undefined)[] = []
    for (const n of names) out.push(await this.artifact(n))
    return out
  }

  /** Pin each image entry of `hepix` (in list order) to its artifact: flat keys inside the signed bytes. */
  static annotate(hepix: HepixList, arts: readonly (ImageArtifact | undefined)[]): void {
    hepix.images.forEach((img, i) => {
      const a = arts[i]
      if (!a) return
      img['vmgit:oci:reference'] = a.reference
      img['vmgit:oci:digest'] = a.digest
    })
  }

  /** Push one image: blobs (skipped when present), the manifest by digest, then its tags. Once per run. */
  pushImage(a: ImageArtifact): Promise<void> {
    let p = this.pushed.get(a.digest)
    if (!p) {
      p = this.pushImageOnce(a)
      this.pushed.set(a.digest, p)
    }
    return p
  }

  private async pushImageOnce(a: ImageArtifact): Promise<void> {
    const c = this.client
    await uploadBlob(c, a.repo, { bytes: EMPTY_CONFIG }, EMPTY_DESCRIPTOR.digest, 2)
    await uploadBlob(c, a.repo, { file: a.file }, a.layer.digest, a.layer.size, { chunkSize: this.settings.chunkSize, ...(this.sessions ? { sessions: this.sessions } : {}) })
    await putManifest(c, a.repo, a.digest, a.manifest, MEDIA.manifest)
    if (a.tags.version) {
      // a version tag names one set of bytes: re-pointing it to other bytes is refused (raise hv:version)
      const current = await c.getManifest(a.repo, a.tags.version, [MEDIA.manifest]).catch((e: unknown) => {
        if (e instanceof VmgitError && e.code === 'OCI_NOT_FOUND') return undefined
        throw e
      })
      const layer = current?.json.layers?.[0]?.digest
      if (current && current.digest !== a.digest && layer !== a.layer.digest) {
        throw new VmgitError('OCI_TAG_CONFLICT', `${a.repo.registry}/${a.repo.repository}:${a.tags.version} already names other image bytes (${String(layer).slice(0, 19)}…); an hv:version names one image: raise hv:version of images/${a.name}.yaml`)
      }
      if (current?.digest !== a.digest) await putManifest(c, a.repo, a.tags.version, a.manifest, MEDIA.manifest)
    }
    await putManifest(c, a.repo, a.tags.moving, a.manifest, MEDIA.manifest)
    this.opts.log?.(`  ${a.repo.registry}/${a.repo.repository}: ${[a.tags.version, a.tags.moving].filter(Boolean).join(', ')} -> ${a.digest}`)
  }

  /**
   * The signed list as its own artifact (`PREFIX/<list name>`: version tag, then `latest`), then as a
   * referrer of each image manifest it pins. Returns the list artifact's reference.
   */
  async pushList(listName: string, smime: Buffer, list: HepixObject, arts: readonly (ImageArtifact | undefined)[]): Promise<string> {
    const c = this.client
    const repo = childRepository(this.settings.dest, listName)
    const blob = { digest: sha256(smime), size: smime.length }
    const version = String(list['hv:version'] ?? '')
    const input = { name: listName, smime: blob, version, identifier: String(list['dc:identifier'] ?? ''), expires: String(list['dc:date:expires'] ?? '') }
    await uploadBlob(c, repo, { bytes: EMPTY_CONFIG }, EMPTY_DESCRIPTOR.digest, 2)
    await uploadBlob(c, repo, { bytes: smime }, blob.digest, blob.size)
    const manifest = listManifest(input)
    const { digest } = await putManifest(c, repo, sha256(manifest), manifest, MEDIA.manifest)
    await putManifest(c, repo, version, manifest, MEDIA.manifest)
    await putManifest(c, repo, 'latest', manifest, MEDIA.manifest)
    for (const a of arts) {
      if (!a) continue
      await uploadBlob(c, a.repo, { bytes: EMPTY_CONFIG }, EMPTY_DESCRIPTOR.digest, 2)
      await uploadBlob(c, a.repo, { bytes: smime }, blob.digest, blob.size)
      const subject = { mediaType: MEDIA.manifest, digest: a.digest, size: a.manifest.length }
      const ref = listManifest({ ...input, subject })
      const put = await putManifest(c, a.repo, sha256(ref), ref, MEDIA.manifest)
      if (!put.subjectTaken) {
        const annotations = JSON.parse(ref.toString('utf8')).annotations as Record<string, string>
        await addReferrerByTag(c, a.repo, a.digest, { mediaType: MEDIA.manifest, digest: put.digest, size: ref.length, artifactType: LIST_MEDIA_TYPE, annotations })
      }
    }
    return formatReference({ ...repo, digest })
  }
}

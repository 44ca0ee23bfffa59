/**
 * The push side of the OCI client (distribution-spec v1.1 "push"):
 * - blobExists: HEAD first, so a blob already in the repository is never uploaded again;
 * - uploadBlob: POST a session, then PATCH the bytes streamed from disk (never the whole image in
 *   memory) — one PATCH, or chunks of `chunkSize` (or the registry's OCI-Chunk-Min-Length) where a
 *   registry or proxy needs them, or after it answered 413 — and close with PUT ?digest=. A dropped
 *   connection resumes from the offset the registry reports (GET on the session: `Range: 0-<last>`);
 *   an expired session starts over.
 * - putManifest: the registry's Docker-Content-Digest must equal the sha256 of the bytes sent.
 * - the referrers tag schema: a manifest with a `subject`, answered without `OCI-Subject` (the registry
 *   has no referrers API, e.g. distribution 2.8), is added to the index tagged `sha256-<subject hex>`.
 * Crash order is the caller's: blobs, then the manifest naming them, then tags and referrers.
 */
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import type { OpenResponse } from '../net/http.js'
import { networkError, VmgitError } from '../util/errors.js'
import { type Descriptor, MAX_REFERRERS, MEDIA, type RegistryClient, referrerDescriptors, referrersTag, sha256 } from './client.js'
import type { OciRepo } from './reference.js'

export type BlobSource = { file: string } | { bytes: Buffer }

export interface UploadOptions {
  /** PATCH at most this many bytes at a time (0 or undefined: one PATCH for the whole blob) */
  chunkSize?: number
  /** resume attempts after network failures (default 5) */
  retries?: number
  /** progress: bytes the registry has confirmed */
  onProgress?: (done: number) => void
  /** upload sessions kept across runs: an interrupted publish resumes where the registry stands */
  sessions?: UploadSessions
}

/** Open upload sessions by `registry/repository@digest` (the registry's Location; not a credential: pushing to it still needs auth). */
export interface UploadSessions {
  get(key: string): string | undefined
  set(key: string, location: string | undefined): void
}

const FALLBACK_CHUNK = 64 * 1024 * 1024
const LONG = { deadlineMs: 6 * 3600_000 }

export async function blobExists(client: RegistryClient, repo: OciRepo, digest: string): Promise<boolean> {
  const r = await client.request(repo.repository, `blobs/${digest}`, { method: 'HEAD', actions: 'pull,push' })
  r.close()
  if (r.status === 200) return true
  if (r.status === 404) return false
  throw networkError('OCI_HTTP_STATUS', `${repo.registry}/${repo.repository}@${digest}: HEAD answered HTTP ${r.status}`, { details: { status: r.status } })
}

/** The bytes [start, end) of the source: a slice, or a factory of a file stream (a repeated request reads again). */
function body(src: BlobSource, start: number, end: number): Buffer | (() => Readable) {
  if ('bytes' in src) return src.bytes.subarray(start, end)
  return () => createReadStream(src.file, { start, end: end - 1, highWaterMark: 1024 * 1024 })
}

const location = (r: OpenResponse, what: string): string => {
  const l = r.headers.location
  if (typeof l !== 'string' || l === '') throw networkError('OCI_UPLOAD_FAILED', `${what}: the registry answered ${r.status} without a Location; it is not a compliant registry`)
  return l
}

/** Upload `src` (of `size` bytes, sha256 `digest`) unless the repository already has it. Returns true when uploaded. */
export async function uploadBlob(client: RegistryClient, repo: OciRepo, src: BlobSource, digest: string, size: number, opts: UploadOptions = {}): Promise<boolean> {
  if (await blobExists(client, repo, digest)) return false
  const what = `${repo.registry}/${repo.repository} upload of ${digest}`
  const push = { actions: 'pull,push' }
  let retries = opts.retries ?? 5
  let chunk = opts.chunkSize && opts.chunkSize > 0 ? opts.chunkSize : 0
  const key = `${repo.registry}/${repo.repository}@${digest}`
  let saved = opts.sessions?.get(key)
  // O12: a session from the file is resumed only on the registry's origin, under this repository's upload path
  if (saved !== undefined && !isUploadLocation(client, repo, saved)) saved = undefined
  start: for (;;) {
    let loc: string
    let offset = 0
    const resumed = saved ? await status(client, repo, saved, what).catch(() => undefined) : undefined
    saved = undefined
    if (resumed && resumed.offset <= size) {
      ;({ loc, offset } = resumed)
    } else {
      const post = await client.request(repo.repository, 'blobs/uploads/', { ...push, method: 'POST', headers: { 'content-length': '0' } })
      if (post.status !== 202) throw await client.failure(post, what)
      post.close()
      loc = location(post, what)
      const min = Number(post.headers['oci-chunk-min-length'])
      if (chunk && Number.isFinite(min) && min > chunk) chunk = min
    }
    opts.sessions?.set(key, loc)
    while (offset < size) {
      const end = chunk ? Math.min(size, offset + chunk) : size
      try {
        const r = await client.requestUrl(repo.repository, loc, {
          ...push,
          method: 'PATCH',
          limits: LONG,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
          body: body(src, offset, end),
          bodySize: end - offset,
        })
        r.close()
        if (r.status === 416) {
          // the session holds another range than we thought (a repeated request): ask it and go on from there
          if (retries-- <= 0) throw networkError('OCI_UPLOAD_FAILED', `${what}: the registry refused the range ${offset}-${end - 1} (HTTP 416) again; publish again later`)
          ;({ loc, offset } = await status(client, repo, loc, what))
          continue
        }
        if (r.status === 413 && !chunk) {
          // a registry or proxy with a body limit: chunks from here on, from where the session stands
          chunk = FALLBACK_CHUNK
          ;({ loc, offset } = await status(client, repo, loc, what))
          continue
        }
        if (r.status !== 202) throw await client.failure(r, what)
        loc = location(r, what)
        offset = end
        opts.sessions?.set(key, loc)
        opts.onProgress?.(offset)
      } catch (e) {
        if (!(e instanceof VmgitError && e.exit === 3) || retries-- <= 0) throw e
        try {
          ;({ loc, offset } = await status(client, repo, loc, what))
        } catch (s) {
          // the session is gone (expired or the registry restarted): start over
          if (s instanceof VmgitError && s.code === 'OCI_NOT_FOUND') continue start
          throw s
        }
      }
    }
    const sep = loc.includes('?') ? '&' : '?'
    const put = await client.requestUrl(repo.repository, `${loc}${sep}digest=${encodeURIComponent(digest)}`, { ...push, method: 'PUT', headers: { 'content-length': '0' }, body: Buffer.alloc(0) })
    if (put.status !== 201) throw await client.failure(put, what)
    put.close()
    opts.sessions?.set(key, undefined)
    const got = put.headers['docker-content-digest']
    if (typeof got === 'string' && got !== '' && got !== digest) throw new VmgitError('OCI_DIGEST_MISMATCH', `${what}: the registry stored ${got.slice(0, 80)}; refused`)
    return true
  }
}

/** Is `loc` an upload session of `repo` on the registry's own origin (`/v2/<repository>/blobs/uploads/…`)? */
function isUploadLocation(client: RegistryClient, repo: OciRepo, loc: string): boolean {
  try {
    const u = new URL(loc, client.base)
    return u.origin === client.base.origin && u.username === '' && u.password === '' && u.pathname.startsWith(`/v2/${repo.repository}/blobs/uploads/`) && !/\/\.\.?(?:\/|$)|%2e|%2f|\\/i.test(u.pathname)
  } catch {
    return false
  }
}

/** Where an upload session stands: its Location and the next offset (`Range: 0-<last>`). */
async function status(client: RegistryClient, repo: OciRepo, loc: string, what: string): Promise<{ loc: string; offset: number }> {
  const r = await client.requestUrl(repo.repository, loc, { actions: 'pull,push' })
  if (r.status !== 204) throw await client.failure(r, `${what} (status)`)
  r.close()
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(r.headers.range ?? ''))
  return { loc: typeof r.headers.location === 'string' ? r.headers.location : loc, offset: m ? Number(m[1]) + 1 : 0 }
}

/** PUT a manifest under `reference` (a tag or its digest); returns its digest and whether the registry took its subject. */
export async function putManifest(client: RegistryClient, repo: OciRepo, reference: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subjectTaken: boolean }> {
  const digest = sha256(bytes)
  const what = `${repo.registry}/${repo.repository}:${reference}`
  const r = await client.request(repo.repository, `manifests/${reference}`, { actions: 'pull,push', method: 'PUT', headers: { 'content-type': mediaType, 'content-length': String(bytes.length) }, body: bytes })
  if (r.status !== 201) throw await client.failure(r, `${what} (manifest)`)
  r.close()
  const got = r.headers['docker-content-digest']
  if (typeof got === 'string' && got !== '' && got !== digest) throw new VmgitError('OCI_DIGEST_MISMATCH', `${what}: the registry stored the manifest as ${got.slice(0, 80)}, not ${digest}; refused`)
  return { digest, subjectTaken: typeof r.headers['oci-subject'] === 'string' }
}

/** O10: the referrers tag-schema index is kept to MAX_REFERRERS descriptors and this many bytes (the oldest go first). */
const MAX_INDEX_BYTES = 1024 * 1024
/** O10: how many times a lost write to the index is merged and written again before giving up. */
const REFERRER_ATTEMPTS = 8

/** The index as it stands: its well-formed descriptors; a missing tag, or junk under this reserved tag, is an empty index. */
async function readReferrers(client: RegistryClient, repo: OciRepo, tag: string): Promise<Descriptor[]> {
  try {
    return referrerDescriptors((await client.getManifest(repo, tag, [MEDIA.index])).json.manifests)
  } catch (e) {
    // the tag schema reserves `sha256-<hex>` for the index: what else sits there (another media type, not JSON, too large) is replaced
    if (e instanceof VmgitError && ['OCI_NOT_FOUND', 'OCI_MEDIA_TYPE', 'OCI_MANIFEST_INVALID', 'OCI_MANIFEST_TOO_LARGE'].includes(e.code)) return []
    throw e
  }
}

/**
 * Add `referrer` to the referrers tag schema index of `subject`. Registries with the referrers API
 * do this themselves (putManifest's subjectTaken).
 *
 * O10: the registry offers no compare-and-swap on a tag, so two publishes that read the index
 * before either writes would lose one entry (read-modify-write race). After writing, wait a
 * moment (jittered: a writer that read before our write has time to write), read again, and when
 * our entry is gone merge it into what is there now and write again (at most REFERRER_ATTEMPTS
 * writes). The window left is a writer whose read and write straddle our write and the re-read
 * after the wait. A poisoned index is never carried forward whole: malformed and duplicate
 * descriptors are dropped, and the oldest go beyond MAX_REFERRERS entries or 1 MiB.
 */
export async function addReferrerByTag(client: RegistryClient, repo: OciRepo, subject: string, referrer: Descriptor, opts: { settleMs?: number } = {}): Promise<void> {
  const tag = referrersTag(subject)
  const settle = opts.settleMs ?? 200
  for (let attempt = 0; ; attempt++) {
    const manifests = await readReferrers(client, repo, tag)
    if (manifests.some((m) => m.digest === referrer.digest)) return
    if (attempt === REFERRER_ATTEMPTS) break
    const next = [...manifests, referrer]
    let bytes = indexBytes(next)
    while (next.length > 1 && (next.length > MAX_REFERRERS || bytes.length > MAX_INDEX_BYTES)) {
      next.shift()
      bytes = indexBytes(next)
    }
    await putManifest(client, repo, tag, bytes, MEDIA.index)
    await new Promise((r) => setTimeout(r, settle + Math.floor(Math.random() * settle)))
  }
  throw networkError('OCI_REFERRERS_CONFLICT', `${repo.registry}/${repo.repository}:${tag}: other writers kept replacing the referrers index ${REFERRER_ATTEMPTS} times; publish again (the list itself is published)`)
}

const indexBytes = (manifests: Descriptor[]): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }))

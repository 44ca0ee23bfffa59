import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { networkError, usageError, VmgitError } from '../util/errors.js'
import { errorText, httpRequest, jsonBody, type HttpResponse } from './http.js'

/**
 * A minimal OpenStack Image API v2 client: exactly the calls the handler needs. Authentication
 * is a Keystone token (X-Auth-Token); see auth.ts for how it is obtained.
 */
export type ImageStatus = 'queued' | 'saving' | 'uploading' | 'importing' | 'active' | 'deactivated' | 'killed' | 'deleted' | 'pending_delete'
export type Visibility = 'private' | 'shared' | 'community' | 'public'

export interface GlanceImage {
  id: string
  name: string | null
  status: ImageStatus
  visibility: Visibility
  size: number | null
  disk_format: string | null
  container_format: string | null
  owner: string | null
  os_hash_algo: string | null
  os_hash_value: string | null
  created_at: string
  updated_at: string
  /** Custom properties are top-level string members of the image document. */
  [property: string]: unknown
}

export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string }

export interface GlanceClientOptions {
  /** Image service URL, with or without a trailing /v2 (catalog entries usually have none). */
  endpoint: string
  /** Keystone token; omitted against a Glance without auth (tests). */
  token?: string
  /** Extra request headers (only for Glance behind a header-trusting proxy, and tests). */
  headers?: Record<string, string>
  ca?: Buffer
  timeoutMs?: number
}

const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch'

/** JSON pointer for a property name (RFC 6901: `~` → `~0`, `/` → `~1`). */
export const propertyPath = (name: string): string => '/' + name.replace(/~/g, '~0').replace(/\//g, '~1')

/** The JSON-patch operations that make `image` carry `props` (undefined = absent). */
export function propertyOps(image: GlanceImage, props: Record<string, string | undefined>): PatchOp[] {
  const ops: PatchOp[] = []
  for (const [k, v] of Object.entries(props)) {
    const has = Object.prototype.hasOwnProperty.call(image, k)
    if (v === undefined) {
      if (has) ops.push({ op: 'remove', path: propertyPath(k) })
    } else if (!has || image[k] !== v) {
      ops.push({ op: has ? 'replace' : 'add', path: propertyPath(k), value: v })
    }
  }
  return ops
}

export class GlanceClient {
  readonly base: URL

  constructor(private readonly opts: GlanceClientOptions) {
    let u: URL
    try {
      u = new URL(opts.endpoint)
    } catch {
      throw usageError('GLANCE_BAD_URL', `image endpoint ${JSON.stringify(opts.endpoint)} is not a URL; give e.g. https://cloud.example.org:9292`)
    }
    // catalog URLs come as http://host:9292, http://host:9292/ or .../image/v2; calls add /v2/...
    u.pathname = u.pathname.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '')
    this.base = u
  }

  private url(p: string, query?: Record<string, string>): URL {
    const u = new URL(this.base.href)
    // an empty path reads back as "/": join without doubling the slash
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/v2${p}`
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v)
    return u
  }

  private async call(method: string, p: string, init: { body?: unknown; contentType?: string; query?: Record<string, string>; file?: { path: string; size: number; tap?: (c: Buffer) => void }; signal?: AbortSignal; url?: URL } = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...this.opts.headers }
    if (this.opts.token) headers['X-Auth-Token'] = this.opts.token
    let body: string | undefined
    if (init.body !== undefined) {
      body = JSON.stringify(init.body)
      headers['Content-Type'] = init.contentType ?? 'application/json'
    }
    if (init.file) headers['Content-Type'] = 'application/octet-stream'
    return httpRequest({
      method,
      url: init.url ?? this.url(p, init.query),
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(init.file ? { file: init.file } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}),
    })
  }

  /** POST /v2/images: a `queued` image record without data. */
  async createImage(fields: Record<string, unknown>): Promise<GlanceImage> {
    const res = await this.call('POST', '/images', { body: fields })
    expect(res, [201], 'create image')
    return jsonBody<GlanceImage>(res, 'create image')
  }

  /**
   * PUT /v2/images/{id}/file: stream the file; Glance turns the image `active` when all bytes
   * arrived. Returns the sha512 and size of exactly the bytes sent (hashed on the way out).
   */
  async upload(id: string, file: string, signal?: AbortSignal): Promise<{ sha512: string; size: number }> {
    const size = statSync(file).size
    const digest = createHash('sha512')
    let sent = 0
    const tap = (c: Buffer): void => {
      digest.update(c)
      sent += c.length
    }
    const res = await this.call('PUT', `/images/${encodeURIComponent(id)}/file`, { file: { path: file, size, tap }, ...(signal ? { signal } : {}) })
    expect(res, [204], `upload image ${id}`)
    return { sha512: digest.digest('hex'), size: sent }
  }

  async getImage(id: string): Promise<GlanceImage | undefined> {
    const res = await this.call('GET', `/images/${encodeURIComponent(id)}`)
    if (res.status === 404) return undefined
    expect(res, [200], `get image ${id}`)
    return jsonBody<GlanceImage>(res, `get image ${id}`)
  }

  /**
   * GET /v2/images with filters (custom properties filter by exact value), following `next`
   * links. `visibility=all` is added unless given: community images are otherwise hidden.
   */
  async listImages(filters: Record<string, string> = {}): Promise<GlanceImage[]> {
    const out: GlanceImage[] = []
    let next: URL | undefined = this.url('/images', { visibility: 'all', limit: '200', ...filters })
    for (let pages = 0; next; pages++) {
      if (pages > 10_000) throw networkError('GLANCE_PAGING', 'Glance keeps returning `next` links; giving up after 10000 pages')
      const res = await this.call('GET', '', { url: next })
      expect(res, [200], 'list images')
      const page = jsonBody<{ images: GlanceImage[]; next?: string }>(res, 'list images')
      out.push(...page.images)
      next = page.next ? this.resolveNext(page.next) : undefined
    }
    return out
  }

  private resolveNext(link: string): URL {
    // `next` is "/v2/images?marker=..." relative to the service root (which may carry a path)
    const rel = new URL(link, 'http://x')
    const u = this.url(rel.pathname.replace(/^.*?\/v2/, ''))
    u.search = rel.search
    return u
  }

  async patchImage(id: string, ops: PatchOp[]): Promise<GlanceImage> {
    const res = await this.call('PATCH', `/images/${encodeURIComponent(id)}`, { body: ops, contentType: PATCH_TYPE })
    expect(res, [200], `update image ${id}`)
    return jsonBody<GlanceImage>(res, `update image ${id}`)
  }

  /** Set (string) or remove (undefined) properties, sending only what differs from `image`. */
  async setProperties(image: GlanceImage, props: Record<string, string | undefined>): Promise<GlanceImage> {
    const ops = propertyOps(image, props)
    return ops.length ? this.patchImage(image.id, ops) : image
  }

  async deactivate(id: string): Promise<void> {
    expect(await this.call('POST', `/images/${encodeURIComponent(id)}/actions/deactivate`), [204], `deactivate image ${id}`)
  }

  async reactivate(id: string): Promise<void> {
    expect(await this.call('POST', `/images/${encodeURIComponent(id)}/actions/reactivate`), [204], `reactivate image ${id}`)
  }

  /** DELETE; false when the image was already gone. */
  async deleteImage(id: string): Promise<boolean> {
    const res = await this.call('DELETE', `/images/${encodeURIComponent(id)}`)
    if (res.status === 404) return false
    expect(res, [204], `delete image ${id}`)
    return true
  }

  async listMembers(id: string): Promise<string[]> {
    const res = await this.call('GET', `/images/${encodeURIComponent(id)}/members`)
    expect(res, [200], `list members of ${id}`)
    return jsonBody<{ members: { member_id: string }[] }>(res, `list members of ${id}`).members.map((m) => m.member_id)
  }

  /** Share with a project (the image must have visibility `shared`); an existing member is fine. */
  async addMember(id: string, project: string): Promise<void> {
    const res = await this.call('POST', `/images/${encodeURIComponent(id)}/members`, { body: { member: project } })
    if (res.status === 409) return
    expect(res, [200], `share image ${id} with ${project}`)
  }
}

/** Map an unexpected status to a VmgitError whose message says what to do. */
function expect(res: HttpResponse, ok: number[], what: string): void {
  if (ok.includes(res.status)) return
  const detail = errorText(res.body)
  const details = { status: res.status }
  const msg = `${what}: Glance answered ${res.status}${detail ? ` (${detail})` : ''}`
  if (res.status === 401) throw new VmgitError('GLANCE_UNAUTHORIZED', `${msg}; the token is missing, wrong or expired: check OS_CLOUD / OS_* credentials or OS_TOKEN`, { details })
  if (res.status === 403) throw new VmgitError('GLANCE_FORBIDDEN', `${msg}; the project lacks the role this needs (publicizing and deactivating usually need admin): adjust --visibility/--on-expiry or the policy`, { details })
  if (res.status === 404) throw new VmgitError('GLANCE_NOT_FOUND', `${msg}; the image is gone or the endpoint is not an Image API v2`, { details })
  if (res.status === 409) throw new VmgitError('GLANCE_CONFLICT', `${msg}; the image is in a state that does not allow this`, { details })
  if (res.status === 413) throw new VmgitError('GLANCE_QUOTA', `${msg}; the image or property quota is exceeded: raise it or free space`, { details })
  if (res.status >= 500 || res.status === 0) throw networkError('GLANCE_SERVER_ERROR', `${msg}; retry later (vmgit glance reconcile repairs what was missed)`, { details })
  throw new VmgitError('GLANCE_REJECTED', msg, { details })
}

/**
 * The OCI distribution client (distribution-spec v1.1), a user of the one network client
 * (src/net/http.ts: proxies, trust, timeouts, redirects, address rules). One RegistryClient per
 * registry host; every request names the repository and the actions it needs, and the client
 * answers the registry's auth challenge (auth.ts) before a body is sent.
 *
 * Transport rule: https always, except plain http to a loopback host (127.0.0.0/8, [::1],
 * localhost), where test and bench registries run; TLS is never skipped.
 *
 * Pull side here (manifests, blobs, tags, referrers); push side in push.ts.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { DEFAULT_LIMITS, Fetcher, type FetchLimits, type OpenResponse, readCapped } from '../net/http.js'
import { redactText } from '../net/redact.js'
import { networkError, VmgitError } from '../util/errors.js'
import { type Challenge, parseChallenge, TokenCache } from './auth.js'
import { credentialsFor, type RegistryCredentials } from './credentials.js'
import { DIGEST, isValidTag, type OciRepo } from './reference.js'

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const

/** distribution's own limit on a manifest body; anything larger is refused before it is read whole */
export const MANIFEST_SIZE_CAP = 4 * 1024 * 1024
/** S31-like bound on a tag listing (pages of 1000) */
export const MAX_TAGS = 100_000
/** pages of a tag listing (a registry may page fewer than the 1000 asked for, but not forever) */
export const MAX_TAG_PAGES = 1000

export type Env = Record<string, string | undefined>

export interface ClientOptions {
  fetcher?: Fetcher
  env?: Env
  limits?: Partial<FetchLimits>
  /** the clock for token lifetimes only (never for verification) */
  now?: () => number
  /**
   * S32 (src/net/ssrf.ts): `origin` (default: a registry the operator named) trusts where its host
   * name resolves; `signed` (a registry a signed list names, e.g. a pinned image) allows public
   * addresses and the range the host itself names, like an image's hv:uri.
   */
  addressRule?: 'origin' | 'signed'
  /**
   * O09: false for a registry the operator did not name (a pin a signed list names on another
   * host): VMGIT_REGISTRY_USERNAME/PASSWORD are never sent there, only an auth.json entry keyed
   * for that host. Default true (a subscription's or a publish destination's registry).
   */
  envCredentials?: boolean
}

export interface RequestSpec {
  method?: string
  headers?: Record<string, string>
  /** bytes, or a factory of a fresh stream (called again when the request must be repeated) */
  body?: Buffer | (() => Readable)
  /** the size of a factory body (Content-Length) */
  bodySize?: number
  /** `pull` or `pull,push` */
  actions?: string
  /** a limits override (long uploads and downloads) */
  limits?: Partial<FetchLimits>
}

export interface Manifest {
  bytes: Buffer
  digest: string
  mediaType: string
  json: Record<string, unknown> & { mediaType?: string; manifests?: Descriptor[]; layers?: Descriptor[]; config?: Descriptor; subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> }
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  data?: string
}

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export class RegistryClient {
  readonly base: URL
  readonly limits: FetchLimits
  private readonly fetcher: Fetcher
  private readonly ownFetcher: boolean
  private readonly env: Env
  private readonly tokens: TokenCache
  private challenge: Challenge | undefined
  private pinged = false
  private readonly creds = new Map<string, RegistryCredentials | undefined>()
  private readonly addressRule: 'origin' | 'signed'

  constructor(
    readonly registry: string,
    opts: ClientOptions = {},
  ) {
    this.base = new URL(`${isLoopbackHost(registry) ? 'http' : 'https'}://${registry}/`)
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.ownFetcher = !opts.fetcher
    this.fetcher = opts.fetcher ?? new Fetcher({ env: opts.env ?? process.env })
    const env = opts.env ?? process.env
    this.env = opts.envCredentials === false ? { ...env, VMGIT_REGISTRY_USERNAME: undefined, VMGIT_REGISTRY_PASSWORD: undefined } : env
    this.addressRule = opts.addressRule ?? 'origin'
    this.tokens = new TokenCache(this.fetcher, this.limits, opts.now ?? Date.now)
  }

  close(): void {
    if (this.ownFetcher) this.fetcher.close()
  }

  private credsFor(repository: string): RegistryCredentials | undefined {
    if (!this.creds.has(repository)) this.creds.set(repository, credentialsFor({ registry: this.registry, repository }, this.env))
    return this.creds.get(repository)
  }

  private async authorization(repository: string, actions: string, extraScope?: string): Promise<string | undefined> {
    const ch = this.challenge
    if (!ch) return undefined
    const creds = this.credsFor(repository)
    if (ch.scheme === 'basic') return creds?.basic()
    const scope = [repository ? `repository:${repository}:${actions}` : '', extraScope ?? ''].filter(Boolean).join(' ')
    return this.tokens.bearer(ch, this.base, scope, creds, this.addressRule)
  }

  /** GET /v2/ once: learn the auth scheme before any body is sent (a stream cannot be sent twice). */
  private async ping(): Promise<void> {
    if (this.pinged) return
    const r = await this.fetcher.open(new URL('v2/', this.base).href, { limits: this.limits, addressRule: this.addressRule, noDowngrade: true })
    r.close()
    this.pinged = true
    // O08: only the registry's own origin may challenge (a redirect elsewhere could name any realm)
    if (r.status === 401 && answeredBy(r) !== this.base.origin) {
      throw networkError('OCI_FOREIGN_CHALLENGE', `${this.base.host} redirected GET /v2/ to ${redactText(answeredBy(r))}, which asked for credentials (HTTP 401); refused: the registry's credentials go to its own origin and token realm only`)
    }
    if (r.status === 401) this.takeChallenge(r)
    else if (r.status !== 200) throw networkError('OCI_NOT_A_REGISTRY', `${this.base.host} answered HTTP ${r.status} to GET /v2/; it is not an OCI registry (check the host and port)`)
  }

  private takeChallenge(r: OpenResponse): Challenge | undefined {
    const h = r.headers['www-authenticate']
    const ch = parseChallenge(Array.isArray(h) ? h[0] : h)
    if (!ch || (ch.scheme !== 'basic' && ch.scheme !== 'bearer')) {
      throw networkError('OCI_AUTH_CHALLENGE', `${this.base.host} asks for an authentication scheme vmgit does not speak (${ch?.scheme ?? 'none'}); only Basic and Bearer are supported`)
    }
    const { scope, ...rest } = ch.params
    this.challenge = { scheme: ch.scheme, params: rest }
    return { scheme: ch.scheme, params: scope ? { scope } : {} }
  }

  /** One request to `/v2/<repository>/<suffix>`, authorised, retried once after a fresh 401 challenge. */
  async request(repository: string, suffix: string, spec: RequestSpec = {}): Promise<OpenResponse> {
    await this.ping()
    const url = repository ? new URL(`v2/${repository}/${suffix}`, this.base).href : new URL(suffix, this.base).href
    return this.requestUrl(repository, url, spec)
  }

  /** As request(), for an absolute URL the registry gave (an upload Location). */
  async requestUrl(repository: string, url: string, spec: RequestSpec = {}): Promise<OpenResponse> {
    await this.ping()
    const u = new URL(url, this.base)
    // credentials and tokens go to the registry's own origin only
    if (u.origin !== this.base.origin) throw networkError('OCI_FOREIGN_LOCATION', `${this.base.host} sent a location on another origin (${u.origin}); refused`)
    const actions = spec.actions ?? 'pull'
    let extra: string | undefined
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorization(repository, actions, extra)
      const method = spec.method ?? 'GET'
      const r = await this.fetcher.open(u.href, {
        limits: { ...this.limits, ...spec.limits },
        addressRule: this.addressRule,
        method,
        // reads may be sent to a storage backend (S3 behind the registry); writes go to the registry only
        followRedirects: method === 'GET' || method === 'HEAD',
        // O08: never from https to plain http on the way (as for lists): what a registry serves stays under TLS
        noDowngrade: true,
        ...(spec.headers ? { headers: spec.headers } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        ...(spec.bodySize !== undefined ? { bodySize: spec.bodySize } : {}),
        // credentials go to the registry's origin only, never where a redirect points
        ...(authorization ? { originHeaders: { authorization } } : {}),
      })
      if (r.status !== 401) return r
      // O08: a 401 from where a redirect led (a storage backend, another host) is no challenge of this registry's: answering it would hand the credentials to whoever sent it
      if (answeredBy(r) !== this.base.origin) {
        r.close()
        throw networkError('OCI_FOREIGN_CHALLENGE', `${this.base.host} redirected ${repository || 'a request'} to ${redactText(answeredBy(r))}, which asked for credentials (HTTP 401); refused: the registry's credentials go to its own origin and token realm only`)
      }
      if (authorization?.startsWith('Bearer ')) this.tokens.forget(authorization)
      const ch = this.takeChallenge(r)
      r.close()
      if (attempt > 0 || (this.challenge?.scheme === 'basic' && (authorization || !this.credsFor(repository)))) {
        const creds = this.credsFor(repository)
        throw networkError('OCI_UNAUTHORIZED', `${this.base.host} refused ${creds ? `the credentials from ${creds.source}` : 'anonymous access'} for ${repository || 'the registry'} (${actions}); ${creds ? 'check them and their permissions' : 'set VMGIT_REGISTRY_USERNAME/VMGIT_REGISTRY_PASSWORD or log in (skopeo login) to write an auth.json'}`)
      }
      extra = narrowScope(ch?.params.scope, repository, actions)
    }
  }

  /** A failed response as a VmgitError naming the registry's error code (never its free text). */
  async failure(r: OpenResponse, what: string): Promise<VmgitError> {
    let code = ''
    try {
      const doc = JSON.parse((await readCapped(r, 64 * 1024, what)).toString('utf8')) as { errors?: { code?: unknown }[] }
      const c = doc.errors?.[0]?.code
      if (typeof c === 'string' && /^[A-Z_]{1,64}$/.test(c)) code = ` ${c}`
    } catch {
      r.close()
    }
    if (r.status === 404) return networkError('OCI_NOT_FOUND', `${what}: not in the registry (HTTP 404${code})`, { details: { status: 404 } })
    if (r.status === 403) return networkError('OCI_FORBIDDEN', `${what}: the registry refused it (HTTP 403${code}); check the account's permissions`, { details: { status: 403 } })
    return networkError('OCI_HTTP_STATUS', `${what}: the registry answered HTTP ${r.status}${code}`, { details: { status: r.status } })
  }

  /**
   * A manifest by tag or digest. By digest the bytes must hash to it (whatever the registry's
   * headers say); by tag the digest is computed from the bytes and a contradicting
   * Docker-Content-Digest is refused. At most MANIFEST_SIZE_CAP bytes; the media type must be one
   * asked for and agree with the document's own `mediaType`.
   */
  async getManifest(repo: OciRepo, reference: string, accept: readonly string[] = [MEDIA.manifest, MEDIA.index]): Promise<Manifest> {
    checkReference(reference)
    const what = `${repo.registry}/${repo.repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`
    const r = await this.request(repo.repository, `manifests/${reference}`, { headers: { accept: accept.join(', ') } })
    if (r.status !== 200) throw await this.failure(r, what)
    const bytes = await readCapped(r, MANIFEST_SIZE_CAP, what).catch((e: unknown) => {
      throw e instanceof VmgitError && e.code === 'LIST_TOO_LARGE' ? new VmgitError('OCI_MANIFEST_TOO_LARGE', `${what}: the manifest is larger than ${MANIFEST_SIZE_CAP} bytes; refused`) : e
    })
    const digest = sha256(bytes)
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new VmgitError('OCI_DIGEST_MISMATCH', `${what}: the registry served a manifest whose sha256 is ${digest}; refused (the registry or a proxy changed it)`)
    }
    const header = r.headers['docker-content-digest']
    if (typeof header === 'string' && header !== '' && header !== digest) {
      throw new VmgitError('OCI_DIGEST_MISMATCH', `${what}: Docker-Content-Digest says ${header.slice(0, 80)} but the bytes hash to ${digest}; refused`)
    }
    const contentType = String(r.headers['content-type'] ?? '').split(';')[0]!.trim()
    let json: Manifest['json']
    try {
      json = JSON.parse(bytes.toString('utf8')) as Manifest['json']
    } catch {
      throw new VmgitError('OCI_MANIFEST_INVALID', `${what}: the manifest is not JSON; refused`)
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json) || json.schemaVersion !== 2) throw new VmgitError('OCI_MANIFEST_INVALID', `${what}: not a schemaVersion 2 manifest; refused`)
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType
    if (!accept.includes(mediaType) || (json.mediaType !== undefined && contentType !== '' && contentType !== json.mediaType)) {
      throw new VmgitError('OCI_MEDIA_TYPE', `${what}: media type ${JSON.stringify(mediaType.slice(0, 100))} (served as ${JSON.stringify(contentType.slice(0, 100))}) is not one of ${accept.join(', ')}; refused`)
    }
    return { bytes, digest, mediaType, json }
  }

  /** The digest a tag points at now, or undefined when the tag does not exist. */
  async resolveTag(repo: OciRepo, tag: string, accept: readonly string[] = [MEDIA.manifest, MEDIA.index]): Promise<string | undefined> {
    try {
      return (await this.getManifest(repo, tag, accept)).digest
    } catch (e) {
      if (e instanceof VmgitError && e.code === 'OCI_NOT_FOUND') return undefined
      throw e
    }
  }

  /**
   * Open a blob's bytes from `offset` (Range resume). `from` says where the body really starts:
   * a registry that ignores Range answers 200 from byte 0 and the caller must start over.
   * The caller verifies the digest and size as it reads (download.ts).
   */
  async openBlob(repo: OciRepo, digest: string, offset = 0, limits?: Partial<FetchLimits>): Promise<{ response: OpenResponse; from: number }> {
    if (!DIGEST.test(digest)) throw new VmgitError('OCI_REFERENCE_INVALID', `${JSON.stringify(digest.slice(0, 80))} is not a sha256 digest; refused`)
    const r = await this.request(repo.repository, `blobs/${digest}`, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, ...(limits ? { limits } : {}) })
    if (r.status === 206 && offset > 0) {
      const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(String(r.headers['content-range'] ?? ''))
      if (m && Number(m[1]) === offset) return { response: r, from: offset }
      r.close()
      throw networkError('OCI_RANGE_INVALID', `${repo.registry}/${repo.repository}@${digest}: the registry answered a Range request with another range; refused`)
    }
    if (r.status === 200) return { response: r, from: 0 }
    throw await this.failure(r, `${repo.registry}/${repo.repository}@${digest}`)
  }

  /** Every tag of a repository (pages of 1000, following `Link: <…>; rel="next"` on the same origin). */
  async listTags(repo: OciRepo): Promise<string[]> {
    const tags: string[] = []
    let next: string | undefined = new URL(`v2/${repo.repository}/tags/list?n=1000`, this.base).href
    const what = `${repo.registry}/${repo.repository} tags`
    for (let pages = 0; next; pages++) {
      // S31: a registry that pages one tag at a time (or the same page again) is bounded in requests too
      if (pages >= MAX_TAG_PAGES) throw new VmgitError('OCI_TOO_MANY_TAGS', `${what}: more than ${MAX_TAG_PAGES} pages of tags; refused`)
      const r = await this.requestUrl(repo.repository, next)
      if (r.status !== 200) throw await this.failure(r, what)
      const doc = parseJson<{ tags?: unknown }>(await readCapped(r, MANIFEST_SIZE_CAP, what, 'RESPONSE_TOO_LARGE'), what)
      const page = Array.isArray(doc.tags) ? doc.tags : []
      for (const t of page) if (typeof t === 'string' && isValidTag(t)) tags.push(t)
      if (tags.length > MAX_TAGS) throw new VmgitError('OCI_TOO_MANY_TAGS', `${what}: more than ${MAX_TAGS} tags; refused`)
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(r.headers.link ?? ''))
      next = link && page.length > 0 ? new URL(link[1]!, this.base).href : undefined
    }
    return tags
  }

  /**
   * The referrers of `digest` (manifests whose `subject` is it): the referrers API
   * (GET /v2/<name>/referrers/<digest>) where the registry has it, else the referrers tag schema
   * (the index tagged `sha256-<hex>`), which distribution 2.8 needs. Filtered by `artifactType`.
   */
  async referrers(repo: OciRepo, digest: string, artifactType?: string): Promise<{ descriptors: Descriptor[]; via: 'api' | 'tag' }> {
    if (!DIGEST.test(digest)) throw new VmgitError('OCI_REFERENCE_INVALID', `${JSON.stringify(digest.slice(0, 80))} is not a sha256 digest; refused`)
    const filter = (ds: unknown) => referrerDescriptors(ds, artifactType)
    const r = await this.request(repo.repository, `referrers/${digest}${artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''}`, { headers: { accept: MEDIA.index } })
    const type = String(r.headers['content-type'] ?? '').split(';')[0]!.trim()
    if (r.status === 200 && type === MEDIA.index) {
      const doc = parseJson<{ manifests?: unknown }>(await readCapped(r, MANIFEST_SIZE_CAP, 'referrers', 'RESPONSE_TOO_LARGE'), `${repo.registry}/${repo.repository} referrers of ${digest}`)
      return { descriptors: filter(doc.manifests), via: 'api' }
    }
    if (r.status !== 404 && r.status !== 200) throw await this.failure(r, `${repo.registry}/${repo.repository} referrers of ${digest}`)
    r.close()
    try {
      const index = await this.getManifest(repo, referrersTag(digest), [MEDIA.index])
      return { descriptors: filter(index.json.manifests), via: 'tag' }
    } catch (e) {
      if (e instanceof VmgitError && e.code === 'OCI_NOT_FOUND') return { descriptors: [], via: 'tag' }
      throw e
    }
  }
}

/**
 * O08 (least privilege): of the scopes a 401 asks for, keep only this repository's, with the
 * actions this request needs: a registry cannot make a sync ask its realm for push or delete
 * rights, or for another repository, with the operator's credentials.
 */
function narrowScope(scope: string | undefined, repository: string, actions: string): string | undefined {
  const wanted = new Set(actions.split(','))
  const kept = (scope ?? '').split(' ').flatMap((sc) => {
    const m = /^repository:([^:]+):([a-z*,]+)$/.exec(sc)
    if (!m || m[1] !== repository) return []
    const acts = m[2]!.split(',').filter((a) => wanted.has(a))
    return acts.length ? [`repository:${repository}:${acts.join(',')}`] : []
  })
  return kept.length ? kept.join(' ') : undefined
}

/** A registry's JSON answer (tags, referrers) as an object; anything else is refused with a code, never a crash. */
function parseJson<T>(bytes: Buffer, what: string): T {
  let doc: unknown
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch {
    doc = undefined
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new VmgitError('OCI_MANIFEST_INVALID', `${what}: the registry's answer is not a JSON object; refused`)
  return doc as T
}

/** O10: the most referrers read from, or kept in, a referrers index. */
export const MAX_REFERRERS = 1024

/**
 * O10: the well-formed descriptors of a referrers index, each digest once, at most MAX_REFERRERS:
 * a poisoned index's junk is dropped and its length bounded (a referrer never chooses a list: only
 * the signed list names what is used).
 */
export function referrerDescriptors(manifests: unknown, artifactType?: string): Descriptor[] {
  const out: Descriptor[] = []
  const seen = new Set<string>()
  for (const d of Array.isArray(manifests) ? (manifests as unknown[]) : []) {
    if (!isDescriptor(d) || seen.has(d.digest) || (artifactType !== undefined && d.artifactType !== artifactType)) continue
    seen.add(d.digest)
    out.push(d)
    if (out.length >= MAX_REFERRERS) break
  }
  return out
}

function isDescriptor(d: unknown): d is Descriptor {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return false
  const o = d as Record<string, unknown>
  return typeof o.mediaType === 'string' && typeof o.digest === 'string' && DIGEST.test(o.digest) && typeof o.size === 'number' && Number.isSafeInteger(o.size) && o.size >= 0 &&
    (o.artifactType === undefined || typeof o.artifactType === 'string') && (o.annotations === undefined || (typeof o.annotations === 'object' && o.annotations !== null && !Array.isArray(o.annotations)))
}

/** The origin that answered (after redirects); the network client shows non-GET URLs as `METHOD url`. */
function answeredBy(r: OpenResponse): string {
  try {
    return new URL(r.url.replace(/^[A-Z]+ /, '')).origin
  } catch {
    return 'an unknown origin'
  }
}

/** The referrers tag schema (distribution-spec v1.1): `sha256:<hex>` → tag `sha256-<hex>`. */
export const referrersTag = (digest: string): string => digest.replace(':', '-')

function checkReference(reference: string): void {
  if (!(DIGEST.test(reference) || isValidTag(reference))) {
    throw new VmgitError('OCI_REFERENCE_INVALID', `${JSON.stringify(reference.slice(0, 140))} is neither a tag nor a sha256 digest; refused`)
  }
}

import { networkError, usageError, VmgitError } from '../util/errors.js'
import { errorText, httpRequest, jsonBody } from './http.js'

/**
 * Keystone v3 token issue (POST /v3/auth/tokens) for the three methods OpenStack clients use:
 * password, application credential and token (re-scoping a token to read the catalog), and the
 * catalog lookup of the image endpoint.
 */
export interface KeystoneCredentials {
  authUrl: string
  method: 'password' | 'application_credential' | 'token'
  username?: string
  userId?: string
  password?: string
  userDomainName?: string
  userDomainId?: string
  projectName?: string
  projectId?: string
  projectDomainName?: string
  projectDomainId?: string
  /** Domain scope (OS_DOMAIN_NAME/_ID) when no project is given. */
  domainName?: string
  domainId?: string
  applicationCredentialId?: string
  applicationCredentialName?: string
  applicationCredentialSecret?: string
  token?: string
}

export interface CatalogEndpoint {
  interface: string
  region?: string | null
  region_id?: string | null
  url: string
}
export interface CatalogService {
  type: string
  name?: string
  endpoints: CatalogEndpoint[]
}

export interface KeystoneToken {
  token: string
  expiresAt?: string
  projectId?: string
  catalog: CatalogService[]
}

const missing = (what: string): VmgitError =>
  usageError('KEYSTONE_INCOMPLETE', `Keystone credentials lack ${what}; set it in clouds.yaml (auth: section) or the matching OS_* variable`)

function userRef(c: KeystoneCredentials): Record<string, unknown> {
  if (c.userId) return { id: c.userId }
  if (!c.username) throw missing('a user (username / OS_USERNAME or user_id / OS_USER_ID)')
  // a user name is unique only within a domain: keystone needs one; clients default to "default"
  const domain = c.userDomainId ? { id: c.userDomainId } : c.userDomainName ? { name: c.userDomainName } : { id: 'default' }
  return { name: c.username, domain }
}

function scope(c: KeystoneCredentials): Record<string, unknown> | undefined {
  if (c.projectId) return { project: { id: c.projectId } }
  if (c.projectName) {
    const domain = c.projectDomainId ? { id: c.projectDomainId } : c.projectDomainName ? { name: c.projectDomainName } : { id: 'default' }
    return { project: { name: c.projectName, domain } }
  }
  if (c.domainId) return { domain: { id: c.domainId } }
  if (c.domainName) return { domain: { name: c.domainName } }
  return undefined
}

/** The request document for POST /v3/auth/tokens (pure; the unit tests read it). */
export function tokenRequestBody(c: KeystoneCredentials): { auth: Record<string, unknown> } {
  if (c.method === 'application_credential') {
    if (!c.applicationCredentialSecret) throw missing('application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)')
    let ac: Record<string, unknown>
    if (c.applicationCredentialId) ac = { id: c.applicationCredentialId, secret: c.applicationCredentialSecret }
    else if (c.applicationCredentialName) ac = { name: c.applicationCredentialName, secret: c.applicationCredentialSecret, user: userRef(c) }
    else throw missing('application_credential_id or _name (OS_APPLICATION_CREDENTIAL_ID)')
    // an application credential carries its own project scope: keystone rejects another one
    return { auth: { identity: { methods: ['application_credential'], application_credential: ac } } }
  }
  const s = scope(c)
  // an unscoped token has no catalog, so there would be no image endpoint to find
  if (!s) throw missing('a project (project_name / OS_PROJECT_NAME or project_id / OS_PROJECT_ID)')
  if (c.method === 'token') {
    if (!c.token) throw missing('a token (OS_TOKEN)')
    return { auth: { identity: { methods: ['token'], token: { id: c.token } }, scope: s } }
  }
  if (c.password === undefined) throw missing('a password (OS_PASSWORD)')
  return { auth: { identity: { methods: ['password'], password: { user: { ...userRef(c), password: c.password } } }, scope: s } }
}

/** auth_url as users write it (…:5000, …:5000/, …/identity/v3) → the v3 tokens URL. */
export function tokensUrl(authUrl: string): URL {
  let u: URL
  try {
    u = new URL(authUrl)
  } catch {
    throw usageError('KEYSTONE_BAD_URL', `auth_url ${JSON.stringify(authUrl)} is not a URL; give e.g. https://keystone.example.org:5000/v3`)
  }
  let p = u.pathname.replace(/\/+$/, '')
  if (/\/v2\.0$/.test(p)) throw usageError('KEYSTONE_V2', `auth_url ${u.origin}${p} is Keystone v2.0, which is gone; use the /v3 URL`)
  if (!/\/v3$/.test(p)) p += '/v3'
  u.pathname = `${p}/auth/tokens`
  return u
}

export async function issueToken(c: KeystoneCredentials, opts: { ca?: Buffer; timeoutMs?: number } = {}): Promise<KeystoneToken> {
  const url = tokensUrl(c.authUrl)
  const res = await httpRequest({
    method: 'POST',
    url,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(tokenRequestBody(c)),
    ...(opts.ca ? { ca: opts.ca } : {}),
    timeoutMs: opts.timeoutMs ?? 30_000,
  })
  if (res.status === 401 || res.status === 403) {
    throw new VmgitError('KEYSTONE_AUTH_FAILED', `Keystone at ${url.origin} rejected the ${c.method} credentials (${res.status}: ${errorText(res.body)}); check user, secret and project`)
  }
  if (res.status === 404 && c.method === 'application_credential') {
    throw new VmgitError('KEYSTONE_AUTH_FAILED', `Keystone at ${url.origin} does not know this application credential (404); it may have been deleted or expired`)
  }
  if (res.status !== 201 && res.status !== 200) {
    throw networkError('KEYSTONE_ERROR', `Keystone at ${url.origin} answered ${res.status} (${errorText(res.body)}); check auth_url`)
  }
  const token = res.headers['x-subject-token']
  if (typeof token !== 'string' || token === '') throw networkError('KEYSTONE_BAD_RESPONSE', `Keystone at ${url.origin} issued no X-Subject-Token header; is auth_url a Keystone v3?`)
  const doc = jsonBody<{ token?: { expires_at?: string; project?: { id?: string }; catalog?: CatalogService[] } }>(res, 'keystone token')
  return {
    token,
    catalog: doc.token?.catalog ?? [],
    ...(doc.token?.expires_at ? { expiresAt: doc.token.expires_at } : {}),
    ...(doc.token?.project?.id ? { projectId: doc.token.project.id } : {}),
  }
}

/** The image service URL in the catalog for the interface (default public) and region. */
export function findEndpoint(catalog: CatalogService[], opts: { type?: string; interface?: string; region?: string } = {}): string {
  const type = opts.type ?? 'image'
  const iface = (opts.interface ?? 'public').replace(/URL$/, '')
  const services = catalog.filter((s) => s.type === type)
  if (services.length === 0) {
    throw usageError('GLANCE_NO_ENDPOINT', `the Keystone catalog has no "${type}" service; give the Glance URL with --endpoint or OS_IMAGE_URL`)
  }
  const candidates = services.flatMap((s) => s.endpoints).filter((e) => e.interface === iface && (!opts.region || e.region_id === opts.region || e.region === opts.region))
  const regions = [...new Set(candidates.map((e) => e.region_id ?? e.region ?? ''))]
  if (candidates.length === 0) {
    throw usageError('GLANCE_NO_ENDPOINT', `the catalog has no ${iface} "${type}" endpoint${opts.region ? ` in region ${opts.region}` : ''}; set region_name / OS_REGION_NAME or interface / OS_INTERFACE`)
  }
  if (regions.length > 1) {
    throw usageError('GLANCE_AMBIGUOUS_ENDPOINT', `the catalog lists "${type}" in several regions (${regions.join(', ')}); choose one with region_name / OS_REGION_NAME`)
  }
  return candidates[0]!.url
}

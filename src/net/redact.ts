import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { usageError } from '../util/errors.js'

/**
 * The one redaction policy (issue 14): secrets never reach stdout, stderr, --json, logs, plan
 * files, the database's messages or error texts. What counts as a secret in a URL:
 * - the whole userinfo: `https://user:password@host` AND `https://TOKEN@host` (an AppDB token
 *   sits in the user name, so the user name is a secret too) are shown as `https://***@host`;
 * - the value of every credential-like query parameter (`token`, `sig`, `X-Amz-Signature`,
 *   `X-Amz-Credential`, `access_token`, `password`, `secret`, `key`, …; any name containing
 *   token/secret/sig/signature/password/credential/auth) is shown as `***`;
 * - Authorization / Proxy-Authorization / X-Auth-Token header values echoed in a message;
 * - any value passed as a secret (passwords, tokens, passphrases from vmgit.yaml or the environment).
 * Every URL that is shown goes through `redactUrl`; every message built from a server or library
 * error goes through `redactText` with the secrets in play.
 */

export const MASK = '***'

/** Query parameter names whose values are credentials (presigned S3/GCS, Azure SAS, OAuth, tokens). */
const SECRET_PARAM = /^(?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig|se|signature|token|access_token|refresh_token|id_token|auth|password|passwd|pwd|secret|key|apikey|api_key|code|session)$|token|secret|signature|passw|credential|auth|apikey|api_key|access_key/i

export const isSecretParam = (name: string): boolean => SECRET_PARAM.test(name)

/** A URL for display: userinfo and credential-like query values masked (anything URL-shaped; scp-style `user:pw@host:/p` too). */
export function redactUrl(url: string | URL): string {
  let u: URL
  try {
    if (typeof url === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new Error('not hierarchical')
    u = typeof url === 'string' ? new URL(url) : new URL(url.href)
  } catch {
    // not a URL: still hide a `user:password@` / `user@` prefix (scp-style `user:pw@host:/path`)
    return redactText(String(url).replace(/^[^\s:/@]+(?::[^\s@/]*)?@/, `${MASK}@`))
  }
  const hadUserinfo = u.username !== '' || u.password !== ''
  u.username = ''
  u.password = ''
  for (const k of [...new Set(u.searchParams.keys())]) if (isSecretParam(k)) u.searchParams.set(k, MASK)
  let out = u.href.replace(/%2A%2A%2A/g, MASK)
  if (hadUserinfo) out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/)/i, `$1${MASK}@`)
  return out
}

/**
 * Redact free text: every occurrence of each given secret (4 characters or more: shorter values
 * would mask innocent text), URL userinfo, credential-like query values and auth headers.
 */
export function redactText(text: string, secrets: Iterable<string | undefined | null> = []): string {
  let out = text
  const list = [...secrets].filter((s): s is string => typeof s === 'string' && s.length >= 4)
  // longest first, so a secret containing another is masked whole; the URL-encoded form too
  for (const s of list.flatMap((s) => [s, encodeURIComponent(s)]).sort((a, b) => b.length - a.length)) out = out.split(s).join(MASK)
  // userinfo of any URL embedded in the message (user name included: it may be a token)
  out = out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, `$1${MASK}@`)
  // credential-like query values of any URL embedded in the message
  out = out.replace(/([?&;])([^\s=&#?"'<>]+)=([^\s&#"'<>]*)/g, (m, sep: string, name: string, value: string) =>
    value !== '' && value !== MASK && isSecretParam(safeDecode(name)) ? `${sep}${name}=${MASK}` : m)
  // Authorization-style headers echoed by libraries or servers
  out = out.replace(/\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|negotiate|digest|token|aws4-hmac-sha256)\s+)?[^\s"',}]+/gi,
    (_m, head: string, scheme?: string) => `${head}${scheme ? `${scheme} ` : ''}${MASK}`)
  // a SigV4 request signature an S3 gateway repeats from the Authorization header (`…, Signature=<hex>`):
  // replayable for its request until it expires, masked like the X-Amz-Signature query value
  out = out.replace(/\b(Signature=)[0-9a-f]{16,}/gi, `$1${MASK}`)
  return out.replace(/\b(x-(?:auth|subject)-token["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, `$1${MASK}`)
}

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * List URLs may carry credentials (basic auth from the userinfo, or an AppDB token as user with
 * password `x-oauth-basic`). vmgit sends them only as an Authorization header to the URL's own
 * origin and prints every URL without them.
 */
export interface SplitUrl {
  /** The URL without userinfo (or a file:// URL for a local path). */
  url: string
  username?: string
  password?: string
}

/** Normalise a subscription location: http(s) URLs, file:// URLs, or a local path. */
export function splitCredentials(location: string): SplitUrl {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(location)) return { url: pathToFileURL(path.resolve(location)).href }
  let u: URL
  try {
    u = new URL(location)
  } catch {
    throw usageError('BAD_URL', `${JSON.stringify(redactText(location))} is not a URL or a path; give an https:// URL or a local file`)
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw usageError('URL_SCHEME', `${u.protocol} URLs are not supported for image lists; use https://, http:// or a local file`)
  }
  const out: SplitUrl = { url: '' }
  if (u.username !== '') out.username = decodeURIComponent(u.username)
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  u.username = ''
  u.password = ''
  out.url = u.href
  return out
}

export function basicAuthHeader(username?: string | null, password?: string | null): string | undefined {
  if (!username && !password) return undefined
  return 'Basic ' + Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64')
}

/**
 * A secret value: usable by code via `reveal()`, but printing, string conversion, JSON and
 * util.inspect all show ***, so it cannot leak into a log line by accident.
 */
export class Secret {
  readonly #value: string
  constructor(value: string) {
    this.#value = value
  }
  reveal(): string {
    return this.#value
  }
  toString(): string {
    return MASK
  }
  toJSON(): string {
    return MASK
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${MASK})`
  }
}

export const revealSecret = (s: Secret | string | undefined): string | undefined => (s instanceof Secret ? s.reveal() : s)

/** Secret-looking values in the environment (VMGIT_*, AWS_*, OS_* passwords, tokens, keys): masked in every message as a last line of defence. */
export function envSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v && /(PASSWORD|PASSWD|TOKEN|SECRET|PASSPHRASE|ACCESS_KEY|CREDENTIAL|_KEY$)/i.test(k) && !/(_FILE|_PATH|_DIR)$/i.test(k))
    .map(([, v]) => v!)
}

/** A subscription location as stored (credentials split off), for lookups by URL; not for display. */
export const storedUrl = (u: string): string => {
  try {
    return splitCredentials(u).url
  } catch {
    return u
  }
}

/**
 * Secrets (passwords, tokens, key passphrases, S3 secret keys) never reach output, logs, plan
 * files or error messages. Every URL that is shown goes through `redactUrl`; every message built
 * from a server or library error goes through `redactText` with the secrets in play.
 */

const MASK = '***'

/** Query parameters that carry credentials in common URL schemes (presigned S3, SAS, OAuth). */
const SECRET_PARAMS = /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|auth|password|passwd|secret|key|apikey|api_key)$/i

/** The URL with any password in its userinfo and any credential-like query value masked. */
export function redactUrl(url: string | URL): string {
  let u: URL
  try {
    if (typeof url === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new Error('not hierarchical')
    u = typeof url === 'string' ? new URL(url) : new URL(url.href)
  } catch {
    // not a URL: still strip a `user:password@` prefix (scp-style `user:pw@host:/path`)
    return String(url).replace(/^([^\s:/@]+):[^\s@/]*@/, `$1:${MASK}@`)
  }
  if (u.password) u.password = MASK
  for (const k of [...u.searchParams.keys()]) if (SECRET_PARAMS.test(k)) u.searchParams.set(k, MASK)
  return u.href.replace(/%2A%2A%2A/g, MASK)
}

/** Replace every occurrence of each secret in `text` (and any URL userinfo password) with ***. */
export function redactText(text: string, secrets: Iterable<string | undefined> = []): string {
  let out = text
  for (const s of secrets) {
    // very short values would mask innocent text; they are also not worth protecting this way
    if (s && s.length >= 4) out = out.split(s).join(MASK)
  }
  // URL userinfo passwords in any URL embedded in the message
  out = out.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi, `$1:${MASK}@`)
  // Authorization headers echoed by libraries
  return out.replace(/\b(authorization:\s*(?:bearer|basic)\s+)\S+/gi, `$1${MASK}`)
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

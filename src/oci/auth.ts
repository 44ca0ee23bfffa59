/**
 * Registry auth as registries do it (distribution docs/spec/auth/token.md): a request answered 401
 * carries `WWW-Authenticate: Basic realm=…` (send the credentials) or
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` (ask the realm for a token for that scope,
 * with the credentials as basic auth when there are any, anonymously otherwise, then send
 * `Authorization: Bearer <token>`). Tokens are cached per scope for their lifetime.
 *
 * Rules enforced here: the realm must be http(s), and never plain http when the registry is https
 * (credentials are not downgraded); a plain-http realm only on the (loopback, plain-http)
 * registry's own host name; never a realm with user info (O08). An https realm on another host is
 * followed, as docker and containerd do (Docker Hub, GitLab and Quay name one): TLS protects the
 * credentials on the way, and they are only ever this registry's own (credentials.ts, O09); a token is refused unless it is a header-safe string; the token
 * and the credentials never appear in a message (the realm URL is shown without user info).
 */
import { type Fetcher, type FetchLimits, readCapped } from '../net/http.js'
import { redactText } from '../net/redact.js'
import { rangeOfUrl } from '../net/ssrf.js'
import { networkError, VmgitError } from '../util/errors.js'
import type { RegistryCredentials } from './credentials.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parse one WWW-Authenticate value (`Scheme k="v",k2=v2`); quoted values may contain commas. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy
  const rest = m[2] ?? ''
  re.lastIndex = 0
  for (let p = re.exec(rest); p; p = re.exec(rest)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '')
    if (re.lastIndex >= rest.length) break
  }
  return { scheme: m[1]!.toLowerCase(), params }
}

const TOKEN_SHAPE = /^[A-Za-z0-9._~+/=-]{1,16384}$/
const TOKEN_RESPONSE_CAP = 1024 * 1024

export class TokenCache {
  private readonly tokens = new Map<string, { value: string; until: number }>()

  constructor(
    private readonly fetcher: Fetcher,
    private readonly limits: FetchLimits,
    private readonly now: () => number,
  ) {}

  /** Forget a token the registry refused (expired or revoked early), so the next request asks again. */
  forget(value: string): void {
    for (const [k, v] of this.tokens) if (v.value === value) this.tokens.delete(k)
  }

  /** An Authorization value for `challenge`, asking for `scope` (merged with the challenge's own). */
  async bearer(challenge: Challenge, registryUrl: URL, scope: string | undefined, creds: RegistryCredentials | undefined, registryRule: 'origin' | 'signed' = 'origin'): Promise<string> {
    const realm = challenge.params.realm
    if (!realm) throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} asked for a bearer token but named no realm; the registry is misconfigured`)
    let realmUrl: URL
    try {
      realmUrl = new URL(realm)
    } catch {
      throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} named a token realm that is not a URL; the registry is misconfigured`)
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} named a ${realmUrl.protocol} token realm; only http(s) is followed`)
    if (registryUrl.protocol === 'https:' && realmUrl.protocol !== 'https:') {
      throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} sent its token realm over plain http (${redactText(realmUrl.origin)}); refused, credentials are never sent without TLS`)
    }
    // O08: a plain-http realm only beside a plain-http (loopback) registry, on the registry's own host name: the credentials never cross a network in the clear
    if (realmUrl.protocol === 'http:' && realmUrl.hostname !== registryUrl.hostname) {
      throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} named a plain-http token realm on another host (${redactText(realmUrl.origin)}); refused, credentials go over plain http only to the registry's own host (serve the realm over https)`)
    }
    // O08: a realm carrying user info is not where a registry sends clients (and would smuggle a second set of credentials)
    if (realmUrl.username !== '' || realmUrl.password !== '') {
      throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} named a token realm with user info (${redactText(realmUrl.origin)}); refused`)
    }
    const scopes = [...new Set([...(challenge.params.scope ?? '').split(' '), ...(scope ?? '').split(' ')].filter(Boolean))].sort()
    const key = `${realmUrl.href} ${challenge.params.service ?? ''} ${scopes.join(' ')} ${creds ? creds.username : ''}`
    const cached = this.tokens.get(key)
    if (cached && cached.until > this.now()) return cached.value
    if (challenge.params.service) realmUrl.searchParams.set('service', challenge.params.service)
    for (const s of scopes) realmUrl.searchParams.append('scope', s)
    if (creds) realmUrl.searchParams.set('account', creds.username)
    // S32: a realm on the registry's own host name may reach where that name resolves when the registry itself may (a site's private Harbor, the operator's registry); elsewhere only public addresses, or the range the registry's own URL names (O08: a registry cannot point the realm request at this host's or network's other services)
    const sameHost = realmUrl.hostname === registryUrl.hostname
    const realmRange = rangeOfUrl(realmUrl)
    if (!sameHost && realmRange !== 'public' && realmRange !== rangeOfUrl(registryUrl)) {
      throw networkError('OCI_AUTH_CHALLENGE', `${registryUrl.host} named a token realm in another address range (${realmRange}: ${redactText(realmUrl.origin)}); refused without connecting (attack S32)`)
    }
    const addressRule = sameHost ? registryRule : 'signed'
    // never from https to plain http on the way (a realm redirect), as for lists
    const r = await this.fetcher.open(realmUrl.href, { limits: this.limits, addressRule, noDowngrade: true, ...(creds ? { originHeaders: { authorization: creds.basic() } } : {}) })
    const shown = `the token realm ${redactText(realmUrl.origin + realmUrl.pathname)}`
    if (r.status === 401 || r.status === 403) {
      r.close()
      throw networkError('OCI_UNAUTHORIZED', `${shown} refused ${creds ? `the credentials (${creds.source})` : 'an anonymous token'}; ${creds ? 'check them' : 'set VMGIT_REGISTRY_USERNAME/VMGIT_REGISTRY_PASSWORD or log in (skopeo login) to write an auth.json'}`)
    }
    if (r.status !== 200) {
      r.close()
      throw networkError('OCI_AUTH_FAILED', `${shown} answered HTTP ${r.status}; try again later or check the registry`)
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown }
    try {
      doc = JSON.parse((await readCapped(r, TOKEN_RESPONSE_CAP, shown)).toString('utf8')) as typeof doc
    } catch (e) {
      if (e instanceof VmgitError) throw e
      throw networkError('OCI_AUTH_FAILED', `${shown} answered with something that is not JSON; check the registry`)
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token
    if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) throw networkError('OCI_AUTH_FAILED', `${shown} answered without a usable token; check the registry`)
    // the spec's default lifetime is 60 s; keep a margin so a token never expires in flight
    const life = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60
    const value = `Bearer ${token}`
    this.tokens.set(key, { value, until: this.now() + Math.max(life - 10, 5) * 1000 })
    return value
  }
}

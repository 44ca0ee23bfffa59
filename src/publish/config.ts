/**
 * Publish targets (vmgit.yaml `targets:`) map a list's or image's hv:uri to the place it is
 * written, like vmcaster's uriMatch/uriReplace (spec §3.3). The first rule that matches wins:
 *  - prefix rule: hv:uri starts with `match` → `replace` + the rest of the uri;
 *  - regex rule (`regex: true`): applied only if the pattern matches at the start of hv:uri
 *    (Python re.match), then every match is replaced (re.sub, Python 2 semantics as vmcaster ran).
 *    `replace` may use JS `$1`/`$<name>` or Python `\1`/`\g<1>`/`\g<name>`.
 * The resulting URL's scheme picks the transfer backend. Secrets never live in vmgit.yaml:
 * a target names environment variables (token_env, password_env, passphrase_env) instead.
 */
import os from 'node:os'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import { optionsFromEnv, parseTarget, redactUrl, Secret, TransferPool, type Target, type TransferOptions } from '../transfer/index.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

/** Non-secret connection settings a target may carry (YAML names). */
export interface TargetSettings {
  identity?: string
  known_hosts?: string | string[]
  host_fingerprint?: string | string[]
  username?: string
  endpoint?: string
  region?: string
  path_style?: boolean
  ca?: string
  client_cert?: string
  client_key?: string
  token_env?: string
  password_env?: string
  passphrase_env?: string
}
export const TARGET_SETTINGS = ['identity', 'known_hosts', 'host_fingerprint', 'username', 'endpoint', 'region', 'path_style', 'ca', 'client_cert', 'client_key', 'token_env', 'password_env', 'passphrase_env'] as const
const SECRET_KEYS = ['password', 'token', 'passphrase', 'secret', 'secret_access_key', 'key_passphrase']

export interface TargetRule extends TargetSettings {
  match: string
  replace: string
  regex?: boolean
}

export interface MappedUri {
  url: string
  rule: TargetRule
  index: number
}

// ---------- Python regex compatibility (vmcaster configs) ----------

/** Python pattern → JS: (?P<n>…) → (?<n>…), (?P=n) → \k<n>, \A → ^, \Z → $, leading (?i) → flag. */
export function compilePythonRegex(pattern: string, extraFlags = ''): RegExp {
  let flags = extraFlags
  const src = pattern
    .replace(/^\(\?([aiLmsux]+)\)/, (_m, f: string) => ((flags += [...f].filter((c) => 'ims'.includes(c)).join('')), ''))
    .replace(/\(\?P<([A-Za-z_]\w*)>/g, '(?<$1>')
    .replace(/\(\?P=([A-Za-z_]\w*)\)/g, '\\k<$1>')
    .replace(/\\A/g, '^')
    .replace(/\\Z/g, '$')
  try {
    return new RegExp(src, [...new Set(flags)].join(''))
  } catch (e) {
    throw usageError('TARGET_BAD_REGEX', `target match "${pattern}" is not a valid regular expression (${(e as Error).message}); fix it or set regex: false for a prefix`)
  }
}

/** Python replacement → JS template: \1 \g<1> \g<name> → $1 $<name>; a literal $ → $$; \\ → \. */
export function pythonReplacement(repl: string): string {
  let out = ''
  for (let i = 0; i < repl.length; i++) {
    const c = repl[i]!
    if (c === '$') {
      // a JS template already ($1, $<n>, $$, $&) stays; anything else is a literal dollar
      const m = /^\$(\d{1,2}|<[A-Za-z_]\w*>|\$|&)/.exec(repl.slice(i))
      out += m ? m[0] : '$$'
      if (m) i += m[0].length - 1
      continue
    }
    if (c !== '\\') {
      out += c
      continue
    }
    const rest = repl.slice(i + 1)
    let m: RegExpExecArray | null
    if ((m = /^g<(\d+)>/.exec(rest)) || (m = /^(\d{1,2})/.exec(rest))) out += `$${m[1]}`
    else if ((m = /^g<([A-Za-z_]\w*)>/.exec(rest))) out += `$<${m[1]}>`
    else if ((m = /^([\\ntr])/.exec(rest))) out += ({ '\\': '\\', n: '\n', t: '\t', r: '\r' } as Record<string, string>)[m[1]!]
    else {
      out += '\\'
      continue
    }
    i += m[0].length
  }
  return out
}

function expand(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(\d{1,2}|<([A-Za-z_]\w*)>|\$|&)/g, (all, g: string, name?: string) => {
    if (g === '$') return '$'
    if (g === '&') return m[0]
    if (name !== undefined) return m.groups?.[name] ?? ''
    const n = Number(g)
    return n < m.length ? (m[n] ?? '') : all
  })
}

/** Python 2 `re.sub(pattern, repl, s)`: all matches; an empty match next to the previous one is skipped. */
export function pySub(re: RegExp, template: string, s: string): string {
  const g = new RegExp(re.source, re.flags.replace(/[gy]/g, '') + 'g')
  let out = ''
  let last = 0
  let prevEnd = -1
  for (let m = g.exec(s); m; m = g.exec(s)) {
    const start = m.index
    const end = start + m[0].length
    if (m[0].length === 0) {
      g.lastIndex = start + 1
      if (start === prevEnd) continue
    }
    out += s.slice(last, start) + expand(template, m)
    last = end
    prevEnd = end
    if (start >= s.length) break
  }
  return out + s.slice(last)
}

// ---------- mapping ----------

/** hv:uri → write location by the first matching rule, or undefined. */
export function mapUri(uri: string, rules: readonly TargetRule[]): MappedUri | undefined {
  for (const [index, rule] of rules.entries()) {
    if (!rule.regex) {
      if (uri.startsWith(rule.match)) return { url: rule.replace + uri.slice(rule.match.length), rule, index }
      continue
    }
    const re = compilePythonRegex(rule.match)
    // vmcaster: re.sub only if re.match succeeds (anchored at the start, not the end)
    if (!new RegExp(re.source, re.flags.replace(/[gy]/g, '') + 'y').test(uri)) continue
    return { url: pySub(re, pythonReplacement(rule.replace), uri), rule, index }
  }
  return undefined
}

/** Refuse secrets in vmgit.yaml (it is committed): keys named like secrets, passwords in URLs. */
export function checkRuleSecrets(rule: Record<string, unknown>, where: string): void {
  for (const k of SECRET_KEYS) {
    if (k in rule) throw usageError('TARGET_SECRET_IN_CONFIG', `${where}: "${k}" must not be stored in vmgit.yaml (it is committed to git); put the secret in an environment variable and name it with ${k === 'token' ? 'token_env' : k.includes('passphrase') ? 'passphrase_env' : 'password_env'}: NAME`)
  }
  if (typeof rule.replace === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(rule.replace)) {
    throw usageError('TARGET_SECRET_IN_CONFIG', `${where}: replace ${redactUrl(rule.replace)} carries a password; remove it from the URL and set password_env: NAME (or VMGIT_DAV_PASSWORD)`)
  }
}

/** The `targets:` rules of a parsed vmgit.yaml (raw data, so connection settings come along). */
export function rulesFromConfig(raw: unknown): TargetRule[] {
  const targets = (raw as { targets?: unknown } | null)?.targets
  if (!Array.isArray(targets)) return []
  return targets.flatMap((t: unknown, i) => {
    if (typeof t !== 'object' || t === null) return []
    const r = t as Record<string, unknown>
    checkRuleSecrets(r, `vmgit.yaml targets[${i}]`)
    if (typeof r.match !== 'string' || typeof r.replace !== 'string') return []
    const rule: TargetRule = { match: r.match, replace: r.replace, regex: r.regex === true }
    for (const k of TARGET_SETTINGS) if (r[k] !== undefined) (rule as unknown as Record<string, unknown>)[k] = r[k]
    return [rule]
  })
}

const expandHome = (p: string, base: string) => (p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : path.resolve(base, p))

/** Transfer options for a rule: environment defaults, overridden by the rule's settings. */
export function transferOptionsFor(rule: TargetRule | undefined, env: NodeJS.ProcessEnv = process.env, baseDir = process.cwd()): TransferOptions {
  const o = optionsFromEnv(env)
  if (!rule) return o
  const file = (p: string) => expandHome(p, baseDir)
  const list = (v: string | string[]) => (Array.isArray(v) ? v : [v])
  const secret = (name: string | undefined, what: string) => {
    if (!name) return undefined
    const v = env[name]
    if (!v) throw usageError('TARGET_SECRET_MISSING', `the target for ${rule.match} takes its ${what} from $${name}, which is not set; export it (CI: a repository secret)`)
    return new Secret(v)
  }
  if (rule.identity) o.identity = file(rule.identity)
  if (rule.known_hosts) o.knownHosts = list(rule.known_hosts).map(file)
  if (rule.host_fingerprint) o.hostFingerprint = list(rule.host_fingerprint)
  if (rule.username) o.username = rule.username
  if (rule.endpoint) o.endpoint = rule.endpoint
  if (rule.region) o.region = rule.region
  if (rule.path_style !== undefined) o.forcePathStyle = rule.path_style
  if (rule.ca) o.ca = file(rule.ca)
  if (rule.client_cert) o.clientCert = file(rule.client_cert)
  if (rule.client_key) o.clientKey = file(rule.client_key)
  const token = secret(rule.token_env, 'token')
  const password = secret(rule.password_env, 'password')
  const passphrase = secret(rule.passphrase_env, 'key passphrase')
  if (token) o.token = token
  if (password) o.password = password
  if (passphrase) [o.passphrase, o.clientKeyPassphrase] = [passphrase, passphrase]
  return o
}

/**
 * The publish side of vmgit.yaml: `resolve(uri)` gives the write URL, `pool()` a TransferPool
 * whose connections use the settings of the rule that produced each URL.
 */
export class PublishTargets {
  private readonly ruleByKey = new Map<string, TargetRule>()
  constructor(
    readonly rules: readonly TargetRule[],
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly baseDir = process.cwd(),
  ) {}

  resolve(uri: string): string | undefined {
    const m = mapUri(uri, this.rules)
    if (!m) return undefined
    const t = parseTarget(m.url)
    this.ruleByKey.set(t.key, m.rule)
    return m.url
  }

  /** Like resolve, but TARGET_NO_MATCH (exit 2) when no rule matches. */
  require(uri: string, what = 'hv:uri'): string {
    const url = this.resolve(uri)
    if (url === undefined) {
      throw usageError('TARGET_NO_MATCH', `no target in vmgit.yaml matches ${what} ${redactUrl(uri)}; add one to vmgit.yaml, e.g. targets: [{ match: "${uri.replace(/[^/]*$/, '')}", replace: "sftp://user@host/srv/www/..." }]`)
    }
    return url
  }

  optionsFor(t: Target): TransferOptions {
    return transferOptionsFor(this.ruleByKey.get(t.key), this.env, this.baseDir)
  }

  pool(): TransferPool {
    return new TransferPool((t) => this.optionsFor(t))
  }
}

// ---------- image naming rule ----------

/**
 * vmgit.yaml `image_uri:` (optional): the hv:uri an image gets when `vmgit image update` finds
 * new content, so every version has its own URL (subscribers and caches never see a file
 * change under a known name). Placeholders: {base} (the current uri up to its last /), {name}
 * (images/NAME.yaml), {version} (the new hv:version), {identifier}, {ext} (the current file
 * extension, else hv:format lowercased, else img), {date} (UTC YYYY-MM-DD_hh-mm-ss, vmcaster's
 * style), {sha512} or {sha512:N} (first N hex digits). Without the rule the uri stays as it is.
 * Examples: "{base}/{name}-{version}.{ext}"; vmcaster's own: "{base}/{identifier}_{date}.{ext}".
 */
export interface ImageUriVars {
  uri: string
  name: string
  version: string
  identifier: string
  format?: string
  sha512: string
  now: Date
}

export function imageUriFromRule(rule: string, v: ImageUriVars): string {
  const slash = v.uri.lastIndexOf('/')
  const file = slash >= 0 ? v.uri.slice(slash + 1) : v.uri
  const m = /\.((?:[A-Za-z0-9]+\.)?(?:gz|bz2|xz|zst)|[A-Za-z0-9]+)$/.exec(file)
  const ext = m?.[1] ?? (v.format ? v.format.toLowerCase() : 'img')
  const date = v.now.toISOString().slice(0, 19).replace('T', '_').replace(/:/g, '-')
  return rule.replace(/\{([a-z0-9]+)(?::(\d+))?\}/g, (all, key: string, n?: string) => {
    switch (key) {
      case 'base':
        return slash >= 0 ? v.uri.slice(0, slash) : ''
      case 'name':
        return v.name
      case 'version':
        return v.version
      case 'identifier':
        return v.identifier
      case 'ext':
        return ext
      case 'date':
        return date
      case 'sha512':
        return n ? v.sha512.slice(0, Number(n)) : v.sha512
      default:
        throw usageError('IMAGE_URI_RULE_INVALID', `image_uri "${rule}" uses ${all}; known placeholders: {base} {name} {version} {identifier} {ext} {date} {sha512} {sha512:N}`)
    }
  })
}

/** The publishing settings of a repository's vmgit.yaml (raw read: works before validation passes). */
export async function readPublishSettings(repoDir: string): Promise<{ rules: TargetRule[]; imageUri?: string; pruneGrace?: string }> {
  const { readFile } = await import('node:fs/promises')
  const { parse } = await import('yaml')
  checkRegularFile(path.join(repoDir, 'vmgit.yaml'), 'the configuration', CAP.config)
  const text = await readFile(path.join(repoDir, 'vmgit.yaml'), 'utf8').catch(() => undefined)
  if (text === undefined) return { rules: [] }
  let raw: unknown
  try {
    raw = parse(text)
  } catch (e) {
    throw usageError('CONFIG_INVALID', `vmgit.yaml is not valid YAML (${(e as Error).message.split('\n')[0]}); run vmgit validate`)
  }
  const imageUri = (raw as { image_uri?: unknown } | null)?.image_uri
  const pruneGrace = (raw as { prune_grace?: unknown } | null)?.prune_grace
  return { rules: rulesFromConfig(raw), ...(typeof imageUri === 'string' ? { imageUri } : {}), ...(typeof pruneGrace === 'string' ? { pruneGrace } : {}) }
}

/**
 * Registry credentials, as container tools find them, and never from vmgit.yaml (it is committed):
 *  1. VMGIT_REGISTRY_USERNAME + VMGIT_REGISTRY_PASSWORD (CI secrets), for every registry;
 *  2. a docker-style auth file: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json,
 *     else $DOCKER_CONFIG/config.json or ~/.docker/config.json; the first file that exists is read.
 *     Its `auths` keys may be `host[:port]` or, as containers-auth.json(5) allows, `host[:port]/repo/path`
 *     (the longest prefix of the repository wins); `https://` prefixes and trailing `/v1/` or `/v2/` are
 *     ignored. An entry is `{"auth": base64("user:password")}` (or username/password fields).
 * The secret is kept in a Secret-like holder whose toString/JSON never show it (one redaction policy:
 * nothing here ever enters a message).
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import type { OciRepo } from './reference.js'

export class RegistryCredentials {
  readonly #password: string
  constructor(
    readonly username: string,
    password: string,
    /** where they came from, for messages (a variable or file name, never the value) */
    readonly source: string,
  ) {
    this.#password = password
  }

  basic(): string {
    return 'Basic ' + Buffer.from(`${this.username}:${this.#password}`).toString('base64')
  }

  toString(): string {
    return `[credentials from ${this.source}]`
  }

  toJSON(): string {
    return this.toString()
  }
}

type Env = Record<string, string | undefined>

/** The auth file in effect, or undefined (none exists). */
export function authFilePath(env: Env): string | undefined {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE
  const candidates = [
    env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined,
    env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : undefined,
    env.HOME ? path.join(env.HOME, '.docker', 'config.json') : undefined,
  ]
  return candidates.find((c): c is string => c !== undefined && existsSync(c))
}

function normaliseKey(k: string): string {
  return k.replace(/^https?:\/\//, '').replace(/\/v[12]\/?$/, '').replace(/\/+$/, '')
}

/** Credentials for `repo` (registry + repository), or undefined: anonymous. */
export function credentialsFor(repo: OciRepo, env: Env): RegistryCredentials | undefined {
  const user = env.VMGIT_REGISTRY_USERNAME
  const pass = env.VMGIT_REGISTRY_PASSWORD
  if (user !== undefined || pass !== undefined) {
    if (!user || pass === undefined) {
      throw usageError('OCI_CREDENTIALS_INCOMPLETE', 'set both VMGIT_REGISTRY_USERNAME and VMGIT_REGISTRY_PASSWORD (or neither, to use an auth.json)')
    }
    return new RegistryCredentials(user, pass, 'VMGIT_REGISTRY_USERNAME/VMGIT_REGISTRY_PASSWORD')
  }
  const file = authFilePath(env)
  if (!file || (env.REGISTRY_AUTH_FILE && !existsSync(file))) {
    if (env.REGISTRY_AUTH_FILE) throw usageError('OCI_AUTH_FILE_UNREADABLE', `REGISTRY_AUTH_FILE names ${file}, which does not exist; fix the path or unset it`)
    return undefined
  }
  let auths: Record<string, { auth?: string; username?: string; password?: string }>
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { auths?: unknown }
    auths = (doc.auths && typeof doc.auths === 'object' ? doc.auths : {}) as typeof auths
  } catch (e) {
    throw usageError('OCI_AUTH_FILE_UNREADABLE', `${file} is not a readable JSON auth file (${(e as Error).message.replace(/"[^"]*"/g, '…')}); fix it or point REGISTRY_AUTH_FILE elsewhere`)
  }
  const wanted = `${repo.registry}/${repo.repository}`
  let best: { key: string; entry: (typeof auths)[string] } | undefined
  for (const [k, entry] of Object.entries(auths)) {
    const key = normaliseKey(k)
    // host, or host/path at a component boundary of the repository
    if (key !== repo.registry && !(key.startsWith(`${repo.registry}/`) && (wanted === key || wanted.startsWith(`${key}/`)))) continue
    if (!best || key.length > best.key.length) best = { key, entry }
  }
  if (!best || typeof best.entry !== 'object' || best.entry === null) return undefined
  const { auth, username, password } = best.entry
  if (typeof auth === 'string' && auth !== '') {
    const text = Buffer.from(auth, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon <= 0) throw usageError('OCI_AUTH_FILE_UNREADABLE', `${file}: the "auth" entry for ${best.key} is not base64 of user:password; log in again (skopeo login / docker login)`)
    return new RegistryCredentials(text.slice(0, colon), text.slice(colon + 1), file)
  }
  if (typeof username === 'string' && typeof password === 'string') return new RegistryCredentials(username, password, file)
  return undefined
}

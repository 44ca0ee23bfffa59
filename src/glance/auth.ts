import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { usageError } from '../util/errors.js'
import { GlanceClient } from './client.js'
import { findEndpoint, issueToken, type KeystoneCredentials } from './keystone.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

/**
 * Where the Glance handler gets its credentials, as OpenStack's own clients do:
 * 1. explicit `--endpoint`/`OS_IMAGE_URL` + `OS_TOKEN`: used as is, no Keystone call (tests, CI);
 * 2. a clouds.yaml entry named by `--cloud`/`OS_CLOUD` (files: OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
 *    ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; secure.yaml beside it merged);
 * 3. the usual OS_* variables, which override the clouds.yaml entry key by key.
 * Keystone v3 then issues a token (password, application credential or token method) and the
 * catalog gives the image endpoint unless one is given.
 */
export type Env = Record<string, string | undefined>

export interface ConnectOptions {
  cloud?: string
  endpoint?: string
  timeoutMs?: number
}

export interface ResolvedAuth {
  /** Image endpoint override, else looked up in the catalog. */
  endpoint?: string
  /** A ready token: no Keystone call when an endpoint is given too. */
  token?: string
  /** Keystone credentials, when a token must be issued. */
  keystone?: KeystoneCredentials
  region?: string
  interface: string
  cacert?: string
  /** Where the settings came from, for messages (never the secrets). */
  source: string
}

type CloudEntry = { auth?: Record<string, unknown>; auth_type?: string; region_name?: string; interface?: string; cacert?: string; verify?: boolean; image_endpoint_override?: string }

function configDirs(env: Env, cwd: string): string[] {
  const home = env.HOME || os.homedir()
  return [cwd, path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'openstack'), '/etc/openstack']
}

function readYaml(file: string): Record<string, unknown> {
  checkRegularFile(file, 'clouds.yaml', CAP.config)
  try {
    const doc: unknown = parseYaml(readFileSync(file, 'utf8'))
    return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : {}
  } catch (e) {
    throw usageError('CLOUDS_YAML_INVALID', `${file} is not valid YAML (${(e as Error).message.split('\n')[0]}); fix it or point OS_CLIENT_CONFIG_FILE elsewhere`)
  }
}

/** The named cloud from the first clouds.yaml found, with secure.yaml's values merged in. */
export function loadCloud(name: string, env: Env = process.env, cwd = process.cwd()): { file: string; entry: CloudEntry } {
  const dirs = configDirs(env, cwd)
  const files = env.OS_CLIENT_CONFIG_FILE ? [env.OS_CLIENT_CONFIG_FILE] : dirs.map((d) => path.join(d, 'clouds.yaml'))
  const file = files.find((f) => existsSync(f))
  if (!file) throw usageError('CLOUDS_YAML_MISSING', `cloud ${JSON.stringify(name)} requested but no clouds.yaml in ${files.join(', ')}; create one or use OS_* variables`)
  const clouds = (readYaml(file).clouds ?? {}) as Record<string, CloudEntry>
  const entry = clouds[name]
  if (!entry || typeof entry !== 'object') {
    throw usageError('CLOUD_UNKNOWN', `cloud ${JSON.stringify(name)} is not in ${file} (it has: ${Object.keys(clouds).join(', ') || 'none'}); check OS_CLOUD / --cloud`)
  }
  const secureFile = (env.OS_CLIENT_SECURE_FILE ? [env.OS_CLIENT_SECURE_FILE] : dirs.map((d) => path.join(d, 'secure.yaml'))).find((f) => existsSync(f))
  const secure = secureFile ? ((readYaml(secureFile).clouds ?? {}) as Record<string, CloudEntry>)[name] : undefined
  if (secure) return { file, entry: { ...entry, ...secure, auth: { ...entry.auth, ...secure.auth } } }
  return { file, entry }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined)

/** Merge flags, OS_* variables and the clouds.yaml entry into one plan (pure but for file reads). */
export function resolveAuth(opts: ConnectOptions = {}, env: Env = process.env, cwd = process.cwd()): ResolvedAuth {
  const cloudName = opts.cloud ?? str(env.OS_CLOUD)
  const loaded = cloudName ? loadCloud(cloudName, env, cwd) : undefined
  const entry: CloudEntry = loaded?.entry ?? {}
  const a = entry.auth ?? {}
  // OS_* beats clouds.yaml, key by key (as python-openstackclient does)
  const pick = (envNames: string[], key: string): string | undefined => {
    for (const n of envNames) if (str(env[n])) return str(env[n])
    return str(a[key])
  }
  if (entry.verify === false) {
    throw usageError('TLS_VERIFY_OFF', `${loaded?.file}: cloud ${cloudName} sets verify: false; vmgit always checks TLS: give the cloud's CA with cacert: FILE (or OS_CACERT)`)
  }
  const source = loaded ? `cloud ${cloudName} in ${loaded.file}` : 'OS_* environment'
  const endpoint = opts.endpoint ?? str(env.OS_IMAGE_URL) ?? str(entry.image_endpoint_override)
  const token = pick(['OS_TOKEN', 'OS_AUTH_TOKEN'], 'token')
  const authUrl = pick(['OS_AUTH_URL'], 'auth_url')
  const cacert = str(env.OS_CACERT) ?? str(entry.cacert)
  const base = {
    interface: str(env.OS_INTERFACE) ?? str(entry.interface) ?? 'public',
    ...(cacert ? { cacert } : {}),
    ...(str(env.OS_REGION_NAME) ?? str(entry.region_name) ? { region: str(env.OS_REGION_NAME) ?? str(entry.region_name) } : {}),
    source,
  }
  if (endpoint && token) return { ...base, endpoint, token }
  if (!authUrl) {
    throw usageError(
      'GLANCE_NO_AUTH',
      'no OpenStack credentials: set OS_CLOUD (a clouds.yaml entry) or OS_AUTH_URL with OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME or OS_APPLICATION_CREDENTIAL_ID/_SECRET, or OS_TOKEN with --endpoint/OS_IMAGE_URL',
    )
  }
  const authType = (str(env.OS_AUTH_TYPE) ?? str(entry.auth_type) ?? '').replace(/^v3/, '')
  const appId = pick(['OS_APPLICATION_CREDENTIAL_ID'], 'application_credential_id')
  const appName = pick(['OS_APPLICATION_CREDENTIAL_NAME'], 'application_credential_name')
  const method: KeystoneCredentials['method'] =
    authType === 'applicationcredential' || authType === 'application_credential' || (!authType && (appId || appName))
      ? 'application_credential'
      : authType === 'token' || (!authType && token && !pick(['OS_PASSWORD'], 'password'))
        ? 'token'
        : 'password'
  const keystone: KeystoneCredentials = { authUrl, method }
  const fields: [keyof KeystoneCredentials, string[], string][] = [
    ['username', ['OS_USERNAME'], 'username'],
    ['userId', ['OS_USER_ID'], 'user_id'],
    ['password', ['OS_PASSWORD'], 'password'],
    ['userDomainName', ['OS_USER_DOMAIN_NAME'], 'user_domain_name'],
    ['userDomainId', ['OS_USER_DOMAIN_ID'], 'user_domain_id'],
    ['projectName', ['OS_PROJECT_NAME', 'OS_TENANT_NAME'], 'project_name'],
    ['projectId', ['OS_PROJECT_ID', 'OS_TENANT_ID'], 'project_id'],
    ['projectDomainName', ['OS_PROJECT_DOMAIN_NAME'], 'project_domain_name'],
    ['projectDomainId', ['OS_PROJECT_DOMAIN_ID'], 'project_domain_id'],
    ['domainName', ['OS_DOMAIN_NAME'], 'domain_name'],
    ['domainId', ['OS_DOMAIN_ID'], 'domain_id'],
    ['applicationCredentialId', ['OS_APPLICATION_CREDENTIAL_ID'], 'application_credential_id'],
    ['applicationCredentialName', ['OS_APPLICATION_CREDENTIAL_NAME'], 'application_credential_name'],
    ['applicationCredentialSecret', ['OS_APPLICATION_CREDENTIAL_SECRET'], 'application_credential_secret'],
    ['token', ['OS_TOKEN', 'OS_AUTH_TOKEN'], 'token'],
  ]
  for (const [k, envNames, key] of fields) {
    const v = pick(envNames, key)
    if (v !== undefined) (keystone as unknown as Record<string, string>)[k] = v
  }
  // clients fall back from the specific domains to `default_domain` / OS_DEFAULT_DOMAIN
  const defDomain = pick(['OS_DEFAULT_DOMAIN'], 'default_domain')
  if (defDomain && !keystone.userDomainName && !keystone.userDomainId) keystone.userDomainId = defDomain
  if (defDomain && !keystone.projectDomainName && !keystone.projectDomainId) keystone.projectDomainId = defDomain
  return { ...base, ...(endpoint ? { endpoint } : {}), keystone }
}

/** Resolve, authenticate if needed, and return a client for the image service. */
export async function connectGlance(opts: ConnectOptions = {}, env: Env = process.env, cwd = process.cwd()): Promise<{ client: GlanceClient; auth: ResolvedAuth }> {
  const auth = resolveAuth(opts, env, cwd)
  let ca: Buffer | undefined
  if (auth.cacert) {
    checkRegularFile(auth.cacert, 'the CA file', CAP.credential)
    try {
      ca = readFileSync(auth.cacert)
    } catch (e) {
      throw usageError('CACERT_UNREADABLE', `cannot read the CA file ${auth.cacert} (${(e as NodeJS.ErrnoException).code}); fix cacert / OS_CACERT`)
    }
  }
  const tls = ca ? { ca } : {}
  const timeouts = opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}
  if (auth.endpoint && auth.token) return { client: new GlanceClient({ endpoint: auth.endpoint, token: auth.token, ...tls, ...timeouts }), auth }
  const issued = await issueToken(auth.keystone!, { ...tls })
  const endpoint = auth.endpoint ?? findEndpoint(issued.catalog, { interface: auth.interface, ...(auth.region ? { region: auth.region } : {}) })
  return { client: new GlanceClient({ endpoint, token: issued.token, ...tls, ...timeouts }), auth }
}

import { readFile, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { usageError, VmgitError } from '../util/errors.js'
import { DEFAULT_LIMITS, type FetchLimits, Fetcher, guardedBody, httpStatusError, readCapped } from './http.js'
import { redactUrl, splitCredentials } from './redact.js'
import { caDirFromEnv } from './trust.js'

/** An image list is a few MB at most; 16 MiB bounds memory against a hostile or broken server. */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024
export const MAX_REDIRECTS = 5

export interface ReadSourceOptions {
  maxBytes?: number
  /** Idle socket timeout (no bytes for this long). Default 30 s. */
  idleTimeoutMs?: number
  /** Whole request deadline, redirects included. Default 120 s. */
  deadlineMs?: number
  /** Connect timeout. Default 30 s. */
  connectTimeoutMs?: number
  /** The trust directory added to the system roots for https (default: --ca-dir's environment: VMGIT_CA_DIR, X509_CERT_DIR, …). */
  caDir?: string
  /** Proxy variables (default process.env). */
  env?: Record<string, string | undefined>
  /** What is read: a list (LIST_TOO_LARGE beyond the cap) or another document (RESPONSE_TOO_LARGE). */
  kind?: 'list' | 'document'
}

/**
 * Small documents (image lists, checksum files): the bytes of a local file, a file:// URL or an
 * http(s) URL. URLs go through the one network client (src/net/http.ts): proxies, the CA
 * directory, connect/idle/overall timeouts, at most 5 redirects, never a downgrade from https,
 * the S32 address rule for operator-given URLs (`origin`), and the size cap. URLs in messages
 * are redacted; credentials in the URL's userinfo go to that origin only.
 */
export async function readSource(source: string, opts: ReadSourceOptions = {}): Promise<Buffer> {
  const max = opts.maxBytes ?? MAX_SOURCE_BYTES
  if (/^https?:\/\//i.test(source)) return fetchUrl(source, max, opts)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:/i.test(source))
    throw usageError('UNSUPPORTED_SOURCE', `cannot read ${redactUrl(source)}: give a file path or an http(s) URL`)
  const file = /^file:/i.test(source) ? fileURLToPath(source) : source
  const st = await stat(file).catch(() => undefined)
  if (!st?.isFile()) throw usageError('SOURCE_NOT_FOUND', `${source} is not a readable file; check the path`)
  if (st.size > max) throw new VmgitError(tooLargeCode(opts), `${source} is larger than ${max} bytes; ${opts.kind === 'document' ? 'refused' : 'an image list is far smaller, so this is not one'}`)
  return readFile(file)
}

const tooLargeCode = (opts: ReadSourceOptions): 'LIST_TOO_LARGE' | 'RESPONSE_TOO_LARGE' => (opts.kind === 'document' ? 'RESPONSE_TOO_LARGE' : 'LIST_TOO_LARGE')

/** Stream what an http(s) URL serves (image add --url): the same client, no size cap (the caller hashes on the way). */
export async function* streamUrl(url: string, opts: Omit<ReadSourceOptions, 'maxBytes' | 'kind'> = {}): AsyncGenerator<Buffer> {
  // an image may take hours: the idle timeout catches a stall, the overall deadline is a day
  const { fetcher, r } = await openUrl(url, { deadlineMs: 24 * 3600_000, ...opts }, false)
  try {
    yield* guardedBody(r)
  } finally {
    r.close()
    fetcher.close()
  }
}

async function fetchUrl(source: string, max: number, opts: ReadSourceOptions): Promise<Buffer> {
  const { fetcher, r } = await openUrl(source, opts, true)
  try {
    return await readCapped(r, max, r.url, tooLargeCode(opts))
  } finally {
    fetcher.close()
  }
}

async function openUrl(source: string, opts: ReadSourceOptions, noDowngrade: boolean) {
  const split = splitCredentials(source)
  const fetcher = new Fetcher({ caDir: opts.caDir ?? caDirFromEnv(undefined), ...(opts.env ? { env: opts.env } : {}) })
  try {
    const env = opts.env ?? process.env
    const limits = {
      ...DEFAULT_LIMITS,
      maxRedirects: MAX_REDIRECTS,
      idleTimeoutMs: opts.idleTimeoutMs ?? envSeconds(env, 'VMGIT_IDLE_TIMEOUT') ?? 30_000,
      deadlineMs: opts.deadlineMs ?? envSeconds(env, 'VMGIT_DEADLINE') ?? 120_000,
      connectTimeoutMs: opts.connectTimeoutMs ?? envSeconds(env, 'VMGIT_CONNECT_TIMEOUT') ?? 30_000,
    }
    // operator-given URLs: the `origin` address rule (S32), credentials to their own origin only
    const r = await fetcher.open(split.url, { limits, addressRule: 'origin', noDowngrade, auth: { username: split.username ?? null, password: split.password ?? null } })
    if (r.status !== 200) throw httpStatusError(r)
    return { fetcher, r }
  } catch (e) {
    fetcher.close()
    throw e
  }
}

/** The timeouts every command shares (sub add / sync take them as --connect-timeout, --idle-timeout, --deadline too): whole seconds. */
export function envSeconds(env: Record<string, string | undefined>, name: string): number | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  if (!/^\d+$/.test(v) || Number(v) < 1) throw usageError('BAD_TIMEOUT', `${name}=${JSON.stringify(v)} is not a whole number of seconds (1 or more)`)
  return Number(v) * 1000
}

/**
 * The limits of a publish backend's requests (WebDAV, S3), from the same variables every command
 * reads: an explicit `timeoutMs` (connect and idle) wins, else VMGIT_CONNECT_TIMEOUT /
 * VMGIT_IDLE_TIMEOUT, else the backend's defaults. VMGIT_DEADLINE, when set, bounds each request;
 * unset there is none (an upload may take hours; a stall is caught by the idle timeout).
 */
export function transferLimits(timeoutMs: number | undefined, defaults: { connectMs: number; idleMs: number }, env: Record<string, string | undefined> = process.env): FetchLimits {
  return {
    ...DEFAULT_LIMITS,
    connectTimeoutMs: timeoutMs ?? envSeconds(env, 'VMGIT_CONNECT_TIMEOUT') ?? defaults.connectMs,
    idleTimeoutMs: timeoutMs ?? envSeconds(env, 'VMGIT_IDLE_TIMEOUT') ?? defaults.idleMs,
    deadlineMs: envSeconds(env, 'VMGIT_DEADLINE') ?? Infinity,
    maxImages: 0,
  }
}

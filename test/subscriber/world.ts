/**
 * A subscriber test world: an openssl PKI (test/helpers/pki.ts), a loopback HTTP simulator
 * (test/helpers/http-server.ts) serving signed lists and image files, temp directories for the
 * database and the cache, and helpers that run the built CLI (`npm run build` first) with a fixed
 * `--now`. Also dumps of the SQLite state tables and of the cache, to prove "state unchanged".
 */
import Database from 'better-sqlite3'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll } from 'vitest'
import { type CliResult, runCli } from '../helpers/cli.js'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { makePki, opensslSign, type Pki, type PkiCert } from '../helpers/pki.js'

export interface ImageFile {
  id: string
  name: string
  path: string
  bytes: Buffer
  sha512: string
  size: number
  route: string
  url: string
}

export interface ListSpec {
  id: string
  version: string
  created?: Date
  expires?: Date
  images: (ImageFile | Record<string, string | number>)[]
  dn?: string
  ca?: string
  uri?: string
  extra?: Record<string, string>
}

/** hv:image object for a served image file (vmcaster style: hv:size is a number). */
export function imageEntry(f: ImageFile, extra: Record<string, string | number> = {}): Record<string, string | number> {
  return {
    'dc:identifier': f.id, 'dc:title': `Image ${f.name}`, 'dc:description': `test image ${f.name}`, 'hv:hypervisor': 'kvm',
    'hv:format': 'qcow2', 'hv:size': f.size, 'hv:uri': f.url, 'hv:version': '1', 'sl:arch': 'x86_64',
    'sl:checksum:sha512': f.sha512, 'sl:comments': '', 'sl:os': 'Linux', 'sl:osversion': '9', 'ad:mpuri': `https://market.example/${f.id}`,
    ...extra,
  }
}

export const hepixDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
const sha512 = (b: Buffer): string => createHash('sha512').update(b).digest('hex')

/** State tables (bookkeeping — status, download attempts, log, lock, migrations — excluded). */
export const STATE_TABLES = ['endorser', 'subscription', 'subscription_url', 'image', 'selection', 'blob', 'cache_entry'] as const

export class World {
  readonly db: string
  readonly cacheRoot: string
  readonly now: Date
  readonly listId = randomUUID()

  constructor(readonly dir: string, readonly pki: Pki, readonly server: TestServer) {
    this.db = path.join(dir, 'state/subscriber.db')
    this.cacheRoot = path.join(dir, 'cache')
    this.now = new Date(Math.floor(Date.now() / 1000) * 1000)
  }

  get nowIso(): string {
    return this.now.toISOString()
  }

  hours(h: number): Date {
    return new Date(this.now.getTime() + h * 3600_000)
  }

  image(name: string, content: Buffer | number, id: string = randomUUID()): ImageFile {
    const bytes = typeof content === 'number' ? randomBytes(content) : content
    const dir = path.join(this.dir, 'files')
    mkdirSync(dir, { recursive: true })
    const p = path.join(dir, name)
    writeFileSync(p, bytes)
    const route = `/images/${name}`
    this.server.set(route, { file: p })
    return { id, name, path: p, bytes, sha512: sha512(bytes), size: bytes.length, route, url: this.server.url(route) }
  }

  listJson(s: ListSpec, signer: PkiCert = this.pki.signer): string {
    const images = s.images.map((i) => ({ 'hv:image': 'sha512' in i && 'route' in i ? imageEntry(i as ImageFile) : i }))
    const doc = {
      'hv:imagelist': {
        'dc:date:created': hepixDate(s.created ?? this.hours(-1)),
        'dc:date:expires': hepixDate(s.expires ?? this.hours(24 * 7)),
        'dc:description': 'a test list',
        'dc:identifier': s.id,
        'dc:source': 'vmgit tests',
        'dc:title': 'Test list',
        'hv:endorser': { 'hv:x509': { 'dc:creator': 'Tester', 'hv:ca': s.ca ?? signer.issuer, 'hv:dn': s.dn ?? signer.subject, 'hv:email': 't@example.org' } },
        'hv:images': images,
        'hv:uri': s.uri ?? this.server.url('/list.smime'),
        'hv:version': s.version,
        ...s.extra,
      },
    }
    return JSON.stringify(doc, null, 4)
  }

  async signed(s: ListSpec, signer: PkiCert = this.pki.signer): Promise<Buffer> {
    return opensslSign(this.listJson(s, signer), signer)
  }

  /** Serve a signed list at `route` (default /list.smime). */
  async publish(s: ListSpec, opts: { route?: string; signer?: PkiCert } = {}): Promise<Buffer> {
    const bytes = await this.signed(s, opts.signer)
    this.server.set(opts.route ?? '/list.smime', { body: bytes })
    return bytes
  }

  get listUrl(): string {
    return this.server.url('/list.smime')
  }

  /** The variables that point the CLI at this world's database, cache and trust directory (and at no event handler). */
  get env(): Record<string, string | undefined> {
    return { VMGIT_DB: this.db, VMGIT_CACHE_DIR: this.cacheRoot, VMGIT_CA_DIR: this.pki.caDir, VMGIT_EVENT: undefined, VMCATCHER_CACHE_EVENT: undefined, VMCATCHER_RDBMS: undefined }
  }

  cli(args: string[], opts: { env?: Record<string, string | undefined>; timeoutMs?: number; uid?: number; gid?: number } = {}): Promise<CliResult> {
    return runCli(args, { env: { ...this.env, ...opts.env }, timeoutMs: opts.timeoutMs, uid: opts.uid, gid: opts.gid })
  }

  sync(extra: string[] = [], opts: { env?: Record<string, string | undefined>; now?: Date } = {}): Promise<CliResult> {
    return this.cli(['sync', '--now', (opts.now ?? this.now).toISOString(), ...extra], opts)
  }

  add(url: string, extra: string[] = []): Promise<CliResult> {
    return this.cli(['sub', 'add', url, '--now', this.nowIso, ...extra])
  }

  trust(signer: PkiCert = this.pki.signer, name = 'test-endorser'): Promise<CliResult> {
    return this.cli(['sub', 'trust', '--subject', signer.subject, '--issuer', signer.issuer, '--name', name])
  }

  /** Rows of the state tables, BLOBs as sha512 hex (deterministic, comparable). */
  dump(): Record<string, unknown[]> {
    if (!existsSync(this.db)) return {}
    const db = new Database(this.db, { readonly: true, fileMustExist: true })
    try {
      const out: Record<string, unknown[]> = {}
      for (const t of STATE_TABLES) {
        const rows = db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all() as Record<string, unknown>[]
        out[t] = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? `blob:${sha512(v)}` : v])))
      }
      return out
    } finally {
      db.close()
    }
  }

  query<T>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.db, { readonly: true, fileMustExist: true })
    try {
      return db.prepare(sql).all(...params) as T[]
    } finally {
      db.close()
    }
  }

  /** Every file under the cache root: relative path → sha512 of its content. */
  cacheFiles(): Record<string, string> {
    const out: Record<string, string> = {}
    const walk = (d: string): void => {
      if (!existsSync(d)) return
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) walk(p)
        else if (e.isFile()) out[path.relative(this.cacheRoot, p)] = sha512(readFileSync(p))
      }
    }
    walk(this.cacheRoot)
    return out
  }

  filesIn(sub: 'cache' | 'partial' | 'expired'): string[] {
    const d = path.join(this.cacheRoot, sub)
    return existsSync(d) ? readdirSync(d).filter((n) => statSync(path.join(d, n)).isFile()).sort() : []
  }

  async close(): Promise<void> {
    await this.server.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

let pkiCache: { dir: string; pki: Promise<Pki> } | undefined

// registered on the root suite of every test file that imports this module: the shared PKI goes with it
afterAll(() => {
  if (pkiCache) rmSync(pkiCache.dir, { recursive: true, force: true })
  pkiCache = undefined
})

/** A new world (one PKI per test file is enough: pass `sharedPki` from beforeAll). */
export async function makeWorld(opts: { pki?: Pki } = {}): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-sub-'))
  const pki = opts.pki ?? (await makePki(path.join(dir, 'pki')))
  const server = await startServer()
  return new World(dir, pki, server)
}

/** One PKI shared by the tests of a file (RSA key generation is the slow part). */
export function sharedPki(): Promise<Pki> {
  if (!pkiCache) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-subpki-'))
    pkiCache = { dir, pki: makePki(dir) }
  }
  return pkiCache.pki
}

/** Parse a handler log written by `recordingHandler`: one env block per event. */
export function readEvents(file: string): Record<string, string>[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('--end--\n').filter((b) => b.trim() !== '').map((b) =>
    Object.fromEntries(b.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])))
}

/** A real shell handler that appends its VMCATCHER_* environment to `log`, one block per event. */
export function recordingHandler(dir: string, log: string): string {
  const script = path.join(dir, 'record-event.sh')
  writeFileSync(script, `#!/bin/sh\nenv | grep '^VMCATCHER_' | sort >> '${log}'\necho '--end--' >> '${log}'\n`, { mode: 0o755 })
  return script
}

/** What an attack must leave untouched: the state tables and the verified cache (cache/ and expired/). */
export function snapshot(w: World): { db: Record<string, unknown[]>; files: Record<string, string> } {
  const files = Object.fromEntries(Object.entries(w.cacheFiles()).filter(([p]) => !p.startsWith('partial/')))
  return { db: w.dump(), files }
}

export interface Baseline {
  w: World
  images: ImageFile[]
}

/**
 * A world with one trusted, subscribed list (hv:version 1.0) whose images are all selected and
 * cached by a first successful sync: the starting point of every attack test.
 */
export async function subscribed(opts: { images?: number[]; version?: string } = {}): Promise<Baseline> {
  const w = await makeWorld({ pki: await sharedPki() })
  const images = (opts.images ?? [40_000]).map((n, i) => w.image(`img${i}.qcow2`, n))
  await w.publish({ id: w.listId, version: opts.version ?? '1.0', images })
  const steps = [await w.trust(), await w.add(w.listUrl)]
  for (const im of images) steps.push(await w.cli(['sub', 'select', im.id]))
  steps.push(await w.sync())
  const bad = steps.find((s) => s.code !== 0)
  if (bad) throw new Error(`baseline setup failed: ${bad.stderr}`)
  return { w, images }
}

/**
 * `vmgit plan` shows every change that alters what is published, where, or by whom (issue 15), not
 * only list and image content: a pull request that moves a target to another server, swaps the
 * signing certificate, turns provenance off or stretches the lifetime changes no list key, yet it
 * changes what subscribers get. Each such setting is compared between the two sides as a string:
 *
 * - with --base REF (both sides are repositories): publish targets (each by its `match`, with every
 *   other setting of the target: write location, identity, credentials' variable names), the signing
 *   certificate (vmgit.yaml `signing.cert`: path, subject, issuer, SHA-256 fingerprint), lifetime,
 *   layout (vmgit.yaml and per list), digest, provenance, source_roots, and each list's endorser file;
 * - against what is published: per list, the layout the published bytes have, the digest their
 *   signature names (micalg) and their lifetime (expires - created), against what publish would sign.
 *   (The endorser's dn/ca, which name the signer, already show as hv:endorser changes of the list.)
 *
 * Pure apart from reading the certificate file; the caller passes the loaded repositories.
 */
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { HepixList } from '../imagelist/types.js'
import { layoutOf } from '../model/hepix.js'
import type { Repository } from '../model/types.js'
import { parseSmime } from '../smime/mime.js'

export interface SettingChange {
  /** e.g. `lifetime`, `target https://images.example.org/`, `signing certificate`, `list production: endorser` */
  setting: string
  from?: string
  to?: string
}

export type Settings = Map<string, string>

const stable = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : x))

async function certificateFacts(repo: Repository): Promise<string | undefined> {
  const file = repo.config.signing?.cert
  if (!file) return undefined
  try {
    const c = new X509Certificate(await readFile(path.resolve(repo.dir, file)))
    return `${file}: subject ${c.subject.replace(/\n/g, ', ')}; issuer ${c.issuer.replace(/\n/g, ', ')}; sha256 ${c.fingerprint256}`
  } catch {
    return `${file} (not readable as a certificate)`
  }
}

/** The settings of one repository side (a work tree or a commit extracted by src/git). */
export async function repoSettings(repo: Repository): Promise<Settings> {
  const c = repo.config
  const s: Settings = new Map()
  s.set('lifetime', c.lifetime)
  s.set('layout', c.layout)
  s.set('digest', c.digest)
  s.set('provenance', c.provenance.enabled ? `on (repository: ${c.provenance.repository ?? 'the origin remote'})` : 'off')
  s.set('source_roots', c.sourceRoots.length ? c.sourceRoots.join(', ') : '(none: sources inside the repository only)')
  const cert = await certificateFacts(repo)
  if (cert) s.set('signing certificate', cert)
  // where: every setting of a target, keyed by what it matches (the raw YAML, so identity, region, *_env count too)
  const raw = (repo.configSrc?.data as { targets?: unknown } | undefined)?.targets
  if (Array.isArray(raw)) {
    for (const t of raw) {
      if (!t || typeof t !== 'object') continue
      const { match, ...rest } = t as Record<string, unknown>
      s.set(`target ${String(match)}`, stable(rest))
    }
  }
  // registry (OCI, branch ocipush): its settings (registry, repository, credentials' variable names) belong here
  for (const [name, l] of repo.lists) {
    s.set(`list ${name}: endorser`, l.endorser)
    s.set(`list ${name}: layout`, layoutOf(repo, l))
  }
  return s
}

/** Layout of published bytes: vmcaster indents by 4 spaces, AppDB by 3. */
function layoutOfBytes(content: Buffer): string | undefined {
  const m = /\r?\n( +)"/.exec(content.toString('utf8'))
  return m ? (m[1]!.length === 3 ? 'appdb' : m[1]!.length === 4 ? 'vmcaster' : undefined) : undefined
}

const DIGEST: Record<string, string> = { 'sha-256': 'sha256', sha256: 'sha256', sha1: 'sha1', 'sha-1': 'sha1' }

function duration(ms: number): string {
  const units: [number, string][] = [[604_800_000, 'w'], [86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']]
  for (const [n, u] of units) if (ms > 0 && ms % n === 0) return `${ms / n}${u}`
  return `${Math.round(ms / 1000)}s`
}

/** Per list, what the published copy shows of layout, digest and lifetime. */
export function publishedSettings(lists: Map<string, { name: string; list: HepixList; bytes?: Buffer }>): Settings {
  const s: Settings = new Map()
  for (const { name, list, bytes } of lists.values()) {
    const created = Date.parse(String(list.list['dc:date:created'] ?? ''))
    const expires = Date.parse(String(list.list['dc:date:expires'] ?? ''))
    if (Number.isFinite(created) && Number.isFinite(expires)) s.set(`list ${name}: lifetime`, duration(expires - created))
    if (!bytes) continue
    try {
      const p = parseSmime(bytes)
      const layout = layoutOfBytes(p.content)
      if (layout) s.set(`list ${name}: layout`, layout)
      const d = p.micalg ? DIGEST[p.micalg.toLowerCase()] : undefined
      if (d) s.set(`list ${name}: digest`, d)
    } catch {
      // an unreadable copy is reported by sides.ts
    }
  }
  return s
}

/** What publishing the head would sign, in the terms of publishedSettings(). */
export function headAsPublished(repo: Repository, names: string[]): Settings {
  const s: Settings = new Map()
  for (const name of names) {
    const l = repo.lists.get(name)
    if (!l) continue
    // a list YAML that fixes its own dates has its own lifetime: not compared
    if (l.hepix['dc:date:expires'] === undefined && l.hepix['dc:date:created'] === undefined) s.set(`list ${name}: lifetime`, duration(repo.config.lifetimeMs))
    s.set(`list ${name}: layout`, layoutOf(repo, l))
    s.set(`list ${name}: digest`, repo.config.digest)
  }
  return s
}

/** Settings that differ; with `onlyCommon`, a setting absent on one side is not a change (published copies lack most). */
export function diffSettings(base: Settings, head: Settings, onlyCommon = false): SettingChange[] {
  const keys = [...new Set([...base.keys(), ...head.keys()])].sort()
  const out: SettingChange[] = []
  for (const k of keys) {
    const from = base.get(k)
    const to = head.get(k)
    if (from === to) continue
    if (onlyCommon && (from === undefined || to === undefined)) continue
    // a list that appears or goes is already a list add/remove: its own settings are not repeated
    if (k.startsWith('list ') && (from === undefined || to === undefined)) continue
    out.push({ setting: k, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })
  }
  return out
}

import type { HepixList, HepixObject } from '../imagelist/types.js'
import { compareVersions } from '../imagelist/version.js'
import { findList, toHepix } from '../model/hepix.js'
import { versionStamp } from '../model/time.js'
import type { Repository } from '../model/types.js'
import { signRepoList } from './sign-repo.js'
import type { Digest, SigningCredentials } from '../smime/sign.js'
import { VmgitError } from '../util/errors.js'
import { diffObjects, listTimeIssues } from './plan.js'
import { refuse } from '../rules/list.js'
import { versionOrderVerdicts } from '../rules/version.js'
import { keyOf, type ImageUploader } from './images.js'
import { dirOf, markUnreferenced, prune, removeStaleTemps, type PruneReport } from './prune.js'
import { readPublished, type PublishedList } from './published.js'
import { redactUrl, type TransferPool } from '../transfer/index.js'
import { RegistryPublisher } from '../oci/publish.js'

/**
 * `vmgit publish`: for each list, upload the images it needs, then sign and upload the list,
 * then read it back. Order is the safety rule: a list is replaced only after every image it
 * points at is in place, so subscribers never see a list pointing at a missing file, and a
 * failure part-way leaves the previously published list where it was.
 *
 * The invariant (issue 15): at every instant, even after kill -9 at any point, every published
 * list verifies and every image it names is at its URI with its size and sha512. It rests on:
 * 1. new image bytes go only to URLs no published list names with other bytes (IMAGE_URL_IN_USE;
 *    image_uri gives each version its own URL), each written under a temp name and moved into
 *    place atomically (S3: one atomic PUT or a multipart upload that only completes whole);
 * 2. the list goes last, by the same atomic replace, after every image it names was verified;
 * 3. nothing a published list names is ever deleted: an old version is only marked when the last
 *    list stops naming it, and `--prune` deletes it after the grace period.
 */

export type ListAction = 'published' | 'refreshed' | 'unchanged' | 'would-publish' | 'would-refresh' | 'failed'

export interface ListReport {
  name: string
  identifier: string
  title: string
  action: ListAction
  version?: string
  uri?: string
  /** where it was written (secrets masked) */
  target?: string
  expires?: string
  images: { identifier: string; title: string; action: string; target?: string; oci?: string }[]
  /** the list artifact in the registry (HOST/REPO@sha256:…; a dry run: HOST/REPO) */
  registry?: string
  reason?: string
  error?: { code: string; message: string; exit: number }
  warnings: string[]
}

export interface PublishReport {
  ok: boolean
  dryRun: boolean
  lists: ListReport[]
  uploaded: { images: number; lists: number }
  /** stale temp files of earlier, interrupted runs that this run removed */
  removedTemps: string[]
  /** with --prune */
  prune?: PruneReport
  /** issue 15: the commit published (full id), when in git */
  commit?: string
  /** issue 15: set when --allow-dirty published files no commit holds */
  allowDirty?: { code: string; dirty: string[] }
}

export interface PublishOptions {
  repo: Repository
  /** lists to publish by file name or dc:identifier; default all */
  lists: string[]
  /** absent on a dry run without credentials: then nothing is signed */
  creds?: SigningCredentials
  digest: Digest
  /** the signing time: dc:date:created, hv:version stamp, expiry base */
  now: Date
  dryRun: boolean
  /** re-sign a list whose published copy expires within this many ms */
  refreshBeforeMs?: number
  /** hv:uri → write location (vmgit.yaml targets) */
  resolveTarget: (uri: string) => string
  pool: TransferPool
  images: ImageUploader
  /** read the list back from its public hv:uri and check it (undefined = not reachable) */
  readBack?: (uri: string, expected: Buffer) => Promise<'ok' | 'unreachable'>
  /** vmgit.yaml registry: images and the signed list are pushed there too (docs/oci.md) */
  registry?: RegistryPublisher
  log?: (line: string) => void
  /** a list that failed, one line each (default: log) */
  fail?: (line: string) => void
  /** hv:uri → write location or undefined (the image rule: hosted elsewhere) */
  resolveImageTarget?: (uri: string) => string | undefined
  /** delete image files no published list has named for this long (`--prune`) */
  pruneGraceMs?: number
  warn?: (line: string) => void
  /** issue 15: provenance keys signed into each list (provenance.ts) */
  provenance?: Record<string, string>
}

/** What the run found published before it changed anything, per list file name. */
type Published = Map<string, { pub?: PublishedList; error?: VmgitError }>

// keys the signer sets on every signature: equal lists that differ only here are unchanged
// (issue 15: a new commit alone is no new content, so the provenance keys are among them)
const SIGNING_KEYS = new Set(['dc:date:created', 'dc:date:expires', 'hv:version', 'vmgit:repository', 'vmgit:commit', 'vmgit:run', 'vmgit:dirty'])

const sameImages = (a: HepixObject[], b: HepixObject[]): boolean =>
  a.length === b.length && a.every((img, i) => diffObjects(img, b[i]!).length === 0)

/** True when signing `head` would publish different content from `published`. */
export function contentChanged(published: HepixList, head: HepixList): boolean {
  return (
    diffObjects(published.list, head.list, SIGNING_KEYS).length > 0 ||
    diffObjects(published.endorser, head.endorser).length > 0 ||
    !sameImages(published.images, head.images)
  )
}

async function publishOne(name: string, o: PublishOptions, report: PublishReport, before: Published): Promise<ListReport> {
  const log = o.log ?? (() => {})
  const signer = o.creds ? { dn: o.creds.cert.subject, ca: o.creds.cert.issuer } : undefined
  const head = toHepix(o.repo, name, { now: o.now, ...(signer ? { signer } : {}) })
  const id = String(head.list['dc:identifier'])
  const uri = String(head.list['hv:uri'] ?? '')
  const r: ListReport = { name, identifier: id, title: String(head.list['dc:title'] ?? name), action: 'unchanged', uri, images: [], warnings: [] }
  // registry: each image entry pins its manifest digest before the change check and inside the signed bytes
  const arts = o.registry ? await o.registry.prepare(name) : []
  RegistryPublisher.annotate(head, arts)
  if (!uri) throw new VmgitError('LIST_NO_URI', `list ${name} has no uri (hv:uri): set where subscribers fetch it, and a target in vmgit.yaml that maps it to a write location`)
  const target = o.resolveTarget(uri)
  const seen = before.get(name)
  if (seen?.error) throw seen.error
  const published: PublishedList | undefined = seen ? seen.pub : await readPublished(o.pool, target)
  // nothing published there yet: the report still shows the target redacted (it may carry a user name or token)
  r.target = published?.display ?? redactUrl(target)
  if (published?.warning) r.warnings.push(published.warning)

  let why: 'changed' | 'refresh' | undefined
  if (!published?.list || contentChanged(published.list, head)) why = 'changed'
  else {
    const expires = Date.parse(String(published.list.list['dc:date:expires'] ?? ''))
    r.version = String(published.list.list['hv:version'] ?? '')
    r.expires = String(published.list.list['dc:date:expires'] ?? '')
    if (o.refreshBeforeMs !== undefined && !(expires - o.now.getTime() > o.refreshBeforeMs)) why = 'refresh'
  }
  const entry = findList(o.repo, name)
  // the rulebook's ROLLBACK as plan judges it: a fixed `version:` below the published one is refused
  // even when nothing else changed (else plan refuses what publish calls current, until the refresh)
  if (!why && entry.ok && entry.hepix['hv:version'] !== undefined && published?.list) {
    refuse(versionOrderVerdicts({ before: String(published.list.list['hv:version'] ?? ''), now: String(head.list['hv:version']), sameContent: true }, compareVersions, 'publisher', `imagelists/${name}.yaml`), { prefix: `list ${name}: ` })
  }
  if (!why) {
    r.reason = 'published copy is current'
    log(`${name}: unchanged (version ${r.version}, expires ${r.expires})`)
    return r
  }

  // rollback: the list's hv:version must increase over the published one (subscribers reject equal or lower)
  const oldVersion = published?.list ? String(published.list.list['hv:version'] ?? '') : ''
  // rollback: a stamped version (no `version:` in the YAML) that is not above the published stamp
  // (two publishes within one second, or a published clock ahead) moves one second past it
  if (entry.ok && entry.hepix['hv:version'] === undefined && /^\d{14}$/.test(oldVersion) && compareVersions(String(head.list['hv:version']), oldVersion) <= 0) {
    const old = oldVersion.replace(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3T$4:$5:$6Z')
    const next = Date.parse(old) + 1000
    if (Number.isFinite(next)) head.list['hv:version'] = versionStamp(new Date(next))
  }
  const newVersion = String(head.list['hv:version'])
  // the rulebook's version order (S06 ROLLBACK, S07 EQUAL_VERSION), as plan and sync judge it: publish
  // gets here only to write new signed bytes (changed, or re-signed with new dates), so an equal version never passes
  if (oldVersion) refuse(versionOrderVerdicts({ before: oldVersion, now: newVersion, sameContent: false }, compareVersions, 'publisher', `imagelists/${name}.yaml`), { prefix: `list ${name}: ` })

  // freeze: never replace a current list with one subscribers reject as expired
  refuse(listTimeIssues(head, name, o.now), { prefix: `list ${name}: ` })

  // images first: every image the new list points at must be in place before the list moves
  const publishedImages = new Map((published?.list?.images ?? []).map((i) => [String(i['dc:identifier']), i]))
  for (const img of head.images) {
    const before = publishedImages.get(String(img['dc:identifier']))
    const res = await o.images.ensure(img, { alreadyPublished: !!before && diffObjects(before, img).length === 0, dryRun: o.dryRun })
    r.images.push({ identifier: String(img['dc:identifier']), title: String(img['dc:title'] ?? ''), action: res.action, ...(res.target ? { target: res.target } : {}) })
  }
  // crash order: every image manifest the list will pin is in the registry before the list is signed
  for (const [i, a] of arts.entries()) {
    if (!a) continue
    r.images[i]!.oci = a.reference
    if (!o.dryRun) await o.registry!.pushImage(a)
  }
  if (o.registry) r.registry = `${o.registry.settings.dest.registry}/${o.registry.settings.dest.repository ? `${o.registry.settings.dest.repository}/` : ''}${name}`

  r.version = newVersion
  r.expires = String(head.list['dc:date:expires'])
  if (o.dryRun) {
    r.action = why === 'refresh' ? 'would-refresh' : 'would-publish'
    log(`${name}: would ${why === 'refresh' ? 're-sign' : 'publish'} version ${newVersion} to ${r.target}`)
    return r
  }
  if (!o.creds) throw new VmgitError('NO_CREDENTIALS', 'publishing needs the signing key and certificate: give --key and --cert, --p12, or set VMGIT_SIGNING_KEY and VMGIT_SIGNING_CERT')
  // the same rendering as `head` (same now, same signer), checked against the certificate and signed
  const annotate = (h: HepixList): void => RegistryPublisher.annotate(h, arts)
  const signed = await signRepoList(o.repo, o.repo.lists.get(name)!, o.creds, { now: o.now, digest: o.digest, signingTime: o.now, version: newVersion, annotate, ...(o.provenance ? { extra: o.provenance } : {}) })
  r.warnings.push(...signed.warnings)
  const smime = signed.smime
  // what is signed is what was checked against the published version
  if (signed.version !== newVersion) throw new VmgitError('INTERNAL', `list ${name}: signed hv:version ${signed.version}, checked ${newVersion}`)
  // the registry copy first: a crash before the hv:uri upload leaves the published list older, so the next run signs again
  if (o.registry) r.registry = await o.registry.pushList(name, smime, head.list, arts)
  const { transfer, target: t } = await o.pool.get(target)
  await transfer.put(smime, t.path, { contentType: 'application/pkcs7-mime' })
  const st = await transfer.stat(t.path)
  if (st?.size !== smime.length) throw new VmgitError('TRANSFER_VERIFY_FAILED', `${t.display}: ${st?.size ?? 'no'} bytes after upload, expected ${smime.length}; publish again`)
  report.uploaded.lists++
  r.action = why === 'refresh' ? 'refreshed' : 'published'
  await afterListMoved(name, head, published, o, r)
  if (o.readBack) {
    const seen = await o.readBack(uri, smime)
    if (seen === 'unreachable') r.warnings.push(`could not read the list back from ${uri}; check that the target serves it there`)
  }
  log(`${name}: ${r.action} version ${newVersion} to ${t.display} (expires ${r.expires})`)
  return r
}

/** The new list is live: it protects its files now; files the old one named and no list names any more get their marker. */
async function afterListMoved(name: string, head: HepixList, published: PublishedList | undefined, o: PublishOptions, r: ListReport): Promise<void> {
  o.images.protect(name, head)
  if (!published?.list) return
  for (const [key, file] of o.images.filesOf(name, published.list)) {
    if (o.images.namedAt(key)) continue
    try {
      await markUnreferenced(o.pool, file, o.now)
    } catch (e) {
      // the list is published; only pruning will not know about this file
      r.warnings.push(`could not mark ${file.uri} as no longer named (publish --prune will keep it): ${e instanceof VmgitError ? e.message : String(e)}`)
    }
  }
}

/** Read every published list of the repository (not only those being published): their files are protected. */
async function readAllPublished(o: PublishOptions, names: string[]): Promise<Published> {
  const out: Published = new Map()
  for (const [name, entry] of o.repo.lists) {
    const uri = String(entry.hepix['hv:uri'] ?? '')
    if (!uri) continue
    let target: string
    try {
      target = o.resolveTarget(uri)
    } catch {
      continue // no target: publishOne reports it for the lists being published
    }
    try {
      const pub = await readPublished(o.pool, target)
      out.set(name, pub ? { pub } : {})
      if (pub?.list) o.images.protect(name, pub.list)
    } catch (e) {
      if (!(e instanceof VmgitError)) throw e
      // unreadable now (network): its files are unknown, so no existing file is replaced in this run
      o.images.unknownList(name)
      if (names.includes(name)) out.set(name, { error: e })
    }
  }
  return out
}

/** Every directory this repository's lists and images are written to (for temp cleaning and pruning). */
function targetDirs(o: PublishOptions, before: Published): string[] {
  const dirs = new Set<string>()
  const add = (uri: unknown, resolve: (u: string) => string | undefined) => {
    if (typeof uri !== 'string' || !uri) return
    try {
      const t = resolve(uri)
      if (t) dirs.add(dirOf(t))
    } catch {
      // no target for it: nothing of ours to clean there
    }
  }
  const img = o.resolveImageTarget ?? (() => undefined)
  for (const l of o.repo.lists.values()) add(l.hepix['hv:uri'], o.resolveTarget)
  for (const i of o.repo.images.values()) add(i.hepix['hv:uri'], img)
  for (const { pub } of before.values()) for (const i of pub?.list?.images ?? []) add(i['hv:uri'], img)
  return [...dirs].sort()
}

export async function publish(o: PublishOptions): Promise<PublishReport> {
  const report: PublishReport = { ok: true, dryRun: o.dryRun, lists: [], uploaded: { images: 0, lists: 0 }, removedTemps: [] }
  const names = o.lists.length ? o.lists.map((n) => resolveName(o.repo, n)) : [...o.repo.lists.keys()].sort()
  const warn = o.warn ?? ((line: string) => o.log?.(`warning: ${line}`))
  const before = await readAllPublished(o, names)
  const dirs = targetDirs(o, before)
  if (!o.dryRun) {
    report.removedTemps = await removeStaleTemps(o.pool, dirs, o.now, warn)
    for (const t of report.removedTemps) o.log?.(`removed a stale temporary file of an interrupted run: ${t}`)
  }
  for (const name of names) {
    try {
      report.lists.push(await publishOne(name, o, report, before))
    } catch (e) {
      // a failure part-way leaves the previously published list in place; the other lists go on
      if (!(e instanceof VmgitError)) throw e
      report.ok = false
      const id = String(o.repo.lists.get(name)?.hepix['dc:identifier'] ?? '')
      report.lists.push({ name, identifier: id, title: name, action: 'failed', images: [], warnings: [], error: { code: e.code, message: e.message, exit: e.exit } })
      ;(o.fail ?? o.log)?.(`${name}: FAILED [${e.code}] ${e.message}`)
    }
  }
  report.uploaded.images = o.images.uploads
  if (o.pruneGraceMs !== undefined) {
    if (o.images.unreadableLists().length) {
      warn(`--prune skipped: the published list(s) ${o.images.unreadableLists().join(', ')} could not be read, so vmgit cannot tell which files are still named`)
    } else {
      report.prune = await prune({ pool: o.pool, dirs, namedAt: (k) => o.images.namedAt(k), keyOf, now: o.now, graceMs: o.pruneGraceMs, dryRun: o.dryRun })
      for (const f of report.prune.removed) o.log?.(`${o.dryRun ? 'would prune' : 'pruned'} ${f} (no published list has named it for the grace period)`)
      for (const k of report.prune.kept) o.log?.(`kept ${k.file}: no list names it, pruned after ${k.after}`)
    }
  }
  return report
}

function resolveName(repo: Repository, nameOrId: string): string {
  const plain = nameOrId.replace(/\.ya?ml$/, '')
  if (repo.lists.has(plain)) return plain
  for (const [n, l] of repo.lists) if (l.hepix['dc:identifier'] === nameOrId) return n
  throw new VmgitError('LIST_NOT_FOUND', `no image list "${nameOrId}" in imagelists/ (by file name or dc:identifier); lists: ${[...repo.lists.keys()].join(', ') || 'none'}`)
}

import { checkConsumers } from '../imagelist/consumers.js'
import { describeKey, yamlKeyFor, type Kind } from './friendly.js'
import { toHepix } from './hepix.js'
import type { Problem, Severity } from './problems.js'
import type { ListEntry, Repository } from './types.js'
import { problemAt, type SourceFile } from './yaml-source.js'

type FileKind = Exclude<Kind, 'config'>

/** Stand-in for dn/ca left out of an endorser file: signing fills them from the certificate. */
export const SIGNER_PLACEHOLDER = { dn: '/CN=filled-from-signing-certificate', ca: '/CN=filled-from-signing-certificate' }

/**
 * Consumer codes the per-file checks already report at the YAML position that causes them
 * (MISSING_KEY, UNSAFE_IDENTIFIER, NOT_UUID, BAD_*) or the cross-file checks (DUPLICATE_IDENTIFIER,
 * DUPLICATE_IMAGE_REF): reporting them again per list would only repeat them.
 */
const COVERED = new Set(['MISSING_KEY', 'UNSAFE_IDENTIFIER', 'NOT_UUID', 'BAD_DATE', 'BAD_SHA512', 'BAD_SIZE', 'DUPLICATE_IMAGE_ID'])
/**
 * Fixed dates (an imported list, `created:`/`expires:` in the YAML) that subscribers would refuse
 * at this time: errors, as sync, plan and publish judge them (rulebook LIST_EXPIRED,
 * CREATED_IN_FUTURE), with a hint how to let vmgit stamp them instead.
 */
const FIXED_DATES = new Set(['LIST_EXPIRED', 'CREATED_IN_FUTURE'])

interface Located {
  kind: FileKind
  src: SourceFile
  data: Record<string, unknown>
  key: string | undefined
}

/**
 * Render every list that can be rendered and run the consumer compatibility check on it
 * (checkConsumers: errors make vmcatcher drop an image or reject the list; warnings are the
 * AppDB keys cloudkeeper/atrope need). Each finding is mapped back to the YAML file and key
 * that produce it; missing AppDB keys are merged into one warning per file.
 */
export function consumerProblems(repo: Repository, now: Date): Problem[] {
  const out: Problem[] = []
  const appdbMissing = new Map<SourceFile, { loc: Located; keys: Set<string> }>()
  for (const list of repo.lists.values()) {
    if (!renderable(repo, list)) continue
    const report = checkConsumers(toHepix(repo, list.name, { now, signer: SIGNER_PLACEHOLDER }), { now })
    const found = [...report.errors.map((p) => [p, 'error'] as const), ...report.warnings.map((p) => [p, 'warning'] as const)]
    for (const [cp, sev] of found) {
      if (COVERED.has(cp.code)) continue
      const severity: Severity = sev
      const loc = locate(repo, list, cp.path)
      if (cp.code === 'APPDB_KEY_MISSING') {
        if (repo.config.appdbKeys === 'off') continue
        const entry = appdbMissing.get(loc.src) ?? { loc: { ...loc, key: undefined }, keys: new Set<string>() }
        entry.keys.add(cp.path.split('/').at(-1)!)
        appdbMissing.set(loc.src, entry)
        continue
      }
      const yk = loc.key === undefined ? undefined : yamlKeyFor(loc.kind, loc.data, loc.key)
      // fixed dates come from the list file (e.g. after an import): vmgit stamps them when they are absent
      const hint = FIXED_DATES.has(cp.code) ? `; or delete version, created and expires from ${list.file} so vmgit stamps them when signing` : ''
      out.push(problemAt(loc.src, yk === undefined ? [] : [yk], severity, cp.code, cp.message + hint))
    }
  }
  for (const { loc, keys } of appdbMissing.values()) {
    const names = [...keys].map((k) => describeKey(loc.kind, k)).join(', ')
    const message = `missing AppDB keys ${names}: EGI sites (cloudkeeper, atrope) reject lists without them; add them, or set appdb_keys: off in vmgit.yaml`
    out.push(problemAt(loc.src, [], 'warning', 'APPDB_KEY_MISSING', message))
  }
  return out
}

function renderable(repo: Repository, list: ListEntry): boolean {
  if (!list.ok) return false
  const e = repo.endorsers.get(list.endorser)
  return !!e?.ok && list.images.every((n) => repo.images.get(n)?.ok === true)
}

/** `hv:images/2/sl:checksum:sha512` → the third image's file and key; `hv:endorser/hv:x509/k` → the endorser; else the list. */
function locate(repo: Repository, list: ListEntry, pointer: string): Located {
  const segs = pointer.split('/').filter((s) => s !== '' && s !== 'hv:imagelist')
  if (segs[0] === 'hv:images') {
    const name = list.images[Number(segs[1])]
    const img = name === undefined ? undefined : repo.images.get(name)
    if (img) return { kind: 'image', src: img.src, data: img.data, key: segs.slice(2).find((s) => s !== 'hv:image') }
  }
  if (segs[0] === 'hv:endorser') {
    const e = repo.endorsers.get(list.endorser)
    if (e) return { kind: 'endorser', src: e.src, data: e.data, key: segs.slice(1).find((s) => s !== 'hv:x509') }
  }
  return { kind: 'imagelist', src: list.src, data: list.data, key: segs[0] }
}

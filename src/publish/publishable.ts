/**
 * The rulebook's publish rules (src/rules/book.ts: IMAGE_SOURCE_UNREADABLE, NO_TARGET,
 * TARGET_NO_MATCH, TRANSFER_URL_INVALID), judged on the repository without connecting anywhere, so
 * that `validate` and `plan` report first what `publish` would refuse. `publish` itself reaches the
 * same verdicts from the same functions (PublishTargets.resolve, parseTarget, the source read).
 *
 * Decisions (stricter where the repository says it publishes with vmgit):
 * - target rules apply only when vmgit.yaml declares `targets:` (a repository that signs with vmgit
 *   and uploads otherwise has none, and publish is then not its tool);
 * - an unreadable `source:` is an error where the caller knows the image must be uploaded (plan:
 *   not in the published list as it is), else a warning (validate cannot see the targets).
 */
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import path from 'node:path'
import { yamlKeyFor } from '../model/friendly.js'
import { toHepix } from '../model/hepix.js'
import type { Problem } from '../model/problems.js'
import type { Repository } from '../model/types.js'
import { problemAt } from '../model/yaml-source.js'
import { RULES, type RuleId } from '../rules/book.js'
import { certLifetimeVerdicts, signingCertVerdicts, type CertFacts, type Severity } from '../rules/list.js'
import { signingCertificate } from './cert.js'
import { isVmgitError, type ErrorCode } from '../util/errors.js'
import { mapUri, readPublishSettings, type TargetRule } from './config.js'
import { parseTarget } from '../transfer/index.js'
import { registryProblems } from './registry-problems.js'

export interface PublishVerdict {
  code: ErrorCode
  severity: Severity
  message: string
  /** the YAML file (relative) and the HEPiX key it is about */
  file: string
  key: string
  list?: string
  image?: string
}

export interface PublishableOptions {
  rules: readonly TargetRule[]
  now: Date
  /** true when publishing must upload this image (by dc:identifier); undefined: not known */
  mustUpload?: (identifier: string) => boolean
  /**
   * where `source:` paths are read from: the work tree publish runs in (default the repository's
   * directory; plan --head REF judges a commit's YAML against the work tree's files)
   */
  sourceRoot?: string
}

const v = (rule: RuleId, severity: Severity, message: string, at: Omit<PublishVerdict, 'code' | 'severity' | 'message'>): PublishVerdict =>
  ({ code: RULES[rule].code, severity, message, ...at })

/** Where `uri` is written, or the verdict that refuses it (the mapping and parse publish does). */
function targetVerdict(uri: string, rules: readonly TargetRule[], what: string, at: Omit<PublishVerdict, 'code' | 'severity' | 'message'>, noMatch: RuleId): PublishVerdict | undefined {
  const m = mapUri(uri, rules)
  if (!m) {
    const hint = noMatch === 'NO_TARGET' ? 'it has a source: to upload' : 'publish writes the list there'
    return v(noMatch, 'error', `${what} uri ${uri || '(none)'} matches no target in vmgit.yaml, and ${hint}; add a target (targets: - match: … replace: …)`, at)
  }
  try {
    parseTarget(m.url)
    return undefined
  } catch (e) {
    if (!isVmgitError(e)) throw e
    // a relative `replace: public/` gives `public/…`: not a URL, not an absolute path
    return { ...v('TRANSFER_URL_INVALID', 'error', `${what}: the target for ${uri} is ${JSON.stringify(m.url)}: ${e.message}`, at), code: e.code }
  }
}

async function unreadable(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file)
    if (!st.isFile()) return 'not a regular file'
    await access(file, constants.R_OK)
    return undefined
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message
  }
}

export async function publishVerdicts(repo: Repository, o: PublishableOptions): Promise<PublishVerdict[]> {
  const out: PublishVerdict[] = []
  const declared = o.rules.length > 0
  const seen = new Set<string>()
  for (const list of [...repo.lists.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!list.ok) continue
    const listUri = typeof list.hepix['hv:uri'] === 'string' ? String(list.hepix['hv:uri']) : ''
    if (declared) {
      const t = targetVerdict(listUri, o.rules, `list ${list.name}`, { file: list.file, key: 'hv:uri', list: list.name }, 'TARGET_NO_MATCH')
      if (t) out.push(t)
    }
    for (const name of list.images) {
      const img = repo.images.get(name)
      if (!img?.ok || img.source === undefined || seen.has(name)) continue
      seen.add(name)
      const id = String(img.hepix['dc:identifier'] ?? name)
      const at = { file: img.file, key: 'source', image: id }
      if (declared) {
        const t = targetVerdict(String(img.hepix['hv:uri'] ?? ''), o.rules, `image ${name}`, at, 'NO_TARGET')
        if (t) out.push(t)
      }
      const why = await unreadable(path.resolve(o.sourceRoot ?? repo.dir, img.source))
      if (why) {
        const must = o.mustUpload?.(id)
        const severity: Severity = must === true ? 'error' : 'warning'
        const when = must === true ? 'publish must upload it (it is not published as it is now)' : 'publish refuses it whenever it must upload the image'
        out.push(v('IMAGE_SOURCE_UNREADABLE', severity, `image ${name}: cannot read its source ${img.source} (${why}); ${when}: restore the file or fix source:`, at))
      }
    }
  }
  return out
}

/**
 * The signing certificate's rules (CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_EXPIRES_BEFORE_LIST) for
 * the certificate the repository is configured to sign with (--cert, VMGIT_SIGNING_CERT or vmgit.yaml
 * signing.cert); none when no certificate is configured.
 */
export function certVerdicts(repo: Repository, cert: CertFacts | undefined, now: Date): PublishVerdict[] {
  if (!cert) return []
  const at = { file: 'vmgit.yaml', key: 'signing' }
  const out: PublishVerdict[] = signingCertVerdicts(cert, now).map((x) => ({ ...x, ...at }))
  for (const list of [...repo.lists.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    let expires: unknown
    try {
      expires = toHepix(repo, list.name, { now }).list['dc:date:expires']
    } catch {
      continue // a list that cannot render is reported by its own problems
    }
    out.push(...certLifetimeVerdicts(expires, cert).map((x) => ({ ...x, file: list.file, key: 'dc:date:expires', list: list.name })))
  }
  return out
}

/** `vmgit validate`: the publish and certificate rules as problems at their YAML positions. */
export async function validateProblems(repo: Repository, o: { now: Date; env?: NodeJS.ProcessEnv }): Promise<Problem[]> {
  const { rules } = await readPublishSettings(repo.dir)
  let cert: CertFacts | undefined
  // vmgit.yaml registry: beyond its oci:// prefix, with plan's and publish's codes
  const out: Problem[] = registryProblems(repo)
  try {
    cert = await signingCertificate(repo, undefined, o.env ?? process.env)
  } catch (e) {
    if (!isVmgitError(e)) throw e
    out.push(problemAtFile(repo, 'vmgit.yaml', 'signing', 'error', e.code, e.message))
  }
  for (const x of [...(await publishVerdicts(repo, { rules, now: o.now })), ...certVerdicts(repo, cert, o.now)]) {
    out.push(problemAtFile(repo, x.file, x.key, x.severity, x.code, x.message))
  }
  return out
}

function problemAtFile(repo: Repository, file: string, key: string, severity: Severity, code: ErrorCode, message: string): Problem {
  const entries = [...repo.lists.values(), ...repo.images.values(), ...repo.endorsers.values()]
  const e = entries.find((x) => x.file === file)
  const src = e?.src ?? (file === 'vmgit.yaml' ? repo.configSrc : undefined)
  if (!src) return { file, line: 1, col: 1, severity, code, message }
  const kind = file.startsWith('images/') ? 'image' : 'imagelist'
  const yk = e && key.includes(':') ? yamlKeyFor(kind, e.data, key) : key
  const data = e?.data ?? {}
  return problemAt(src, yk !== undefined && yk in data ? [yk] : [], severity, code, message)
}

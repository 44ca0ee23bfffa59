import type { HepixList, HepixObject, Layout } from '../imagelist/types.js'
import { usageError, VmgitError, type ErrorCode } from '../util/errors.js'
import { byName, NAMESPACED_KEY, RESERVED_KEYS, type Kind } from './friendly.js'
import { hepixDate, versionStamp } from './time.js'
import type { ListEntry, Repository } from './types.js'

/**
 * YAML map → HEPiX keys: friendly names become their HEPiX key, raw namespaced keys are kept
 * with their type, vmgit-only keys (source, endorser, images, layout) are dropped. Values that
 * are neither strings nor numbers are skipped here (the schema reports them).
 */
export function hepixOf(kind: Exclude<Kind, 'config'>, data: Record<string, unknown>): HepixObject {
  const out: HepixObject = {}
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string' && typeof v !== 'number') continue
    const fr = byName(kind, k)
    if (fr) {
      // friendly and raw both set is an error (FRIENDLY_AND_RAW); the friendly value wins
      out[fr.key] = v
    } else if (NAMESPACED_KEY.test(k) && !RESERVED_KEYS[kind].includes(k) && !(k in out)) {
      out[k] = v
    }
  }
  return out
}

/** A list by file name (without .yaml) or by its dc:identifier. */
export function findList(repo: Repository, nameOrId: string): ListEntry {
  const byFile = repo.lists.get(nameOrId.replace(/\.ya?ml$/, ''))
  if (byFile) return byFile
  for (const l of repo.lists.values()) if (l.hepix['dc:identifier'] === nameOrId) return l
  const known = [...repo.lists.keys()].join(', ') || 'none'
  throw usageError('LIST_NOT_FOUND', `no image list "${nameOrId}" in imagelists/ (by file name or dc:identifier); lists: ${known}`)
}

export const layoutOf = (repo: Repository, list: ListEntry): Layout => list.layout ?? repo.config.layout

export interface ToHepixOptions {
  /** The render/signing time: default created, expires (= now + lifetime) and version. */
  now: Date
  /** Subject and issuer of the signing certificate: fill endorser dn/ca left out of the YAML. */
  signer?: { dn: string; ca: string }
}

/**
 * The HEPiX list for one list file: list keys (with computed version/created/expires when the
 * YAML does not fix them), the endorser's hv:x509 and the images in list order.
 */
export function toHepix(repo: Repository, listName: string, opts: ToHepixOptions): HepixList {
  const entry = findList(repo, listName)
  if (!entry.ok) throw invalid(entry.file, 'it does not parse')
  const list: HepixObject = { ...entry.hepix }
  // HEPiX dates are strict UTC seconds (spec §1.3); hv:version is the UTC stamp (issue 5)
  if (list['dc:date:created'] === undefined) list['dc:date:created'] = hepixDate(opts.now)
  if (list['dc:date:expires'] === undefined) list['dc:date:expires'] = hepixDate(new Date(opts.now.getTime() + repo.config.lifetimeMs))
  if (list['hv:version'] === undefined) list['hv:version'] = versionStamp(opts.now)

  const e = repo.endorsers.get(entry.endorser)
  if (!e) throw invalid(entry.file, `its endorser "${entry.endorser}" is not in endorsers/`, 'UNKNOWN_ENDORSER')
  if (!e.ok) throw invalid(e.file, 'it does not parse')
  const endorser: HepixObject = { ...e.hepix }
  if (opts.signer) {
    if (endorser['hv:dn'] === undefined) endorser['hv:dn'] = opts.signer.dn
    if (endorser['hv:ca'] === undefined) endorser['hv:ca'] = opts.signer.ca
  }

  const images = entry.images.map((name) => {
    const img = repo.images.get(name)
    if (!img) throw invalid(entry.file, `its image "${name}" is not in images/`, 'UNKNOWN_IMAGE')
    if (!img.ok) throw invalid(img.file, 'it does not parse')
    return { ...img.hepix }
  })
  return { list, endorser, images }
}

const invalid = (file: string, why: string, code: ErrorCode = 'INVALID_REPOSITORY') =>
  new VmgitError(code, `cannot render from ${file}: ${why}; run vmgit validate and fix the problems it reports`)

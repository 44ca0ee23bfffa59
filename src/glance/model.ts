import { SHA512_HEX } from '../util/hash.js'
import type { Provenance } from '../imagelist/provenance.js'
import { VmgitError } from '../util/errors.js'

/**
 * An endorsed, verified image as the Glance handler sees it (from an event's variables or from a
 * cache entry of the subscriber database), and the Glance properties that tie an image in Glance
 * back to its list entry. Pure: no I/O.
 */
export interface EndorsedImage {
  /** The list's dc:identifier (VMCATCHER_EVENT_IL_DC_IDENTIFIER). */
  listId: string
  identifier: string
  sha512: string
  version?: string
  /** The hv:image object as listed (event variables mapped back to their keys when that is all we have). */
  entry: Record<string, string | number>
  vo?: string
  /** The signer of the list (OpenSSL one-line DN). */
  endorser?: string
  /** The verified file in the cache (needed to upload, not to expire). */
  file?: string
  /** issue 15: the list's signed provenance (vmgit:repository, vmgit:commit, vmgit:run) */
  provenance?: Provenance
}

/** Properties vmgit sets; `vmgit:managed=true` marks the images vmgit may change or delete. */
export const P = {
  managed: 'vmgit:managed',
  state: 'vmgit:state',
  retireAfter: 'vmgit:retire_after',
  uploadSha512: 'vmgit:upload_sha512',
  sourceFormat: 'vmgit:source_format',
  endorser: 'vmgit:endorser',
  list: 'il:dc:identifier',
  identifier: 'dc:identifier',
  version: 'hv:version',
  sha512: 'sl:checksum:sha512',
} as const

/**
 * Life cycle in `vmgit:state`: uploading (created, data not yet verified: never published) →
 * current (active, published) → retiring (replaced by a newer version: deactivated, deleted
 * after `vmgit:retire_after`) or expired (withdrawn by the endorser: deactivated).
 */
export type VmgitState = 'uploading' | 'current' | 'retiring' | 'expired'

const str = (v: string | number | undefined): string | undefined => (v === undefined || v === '' ? undefined : String(v))

/** Glance caps property values at 255 characters. */
const cap = (v: string | undefined): string | undefined => (v === undefined ? undefined : v.length <= 255 ? v : v.slice(0, 254) + '…')

const DISTROS: [RegExp, string][] = [
  [/ubuntu/i, 'ubuntu'],
  [/debian/i, 'debian'],
  [/cent\s*os/i, 'centos'],
  [/alma/i, 'almalinux'],
  [/rocky/i, 'rocky'],
  [/fedora/i, 'fedora'],
  [/scientific|^sl\b/i, 'scientific'],
  [/red\s*hat|rhel/i, 'rhel'],
  [/suse|sles/i, 'opensuse'],
  [/windows/i, 'windows'],
  [/freebsd/i, 'freebsd'],
  [/arch/i, 'arch'],
  [/cirros/i, 'cirros'],
]

/** Glance's os_distro vocabulary (lower case, e.g. "ubuntu") from sl:osname, else sl:os. */
export function osDistro(entry: Record<string, string | number>): string | undefined {
  for (const key of ['sl:osname', 'sl:os']) {
    const v = str(entry[key])
    if (!v) continue
    const hit = DISTROS.find(([re]) => re.test(v))
    if (hit) return hit[1]
    // "Linux" alone names no distribution
    if (!/^linux$/i.test(v) && key === 'sl:osname') return v.toLowerCase().replace(/\s+/g, '')
  }
  return undefined
}

/** Glance's architecture vocabulary (libosinfo/nova: x86_64, i686, aarch64, ppc64le, s390x). */
export function architecture(arch: string | undefined): string | undefined {
  if (!arch) return undefined
  const a = arch.toLowerCase()
  if (a === 'amd64' || a === 'x86-64' || a === 'x64') return 'x86_64'
  if (a === 'i386' || a === 'i486' || a === 'i586' || a === 'x86') return 'i686'
  if (a === 'arm64') return 'aarch64'
  return a
}

/** The properties a Glance image of this endorsed image carries (besides the vmgit:state ones). */
export function imageProperties(img: EndorsedImage): Record<string, string | undefined> {
  const e = img.entry
  return {
    [P.managed]: 'true',
    [P.list]: img.listId,
    [P.identifier]: img.identifier,
    [P.version]: cap(img.version),
    [P.sha512]: img.sha512,
    [P.endorser]: cap(img.endorser),
    'dc:title': cap(str(e['dc:title'])),
    'ad:vo': cap(img.vo),
    'ad:mpuri': cap(str(e['ad:mpuri'])),
    'hv:hypervisor': cap(str(e['hv:hypervisor'])),
    'hv:format': cap(str(e['hv:format'])),
    os_distro: osDistro(e),
    os_version: cap(str(e['sl:osversion'])),
    architecture: architecture(str(e['sl:arch'])),
    // issue 15: where the list came from, as signed
    'vmgit:repository': cap(img.provenance?.repository),
    'vmgit:commit': cap(img.provenance?.commit),
    'vmgit:run': cap(img.provenance?.run),
    // issue 17: an image a list pins in a registry names its signed OCI reference and manifest digest
    'vmgit:oci:reference': cap(str(e['vmgit:oci:reference'])),
    'vmgit:oci:digest': cap(str(e['vmgit:oci:digest'])),
  }
}

/** The name shown in dashboards: the image's title, else its identifier. */
export const imageName = (img: EndorsedImage): string => (str(img.entry['dc:title']) ?? img.identifier).slice(0, 255)

/** Build from a hv:image object (cache entry json, or event variables mapped back). */
export function endorsedFromEntry(listId: string, entry: Record<string, string | number>, extra: { vo?: string | null; endorser?: string; file?: string; provenance?: Provenance } = {}): EndorsedImage {
  const identifier = str(entry['dc:identifier'])
  const sha512 = str(entry['sl:checksum:sha512'])?.toLowerCase()
  if (!identifier) throw new VmgitError('GLANCE_IMAGE_INCOMPLETE', `an image of list ${listId} has no dc:identifier; nothing can be imported`)
  if (!sha512 || !SHA512_HEX.test(sha512)) throw new VmgitError('GLANCE_IMAGE_INCOMPLETE', `image ${identifier} has no valid sl:checksum:sha512; only verified images are imported`)
  const version = str(entry['hv:version'])
  return {
    listId,
    identifier,
    sha512,
    entry,
    ...(version ? { version } : {}),
    ...(extra.vo ? { vo: extra.vo } : {}),
    ...(extra.endorser ? { endorser: extra.endorser } : {}),
    ...(extra.file ? { file: extra.file } : {}),
    ...(extra.provenance && Object.keys(extra.provenance).length ? { provenance: extra.provenance } : {}),
  }
}

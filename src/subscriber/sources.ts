import type { Wanted } from './desired.js'
import { type OciPin, parseOciLocation, pinOf } from './ociref.js'
import { getUrls, hasRegistryLocation, type DB } from './store.js'

/**
 * Where an image's bytes may come from, in the order they are tried (issue 17). Whatever the
 * source, download.ts checks the signed sha512 and hv:size (and a registry blob's digest) in one
 * pass: the order decides only who is asked first.
 *
 * - A list kept in a registry (a subscription with an oci:// location): the registry, by the
 *   digest the list pins, first; then hv:uri when it is an http(s) URL.
 * - A list fetched over http(s) with `--prefer-registry`: the same order.
 * - Otherwise hv:uri only, unless the entry has no http(s) hv:uri at all: then its pin is the only
 *   way to the bytes, and it is used.
 * A tag is never a source: only `vmgit:oci:reference`@`vmgit:oci:digest` as signed.
 */
export type ImageSource = { kind: 'uri'; uri: string } | { kind: 'oci'; pin: OciPin }

export interface SourcePlan {
  sources: ImageSource[]
  /** pins that cannot be used (charged to their image as warnings) */
  invalid: { w: Wanted; message: string }[]
}

export function imageSources(db: DB, ws: Wanted[], preferRegistry: boolean): SourcePlan {
  const first: ImageSource[] = []
  const last: ImageSource[] = []
  const seen = new Set<string>()
  const invalid: SourcePlan['invalid'] = []
  const add = (to: ImageSource[], key: string, s: ImageSource): void => {
    if (seen.has(key)) return
    seen.add(key)
    to.push(s)
  }
  const named = namedRegistries(db, ws)
  for (const w of ws) {
    const http = /^https?:\/\//i.test(w.uri)
    const registryFirst = preferRegistry || hasRegistryLocation(db, w.subscriptionId)
    const parsed = pinOf(w.image)
    const pin = parsed !== undefined && !('problem' in parsed) ? { ...parsed, named: named.has(parsed.registry) } : parsed
    if (pin !== undefined && 'problem' in pin) {
      if (registryFirst || !http) invalid.push({ w, message: `image ${w.identifier} (list ${w.subscriptionId}) cannot be fetched from a registry: ${pin.problem}` })
    } else if (pin !== undefined && (registryFirst || !http)) {
      add(registryFirst ? first : last, `oci ${pin.reference}`, { kind: 'oci', pin })
    }
    if (http) add(last, `uri ${w.uri}`, { kind: 'uri', uri: w.uri })
  }
  return { sources: [...first, ...last], invalid }
}

/**
 * O09: the registry hosts the operator named for these images' subscriptions (their oci://
 * locations). A pin on one of them is the operator's registry; a pin on any other host is only
 * what a signed list says, and gets neither the operator's DNS trust nor VMGIT_REGISTRY_* credentials.
 */
function namedRegistries(db: DB, ws: Wanted[]): Set<string> {
  const hosts = new Set<string>()
  for (const id of new Set(ws.map((w) => w.subscriptionId))) {
    for (const row of getUrls(db, id).filter((u) => u.url.startsWith('oci://'))) {
      try {
        hosts.add(parseOciLocation(row.url).registry)
      } catch {
        // a stored location that no longer parses names nothing
      }
    }
  }
  return hosts
}

/**
 * vmgit.yaml `registry:` judged exactly as plan and publish judge it (src/oci/publish.ts
 * registrySettings, which parses the destination with src/oci/reference.ts parseDestination), so
 * that `validate` reports a bad host, port or prefix, a secret key in the map, or a bad
 * moving_tag/chunk_size with the same code plan and publish refuse it with, annotated on vmgit.yaml
 * at the key it is about. The schema only checks the `oci://` prefix (it serves editors); the
 * grammar lives in one place, the parser, and is not copied here.
 */
import type { Problem } from '../model/problems.js'
import type { Repository } from '../model/types.js'
import { problemAt, type PathSeg } from '../model/yaml-source.js'
import { registrySettings } from '../oci/publish.js'
import { isVmgitError } from '../util/errors.js'

export function registryProblems(repo: Repository): Problem[] {
  const src = repo.configSrc
  if (!src) return []
  try {
    registrySettings(src.data)
    return []
  } catch (e) {
    if (!isVmgitError(e)) throw e
    const { path, key } = where(src.data, e.code, e.message)
    return [problemAt(src, path, 'error', e.code, e.message, { key })]
  }
}

/** The YAML path the problem is about: the refused key of the registry map, else its url, else `registry` itself. */
function where(data: unknown, code: string, message: string): { path: PathSeg[]; key: boolean } {
  const r = (data as { registry?: unknown } | null)?.registry
  if (!r || typeof r !== 'object' || Array.isArray(r)) return { path: ['registry'], key: false }
  const keys = Object.keys(r)
  // a secret key: point at the key itself (its value is what must not be shown or committed)
  const secret = code === 'TARGET_SECRET_IN_CONFIG' ? keys.find((k) => message.includes(`"${k}"`)) : undefined
  if (secret !== undefined) return { path: ['registry', secret], key: true }
  const named = keys.find((k) => message.startsWith(`vmgit.yaml registry: ${k} `))
  if (named !== undefined) return { path: ['registry', named], key: false }
  return { path: keys.includes('url') ? ['registry', 'url'] : ['registry'], key: false }
}

import { durationOf } from '../rules/time.js'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { usageError } from '../util/errors.js'
import type { Visibility } from './client.js'
import { DISK_FORMATS, type DiskFormat } from './convert.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

/**
 * Configuration of the Glance handler: a YAML file (`--config FILE`, env VMGIT_GLANCE_CONFIG)
 * whose keys are the flag names, overridden by flags. Example:
 *
 *   cloud: mysite            # clouds.yaml entry (else OS_CLOUD / OS_* variables)
 *   target-format: qcow2     # qcow2 | raw | vmdk | vdi | vhd | vhdx
 *   visibility: shared       # private | shared | community | public
 *   share: [a1b2c3, d4e5f6]  # project ids that get the images (implies shared)
 *   on-expiry: deactivate    # deactivate | delete
 *   grace: 2d                # an old version stays (deactivated) this long after its successor
 *   work-dir: /var/tmp       # conversion scratch space
 */
export type OnExpiry = 'deactivate' | 'delete'

export interface GlanceConfig {
  cloud?: string
  endpoint?: string
  targetFormat: DiskFormat
  visibility: Visibility
  share: string[]
  onExpiry: OnExpiry
  /** Milliseconds a replaced version stays (deactivated) before it is deleted; 0 = at once. */
  graceMs: number
  workDir?: string
  /** A `saving` image older than this is an upload that died with its process. */
  staleUploadMs: number
}

export interface GlanceConfigInput {
  cloud?: string
  endpoint?: string
  'target-format'?: string
  visibility?: string
  share?: string[]
  'on-expiry'?: string
  grace?: string
  'work-dir'?: string
  'stale-upload'?: string
}

const KEYS = ['cloud', 'endpoint', 'target-format', 'visibility', 'share', 'on-expiry', 'grace', 'work-dir', 'stale-upload'] as const
const VISIBILITIES: readonly Visibility[] = ['private', 'shared', 'community', 'public']

/** "90s", "15m", "2h", "7d", "1w" or "0": vmgit's one duration grammar (src/rules/time.ts). */
export const parseDuration = (text: string, what: string): number => durationOf(what, text, { allowZero: true })

export function loadConfigFile(file: string): GlanceConfigInput {
  let doc: unknown
  checkRegularFile(file, 'the Glance configuration', CAP.config)
  try {
    doc = parseYaml(readFileSync(file, 'utf8'))
  } catch (e) {
    throw usageError('GLANCE_CONFIG_INVALID', `cannot read ${file}: ${(e as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw usageError('GLANCE_CONFIG_INVALID', `${file} must be a YAML mapping of ${KEYS.join(', ')}`)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!(KEYS as readonly string[]).includes(k)) throw usageError('GLANCE_CONFIG_INVALID', `${file}: unknown key ${JSON.stringify(k)}; known keys: ${KEYS.join(', ')}`)
    if (k === 'share') {
      const list = Array.isArray(v) ? v : [v]
      if (!list.every((p) => typeof p === 'string' || typeof p === 'number')) throw usageError('GLANCE_CONFIG_INVALID', `${file}: share must be a list of project ids`)
      out[k] = list.map(String)
    } else if (typeof v === 'string' || typeof v === 'number') {
      out[k] = String(v)
    } else {
      throw usageError('GLANCE_CONFIG_INVALID', `${file}: ${k} must be a single value`)
    }
  }
  return out as GlanceConfigInput
}

/** Merge file and flags (flags win) and validate. */
export function resolveConfig(file: GlanceConfigInput, flags: GlanceConfigInput): GlanceConfig {
  const v = <K extends keyof GlanceConfigInput>(k: K): GlanceConfigInput[K] => flags[k] ?? file[k]
  const target = v('target-format') ?? 'qcow2'
  if (!(DISK_FORMATS as readonly string[]).includes(target)) throw usageError('BAD_TARGET_FORMAT', `target format ${JSON.stringify(target)} is not one of ${DISK_FORMATS.join(', ')}`)
  const share = [...new Set(flags.share?.length ? flags.share : (file.share ?? []))]
  for (const p of share) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(p)) throw usageError('BAD_PROJECT', `share: ${JSON.stringify(p)} is not a project id (hex or name-like, up to 64 characters)`)
  }
  // sharing with projects means visibility "shared" (Glance refuses members otherwise)
  const visibility = v('visibility') ?? (share.length ? 'shared' : 'private')
  if (!(VISIBILITIES as readonly string[]).includes(visibility)) throw usageError('BAD_VISIBILITY', `visibility ${JSON.stringify(visibility)} is not one of ${VISIBILITIES.join(', ')}`)
  if (share.length && visibility !== 'shared') throw usageError('BAD_VISIBILITY', `--share gives projects, but visibility is ${visibility}; members need visibility shared (drop one of them)`)
  const onExpiry = v('on-expiry') ?? 'deactivate'
  if (onExpiry !== 'deactivate' && onExpiry !== 'delete') throw usageError('BAD_ON_EXPIRY', `on-expiry ${JSON.stringify(onExpiry)} must be deactivate or delete`)
  const cloud = v('cloud')
  const endpoint = v('endpoint')
  const workDir = v('work-dir')
  return {
    targetFormat: target as DiskFormat,
    visibility: visibility as Visibility,
    share,
    onExpiry,
    graceMs: parseDuration(v('grace') ?? '1d', 'grace'),
    staleUploadMs: parseDuration(v('stale-upload') ?? '6h', 'stale-upload'),
    ...(cloud ? { cloud } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(workDir ? { workDir } : {}),
  }
}

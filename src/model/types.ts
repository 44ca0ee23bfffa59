import type { HepixObject, Layout } from '../imagelist/types.js'
import type { Problem } from './problems.js'
import type { SourceFile } from './yaml-source.js'

export interface Target {
  match: string
  replace: string
  regex: boolean
}

/** vmgit.yaml with defaults applied. */
export interface RepoConfig {
  version: 1
  layout: Layout
  /** As written, e.g. `28d`. */
  lifetime: string
  lifetimeMs: number
  digest: 'sha256' | 'sha1'
  signing?: { cert: string }
  targets: Target[]
  appdbKeys: 'warn' | 'off'
  /** issue 15: provenance keys in the signed list (vmgit:repository, vmgit:commit, vmgit:run); `provenance: false` turns them off */
  provenance: { enabled: boolean; repository?: string }
  /** issue 15: directories outside the repository that image `source:` may name (honoured only as on the default branch) */
  sourceRoots: string[]
}

export const DEFAULT_CONFIG: RepoConfig = {
  version: 1,
  layout: 'vmcaster',
  lifetime: '28d',
  lifetimeMs: 28 * 86_400_000,
  digest: 'sha256',
  targets: [],
  appdbKeys: 'warn',
  provenance: { enabled: true },
  sourceRoots: [],
}

interface Entry {
  /** File name without `.yaml`; what lists reference. */
  name: string
  /** Path relative to the repository. */
  file: string
  src: SourceFile
  /** False when the file did not parse to a map: it exists (so references resolve) but cannot render. */
  ok: boolean
  data: Record<string, unknown>
  /** HEPiX keys this file sets (friendly names mapped, raw keys kept, vmgit-only keys dropped). */
  hepix: HepixObject
}

export type EndorserEntry = Entry

export interface ImageEntry extends Entry {
  /** `source:` (vmgit only): where publish uploads the image from. */
  source?: string
}

export interface ListEntry extends Entry {
  endorser: string
  images: string[]
  /** `layout:` of the list file, if set (else vmgit.yaml's). */
  layout?: Layout
}

export interface Repository {
  /** Absolute path. */
  dir: string
  config: RepoConfig
  /** Parsed vmgit.yaml, when present. */
  configSrc?: SourceFile
  endorsers: Map<string, EndorserEntry>
  images: Map<string, ImageEntry>
  lists: Map<string, ListEntry>
  /** Every problem found, sorted by file and position. */
  problems: Problem[]
}

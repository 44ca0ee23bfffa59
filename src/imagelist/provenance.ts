/**
 * Provenance keys in a signed list (issue 15), as publish writes them and verify, `sub show`, sync
 * (`--require-repository`) and the Glance handler read them: flat string keys at list level,
 * `vmgit:repository`, `vmgit:commit`, `vmgit:run`, `vmgit:dirty`. Pure functions, no I/O.
 * vmcatcher, cloudkeeper and atrope ignore them (see src/publish/provenance.ts for the parsers read).
 */
/** `vmgit:dirty` = "true" marks a list published with --allow-dirty from files no commit holds */
export const PROVENANCE_KEYS = ['vmgit:repository', 'vmgit:commit', 'vmgit:run', 'vmgit:dirty'] as const

export interface Provenance {
  repository?: string
  commit?: string
  run?: string
  dirty?: boolean
}

/**
 * A repository URL fit to publish: userinfo (tokens: https://x-access-token:TOKEN@github.com/…),
 * query and fragment are removed; an scp-like `user@host:path` keeps host and path only.
 * Undefined when nothing usable remains (a local path is not a repository anyone else can name).
 */
export function publicRepositoryUrl(raw: string): string | undefined {
  const s = raw.trim()
  if (!s) return undefined
  const scp = /^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!\/\/)([^\s]+)$/.exec(s)
  if (scp && !/^[A-Za-z]:[\\/]/.test(s)) return `${scp[1]}:${scp[2]}`
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return undefined
  }
  if (!['https:', 'http:', 'ssh:', 'git:'].includes(u.protocol) || !u.hostname) return undefined
  u.username = ''
  u.password = ''
  u.search = ''
  u.hash = ''
  return u.toString()
}

/**
 * The same repository, whatever the spelling: scheme and host case, a trailing `.git` or `/`, and
 * the ssh forms of the same host path compare equal (`git@github.com:org/x.git` =
 * `https://github.com/org/x`). Used by `sub add --require-repository`.
 */
export function sameRepository(a: string, b: string): boolean {
  const norm = (s: string): string | undefined => {
    const p = publicRepositoryUrl(s)
    if (!p) return undefined
    let hostPath: string
    const scp = /^([A-Za-z0-9.-]+):(.*)$/.exec(p)
    if (scp && !p.includes('://')) hostPath = `${scp[1]!.toLowerCase()}/${scp[2]}`
    else {
      const u = new URL(p)
      hostPath = `${u.hostname.toLowerCase()}${u.port ? `:${u.port}` : ''}${u.pathname}`
    }
    return hostPath.replace(/\/+$/, '').replace(/\.git$/, '').replace(/\/+$/, '')
  }
  const x = norm(a)
  return x !== undefined && x === norm(b)
}

/** Provenance as a signed list carries it (string keys only; anything else is ignored). */
export function provenanceOf(list: Record<string, unknown>): Provenance {
  const s = (k: string): string | undefined => (typeof list[k] === 'string' ? (list[k] as string) : undefined)
  const out: Provenance = {}
  const r = s('vmgit:repository')
  const c = s('vmgit:commit')
  const run = s('vmgit:run')
  if (r) out.repository = r
  if (c) out.commit = c
  if (run) out.run = run
  if (s('vmgit:dirty') === 'true') out.dirty = true
  return out
}


/** Text lines for `vmgit verify` (aligned like its other lines); none when the list carries no provenance. */
export function provenanceLines(p: Provenance): string[] {
  const out: string[] = []
  if (p.repository) out.push(`  repository: ${p.repository}`)
  if (p.commit) out.push(`  commit:     ${p.commit}${p.dirty ? ' (published with --allow-dirty: files differed from it)' : ''}`)
  else if (p.dirty) out.push('  commit:     none (published with --allow-dirty outside git)')
  if (p.run) out.push(`  run:        ${p.run}`)
  return out
}

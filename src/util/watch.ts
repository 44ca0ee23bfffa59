import { existsSync, readdirSync, watch, type Dirent, type FSWatcher } from 'node:fs'
import path from 'node:path'
import { Exit, usageError, VmgitError } from './errors.js'
import { escapeText } from './escape.js'

/** Clear the screen and move the cursor home (only written to a terminal). */
export const CLEAR_SCREEN = '\x1b[2J\x1b[H'

export interface WatchOptions {
  /** Quiet period after the last change before re-running; editors write a file in several steps. */
  debounceMs?: number
  /** Aborting stops watching; the returned promise then resolves. */
  signal?: AbortSignal
  /** Clear the screen before each run (pass `stream.isTTY`: never clear into a pipe or a file). */
  clear?: boolean
  /** Shown in each run's header, e.g. "vmgit validate --repo my-images". */
  label?: string
  /** Where headers (and the clear sequence) go. Default: process.stdout. */
  out?: NodeJS.WritableStream
  /** Extra paths (relative to dir, `/` separators) to ignore, e.g. the command's own output files. */
  ignore?: (rel: string) => boolean
  /** Called when a run throws; rethrow to stop watching (the promise rejects). Default: print it and keep watching. */
  onError?: (err: unknown, info: { first: boolean }) => void
  /** Clock for the header; default the wall clock. */
  now?: () => Date
}

/**
 * Paths whose changes never mean "the repository changed": git's own files, and the
 * temporary and backup files editors write next to the file being edited.
 */
export function isIgnoredPath(rel: string): boolean {
  const parts = rel.split(/[\\/]/)
  // .git/: git writes there on every status, fetch and commit
  if (parts.includes('.git')) return true
  const base = parts[parts.length - 1] ?? ''
  return (
    /\.sw[a-px]$/.test(base) || // vim swap files (.x.yaml.swp, .swo, ...) and its .swx probe
    base === '4913' || // vim's probe that the directory is writable
    base.endsWith('~') || // vim/emacs/nano backups
    /^\.?#/.test(base) || // emacs auto-save (#x#) and lock (.#x) files
    /___jb_(tmp|old)___$/.test(base) || // JetBrains safe write
    /^\..*\.tmp$/.test(base) || // writeFileAtomic's temp names (.x.yaml.<hex>.tmp)
    base === '.DS_Store'
  )
}

/** `[14:03:27]` in local time: a header says when this run happened, at a glance. */
function clock(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

function defaultOnError(err: unknown): void {
  if (err instanceof VmgitError) process.stderr.write(`error [${err.code}]: ${escapeText(err.message)}\n`)
  else process.stderr.write(`error [INTERNAL]: ${escapeText(err instanceof Error ? err.message : String(err))}\n`)
}

/**
 * Run `run` now and again after every change under `dir` (recursive fs.watch, debounced),
 * until `signal` aborts. Runs never overlap: a change during a run queues exactly one more
 * run. Each run starts with a timestamped header (after clearing the screen when `clear`).
 * A failing run is reported through `onError` and watching goes on, so a half-typed YAML
 * file never ends the session.
 */
export async function watchRepository(dir: string, run: () => Promise<void>, opts: WatchOptions = {}): Promise<void> {
  const { debounceMs = 150, signal, clear = false, out = process.stdout, onError = defaultOnError, now = () => new Date() } = opts
  const label = opts.label ?? 'vmgit'
  const abs = path.resolve(dir)
  if (signal?.aborted) return

  let watcher: TreeWatcher
  try {
    watcher = watchTree(abs, (rel) => !!rel && (isIgnoredPath(rel) || !!opts.ignore?.(rel)))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // same code and advice as loading a repository that is not there
    if (code === 'ENOENT' || code === 'ENOTDIR') throw usageError('REPO_NOT_FOUND', `${dir} is not a directory; pass --repo DIR (or set VMGIT_REPO) or run vmgit init`)
    throw usageError('WATCH_FAILED', `cannot watch ${dir} (${code ?? (e as Error).message}); check its permissions, or raise fs.inotify.max_user_watches`)
  }

  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    let running = false
    let pending = false
    let first = true
    let done = false

    const finish = (err?: unknown) => {
      if (done) return
      done = true
      if (timer) clearTimeout(timer)
      watcher.close()
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onAbort = () => finish()

    const once = async () => {
      if (done) return
      running = true
      pending = false
      out.write(`${clear ? CLEAR_SCREEN : ''}[${clock(now())}] ${label}: watching ${dir} for changes (Ctrl-C to stop)\n`)
      try {
        await run()
      } catch (e) {
        try {
          onError(e, { first })
        } catch (fatal) {
          finish(fatal)
        }
      }
      first = false
      running = false
      if (pending) schedule()
    }

    // debounce: wait until changes stop for debounceMs, then one run for all of them
    const schedule = () => {
      if (done) return
      if (timer) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = undefined
        if (running) pending = true
        else void once()
      }, debounceMs)
    }

    watcher.on('change', (rel) => {
      if (rel !== '' && (isIgnoredPath(rel) || opts.ignore?.(rel))) return
      schedule()
    })
    watcher.on('error', (e) => finish(usageError('WATCH_FAILED', `watching ${dir} failed: ${e.message}`)))
    signal?.addEventListener('abort', onAbort, { once: true })
    void once()
  })
}

/** Changes under a directory tree: 'change' with the path relative to the root (`/` separators), 'error'. */
interface TreeWatcher {
  on(event: 'change', listener: (rel: string) => void): void
  on(event: 'error', listener: (e: Error) => void): void
  close(): void
}

/**
 * Watch every directory of the tree, not its files: a file saved by rename (\`sed -i\`, vim's
 * backupcopy=no, most IDEs' safe write: write a temporary file, rename it over the old one) is a
 * new inode, which a watch on the old file never reports, while its directory sees the rename
 * every time (issue 14). Linux has no native recursive watch (Node 20 emulates it per file), so
 * there each directory gets its own watch, and new directories are added as they appear;
 * elsewhere the native recursive watch already watches directories. `skip` prunes directories
 * (.git/) by their relative path. Throws like fs.watch when the root cannot be watched.
 */
function watchTree(root: string, skip: (rel: string) => boolean): TreeWatcher {
  const toRel = (p: string) => path.relative(root, p).split(path.sep).join('/')
  const listeners = { change: [] as ((rel: string) => void)[], error: [] as ((e: Error) => void)[] }
  const emitChange = (rel: string) => {
    for (const l of listeners.change) l(rel)
  }
  const emitError = (e: Error) => {
    for (const l of listeners.error) l(e)
  }
  const api = (close: () => void): TreeWatcher => ({
    on: (event: 'change' | 'error', l: ((rel: string) => void) & ((e: Error) => void)) => void listeners[event].push(l),
    close,
  })

  if (process.platform !== 'linux') {
    const w = watch(root, { recursive: true })
    w.on('change', (_event, filename) => emitChange(filename === null ? '' : String(filename).split(path.sep).join('/')))
    w.on('error', emitError)
    return api(() => w.close())
  }

  const watchers = new Map<string, FSWatcher>()
  const add = (dir: string): void => {
    if (watchers.has(dir) || (dir !== root && skip(toRel(dir)))) return
    let w: FSWatcher
    try {
      w = watch(dir)
    } catch (e) {
      if (dir === root) throw e
      return // gone again (or unreadable) before we got to it: nothing to watch there
    }
    watchers.set(dir, w)
    w.on('change', (event, filename) => {
      const rel = filename === null ? toRel(dir) : toRel(path.join(dir, String(filename)))
      // a rename may have brought in (or taken away) a directory: keep the set of watches current
      if (event === 'rename') rescan()
      emitChange(rel)
    })
    w.on('error', (e) => {
      if (dir === root) emitError(e)
      else drop(dir) // a removed directory: its watch ends, the others go on
    })
    addChildren(dir)
  }
  const drop = (dir: string): void => {
    watchers.get(dir)?.close()
    watchers.delete(dir)
  }
  const rescan = (): void => {
    for (const dir of [...watchers.keys()]) if (dir !== root && !existsSync(dir)) drop(dir)
    for (const dir of [...watchers.keys()]) addChildren(dir)
  }
  const addChildren = (dir: string): void => {
    let entries: Dirent[] = []
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return // removed while we looked: the next rescan drops its watch
    }
    for (const e of entries) if (e.isDirectory()) add(path.join(dir, e.name))
  }
  add(root)
  return api(() => {
    for (const dir of [...watchers.keys()]) drop(dir)
  })
}

/**
 * An AbortSignal that fires on Ctrl-C (SIGINT) or SIGTERM, so a watch loop ends cleanly and
 * the command exits 0: stopping a watch is how it is meant to end, not a failure.
 */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController()
  const stop = () => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    ac.abort()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  return ac.signal
}

/** onError for commands: a usage error on the first run (wrong flag, list name, not a repository) ends the watch; later errors are printed and watching goes on. */
export function stopOnFirstUsageError(err: unknown, info: { first: boolean }): void {
  if (info.first && err instanceof VmgitError && err.exit === Exit.USAGE) throw err
  defaultOnError(err)
}

/** `file://` backend: temp name in the target directory, copy, fsync, rename (atomic on POSIX). */
import { createReadStream, rmSync } from 'node:fs'
import { copyFile, lstat, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { transferError } from './errors.js'
import { tempName, trackTemp } from './temps.js'
import type { PutOptions, PutResult, RemoteEntry, RemoteStat, Transfer } from './types.js'
import { envError, isEnvironmentCode, mkdirs } from '../util/envfs.js'
import { isVmgitError, type VmgitError } from '../util/errors.js'

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException)?.code === 'ENOENT'

/**
 * Issue 14: a target directory on a read-only or full file system, or one vmgit may not write, is
 * the machine's problem (FS_READONLY, DISK_FULL, FS_PERMISSION, …: exit 2, the path and the fix),
 * not a transfer to retry later (TRANSFER_FAILED, exit 3). The path named is the target's, whatever
 * side node's error names (copyfile names the source). ENOENT stays the caller's (a missing source).
 */
function fsFailure(e: unknown, syscall: string, target: string, fallback: () => VmgitError): VmgitError {
  if (isVmgitError(e) && isEnvironmentCode(e.code)) return e // mkdirs already named the directory
  const code = (e as NodeJS.ErrnoException)?.code
  if (typeof code !== 'string' || code === 'ENOENT') return fallback()
  return envError(Object.assign(new Error(code), { code, syscall, path: target })) ?? fallback()
}

export class FileTransfer implements Transfer {
  readonly scheme = 'file' as const
  readonly canReadBack = true
  readonly listsDotFiles = true
  readonly location: string

  constructor(location = 'file://') {
    this.location = location
  }

  async put(source: string | Buffer, remotePath: string, opts: PutOptions = {}): Promise<PutResult> {
    const dir = path.dirname(remotePath)
    // atomic replace: same directory, so rename(2) never crosses a filesystem
    const tmp = path.join(dir, tempName(path.basename(remotePath)))
    // SIGINT/SIGTERM: synchronous, so it runs even if the event loop is busy copying
    const untrack = trackTemp(() => rmSync(tmp, { force: true }))
    try {
      await mkdirs(dir)
      if (typeof source === 'string') await copyFile(source, tmp)
      const fh = await open(tmp, typeof source === 'string' ? 'r+' : 'wx', 0o644)
      let size: number
      try {
        if (typeof source !== 'string') await fh.writeFile(source)
        size = (await fh.stat()).size
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, remotePath)
      await syncDir(dir)
      opts.onProgress?.(size, size)
      return { size }
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw fsFailure(e, 'write', remotePath, () => transferError('TRANSFER_FAILED', `cannot write ${remotePath}`, [], e))
    } finally {
      untrack()
    }
  }

  async list(remoteDir: string): Promise<RemoteEntry[]> {
    let names: string[]
    try {
      names = await readdir(remoteDir)
    } catch (e) {
      if (isMissing(e)) return []
      throw fsFailure(e, 'scandir', remoteDir, () => transferError('TRANSFER_FAILED', `cannot list ${remoteDir}`, [], e))
    }
    const out: RemoteEntry[] = []
    for (const name of names) {
      // lstat: a link is not a file vmgit wrote; never follow it
      const s = await lstat(path.join(remoteDir, name)).catch(() => undefined)
      if (s?.isFile()) out.push({ name, size: s.size, mtime: s.mtime })
    }
    return out
  }

  async get(remotePath: string): Promise<Buffer> {
    try {
      return await readFile(remotePath)
    } catch (e) {
      if (isMissing(e)) throw transferError('TRANSFER_NOT_FOUND', `${remotePath} does not exist`)
      throw fsFailure(e, 'read', remotePath, () => transferError('TRANSFER_FAILED', `cannot read ${remotePath}`, [], e))
    }
  }

  async createReadStream(remotePath: string): Promise<Readable> {
    if (!(await this.stat(remotePath))) throw transferError('TRANSFER_NOT_FOUND', `${remotePath} does not exist`)
    return createReadStream(remotePath, { highWaterMark: 1 << 20 })
  }

  async stat(remotePath: string): Promise<RemoteStat | undefined> {
    try {
      const s = await stat(remotePath)
      return { size: s.size, mtime: s.mtime }
    } catch (e) {
      if (isMissing(e)) return undefined
      throw fsFailure(e, 'stat', remotePath, () => transferError('TRANSFER_FAILED', `cannot stat ${remotePath}`, [], e))
    }
  }

  async delete(remotePath: string): Promise<boolean> {
    try {
      await rm(remotePath)
      return true
    } catch (e) {
      if (isMissing(e)) return false
      throw fsFailure(e, 'unlink', remotePath, () => transferError('TRANSFER_FAILED', `cannot delete ${remotePath}`, [], e))
    }
  }

  async close(): Promise<void> {}
}

/** fsync the directory so the rename itself survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined)
  if (!fh) return
  try {
    await fh.sync()
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await fh.close()
  }
}

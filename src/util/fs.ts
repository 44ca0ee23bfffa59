import { randomBytes } from 'node:crypto'
import { lstat, open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { checkRegularFile, mkdirs } from './envfs.js'

/**
 * Write a file so that readers see either the old or the new content, never a torn one:
 * write to a temp name in the same directory, fsync, rename over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file)
  // issue 14: never replace a device, FIFO or directory by renaming over it (`--out /dev/full` as root
  // would swap the device node for a file): only a regular file (or a link to one) is replaced
  const st = await lstat(file).catch(() => undefined)
  if (st && !st.isFile()) checkRegularFile(file, 'the output file')
  await mkdirs(dir)
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode).catch((e: NodeJS.ErrnoException) => {
    if (e.path === tmp) e.path = file // the message names the file asked for, not the temporary name
    throw e
  })
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (e) {
    await fh.close()
    await rm(tmp, { force: true })
    throw e
  }
  await fh.close()
  try {
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

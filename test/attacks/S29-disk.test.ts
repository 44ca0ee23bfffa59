import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ImageFile, makeWorld, sharedPki, snapshot, type World } from '../subscriber/world.js'

/**
 * S29 disk: the cache lives on a real, small file system (a 2 MiB tmpfs mounted by the test, which
 * needs root) and several downloads run at once. A run that cannot hold an image says DISK_FULL with
 * the path and the fix, leaves no partial file of a failed download behind, never starts a download
 * the space promised to the running ones cannot hold, and the next run is not wedged.
 */
function tmpfsWorks(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  const probe = mkdtempSync(path.join(os.tmpdir(), 'vmgit-tmpfs-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' })
    execFileSync('umount', [probe], { stdio: 'pipe' })
    return undefined
  } catch (e) {
    return `mount -t tmpfs failed: ${(e as Error).message.split('\n')[0]}`
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

const whyNot = tmpfsWorks()
if (whyNot && process.env.CI === 'true') throw new Error(`S29 needs a real small file system under CI: ${whyNot}`)

describe.skipIf(whyNot !== undefined)(`S29 disk full while several downloads run${whyNot ? ` (skipped: ${whyNot})` : ''}`, () => {
  let w: World
  let mounted = false
  const images: ImageFile[] = []
  const free = (): number => {
    const s = statfsSync(w.cacheRoot)
    return Number(s.bavail) * Number(s.bsize)
  }

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    mkdirSync(w.cacheRoot, { recursive: true })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', w.cacheRoot])
    mounted = true
    for (const n of ['a', 'b', 'c']) images.push(w.image(`${n}.raw`, 900_000))
    // slow enough that the downloads overlap
    for (const im of images) w.server.set(im.route, { file: im.path, trickle: { bytes: 64 * 1024, everyMs: 40 } })
    await w.publish({ id: w.listId, version: '1.0', images })
    for (const r of [await w.trust(), await w.add(w.listUrl, ['--new-images', 'subscribe'])]) expect(r.code).toBe(0)
    for (const im of images) expect((await w.cli(['sub', 'select', im.id])).code).toBe(0)
  })
  afterAll(async () => {
    if (mounted) execFileSync('umount', [w.cacheRoot])
    await w?.close()
  })

  it('starts only the downloads the disk can hold (space reserved per running download) and reports DISK_FULL for the rest', async () => {
    const r = await w.sync(['--jobs', '3'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('[DISK_FULL]')
    expect(r.stderr).toContain(path.join(w.cacheRoot, 'partial'))
    expect(r.stderr).toMatch(/free some space/)
    const cached = images.filter((im) => w.filesIn('cache').includes(im.sha512))
    const refused = images.filter((im) => !cached.includes(im))
    expect(cached).toHaveLength(2)
    expect(refused).toHaveLength(1)
    // never requested: its bytes would only have filled the disk under the others
    expect(w.server.count(refused[0]!.route)).toBe(0)
    expect(w.filesIn('partial')).toEqual([])
    expect(r.stderr).not.toContain('[INTERNAL]')
  })

  it('is not wedged: once space is freed, the next run downloads what is missing', async () => {
    execFileSync('mount', ['-o', 'remount,size=4m', w.cacheRoot])
    const r = await w.sync(['--jobs', '3'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    for (const im of images) expect(w.filesIn('cache')).toContain(im.sha512)
  })

  describe('when the disk fills up in the middle of a download', () => {
    it('stops it with DISK_FULL (path and fix, not INTERNAL), deletes the partial file and changes nothing else', async () => {
      const y = w.image('y.raw', 1_000_000)
      w.server.set(y.route, { file: y.path, trickle: { bytes: 32 * 1024, everyMs: 40 } })
      images.push(y)
      await w.publish({ id: w.listId, version: '2.0', images })
      expect((await w.sync(['--no-download'])).code).toBe(0)
      const before = snapshot(w)
      expect(free()).toBeGreaterThan(y.size) // the pre-check passes: the space goes while it runs
      const partial = path.join(w.cacheRoot, 'partial', y.sha512)
      const run = w.sync()
      for (let i = 0; i < 400 && !existsSync(partial); i++) await new Promise((res) => setTimeout(res, 10))
      expect(existsSync(partial)).toBe(true)
      // someone else (a log, another tool) takes the rest of the disk
      writeFileSync(path.join(w.cacheRoot, 'filler'), Buffer.alloc(Math.max(0, free() - 16 * 1024)))
      const r = await run
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('[DISK_FULL]')
      expect(r.stderr).toContain(partial)
      expect(r.stderr).not.toContain('[INTERNAL]')
      expect(readdirSync(path.join(w.cacheRoot, 'partial'))).toEqual([])
      const after = snapshot(w)
      delete after.files.filler
      expect(after).toEqual(before)
      // the next run, with the space back, finishes the job
      rmSync(path.join(w.cacheRoot, 'filler'))
      const again = await w.sync()
      expect(again.code).toBe(0)
      expect(w.filesIn('cache')).toContain(y.sha512)
    })
  })
})

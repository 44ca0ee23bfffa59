import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createExclusive, DiskBudget, ensureSafeDirs, hashRegular, renameRegular } from '../../src/util/safefs.js'

/** The filesystem discipline of src/util/safefs.ts, rule by rule, on a real file system. */
const root = mkdtempSync(path.join(os.tmpdir(), 'vmgit-safefs-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const fresh = (name: string): string => {
  const d = path.join(root, name)
  mkdirSync(d, { mode: 0o755 })
  chmodSync(d, 0o755)
  return d
}

describe('S27 ensureSafeDirs', () => {
  it('creates missing directories 0755 and accepts them', async () => {
    const d = path.join(fresh('create'), 'a', 'b')
    await ensureSafeDirs([d])
    expect(statSync(d).mode & 0o777).toBe(0o755)
    expect(statSync(path.dirname(d)).mode & 0o777).toBe(0o755)
  })

  it('refuses a directory under a group-writable parent without the sticky bit', async () => {
    const parent = fresh('groupw')
    chmodSync(parent, 0o775)
    await expect(ensureSafeDirs([path.join(parent, 'cache')])).rejects.toMatchObject({ code: 'CACHE_DIR_UNSAFE', exit: 2 })
  })

  it('accepts a sticky world-writable ancestor (like /tmp), never the directory itself', async () => {
    const parent = fresh('sticky')
    chmodSync(parent, 0o1777)
    await ensureSafeDirs([path.join(parent, 'cache')])
    chmodSync(path.join(parent, 'cache'), 0o1777)
    await expect(ensureSafeDirs([path.join(parent, 'cache')])).rejects.toMatchObject({ code: 'CACHE_DIR_UNSAFE' })
  })
})

describe('S27 never through a link', () => {
  it('createExclusive fails on a planted (even dangling) link and creates nothing at its target', async () => {
    const d = fresh('excl')
    const target = path.join(d, 'target')
    symlinkSync(target, path.join(d, 'name'))
    await expect(createExclusive(path.join(d, 'name'))).rejects.toMatchObject({ code: 'EEXIST' })
    expect(() => statSync(target)).toThrow()
  })

  it('hashRegular refuses to read through a link', async () => {
    const d = fresh('hash')
    writeFileSync(path.join(d, 'real'), 'x')
    symlinkSync(path.join(d, 'real'), path.join(d, 'link'))
    await expect(hashRegular(path.join(d, 'link'))).rejects.toMatchObject({ code: 'ELOOP' })
  })

  it('renameRegular moves only the inode it was told about, and never over a directory', async () => {
    const d = fresh('rename')
    writeFileSync(path.join(d, 'a'), 'a')
    writeFileSync(path.join(d, 'b'), 'b')
    const b = statSync(path.join(d, 'b'))
    await expect(renameRegular(path.join(d, 'a'), path.join(d, 'c'), { dev: b.dev, ino: b.ino })).rejects.toMatchObject({ code: 'CACHE_FOREIGN_FILE' })
    mkdirSync(path.join(d, 'dir'))
    await expect(renameRegular(path.join(d, 'a'), path.join(d, 'dir'))).rejects.toMatchObject({ code: 'CACHE_NAME_TAKEN' })
    symlinkSync(path.join(d, 'b'), path.join(d, 'l'))
    await renameRegular(path.join(d, 'a'), path.join(d, 'l')) // the link is replaced, its target untouched
    expect(readFileSync(path.join(d, 'b'), 'utf8')).toBe('b')
    expect(readFileSync(path.join(d, 'l'), 'utf8')).toBe('a')
  })
})

describe('S29 DiskBudget', () => {
  it('counts the bytes promised to running downloads, and releases them', async () => {
    const budget = new DiskBudget(async () => 1000)
    const a = await budget.reserve('/d', 600)
    await expect(budget.reserve('/d', 600)).rejects.toMatchObject({ code: 'DISK_FULL' })
    a.wrote(500) // written bytes leave the claim (statfs now shows them as used)
    await expect(budget.reserve('/d', 500)).resolves.toBeDefined()
    a.release()
  })

  it('serialises concurrent checks: two downloads never count the same free bytes', async () => {
    const budget = new DiskBudget(async () => {
      await new Promise((r) => setTimeout(r, 10))
      return 1000
    })
    const results = await Promise.allSettled([budget.reserve('/d', 600), budget.reserve('/d', 600)])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
  })
})

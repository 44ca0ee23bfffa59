import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, renameSync, unlinkSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, type ImageFile, snapshot, subscribed } from '../subscriber/world.js'

/**
 * S27 cache filesystem: whoever can write into partial/, cache/ or expired/ plants links, FIFOs,
 * hard links and directories under the names vmgit is about to use. vmgit never follows them: nothing
 * outside the cache is read, truncated or written, what is planted is removed (or, for a directory in
 * cache/, left alone) and reported, and every other image is still delivered.
 */
describe('S27 cache filesystem: planted links and non-regular files', () => {
  let b: Baseline
  let version = 1
  let victim: string
  const victimBytes = Buffer.from('precious data outside the cache\n')
  const extra: ImageFile[] = []
  const dir = (sub: 'cache' | 'partial' | 'expired'): string => path.join(b.w.cacheRoot, sub)

  /** A new image in the next list version, selected, not yet downloaded. */
  async function newImage(name: string, size = 30_000): Promise<ImageFile> {
    const { w } = b
    const x = w.image(name, size)
    extra.push(x)
    await w.publish({ id: w.listId, version: `${++version}.0`, images: [...b.images, ...extra] })
    expect((await w.sync(['--no-download'])).code).toBe(0)
    expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
    return x
  }

  /** The image is delivered: a regular file with its bytes under both of its names. */
  function delivered(x: ImageFile): void {
    for (const name of [x.sha512, x.id]) {
      const p = path.join(dir('cache'), name)
      expect(lstatSync(p).isFile()).toBe(true)
      expect(readFileSync(p).equals(x.bytes)).toBe(true)
    }
  }

  const victimIntact = (): void => {
    expect(lstatSync(victim).isFile()).toBe(true)
    expect(readFileSync(victim).equals(victimBytes)).toBe(true)
  }

  beforeAll(async () => {
    b = await subscribed()
    victim = path.join(b.w.dir, 'victim.txt')
    writeFileSync(victim, victimBytes)
  })
  afterAll(async () => b.w.close())

  describe('when partial/<sha512> is planted before the download', () => {
    it('never writes through a symbolic link to a file outside the cache, and delivers the image', async () => {
      const x = await newImage('sym.qcow2')
      symlinkSync(victim, path.join(dir('partial'), x.sha512))
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[CACHE_FOREIGN_FILE]')
      victimIntact()
      delivered(x)
      expect(readdirSync(dir('partial'))).toEqual([])
    })

    it('never creates the target of a dangling link', async () => {
      const x = await newImage('dangling.qcow2')
      const target = path.join(b.w.dir, 'created-through-link')
      symlinkSync(target, path.join(dir('partial'), x.sha512))
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      expect(existsSync(target)).toBe(false)
      delivered(x)
    })

    it('never resumes into (appends to, truncates) a hard link to a file outside the cache', async () => {
      const x = await newImage('hard.qcow2')
      linkSync(victim, path.join(dir('partial'), x.sha512))
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[CACHE_FOREIGN_FILE]')
      victimIntact()
      expect(statSync(victim).nlink).toBe(1)
      delivered(x)
    })

    it('removes a planted FIFO instead of blocking on it', async () => {
      const x = await newImage('fifo.qcow2')
      execFileSync('mkfifo', [path.join(dir('partial'), x.sha512)])
      const r = await b.w.sync([], {})
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[CACHE_FOREIGN_FILE]')
      delivered(x)
    })

    it('removes a planted directory (partial/ is vmgit\'s alone) and delivers the image', async () => {
      const x = await newImage('dir.qcow2')
      mkdirSync(path.join(dir('partial'), x.sha512, 'sub'), { recursive: true })
      symlinkSync(victim, path.join(dir('partial'), x.sha512, 'sub', 'link'))
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      victimIntact()
      delivered(x)
    })
  })

  describe('when cache/ holds planted links', () => {
    it('replaces a link at cache/<identifier> of a new image by the image itself, leaving the target alone', async () => {
      const x = await newImage('idlink.qcow2')
      symlinkSync(victim, path.join(dir('cache'), x.id))
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      victimIntact()
      delivered(x)
    })

    it('removes a link that replaced a cached file (cache/<sha512> or cache/<identifier>) and restores the verified image', async () => {
      const im = b.images[0]!
      const copy = path.join(b.w.dir, 'same-bytes-elsewhere')
      writeFileSync(copy, im.bytes) // the same content: only the link itself is wrong
      for (const name of [im.sha512, im.id]) {
        execFileSync('rm', ['-f', path.join(dir('cache'), name)])
        symlinkSync(name === im.id ? victim : copy, path.join(dir('cache'), name))
      }
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[CACHE_FOREIGN_FILE]')
      victimIntact()
      delivered(im)
      expect(readFileSync(copy).equals(im.bytes)).toBe(true)
    })

    it('re-verifies with --check without reading through a link', async () => {
      const im = b.images[0]!
      execFileSync('rm', ['-f', path.join(dir('cache'), im.sha512)])
      symlinkSync(victim, path.join(dir('cache'), im.sha512))
      const r = await b.w.sync(['--check'])
      expect(r.code).toBe(0)
      victimIntact()
      delivered(im)
    })
  })

  describe('when expired/ is planted under the name the next expiry will use', () => {
    it('moves the expired image to a fresh name and never writes through the link', async () => {
      const x = extra[0]!
      expect((await b.w.sync()).code).toBe(0)
      const stamp = b.w.now.toISOString().slice(0, 19).replace('T', '_').replace(/:/g, '-')
      symlinkSync(victim, path.join(dir('expired'), `${x.id}.${stamp}`))
      expect((await b.w.cli(['sub', 'deselect', x.id])).code).toBe(0)
      const r = await b.w.sync()
      expect(r.code).toBe(0)
      victimIntact()
      const moved = readdirSync(dir('expired')).filter((n) => n.startsWith(`${x.id}.`))
      expect(moved.length).toBeGreaterThan(0)
      for (const n of moved) expect(lstatSync(path.join(dir('expired'), n)).isFile()).toBe(true)
      expect(existsSync(path.join(dir('cache'), x.id))).toBe(false)
    })
  })

  describe('when an identifier equals an existing directory in cache/', () => {
    it('fails that image alone (CACHE_NAME_TAKEN), keeps the directory, and delivers the others', async () => {
      const { w } = b
      const blocked = w.image('blocked.qcow2', 20_000)
      const other = w.image('other.qcow2', 20_000)
      extra.push(blocked, other)
      await w.publish({ id: w.listId, version: `${++version}.0`, images: [...b.images, ...extra] })
      expect((await w.sync(['--no-download'])).code).toBe(0)
      for (const x of [blocked, other]) expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
      mkdirSync(path.join(dir('cache'), blocked.id))
      writeFileSync(path.join(dir('cache'), blocked.id, 'handler-data'), 'keep me')
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[CACHE_NAME_TAKEN]')
      delivered(other)
      expect(readFileSync(path.join(dir('cache'), blocked.id, 'handler-data'), 'utf8')).toBe('keep me')
      expect(w.query('SELECT identifier FROM cache_entry WHERE identifier = ?', blocked.id)).toEqual([])
      // once the operator moves the directory away, the image is delivered without another download
      execFileSync('rm', ['-r', path.join(dir('cache'), blocked.id)])
      w.server.reset()
      const again = await w.sync()
      expect(again.code).toBe(0)
      delivered(blocked)
      expect(w.server.count(blocked.route)).toBe(0)
    })
  })
})

describe('S27 cache directories others can write to', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it.each([
    ['cache/ is world-writable', 'cache', 0o777],
    ['partial/ is group-writable', 'partial', 0o775],
    ['expired/ is world-writable even with the sticky bit', 'expired', 0o1777],
    ['the cache root is group-writable', '.', 0o775],
  ])('refuses to run when %s (CACHE_DIR_UNSAFE, exit 2, the chmod fix) and changes nothing', async (_what, sub, mode) => {
    const { w } = b
    const p = path.join(w.cacheRoot, sub)
    const before = snapshot(w)
    chmodSync(p, mode)
    try {
      const r = await w.sync()
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('[CACHE_DIR_UNSAFE]')
      expect(r.stderr).toContain('chmod go-w')
      expect(snapshot(w)).toEqual(before)
    } finally {
      chmodSync(p, 0o755)
    }
    expect((await w.sync()).code).toBe(0)
  })

  it('refuses a symbolic link planted in place of partial/ and writes nothing through it', async () => {
    const { w } = b
    const elsewhere = path.join(w.dir, 'elsewhere')
    mkdirSync(elsewhere, { mode: 0o755 })
    const p = path.join(w.cacheRoot, 'partial')
    renameSync(p, `${p}.moved`)
    symlinkSync(elsewhere, p)
    try {
      const r = await w.sync()
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('[CACHE_DIR_UNSAFE]')
      expect(readdirSync(elsewhere)).toEqual([])
    } finally {
      unlinkSync(p)
      renameSync(`${p}.moved`, p)
    }
  })

  it('makes the directories it creates 0755 whatever the umask', async () => {
    const { w } = b
    for (const sub of ['cache', 'partial', 'expired']) expect(statSync(path.join(w.cacheRoot, sub)).mode & 0o777).toBe(0o755)
  })
})

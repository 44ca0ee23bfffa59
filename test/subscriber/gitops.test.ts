import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { endorsedFromEntry, imageProperties } from '../../src/glance/model.js'
import { imageEntry, makeWorld, readEvents, recordingHandler, sharedPki, snapshot, subscribed, type Baseline, type World } from './world.js'

/**
 * Issue 15 on the subscriber: it keeps the good copy (a cached image stays in cache/ until its
 * successor is verified; an image whose sha512 or size changes without a higher hv:version is
 * refused with IMAGE_VERSION_NOT_RAISED), `sub list` shows the outcome of the last update, and
 * `sub add --require-repository` ties a subscription to the repository named in the signed list.
 */

const lastUpdate = async (w: World): Promise<string> => (await w.cli(['sub', 'list'])).stdout.trim().split('\t')[2]!

describe('issue 15: an image whose content changes without a higher hv:version', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  }, 120_000)
  afterAll(async () => b.w.close())

  describe.each([
    ['the same hv:version', '1', 'good', '2.0'],
    ['a lower hv:version', '0.9', 'bad', '3.0'],
  ])('when a new list version gives image bytes of another sha512 with %s (the new file %s)', (_what, version, served, listVersion) => {
    it('accepts the list with the IMAGE_VERSION_NOT_RAISED warning, and replaces the cached copy only when the new file verifies', async () => {
      const { w } = b
      const cachedBefore = readFileSync(path.join(w.cacheRoot, 'cache', b.images[0]!.id))
      const other = w.image(`other-${version}.qcow2`, 40_000, b.images[0]!.id)
      if (served === 'bad') w.server.set(other.route, { body: randomBytes(other.size) })
      await w.publish({ id: w.listId, version: listVersion, images: [imageEntry(other, { 'hv:version': version })] })
      const r = await w.sync()
      expect(r.stderr).toContain('[IMAGE_VERSION_NOT_RAISED]')
      const cached = readFileSync(path.join(w.cacheRoot, 'cache', b.images[0]!.id))
      if (served === 'good') {
        expect(r.code, r.stderr).toBe(0)
        expect(cached).toEqual(other.bytes)
        expect(await lastUpdate(w)).toBe('ok')
      } else {
        expect(r.code).toBe(1)
        expect(r.stderr).toContain('IMAGE_CHECKSUM')
        expect(cached).toEqual(cachedBefore)
      }
    })
  })

  describe('when the new content comes with a higher hv:version', () => {
    it('accepts it without a warning', async () => {
      const { w } = b
      const next = w.image('next.qcow2', 40_000, b.images[0]!.id)
      await w.publish({ id: w.listId, version: '4.0', images: [imageEntry(next, { 'hv:version': '2' })] })
      const r = await w.sync()
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).not.toContain('IMAGE_VERSION_NOT_RAISED')
      expect(w.cacheFiles()[`cache/${next.sha512}`]).toBeDefined()
    })
  })
})

describe('issue 15: the cached image stays until its successor is verified', () => {
  let b: Baseline
  let log: string
  beforeAll(async () => {
    b = await subscribed()
    log = path.join(b.w.dir, 'events.log')
  }, 120_000)
  afterAll(async () => b.w.close())

  it('keeps the good copy in cache/ (no expiry, no event) when the new version fails its checksum', async () => {
    const { w } = b
    const old = b.images[0]!
    const next = w.image('v2.qcow2', 40_000, old.id)
    // the server delivers other bytes than the list promises
    w.server.set(next.route, { body: randomBytes(next.size) })
    await w.publish({ id: w.listId, version: '2.0', images: [imageEntry(next, { 'hv:version': '2' })] })
    const r = await w.sync([], { env: { VMGIT_EVENT: recordingHandler(w.dir, log) } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('IMAGE_CHECKSUM')
    expect(w.filesIn('cache')).toEqual(expect.arrayContaining([old.sha512, old.id]))
    expect(readFileSync(path.join(w.cacheRoot, 'cache', old.id))).toEqual(old.bytes)
    expect(w.filesIn('expired')).toEqual([])
    expect(readEvents(log).map((e) => e.VMCATCHER_EVENT_TYPE)).toEqual(['ProcessPrefix', 'ProcessPostfix'])
  })

  it('replaces it once the successor is verified: ExpirePrefix, ExpirePostfix, then AvailablePrefix, AvailablePostfix', async () => {
    const { w } = b
    const old = b.images[0]!
    const next = w.image('v2.qcow2', readFileSync(path.join(w.dir, 'files/v2.qcow2')), old.id)
    const r = await w.sync([], { env: { VMGIT_EVENT: recordingHandler(w.dir, log) } })
    expect(r.code, r.stderr).toBe(0)
    expect(w.filesIn('cache')).toEqual(expect.arrayContaining([next.sha512, old.id]))
    expect(w.filesIn('cache')).not.toContain(old.sha512)
    expect(readFileSync(path.join(w.cacheRoot, 'cache', old.id))).toEqual(next.bytes)
    expect(w.filesIn('expired').length).toBe(1)
    const types = readEvents(log).slice(2).map((e) => e.VMCATCHER_EVENT_TYPE)
    expect(types).toEqual(['ProcessPrefix', 'ExpirePrefix', 'ExpirePostfix', 'AvailablePrefix', 'AvailablePostfix', 'ProcessPostfix'])
  })
})

describe('issue 15: sub add --require-repository', () => {
  const REPO = 'https://github.com/org/images'
  let w: World
  let images: ReturnType<World['image']>[]
  const provenance = (repository?: string): Record<string, string> => (repository ? { 'vmgit:repository': repository, 'vmgit:commit': 'a'.repeat(40) } : {})

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    images = [w.image('img0.qcow2', 20_000)]
    await w.publish({ id: w.listId, version: '1.0', images, extra: provenance(REPO) })
    expect((await w.trust()).code).toBe(0)
  }, 120_000)
  afterAll(async () => w.close())

  it('refuses to subscribe to a list without provenance (REPOSITORY_MISMATCH) and records nothing', async () => {
    const bare = await makeWorld({ pki: await sharedPki() })
    try {
      await bare.publish({ id: bare.listId, version: '1.0', images: [bare.image('x.qcow2', 1000)] })
      await bare.trust()
      const r = await bare.add(bare.listUrl, ['--require-repository', REPO])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('REPOSITORY_MISMATCH')
      expect(bare.dump().subscription).toEqual([])
    } finally {
      await bare.close()
    }
  })

  it('subscribes when the list names the repository (another spelling of it: .git, ssh form), and sub show shows both', async () => {
    const r = await w.add(w.listUrl, ['--require-repository', 'https://user:token@GitHub.com/org/images.git'])
    expect(r.code, r.stderr).toBe(0)
    const show = (await w.cli(['sub', 'show', w.listId])).stdout
    expect(show).toContain(`imagelist.vmgit:repository=${REPO}`)
    expect(show).toContain(`imagelist.vmgit:commit=${'a'.repeat(40)}`)
    expect(show).toContain('subscription.vmgit:require_repository=https://github.com/org/images.git')
    expect(show).not.toContain('token')
    const j = JSON.parse((await w.cli(['sub', 'show', w.listId, '--json'])).stdout)
    expect(j.requireRepository).toBe('https://github.com/org/images.git')
    expect(j.list.provenance).toEqual({ repository: REPO, commit: 'a'.repeat(40) })
    expect((await w.sync()).code).toBe(0)
    expect(await lastUpdate(w)).toBe('ok')
  })

  describe.each([
    ['another repository', 'https://github.com/org/images-evil'],
    ['a look-alike host', 'https://github.com.evil.example/org/images'],
    ['a path that leaves the repository', 'https://github.com/org/images/../evil'],
    ['no provenance at all', undefined],
  ])('when a later version names %s', (_what, repository) => {
    it('sync refuses it with REPOSITORY_MISMATCH, keeps the stored list and the cache, and sub list says so', async () => {
      await w.publish({ id: w.listId, version: `2.${Math.floor(Math.random() * 1e6)}`, images, extra: provenance(repository) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[REPOSITORY_MISMATCH]')
      expect(snapshot(w)).toEqual(before)
      expect(await lastUpdate(w)).toBe('refused:REPOSITORY_MISMATCH')
    })
  })

  it('accepts a later version from the same repository in its ssh spelling', async () => {
    await w.publish({ id: w.listId, version: '3.0', images, extra: provenance('git@github.com:org/images.git') })
    const r = await w.sync()
    expect(r.code, r.stderr).toBe(0)
    expect(await lastUpdate(w)).toBe('ok')
  })

  it('rejects a --require-repository that is not a repository URL (exit 2)', async () => {
    const r = await w.add(w.listUrl, ['--require-repository', '/local/path'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('BAD_REPOSITORY_URL')
  })
})

describe('issue 15: the Glance image properties carry the provenance', () => {
  it('sets vmgit:repository, vmgit:commit and vmgit:run, and none of them without provenance', () => {
    const entry = { 'dc:identifier': 'img-1', 'sl:checksum:sha512': 'a'.repeat(128), 'dc:title': 'x' }
    const p = imageProperties(endorsedFromEntry('list-1', entry, { provenance: { repository: 'https://github.com/org/images', commit: 'b'.repeat(40), run: 'https://github.com/org/images/actions/runs/1/attempts/1' } }))
    expect(p).toMatchObject({ 'vmgit:repository': 'https://github.com/org/images', 'vmgit:commit': 'b'.repeat(40), 'vmgit:run': 'https://github.com/org/images/actions/runs/1/attempts/1' })
    const q = imageProperties(endorsedFromEntry('list-1', entry))
    expect([q['vmgit:repository'], q['vmgit:commit'], q['vmgit:run']]).toEqual([undefined, undefined, undefined])
  })
})

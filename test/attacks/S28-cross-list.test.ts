import { randomUUID } from 'node:crypto'
import { lstatSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, imageEntry, type ImageFile, readEvents, recordingHandler, snapshot, subscribed } from '../subscriber/world.js'

/**
 * S28 cross-list: a second subscribed list (trusted, valid, signed) claims the production image's
 * identifier for its own bytes, or the production image's sha512 with another size. Handlers open
 * cache/<identifier> and key images by VMCATCHER_EVENT_DC_IDENTIFIER, so the claimant must fail
 * closed: its entry is refused and charged to it, the production image keeps its name and its
 * bytes, and is still downloaded and delivered.
 */
describe('S28 cross-list claims', () => {
  let b: Baseline
  let prod: ImageFile
  const otherId = randomUUID()
  const otherRoute = '/other.smime'
  let otherVersion = 0
  let prodVersion = 1
  const prodImages: (ImageFile | Record<string, string | number>)[] = []
  let events: string

  const cacheFile = (name: string): Buffer => readFileSync(path.join(b.w.cacheRoot, 'cache', name))
  /** Publish the other list's next version: its images are all selected (it subscribes new images). */
  async function other(images: (ImageFile | Record<string, string | number>)[]): Promise<void> {
    await b.w.publish({ id: otherId, version: `${++otherVersion}.0`, images, uri: b.w.server.url(otherRoute) }, { route: otherRoute })
  }
  async function prodNext(images: (ImageFile | Record<string, string | number>)[]): Promise<void> {
    prodImages.push(...images)
    await b.w.publish({ id: b.w.listId, version: `${++prodVersion}.0`, images: prodImages })
  }
  /** Every image ever delivered, as [list, identifier, sha512 of the file the handler was given]. */
  function delivered(): string[][] {
    return readEvents(events)
      .filter((e) => e.VMCATCHER_EVENT_TYPE === 'AvailablePostfix')
      .map((e) => [e.VMCATCHER_EVENT_IL_DC_IDENTIFIER!, e.VMCATCHER_EVENT_DC_IDENTIFIER!, e.VMCATCHER_EVENT_SL_CHECKSUM_SHA512!])
  }
  const sync = (extra: string[] = []): ReturnType<Baseline['w']['sync']> => b.w.sync(extra, { env: { VMGIT_EVENT: recordingHandler(b.w.dir, events) } })

  beforeAll(async () => {
    b = await subscribed()
    prod = b.images[0]!
    prodImages.push(...b.images)
    events = path.join(b.w.dir, 'events.log')
    const decoy = b.w.image('decoy.qcow2', 10_000)
    await other([decoy])
    const r = await b.w.cli(['sub', 'add', b.w.server.url(otherRoute), '--now', b.w.nowIso, '--new-images', 'subscribe'])
    expect(r.code).toBe(0)
    expect((await sync()).code).toBe(0)
    expect(delivered()).toEqual([[otherId, decoy.id, decoy.sha512]])
  })
  afterAll(async () => b.w.close())

  describe('when another list claims the production identifier for other bytes', () => {
    it('refuses the claimant (IDENTIFIER_CONFLICT), keeps cache/<identifier> on the production bytes, delivers its other images', async () => {
      const { w } = b
      const evil = w.image('evil.qcow2', 25_000)
      const fine = w.image('fine.qcow2', 12_000)
      await other([imageEntry(evil, { 'dc:identifier': prod.id }), fine])
      const before = snapshot(w)
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IDENTIFIER_CONFLICT]')
      expect(cacheFile(prod.id).equals(prod.bytes)).toBe(true)
      expect(w.filesIn('cache')).not.toContain(evil.sha512)
      expect(w.query('SELECT identifier FROM cache_entry WHERE subscription_id = ? AND identifier = ?', otherId, prod.id)).toEqual([])
      expect(delivered()).toContainEqual([otherId, fine.id, fine.sha512])
      expect(delivered().filter(([, id]) => id === prod.id)).toEqual([])
      // the production list's own state is untouched
      const prodRows = (s: ReturnType<typeof snapshot>): unknown[] => (s.db.cache_entry ?? []).filter((e) => (e as { subscription_id: string }).subscription_id === w.listId)
      expect(prodRows(snapshot(w))).toEqual(prodRows(before))
    })

    it('lets the production list update its own image under that identifier, the claimant still refused', async () => {
      const { w } = b
      const v2 = w.image('prod-v2.qcow2', 26_000)
      prodImages.splice(0, prodImages.length)
      await prodNext([imageEntry(v2, { 'dc:identifier': prod.id })])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IDENTIFIER_CONFLICT]')
      expect(cacheFile(prod.id).equals(v2.bytes)).toBe(true)
      expect(delivered()).toContainEqual([w.listId, prod.id, v2.sha512])
    })

    it('when both lists bring the same new identifier in one run, the list subscribed first gets it', async () => {
      const { w } = b
      const mine = w.image('both-prod.qcow2', 14_000)
      const theirs = w.image('both-other.qcow2', 15_000)
      await prodNext([mine])
      expect((await sync(['--no-download'])).code).toBe(1)
      expect((await w.cli(['sub', 'select', mine.id, '--subscription', w.listId])).code).toBe(0)
      await other([imageEntry(theirs, { 'dc:identifier': mine.id })])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IDENTIFIER_CONFLICT]')
      expect(cacheFile(mine.id).equals(mine.bytes)).toBe(true)
      expect(w.filesIn('cache')).not.toContain(theirs.sha512)
      expect(delivered()).toContainEqual([w.listId, mine.id, mine.sha512])
      expect(delivered()).not.toContainEqual([otherId, mine.id, theirs.sha512])
    })

    it('refuses the claimant even for a production image this site has not selected', async () => {
      const { w } = b
      const unselected = w.image('unselected.qcow2', 11_000)
      const theirs = w.image('unselected-other.qcow2', 11_000)
      await prodNext([unselected])
      await other([imageEntry(theirs, { 'dc:identifier': unselected.id })])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IDENTIFIER_CONFLICT]')
      expect(w.filesIn('cache')).not.toContain(theirs.sha512)
      expect(w.filesIn('cache')).not.toContain(unselected.id)
      prodImages.pop()
    })

    it('shares the identifier when both lists vouch for the very same bytes (AppDB lists reuse identifiers)', async () => {
      const shared = prodImages.at(-1) as ImageFile
      await other([shared])
      const r = await sync()
      expect(r.stderr).not.toContain('[IDENTIFIER_CONFLICT]')
      expect(r.code).toBe(0)
      expect(delivered()).toContainEqual([otherId, shared.id, shared.sha512])
      expect(cacheFile(shared.id).equals(shared.bytes)).toBe(true)
    })
  })

  describe('when another list first vouches for the production bytes, then swaps them', () => {
    it('refuses the swapped bytes and expires its old entry; the production image keeps the identifier', async () => {
      const { w } = b
      const shared = prodImages.at(-1) as ImageFile
      const swapped = w.image('swapped.qcow2', 13_000)
      await other([imageEntry(swapped, { 'dc:identifier': shared.id })])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IDENTIFIER_CONFLICT]')
      expect(w.filesIn('cache')).not.toContain(swapped.sha512)
      expect(cacheFile(shared.id).equals(shared.bytes)).toBe(true)
      expect(w.query('SELECT subscription_id FROM cache_entry WHERE identifier = ?', shared.id)).toEqual([{ subscription_id: w.listId }])
      expect(delivered()).not.toContainEqual([otherId, shared.id, swapped.sha512])
      // the conflict ends when the other list drops the claim
      await other([])
      expect((await sync()).code).toBe(0)
    })
  })

  describe('when another list claims the production sha512 with another size', () => {
    it.each([
      ['a smaller size, served from its own URI', -1000, 'own'],
      ['a larger size, served from the production URI', 1000, 'prod'],
      ['a size no disk can hold', 10 ** 15, 'own'],
    ])('charges %s to the liar and still downloads and delivers the production image', async (_what, delta, uriOf) => {
      const { w } = b
      const real = w.image(`sized-${String(delta)}.qcow2`, 30_000)
      const lieBytes = w.image(`lie-${String(delta)}.qcow2`, Math.max(1, Math.min(real.size + delta, 40_000)))
      await prodNext([real])
      expect((await sync(['--no-download'])).code).toBe(0)
      expect((await w.cli(['sub', 'select', real.id, '--subscription', w.listId])).code).toBe(0)
      const lie = imageEntry(real, { 'dc:identifier': randomUUID(), 'hv:size': real.size + delta, 'hv:uri': uriOf === 'prod' ? real.url : lieBytes.url })
      await other([lie])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/\[(IMAGE_SIZE_CONFLICT|IMAGE_SIZE_MISMATCH|IMAGE_TOO_LARGE|IMAGE_CHECKSUM|DISK_FULL)\]/)
      expect(delivered()).toContainEqual([w.listId, real.id, real.sha512])
      expect(delivered().filter(([list, id]) => list === otherId && id === lie['dc:identifier'])).toEqual([])
      expect(cacheFile(real.sha512).equals(real.bytes)).toBe(true)
      expect(w.query('SELECT size FROM blob WHERE sha512 = ?', real.sha512)).toEqual([{ size: real.size }])
      // the next run stays clean for the production image: nothing is downloaded again, the liar still refused
      w.server.reset()
      const again = await sync()
      expect(again.code).toBe(1)
      expect(again.stderr).toContain('[IMAGE_SIZE_CONFLICT]')
      expect(w.server.count(real.route)).toBe(0)
      expect(lstatSync(path.join(w.cacheRoot, 'cache', real.id)).isFile()).toBe(true)
    })

    it('never spoils the resumable partial download of the production image with a smaller lie', async () => {
      const { w } = b
      const real = w.image('resumable.qcow2', 200_000)
      const lieBytes = w.image('resumable-lie.qcow2', 50_000)
      await prodNext([real])
      await other([])
      expect((await sync(['--no-download'])).code).toBe(0)
      expect((await w.cli(['sub', 'select', real.id, '--subscription', w.listId])).code).toBe(0)
      w.server.set(real.route, { file: real.path, stallAfter: 100_000 })
      expect((await sync(['--idle-timeout', '1'])).code).toBe(3)
      expect(w.filesIn('partial')).toEqual([real.sha512])
      await other([imageEntry(real, { 'dc:identifier': randomUUID(), 'hv:size': lieBytes.size, 'hv:uri': lieBytes.url })])
      w.server.set(real.route, { file: real.path })
      w.server.reset()
      const r = await sync()
      expect(r.code).toBe(1)
      const req = w.server.requests.find((q) => q.path === real.route)!
      expect(req.headers.range).toMatch(/^bytes=[1-9]\d*-$/)
      expect(req.status).toBe(206)
      expect(delivered()).toContainEqual([w.listId, real.id, real.sha512])
      expect(w.filesIn('partial')).toEqual([])
    })

    it('refuses a claim with another size for bytes already cached, and keeps them', async () => {
      const { w } = b
      const held = prodImages.at(-1) as ImageFile // cached by the production list in the test before
      const before = snapshot(w)
      await other([imageEntry(held, { 'dc:identifier': randomUUID(), 'hv:size': held.size + 1 })])
      const r = await sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IMAGE_SIZE_CONFLICT]')
      const cached = (s: ReturnType<typeof snapshot>): unknown[] => (s.db.cache_entry ?? []).filter((e) => (e as { subscription_id: string }).subscription_id === w.listId)
      expect(cached(snapshot(w))).toEqual(cached(before))
      expect(cacheFile(held.sha512).equals(held.bytes)).toBe(true)
    })
  })
})

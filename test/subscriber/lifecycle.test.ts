import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ImageFile, imageEntry, makeWorld, readEvents, recordingHandler, sharedPki, type World } from './world.js'

/**
 * The whole life of a subscription against a real HTTP server and an openssl PKI, with a real
 * shell event handler: add, trust, select, sync, a new list version (an image replaced, one new),
 * an image removed (→ expired/), and the events fired in vmcatcher's order with its variables.
 */
describe('a subscription from first sync to expiry', () => {
  let w: World
  let a1: ImageFile
  let a2: ImageFile
  let b: ImageFile
  let c: ImageFile
  let log: string
  let handler: string

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    a1 = w.image('a-v1.qcow2', 300_000)
    b = w.image('b.qcow2', 50_000)
    a2 = w.image('a-v2.qcow2', 310_000, a1.id)
    c = w.image('c.qcow2', 20_000)
    log = path.join(w.dir, 'events.log')
    handler = recordingHandler(w.dir, log)
    await w.publish({ id: w.listId, version: '1.0', images: [a1, b] })
  })
  afterAll(async () => w.close())

  it('refuses to subscribe while the signer is not trusted, and subscribes once it is', async () => {
    const refused = await w.add(w.listUrl)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('ENDORSER_NOT_TRUSTED')
    expect((await w.trust()).code).toBe(0)
    const r = await w.add(w.listUrl, ['--id', w.listId])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`subscribed ${w.listId}`)
    const list = await w.cli(['sub', 'list'])
    expect(list.stdout.trim()).toBe(`${w.listId}\tTrue\tok\t${w.listUrl}`)
  })

  it('lists the images as available but not selected (state 2)', async () => {
    const r = await w.cli(['sub', 'images', '--now', w.nowIso])
    const states = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('\t')).map(([id, st]) => [id, st]))
    expect(states).toEqual({ [a1.id]: '2', [b.id]: '2' })
  })

  it('downloads a selected image, names it by sha512 with a cache/<identifier> link, and fires events in order', async () => {
    expect((await w.cli(['sub', 'select', a1.id])).code).toBe(0)
    const r = await w.sync(['--event', handler])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual([expect.stringContaining(`image ${a1.id} (list ${w.listId}) verified and cached`)])
    expect(w.filesIn('cache')).toEqual([a1.id, a1.sha512].sort())
    expect(readFileSync(path.join(w.cacheRoot, 'cache', a1.id))).toEqual(a1.bytes)
    const ev = readEvents(log)
    expect(ev.map((e) => e.VMCATCHER_EVENT_TYPE)).toEqual(['ProcessPrefix', 'AvailablePrefix', 'AvailablePostfix', 'ProcessPostfix'])
    expect(new Set(ev.map((e) => e.VMCATCHER_EVENT_UUID_SESSION)).size).toBe(1)
    const post = ev[2]!
    expect(post).toMatchObject({
      VMCATCHER_EVENT_DC_IDENTIFIER: a1.id,
      VMCATCHER_EVENT_DC_TITLE: 'Image a-v1.qcow2',
      VMCATCHER_EVENT_SL_CHECKSUM_SHA512: a1.sha512,
      VMCATCHER_EVENT_HV_SIZE: String(a1.size),
      VMCATCHER_EVENT_HV_URI: a1.url,
      VMCATCHER_EVENT_HV_FORMAT: 'qcow2',
      VMCATCHER_EVENT_HV_HYPERVISOR: 'kvm',
      VMCATCHER_EVENT_SL_OS: 'Linux',
      VMCATCHER_EVENT_AD_MPURI: `https://market.example/${a1.id}`,
      VMCATCHER_EVENT_IL_DC_IDENTIFIER: w.listId,
      VMCATCHER_EVENT_FILENAME: a1.id,
      VMCATCHER_CACHE_DIR_CACHE: path.join(w.cacheRoot, 'cache') + '/',
      VMCATCHER_CACHE_DIR_EXPIRE: path.join(w.cacheRoot, 'expired') + '/',
      VMCATCHER_RDBMS: `sqlite:///${w.db}`,
    })
    // set only when non-empty: sl:comments is ""
    expect(post.VMCATCHER_EVENT_SL_COMMENTS).toBeUndefined()
    expect(ev[0]!.VMCATCHER_EVENT_DC_IDENTIFIER).toBeUndefined()
  })

  it('stays quiet when nothing changed, at the cost of one conditional request', async () => {
    w.server.reset()
    const r = await w.sync()
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', ''])
    expect(w.server.requests.map((q) => [q.path, q.status])).toEqual([['/list.smime', 304]])
  })

  it('applies a new version: the replaced image is expired then re-downloaded, the new one announced', async () => {
    // issue 15: new bytes under an identifier come with a higher image hv:version (else IMAGE_VERSION_NOT_RAISED warns)
    await w.publish({ id: w.listId, version: '1.1', images: [imageEntry(a2, { 'hv:version': '2' }), b, c] })
    const before = readEvents(log).length
    const r = await w.sync(['--event', handler])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe(`list ${w.listId} updated: hv:version 1.0 -> 1.1 (1 new image(s))`)
    expect(lines).toContainEqual(expect.stringContaining(`image ${a1.id} (list ${w.listId}) expired: replaced by a new version`))
    const ev = readEvents(log).slice(before)
    expect(ev.map((e) => [e.VMCATCHER_EVENT_TYPE, e.VMCATCHER_EVENT_SL_CHECKSUM_SHA512?.slice(0, 8) ?? e.VMCATCHER_EVENT_DC_IDENTIFIER])).toEqual([
      ['ProcessPrefix', undefined],
      ['SubscriptionImageNew', c.sha512.slice(0, 8)],
      ['ExpirePrefix', a1.sha512.slice(0, 8)],
      ['ExpirePostfix', a1.sha512.slice(0, 8)],
      ['AvailablePrefix', a2.sha512.slice(0, 8)],
      ['AvailablePostfix', a2.sha512.slice(0, 8)],
      ['ProcessPostfix', undefined],
    ])
    // ExpirePostfix names the file in expired/, as vmcatcher did (handlers test for it there)
    const expired = ev[3]!.VMCATCHER_EVENT_FILENAME!
    expect(expired).toMatch(new RegExp(`^${a1.id}\\.\\d{4}-\\d{2}-\\d{2}_\\d{2}-\\d{2}-\\d{2}$`))
    expect(readFileSync(path.join(w.cacheRoot, 'expired', expired))).toEqual(a1.bytes)
    expect(readFileSync(path.join(w.cacheRoot, 'cache', a1.id))).toEqual(a2.bytes)
    expect(w.filesIn('cache')).toEqual([a1.id, a2.sha512].sort())
  })

  it('expires an image removed from the list', async () => {
    await w.publish({ id: w.listId, version: '1.2', images: [b, c] })
    const r = await w.sync(['--event', handler])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`image ${a1.id} (list ${w.listId}) expired: removed from the list`)
    expect(w.filesIn('cache')).toEqual([])
    expect(w.filesIn('expired').filter((n) => n.startsWith(a1.id))).toHaveLength(2)
    const images = await w.cli(['sub', 'images', '--json', '--now', w.nowIso])
    const rows = (JSON.parse(images.stdout) as { images: { identifier: string; state: number; cached: boolean }[] }).images
    // a1 stays selected (state 1) but is no longer available; b and c are available
    expect(rows.map((i) => [i.identifier, i.state, i.cached]).sort()).toEqual([[a1.id, 1, false], [b.id, 2, false], [c.id, 2, false]].sort())
  })

  it('shows the subscription in vmcatcher\'s lines format, the verified message and the signed original', async () => {
    const lines = await w.cli(['sub', 'show', w.listId])
    expect(lines.stdout).toContain(`subscription.sl:authorised=True\n`)
    expect(lines.stdout).toContain(`imagelist.hv:version=1.2\n`)
    const msg = await w.cli(['sub', 'show', w.listUrl, '--format', 'message'])
    expect(JSON.parse(msg.stdout)['hv:imagelist']['hv:version']).toBe('1.2')
    const smime = await w.cli(['sub', 'show', w.listId, '--format', 'smime'])
    expect(smime.stdout).toMatch(/^MIME-Version: 1.0/)
  })

  it('expires everything of a removed subscription at the next sync', async () => {
    expect((await w.cli(['sub', 'select', b.id])).code).toBe(0)
    expect((await w.sync()).code).toBe(0)
    expect(existsSync(path.join(w.cacheRoot, 'cache', b.id))).toBe(true)
    expect((await w.cli(['sub', 'remove', w.listId])).code).toBe(0)
    const r = await w.sync()
    expect(r.stdout).toContain(`image ${b.id} (list ${w.listId}) expired: subscription removed`)
    expect(w.filesIn('cache')).toEqual([])
  })
})

import { writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { addPinnedImage, type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { imageEntry, snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)
const HEX = 'ab'.repeat(32)

describe.skipIf(skip.skip)(`O09 pins that name another host, or are not what they seem ${skip.reason}`, () => {
  let b: OciBaseline
  let server: http.Server
  let other: string
  const seen: { url: string; authorization?: string }[] = []
  let answer: (q: http.IncomingMessage, s: http.ServerResponse) => void = (_q, s) => s.writeHead(404).end()
  let n = 1
  beforeAll(async () => {
    b = await ociSubscribed({ auth: 'basic' })
    server = http.createServer((q, s) => {
      seen.push({ url: q.url ?? '/', ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })
      answer(q, s)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    other = `127.0.0.1:${(server.address() as AddressInfo).port}`
  }, 120_000)
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise<void>((r) => server?.close(() => r()))
    await b?.ow.close()
  })
  afterEach(() => {
    seen.length = 0
    answer = (_q, s) => s.writeHead(404).end()
  })

  /** A new image x (hv:uri gone) whose pin names another registry host than the subscription's, published in a new list version and selected. */
  async function pinnedElsewhere() {
    const pinned = await addPinnedImage(b, { name: `x${n}.qcow2`, size: 20_000, version: `${++n}.0`, extra: (px) => ({ 'vmgit:oci:reference': `${other}/${px.repository}@${px.digest}` }) })
    seen.length = 0
    return pinned
  }

  describe.each([
    ['basic', () => 'Basic realm="other"'],
    ['bearer', () => `Bearer realm="http://${other}/token",service="other"`],
  ])('when a signed list pins an image on another registry host that asks for %s credentials', (_n, challenge) => {
    it('never sends it the VMGIT_REGISTRY_* credentials (they are the subscription registry\'s), fails that image and keeps state', async () => {
      const { w } = b
      await pinnedElsewhere()
      answer = (q, s) => (q.url?.startsWith('/token') ? s.writeHead(401).end() : s.writeHead(401, { 'www-authenticate': challenge() }).end())
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('[OCI_UNAUTHORIZED]')
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.filter((s) => s.authorization !== undefined)).toEqual([])
      expect(snapshot(w)).toEqual(before)
      expect(w.filesIn('partial')).toEqual([])
    })
  })

  describe('when the operator keys credentials for that other host in an auth.json', () => {
    it('sends that host those credentials only (the operator chose them), never the VMGIT_REGISTRY_* ones', async () => {
      const { w } = b
      await pinnedElsewhere()
      const auth = path.join(w.dir, 'auth.json')
      writeFileSync(auth, JSON.stringify({ auths: { [other]: { auth: Buffer.from('other-user:other-pw').toString('base64') } } }))
      answer = (_q, s) => s.writeHead(401, { 'www-authenticate': 'Basic realm="other"' }).end()
      const r = await w.sync([], { env: { REGISTRY_AUTH_FILE: auth } })
      expect(r.code).not.toBe(0)
      const sent = [...new Set(seen.map((s) => s.authorization).filter(Boolean))]
      expect(sent).toEqual([`Basic ${Buffer.from('other-user:other-pw').toString('base64')}`])
    })
  })

  describe('when pins are malformed or say two things', () => {
    it('uses none of them (OCI_PIN_INVALID for each), asks no registry for them and keeps state', async () => {
      const { w, ow, images, pushed } = b
      const host = ow.host
      const bad: [string, Record<string, string | number>][] = [
        ['sha512 digest', { 'vmgit:oci:reference': `${host}/vm/a@sha512:${HEX}${HEX}`, 'vmgit:oci:digest': `sha512:${HEX}${HEX}` }],
        ['uppercase hex', { 'vmgit:oci:reference': `${host}/vm/a@sha256:${HEX.toUpperCase()}`, 'vmgit:oci:digest': `sha256:${HEX.toUpperCase()}` }],
        ['two digests', { 'vmgit:oci:reference': `${host}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${'cd'.repeat(32)}` }],
        ['user info', { 'vmgit:oci:reference': `u:p@${host}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['dot-dot path', { 'vmgit:oci:reference': `${host}/vm/../a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['uppercase repository', { 'vmgit:oci:reference': `${host}/VM/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['escaped path', { 'vmgit:oci:reference': `${host}/vm%2f..%2fa@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['IPv6 that is no address', { 'vmgit:oci:reference': `[:::1::]:5000/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['IPv4 in IPv6 brackets', { 'vmgit:oci:reference': `[127.0.0.1]:5000/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['port 0', { 'vmgit:oci:reference': `127.0.0.1:0/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['port 65536', { 'vmgit:oci:reference': `127.0.0.1:65536/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['short IPv4 (127.1)', { 'vmgit:oci:reference': `127.1:${ow.host.split(':')[1]}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['decimal IPv4', { 'vmgit:oci:reference': `2130706433:${ow.host.split(':')[1]}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['hex IPv4', { 'vmgit:oci:reference': `0x7f.0.0.1:${ow.host.split(':')[1]}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['no registry host', { 'vmgit:oci:reference': `vm/a@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['tag and digest', { 'vmgit:oci:reference': `${host}/vm/a:1@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['a tag only', { 'vmgit:oci:reference': `${host}/vm/a:latest`, 'vmgit:oci:digest': `sha256:${HEX}` }],
        ['a digest that is a number', { 'vmgit:oci:reference': `${host}/vm/a@sha256:${HEX}`, 'vmgit:oci:digest': 7 }],
        ['a new line', { 'vmgit:oci:reference': `${host}/vm/a\n@sha256:${HEX}`, 'vmgit:oci:digest': `sha256:${HEX}` }],
      ]
      const files = bad.map(([name], i) => {
        const f = w.image(`bad${i}.qcow2`, 1000 + i)
        w.server.remove(f.route)
        return { name, f }
      })
      const entries = files.map(({ f }, i) => imageEntry(f, bad[i]![1]))
      ow.pushList(await w.signed({ id: w.listId, version: '50.0', images: [ow.entry(images[0]!, pushed[0]!), ...entries] }), ['50.0', 'latest'])
      await w.sync()
      for (const { f } of files) expect((await w.cli(['sub', 'select', f.id])).code).toBe(0)
      ow.proxied.length = 0
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).not.toBe(0)
      for (const { f } of files) expect(r.stderr, f.name).toMatch(new RegExp(`\\[OCI_PIN_INVALID\\][^\\n]*${f.id}`))
      // only the list was asked for: no pinned manifest or blob
      expect(ow.proxied.filter((p) => !p.path.startsWith('/v2/vm/prod-list/') && p.path !== '/v2/')).toEqual([])
      expect(seen).toEqual([])
      expect(snapshot(w)).toEqual(before)
    }, 240_000)
  })
})

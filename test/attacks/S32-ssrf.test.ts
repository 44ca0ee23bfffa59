import type { LookupAddress } from 'node:dns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, Fetcher } from '../../src/net/http.js'
import { classify } from '../../src/net/ssrf.js'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { type Baseline, type ImageFile, snapshot, subscribed } from '../subscriber/world.js'

describe('S32 address ranges', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['[::1]', 'loopback'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['169.254.169.254', 'link-local-v4'], ['::ffff:a9fe:a9fe', 'link-local-v4'], ['64:ff9b::a9fe:a9fe', 'link-local-v4'],
    ['2002:a9fe:a9fe::1', 'link-local-v4'], ['fe80::1', 'link-local-v6'], ['fe80::1%eth0', 'link-local-v6'], ['10.1.2.3', 'private-10'], ['172.16.0.1', 'private-172'], ['172.31.255.255', 'private-172'],
    ['192.168.1.1', 'private-192'], ['100.64.0.1', 'cgnat'], ['100.127.255.254', 'cgnat'], ['fd00::1', 'ula'], ['fc00::1', 'ula'], ['fec0::1', 'site-local'], ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'], ['255.255.255.255', 'reserved'], ['::127.0.0.1', 'loopback'], ['not-an-ip', 'reserved'],
    ['8.8.8.8', 'public'], ['172.32.0.1', 'public'], ['100.128.0.1', 'public'], ['2001:4860:4860::8888', 'public'], ['::ffff:8.8.8.8', 'public'],
  ])('%s is %s', (address, range) => {
    expect(classify(address)).toBe(range)
  })
})

describe('S32 SSRF: an image URL redirects to loopback, link-local or private addresses', () => {
  let b: Baseline
  let x: ImageFile
  let other: TestServer
  beforeAll(async () => {
    b = await subscribed()
    other = await startServer()
    const { w } = b
    x = w.image('x.qcow2', 30_000)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, x] })
    expect((await w.sync()).code).toBe(0)
    expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
  })
  afterAll(async () => {
    await other.stop()
    await b.w.close()
  })

  it.each([
    ['the cloud metadata service', 'http://169.254.169.254/latest/meta-data/'],
    ['it in decimal notation', 'http://2852039166/latest/meta-data/'],
    ['it as an IPv4-mapped IPv6 address', 'http://[::ffff:169.254.169.254]/'],
    ['it through NAT64', 'http://[64:ff9b::a9fe:a9fe]/'],
    ['an RFC 1918 address', 'http://10.0.0.1/admin'],
    ['another RFC 1918 range', 'http://192.168.0.1/'],
    ['CGNAT space', 'http://100.64.0.1/'],
    ['an IPv6 ULA', 'http://[fd00::1]/'],
    ['IPv6 link-local', 'http://[fe80::1]/'],
    ['the unspecified address', 'http://0.0.0.0:1/'],
  ])('refuses a redirect to %s without connecting, keeps state and the cache', async (_what, target) => {
    const { w } = b
    w.server.set(x.route, { redirect: target })
    const before = snapshot(w)
    const started = Date.now()
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ADDRESS_NOT_ALLOWED]')
    // refused before any connection: no connect timeout was waited for
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('cache')).not.toContain(x.sha512)
    expect(w.filesIn('partial')).toEqual([])
    // the other image is untouched
    expect(w.filesIn('cache')).toContain(b.images[0]!.sha512)
  })

  it('refuses a list URL that redirects into another range, and keeps state', async () => {
    const { w } = b
    w.server.set('/list.smime', { redirect: 'http://169.254.169.254/list.smime' })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ADDRESS_NOT_ALLOWED]')
    expect(snapshot(w)).toEqual(before)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, x] })
  })

  it('follows a redirect that stays in the range the signed hv:uri names (loopback: another port, by the name localhost) and caches the image', async () => {
    const { w } = b
    other.set('/moved.qcow2', { file: x.path })
    w.server.set(x.route, { redirect: `http://localhost:${other.port}/moved.qcow2` })
    const r = await w.sync()
    expect(r.stderr).not.toContain('ADDRESS_NOT_ALLOWED')
    expect(r.code).toBe(0)
    expect(other.count('/moved.qcow2')).toBe(1)
    expect(w.filesIn('cache')).toContain(x.sha512)
  })
})

describe('S32 host names are checked when the socket connects (no DNS here: an injected resolver)', () => {
  let server: TestServer
  let fetcher: Fetcher
  let lookups: string[]
  let answers: Record<string, LookupAddress[]>
  beforeAll(async () => {
    server = await startServer()
    server.set('/img', { body: 'image bytes' })
    server.set('/to-name', { redirect: `http://intranet.example:${server.port}/img` })
    lookups = []
    answers = {
      'images.example.org': [{ address: '127.0.0.1', family: 4 }],
      'mixed.example.org': [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }],
      'intranet.example': [{ address: '10.20.30.40', family: 4 }],
      'lists.example.org': [{ address: '127.0.0.1', family: 4 }],
    }
    fetcher = new Fetcher({
      resolve: (host, _o, cb) => {
        lookups.push(host)
        const a = answers[host]
        if (a) cb(null, a)
        else cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), [])
      },
    })
  })
  afterAll(async () => {
    fetcher.close()
    await server.stop()
  })

  const open = async (url: string, addressRule?: 'signed' | 'origin', allowRanges?: string[]): Promise<string> => {
    try {
      const r = await fetcher.open(url, { limits: { ...DEFAULT_LIMITS, ...(allowRanges ? { allowRanges } : {}) }, ...(addressRule ? { addressRule } : {}) })
      r.close()
      return `HTTP ${r.status}`
    } catch (e) {
      return (e as { code: string }).code
    }
  }

  it('refuses a signed hv:uri whose public-looking host name resolves to loopback; nothing reaches the server', async () => {
    server.reset()
    expect(await open(`http://images.example.org:${server.port}/img`)).toBe('ADDRESS_NOT_ALLOWED')
    expect(server.requests).toHaveLength(0)
    // one resolution, the one the connection uses: there is no separate check to race (rebinding)
    expect(lookups.filter((h) => h === 'images.example.org')).toHaveLength(1)
  })

  it('refuses a name whose answer mixes a public and a loopback address', async () => {
    server.reset()
    expect(await open(`http://mixed.example.org:${server.port}/img`)).toBe('ADDRESS_NOT_ALLOWED')
    expect(server.requests).toHaveLength(0)
  })

  it('refuses a redirect from a loopback hv:uri to a name resolving into a private range', async () => {
    server.reset()
    expect(await open(`${server.base}/to-name`)).toBe('ADDRESS_NOT_ALLOWED')
    expect(server.count('/img')).toBe(0)
  })

  it('lets the operator open a range (--allow-range), and only that range', async () => {
    server.reset()
    expect(await open(`http://images.example.org:${server.port}/img`, undefined, ['private-10'])).toBe('ADDRESS_NOT_ALLOWED')
    expect(server.requests).toHaveLength(0)
    expect(await open(`http://images.example.org:${server.port}/img`, undefined, ['loopback'])).toBe('HTTP 200')
  })

  it('still fetches a loopback hv:uri that names its address, and a list URL the operator chose by name', async () => {
    expect(await open(`${server.base}/img`)).toBe('HTTP 200')
    expect(await open(`http://lists.example.org:${server.port}/img`, 'origin')).toBe('HTTP 200')
  })
})

import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { hepixDate, imageEntry, makeWorld, sharedPki, type World } from './world.js'

const CK = path.join(ROOT, 'test/fixtures/cloudkeeper')

/** The cloudkeeper CA directory plus a CRL made with its own key (auth/key.pem), so CRL checks stay on. */
function cloudkeeperCaDir(dir: string): string {
  const ca = path.join(dir, 'ck-ca')
  const work = path.join(dir, 'ck-work')
  mkdirSync(ca, { recursive: true })
  mkdirSync(work, { recursive: true })
  copyFileSync(path.join(CK, 'ca/9da13359.0'), path.join(ca, '9da13359.0'))
  writeFileSync(path.join(work, 'index.txt'), '')
  writeFileSync(path.join(work, 'crlnumber'), '01\n')
  writeFileSync(path.join(work, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${work}/index.txt\ncrlnumber=${work}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\n`)
  execFileSync('openssl', ['ca', '-gencrl', '-batch', '-config', path.join(work, 'ca.cnf'), '-cert', path.join(CK, 'auth/cert.pem'), '-keyfile', path.join(CK, 'auth/key.pem'), '-out', path.join(ca, '9da13359.r0')], { stdio: 'ignore' })
  return ca
}

describe('the cloudkeeper (AppDB-style) fixture lists', () => {
  let w: World
  let ca: string
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    ca = cloudkeeperCaDir(w.dir)
    for (const n of [1, 2, 3, 4]) w.server.set(`/ck${n}.signed`, { file: path.join(CK, `imagelist0${n}.signed`) })
  })
  afterAll(async () => w.close())

  it('subscribe with --ca-dir and --auto-endorse, pinning their actual signer (hv:dn/hv:ca do not name it)', async () => {
    for (const n of [1, 2, 3, 4]) {
      const r = await w.cli(['sub', 'add', w.server.url(`/ck${n}.signed`), '--auto-endorse', '--ca-dir', ca, '--now', w.nowIso])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[ENDORSER_MISMATCH]')
    }
    const subs = w.query<{ endorser: string; endorser_check: string; vo: string }>('SELECT endorser, endorser_check, vo FROM subscription')
    expect(subs).toHaveLength(4)
    // S20: each --auto-endorse trusts the signer for its own subscription, under a fresh endorser name
    expect(new Set(subs.map((s) => `${s.endorser}/${s.endorser_check}`))).toEqual(new Set(['', '-2', '-3', '-4'].map((n) => `Internet-Widgits-Pty-Ltd${n}/signer`)))
    // the certificate that signed them, not the lists' claim, once per subscription
    const trust = await w.cli(['sub', 'trust', 'list', '--json'])
    const endorsers = (JSON.parse(trust.stdout) as { endorsers: { subject: string; onlyFor: string | null }[] }).endorsers
    expect(endorsers.map((e) => e.subject)).toEqual(Array(4).fill('/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd'))
    expect(endorsers.every((e) => e.onlyFor !== null)).toBe(true)
  })

  it('sync quietly afterwards (one 304 per list), with CRL checking on', async () => {
    w.server.reset()
    const r = await w.sync(['--ca-dir', ca])
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', ''])
    expect(w.server.requests.map((q) => q.status)).toEqual([304, 304, 304, 304])
  })

  it('list their AppDB images, with string sizes and per-image expiry dates', async () => {
    const r = await w.cli(['sub', 'images', '--json', '--now', w.nowIso])
    const images = (JSON.parse(r.stdout) as { images: { size: number; expires: string; state: number }[] }).images
    expect(images.length).toBeGreaterThan(4)
    expect(images.every((i) => Number.isInteger(i.size) && i.expires === '2499-12-31T22:00:00.000Z' && i.state === 2)).toBe(true)
  })
})

describe('per-image dc:date:expires (AppDB)', () => {
  it('expires an image on its own date while its list stays valid', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const img = w.image('i.qcow2', 2000)
      await w.publish({ id: w.listId, version: '1', images: [imageEntry(img, { 'dc:date:expires': hepixDate(w.hours(2)) })] })
      for (const r of [await w.trust(), await w.add(w.listUrl), await w.cli(['sub', 'select', img.id]), await w.sync()]) expect(r.code).toBe(0)
      expect(readFileSync(path.join(w.cacheRoot, 'cache', img.id))).toEqual(img.bytes)
      const r = await w.sync([], { now: w.hours(3) })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`image ${img.id} (list ${w.listId}) expired: image expired (dc:date:expires)`)
      expect(w.filesIn('cache')).toEqual([])
    } finally {
      await w.close()
    }
  })
})

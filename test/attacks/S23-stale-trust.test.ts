import { cpSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execText, type PkiCert } from '../helpers/pki.js'
import { type Baseline, snapshot, subscribed, type World } from '../subscriber/world.js'

/**
 * The trust behind a stored list changes after it was accepted — its CA withdrawn from the trust
 * directory, its CRL gone stale or missing, its credential untrusted — while the list server keeps
 * answering 304. The stored list is re-verified against the current trust store on every run:
 * when it fails, the subscription stops offering images (status `expired`, images expired from the
 * cache) and the run exits 1 with STORED_LIST_UNTRUSTED; nothing else in the state moves. When the
 * trust comes back (or a newer verified list arrives), the list is offered again.
 */
describe('S23 stale trust', () => {
  let b: Baseline
  let w: World
  let trust: string
  const env = (): Record<string, string> => ({ VMGIT_CA_DIR: trust })
  /** the state tables, with the one documented move (status) undone, and the verified cache/ */
  const withoutStatus = (s: ReturnType<typeof snapshot>['db']): unknown =>
    ({ ...s, subscription: (s.subscription as Record<string, unknown>[]).map((r) => ({ ...r, status: 'ok' })), blob: undefined, cache_entry: undefined })
  const statuses = (): string[] => w.query<{ status: string }>('SELECT status FROM subscription').map((r) => r.status)
  const listRequests = (): (number | undefined)[] => w.server.requests.filter((q) => q.path === '/list.smime').map((q) => q.status)

  beforeAll(async () => {
    b = await subscribed()
    w = b.w
    // a trust directory of this site's own, which the tests edit as an operator (or fetch-crl) would
    trust = path.join(w.dir, 'trust')
    cpSync(w.pki.caDir, trust, { recursive: true })
  })
  afterAll(async () => w.close())

  const restoreTrust = (): void => {
    rmSync(trust, { recursive: true, force: true })
    cpSync(w.pki.caDir, trust, { recursive: true })
  }

  async function expectWithdrawn(cause: string): Promise<void> {
    const before = snapshot(w)
    w.server.reset()
    const r = await w.sync([], { env: env() })
    expect(listRequests()).toEqual([304])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[STORED_LIST_UNTRUSTED]')
    expect(r.stderr).toContain(`[${cause}`)
    expect(statuses()).toEqual(['expired'])
    expect(r.stdout).toContain(`image ${b.images[0]!.id} (list ${w.listId}) expired`)
    expect(w.filesIn('cache')).toEqual([])
    expect(withoutStatus(snapshot(w).db)).toEqual(withoutStatus(before.db))
    const images = JSON.parse((await w.cli(['sub', 'images', '--json'], { env: env() })).stdout) as { images: { state: number }[] }
    expect(images.images.map((i) => i.state)).toEqual([1]) // selected, no longer available
    // and it stays withdrawn, saying why, while the trust is still broken
    const again = await w.sync([], { env: env() })
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('[STORED_LIST_UNTRUSTED]')
    expect(statuses()).toEqual(['expired'])
  }

  async function expectRestored(): Promise<void> {
    restoreTrust()
    const r = await w.sync([], { env: env() })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('verifies again against the trust store')
    expect(statuses()).toEqual(['ok'])
    expect(w.filesIn('cache')).toHaveLength(2)
  }

  describe('when the CA is withdrawn from the trust directory after the list was stored', () => {
    it('stops offering the list although the server answers 304, and exits 1', async () => {
      rmSync(path.join(trust, `${w.pki.hashes.ca}.0`))
      await expectWithdrawn('UNTRUSTED_SIGNER')
    })
    it('offers it again once the CA is back (the stored list passes every check again)', expectRestored)
  })

  describe('when the CA\'s CRL expired (fetch-crl stopped)', () => {
    it('stops offering the list', async () => {
      cpSync(path.join(w.pki.expiredCrlDir, `${w.pki.hashes.ca}.r0`), path.join(trust, `${w.pki.hashes.ca}.r0`))
      await expectWithdrawn('CRL_EXPIRED')
    })
    it('offers it again once a current CRL is back', expectRestored)
  })

  describe('when the CA\'s CRL is missing', () => {
    it('stops offering the list', async () => {
      rmSync(path.join(trust, `${w.pki.hashes.ca}.r0`))
      await expectWithdrawn('CRL_MISSING')
    })
    it('does not bring it back merely because CRL checking is switched off', async () => {
      const r = await w.sync(['--no-crl-check'], { env: env() })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[STORED_LIST_UNTRUSTED]')
      expect(statuses()).toEqual(['expired'])
      expect(w.filesIn('cache')).toEqual([])
    })
    it('offers it again once the CRL is back', expectRestored)
  })

  describe('when the server re-serves the same bytes in full (no validators: no 304 possible)', () => {
    it('re-verifies the stored list all the same', async () => {
      const body = Buffer.from(await (await fetch(w.listUrl)).arrayBuffer())
      w.server.set('/list.smime', { body, noValidators: true })
      rmSync(path.join(trust, `${w.pki.hashes.ca}.0`))
      w.server.reset()
      const r = await w.sync([], { env: env() })
      expect(listRequests()).toEqual([200])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[STORED_LIST_UNTRUSTED]')
      expect(statuses()).toEqual(['expired'])
      expect(w.filesIn('cache')).toEqual([])
    })
    it('and offers it again once the trust is back', expectRestored)
  })

  describe('when the credential that signed it is untrusted while its endorser keeps another', () => {
    it('stops offering the list', async () => {
      expect((await w.trust(w.pki.signer2, 'test-endorser')).code).toBe(0)
      const u = await w.cli(['sub', 'untrust', 'test-endorser', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer])
      expect(u.code).toBe(0)
      const before = snapshot(w)
      const r = await w.sync([], { env: env() })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[STORED_LIST_UNTRUSTED]')
      expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED')
      expect(statuses()).toEqual(['expired'])
      expect(w.filesIn('cache')).toEqual([])
      expect(withoutStatus(snapshot(w).db)).toEqual(withoutStatus(before.db))
    })
  })

  describe('when a newer list signed by a trusted credential arrives', () => {
    it('recovers the subscription', async () => {
      expect((await w.trust(w.pki.signer, 'test-endorser')).code).toBe(0)
      await w.publish({ id: w.listId, version: '2.0', images: b.images })
      const r = await w.sync([], { env: env() })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '2.0', status: 'ok' }])
      expect(w.filesIn('cache')).toHaveLength(2)
    })

    it('but a new list is refused, and the stored one withdrawn, while the trust is still broken', async () => {
      rmSync(path.join(trust, `${w.pki.hashes.ca}.0`))
      await w.publish({ id: w.listId, version: '3.0', images: b.images })
      const before = snapshot(w)
      const r = await w.sync([], { env: env() })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[STORED_LIST_UNTRUSTED]')
      expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '2.0', status: 'expired' }])
      expect(withoutStatus(snapshot(w).db)).toEqual(withoutStatus(before.db))
    })
  })
})

/** The good signer's certificate renewed: same subject and issuer, new key and serial, valid longer. */
async function renewed(w: World): Promise<PkiCert> {
  const key = path.join(w.dir, 'renewed.key')
  const csr = path.join(w.dir, 'renewed.csr')
  const cert = path.join(w.dir, 'renewed.pem')
  const ext = path.join(w.dir, 'renewed.ext')
  writeFileSync(ext, 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=emailProtection\n')
  await execText('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', w.pki.signer.subject, '-keyout', key, '-out', csr])
  await execText('openssl', ['x509', '-req', '-in', csr, '-CA', w.pki.ca.cert, '-CAkey', w.pki.ca.key, '-set_serial', '0x5E51', '-days', '900', '-extfile', ext, '-out', cert])
  return { ...w.pki.signer, name: 'renewed', key, cert, serial: '5E51', notAfter: new Date(Date.now() + 900 * 86_400_000) }
}

describe('S23 when the stored signature stops verifying but the same list is served signed again', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('adopts the new signature (logged) instead of withdrawing a list that is validly signed today', async () => {
    const { w } = b
    const spec = { id: w.listId, version: '2.0', images: b.images, expires: w.hours(24 * 365 * 3) }
    await w.publish(spec)
    expect((await w.sync()).code).toBe(0)
    // the publisher renews its certificate and signs the very same content again
    w.server.set('/list.smime', { body: await w.signed(spec, await renewed(w)) })
    const after = new Date(w.pki.signer.notAfter.getTime() + 86_400_000)
    const r = await w.sync(['--no-crl-check'], { now: after })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('signed again by')
    expect(w.query<{ version: string; status: string; signer_serial: string }>('SELECT version, status, signer_serial FROM subscription')).toEqual([{ version: '2.0', status: 'ok', signer_serial: '5E51' }])
    expect(w.filesIn('cache')).toHaveLength(2)
    expect(w.query("SELECT action FROM log WHERE action = 'list-signed-again'")).toHaveLength(1)
    // and the next run is quiet (one 304)
    const again = await w.sync(['--no-crl-check'], { now: after })
    expect([again.code, again.stdout, again.stderr]).toEqual([0, '', ''])
  })
})

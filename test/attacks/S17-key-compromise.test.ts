import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execText, type PkiCert } from '../helpers/pki.js'
import { type Baseline, snapshot, subscribed, type World } from '../subscriber/world.js'

/** A certificate of the test CA whose keyUsage forbids signing (keyEncipherment only). */
async function encipherOnlyCert(w: World): Promise<PkiCert> {
  const dir = w.dir
  const key = path.join(dir, 'ke.key')
  const csr = path.join(dir, 'ke.csr')
  const cert = path.join(dir, 'ke.pem')
  const ext = path.join(dir, 'ke.ext')
  writeFileSync(ext, 'basicConstraints=CA:false\nkeyUsage=critical,keyEncipherment\n')
  const subj = '/DC=org/DC=vmgit-test/O=Test Grid/CN=Encipher Only'
  await execText('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', key, '-out', csr])
  await execText('openssl', ['x509', '-req', '-in', csr, '-CA', w.pki.ca.cert, '-CAkey', w.pki.ca.key, '-set_serial', '0x7E57', '-days', '30', '-extfile', ext, '-out', cert])
  return { ...w.pki.signer, name: 'ke', key, cert, subject: subj, serial: '7E57' }
}

describe('S17 key compromise containment on the subscriber side', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('refuses a signer whose keyUsage does not allow signing', async () => {
    const { w } = b
    const ke = await encipherOnlyCert(w)
    expect((await w.trust(ke, 'test-endorser')).code).toBe(0)
    await w.publish({ id: w.listId, version: '2.0', images: b.images }, { signer: ke })
    const before = snapshot(w)
    // the certificate was issued seconds ago: verify a minute later
    const r = await w.sync([], { now: new Date(Date.now() + 60_000) })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[SIGNER_KEY_USAGE]')
    expect(snapshot(w)).toEqual(before)
  })

  it('stops offering a stored list once its signer certificate expires (a list never outlives its signature)', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '3.0', images: b.images, expires: w.hours(24 * 365 * 3) })
    expect((await w.sync()).code).toBe(0)
    const after = new Date(w.pki.signer.notAfter.getTime() + 86_400_000)
    const r = await w.sync(['--no-crl-check'], { now: after })
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('its signer certificate expired')
    expect(w.filesIn('cache')).toEqual([])
  })

  it('stops offering a stored list once its signer certificate appears in the CRL', async () => {
    const { w } = b
    // accepted while the site had no CRL for the CA
    expect((await w.trust(w.pki.revoked, 'test-endorser')).code).toBe(0)
    await w.publish({ id: w.listId, version: '4.0', images: b.images }, { signer: w.pki.revoked })
    expect((await w.sync(['--no-crl-check'], { env: { VMGIT_CA_DIR: w.pki.noCrlDir } })).code).toBe(0)
    expect(w.filesIn('cache')).toHaveLength(2)
    // fetch-crl brings the CRL: the list (still served unchanged, a 304) is no longer offered
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('is revoked; its images are no longer offered')
    expect(w.filesIn('cache')).toEqual([])
  })
})

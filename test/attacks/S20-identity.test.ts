import Database from 'better-sqlite3'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueFromCa1 } from '../helpers/extra-cert.js'
import type { PkiCert } from '../helpers/pki.js'
import { type Baseline, makeWorld, sharedPki, snapshot, subscribed, type World } from '../subscriber/world.js'

/**
 * S20 identity: two certificates whose names print the same one-line DN must never be confused,
 * and a name vmgit makes up must never add a credential to an existing endorser.
 * The look-alike certificates come from the same CA as the good signer, valid and not revoked.
 */
const BASE = '/DC=org/DC=vmgit-test/O=Test Grid'

const trustList = async (w: World): Promise<{ name: string; subject: string; identifiedBy: string; onlyFor: string | null; subscriptions: string[] }[]> =>
  JSON.parse((await w.cli(['sub', 'trust', 'list', '--json'])).stdout).endorsers

describe('S20 identity: look-alike names', () => {
  describe('when a certificate from the same CA packs the trusted subject into one OU value ("/" inside a value)', () => {
    let b: Baseline
    let lookalike: PkiCert
    beforeAll(async () => {
      // the trusted signer is /…/O=Test Grid/OU=Publishers/CN=Good Signer/emailAddress=good@example.org
      lookalike = await issueFromCa1(await sharedPki(), 'lookalike-slash', `${BASE}/OU=Publishers\\/CN=Good Signer\\/emailAddress=good@example.org`)
      b = await subscribed()
    }, 120_000)
    afterAll(async () => b.w.close())

    it('prints it as OpenSSL 3 does, with the slashes escaped, so it is not the trusted DN string', () => {
      expect(lookalike.subject).toBe(`${BASE}/OU=Publishers\\/CN=Good Signer\\/emailAddress=good@example.org`)
      expect(lookalike.subject).not.toBe(b.w.pki.signer.subject)
    })

    it.each([
      ['its own (escaped) DN', (c: PkiCert, _w: World) => c.subject],
      ['the trusted DN string (what the unescaped form printed)', (_c: PkiCert, w: World) => w.pki.signer.subject],
    ])('rejects its next version claiming %s and keeps state, cache and trust', async (_what, claim) => {
      const { w } = b
      await w.publish({ id: w.listId, version: '2.0', images: b.images, dn: claim(lookalike, w) }, { signer: lookalike })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/\[ENDORSER_NOT_AUTHORISED\]|\[ENDORSER_MISMATCH\]/)
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when the trusted name itself holds "/" in a value and a look-alike holds a backslash before a separator', () => {
    // OpenSSL does not escape "\": OU="Endorsers\" + CN="Endorser good" prints as OU="Endorsers/CN=Endorser good"
    let good: PkiCert
    let evil: PkiCert
    let w: World
    const images: ReturnType<World['image']>[] = []
    beforeAll(async () => {
      const pki = await sharedPki()
      good = await issueFromCa1(pki, 'slash-good', `${BASE}/OU=Endorsers\\/CN=Endorser good`)
      evil = await issueFromCa1(pki, 'slash-evil', `${BASE}/OU=Endorsers\\\\/CN=Endorser good`)
      w = await makeWorld({ pki })
      images.push(w.image('img.qcow2', 20_000))
    }, 120_000)
    afterAll(async () => w.close())

    it('renders both certificates to the same one-line string (the collision is real)', () => {
      expect(evil.subject).toBe(good.subject)
      expect(evil.issuer).toBe(good.issuer)
    })

    it.each([
      ['trusted from its certificate (DER names)', (c: PkiCert) => ['--cert', c.cert]],
      ['trusted by its one-line strings', (c: PkiCert) => ['--subject', c.subject, '--issuer', c.issuer]],
    ])('when %s: the good list is accepted, the look-alike\'s next version is rejected and nothing changes', async (_how, args) => {
      const id = randomUUID()
      const name = `ep-${id.slice(0, 8)}`
      const route = `/list-${id}.smime`
      await w.publish({ id, version: '1.0', images, uri: w.server.url(route) }, { signer: good, route })
      expect((await w.cli(['sub', 'trust', '--name', name, ...args(good)])).code).toBe(0)
      const add = await w.cli(['sub', 'add', w.server.url(route), '--endorser', name, '--now', w.nowIso])
      expect(add.stderr).toBe('')
      expect(add.code).toBe(0)
      await w.publish({ id, version: '2.0', images, uri: w.server.url(route) }, { signer: evil, route })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED]')
      expect(snapshot(w)).toEqual(before)
      // and the good signer's next version still goes through
      await w.publish({ id, version: '3.0', images, uri: w.server.url(route) }, { signer: good, route })
      const ok = await w.sync()
      expect(ok.stderr).toBe('')
      expect(w.query<{ version: string }>('SELECT version FROM subscription WHERE id = ?', id)).toEqual([{ version: '3.0' }])
    })

    it('refuses to trust the backslash name by its one-line strings alone (DN_NEEDS_CERTIFICATE) and changes no trust', async () => {
      const before = snapshot(w)
      const r = await w.cli(['sub', 'trust', '--name', 'other', '--subject', `${BASE}/OU=a\\b/CN=x`, '--issuer', evil.issuer])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('[DN_NEEDS_CERTIFICATE]')
      const multi = await w.cli(['sub', 'trust', '--name', 'other', '--subject', `${BASE}/OU=a+CN=x`, '--issuer', evil.issuer])
      expect(multi.code).toBe(2)
      expect(snapshot(w)).toEqual(before)
    })
  })
})

describe('S20 identity: made-up endorser names never join an existing endorser', () => {
  let b: Baseline
  let lookalike: PkiCert
  beforeAll(async () => {
    // "Endorser (good)" sanitises to the name of the production endorser, Endorser-good
    lookalike = await issueFromCa1(await sharedPki(), 'endorser-good-paren', `${BASE}/CN=Endorser (good)`)
    b = await subscribed()
    const { w } = b
    // rebind the production list to an endorser named Endorser-good (the good signer is its credential)
    expect((await w.trust(w.pki.signer, 'Endorser-good')).code).toBe(0)
    const db = new Database(w.db)
    db.prepare('UPDATE subscription SET endorser = ?').run('Endorser-good')
    db.prepare("DELETE FROM endorser WHERE name = 'test-endorser'").run()
    db.close()
  }, 120_000)
  afterAll(async () => b.w.close())

  it.each([
    ['from its certificate', (c: PkiCert) => ['--cert', c.cert]],
    ['from its one-line strings', (c: PkiCert) => ['--subject', c.subject, '--issuer', c.issuer]],
  ])('`sub trust` %s without --name refuses (ENDORSER_NAME_TAKEN, exit 2) and adds nothing', async (_how, args) => {
    const { w } = b
    const before = snapshot(w)
    const r = await w.cli(['sub', 'trust', ...args(lookalike)])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('[ENDORSER_NAME_TAKEN]')
    expect(r.stderr).toContain('--name Endorser-good')
    expect(snapshot(w)).toEqual(before)
  })

  it('treats a name differing only in case as taken too', async () => {
    const { w } = b
    const shouty = await issueFromCa1(w.pki, 'endorser-good-case', `${BASE}/CN=ENDORSER good`)
    const before = snapshot(w)
    const r = await w.cli(['sub', 'trust', '--cert', shouty.cert])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('[ENDORSER_NAME_TAKEN]')
    expect(snapshot(w)).toEqual(before)
  })

  it('lets `sub trust` of the same credential again without --name report "already trusted"', async () => {
    const { w } = b
    const again = await w.cli(['sub', 'trust', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer, '--name', 'Endorser-good', '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ added: false, name: 'Endorser-good' })
  })

  it('`sub add --auto-endorse` of a list signed by the look-alike subscribes under a fresh name, valid for that list only', async () => {
    const { w } = b
    const otherId = randomUUID()
    await w.publish({ id: otherId, version: '1.0', images: [w.image('other.qcow2', 1000)] }, { signer: lookalike, route: '/other.smime' })
    const add = await w.cli(['sub', 'add', w.server.url('/other.smime'), '--auto-endorse', '--now', w.nowIso, '--json'])
    expect(add.code).toBe(0)
    expect(JSON.parse(add.stdout)).toMatchObject({ endorser: 'Endorser-good-2', trusted: { name: 'Endorser-good-2' } })
    const creds = await trustList(w)
    expect(creds.filter((c) => c.name === 'Endorser-good')).toEqual([expect.objectContaining({ subject: w.pki.signer.subject, onlyFor: null })])
    expect(creds.filter((c) => c.name === 'Endorser-good-2')).toEqual([
      expect.objectContaining({ subject: lookalike.subject, identifiedBy: 'certificate', onlyFor: otherId, subscriptions: [otherId] }),
    ])
  })

  it('so the look-alike still cannot sign the production list: rejected, state, cache and trust unchanged', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: b.images }, { signer: lookalike })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED]')
    expect(snapshot(w)).toEqual(before)
  })

  it('and an auto-endorsed credential is no credential of another subscription bound to its name', async () => {
    const { w } = b
    const thirdId = randomUUID()
    await w.publish({ id: thirdId, version: '1.0', images: [w.image('third.qcow2', 1000)] }, { signer: lookalike, route: '/third.smime' })
    const before = snapshot(w)
    const r = await w.cli(['sub', 'add', w.server.url('/third.smime'), '--endorser', 'Endorser-good-2', '--now', w.nowIso])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED]')
    expect(snapshot(w)).toEqual(before)
  })

  it('drops an auto-endorsed credential with its subscription (a later list reusing that identifier gains nothing)', async () => {
    const { w } = b
    const other = (await trustList(w)).find((c) => c.name === 'Endorser-good-2')!
    expect((await w.cli(['sub', 'remove', other.onlyFor!])).code).toBe(0)
    expect((await trustList(w)).filter((c) => c.name === 'Endorser-good-2')).toEqual([])
  })

  it('adds a credential to an existing endorser only with an explicit --name (a key rotation)', async () => {
    const { w } = b
    const r = await w.cli(['sub', 'trust', '--cert', lookalike.cert, '--name', 'Endorser-good', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ added: true, name: 'Endorser-good' })
  })
})

describe('S20 identity: a database from before names were DER (schema 1)', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  }, 120_000)
  afterAll(async () => b.w.close())

  it('keeps working: string credentials are pinned to the stored signer certificate\'s names on upgrade', async () => {
    const { w } = b
    // make it a schema-1 database again: string-only credentials, no DER-name columns (migration 3)
    const db = new Database(w.db)
    for (const c of ['subject_der', 'issuer_der', 'subscription_id']) db.exec(`ALTER TABLE endorser DROP COLUMN ${c}`)
    db.exec('ALTER TABLE subscription DROP COLUMN crl_check') // migration 4 (remembered verification options)
    db.prepare('DELETE FROM schema_migrations WHERE version >= 3').run()
    db.close()
    const creds = await trustList(w)
    expect(creds).toEqual([expect.objectContaining({ name: 'test-endorser', subject: w.pki.signer.subject, identifiedBy: 'certificate', onlyFor: null })])
    await w.publish({ id: w.listId, version: '2.0', images: b.images })
    const r = await w.sync()
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })
})

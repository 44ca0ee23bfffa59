import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escapeText, shCommand, shQuote } from '../../src/util/escape.js'
import { BIN, childEnv } from '../helpers/cli.js'
import { openssl, type PkiCert } from '../helpers/pki.js'
import { type Baseline, imageEntry, makeWorld, sharedPki, snapshot, subscribed, type World } from '../subscriber/world.js'

/** What a terminal must never receive from a list: C0 (but the line feeds and tabs vmgit itself writes), DEL, C1, bidi, invisible. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u
const EVIL = 'Evil\u001b]0;owned\u0007\u001b[2J\u009b31m\tforged\tcolumn\nerror [FORGED]: trust me\r\u202egnp.exe\u2066x\u2069\u200b\u00a0end'

describe('S30 the escaper', () => {
  it('turns controls, bidi overrides and invisible characters into visible escapes, keeps ordinary text', () => {
    expect(escapeText('a\u001b[31mb')).toBe('a\\x1b[31mb')
    expect(escapeText('t\tn\nr\r')).toBe('t\\tn\\nr\\r')
    expect(escapeText('\u202eabc\u2066\u2069')).toBe('\\u202eabc\\u2066\\u2069')
    expect(escapeText('\u0085\u009b\u007f\u0000')).toBe('\\x85\\x9b\\x7f\\x00')
    expect(escapeText('zw\u200bj\u200d\ufeff\u00a0')).toBe('zw\\u200bj\\u200d\\ufeff\\xa0')
    expect(escapeText('tag\u{e0041}')).toBe('tag\\U000e0041')
    expect(escapeText('lone \ud800 surrogate')).toBe('lone \\ud800 surrogate')
    expect(escapeText('Café Ωmega 日本 /CN=x\\xC3\\xA9')).toBe('Café Ωmega 日本 /CN=x\\xC3\\xA9')
  })

  it('is idempotent, so a line may be escaped again as a safety net', () => {
    const once = escapeText(EVIL)
    expect(escapeText(once)).toBe(once)
    expect(once).not.toMatch(RAW)
    expect(once).not.toContain('\n')
    expect(once).not.toContain('\t')
  })
})

describe('S30 suggested commands are POSIX-quoted', () => {
  const nasty = [
    "/CN=O'Brien", '/CN=$(touch PWNED)', '/CN=`touch PWNED`', '/CN=a; touch PWNED', '/CN=multi\nline', "'", "''", '', '-n', '\\', '"$HOME"', '*', '~root',
  ]
  it.each(nasty)('passes %j to sh -c as exactly one argument', (s) => {
    const dir = path.join(process.cwd(), 'node_modules/.cache/s30-quote')
    mkdirSync(dir, { recursive: true })
    const out = execFileSync('/bin/sh', ['-c', `cd '${dir}' && printf '%s\\0' ${shQuote(s)} next`], { encoding: 'utf8' })
    expect(out).toBe(`${s}\0next\0`)
    expect(existsSync(path.join(dir, 'PWNED'))).toBe(false)
  })

  it('quotes every word of a command', () => {
    expect(shCommand(['vmgit', 'sub', 'trust', '--subject', "/CN=it's"])).toBe("vmgit sub trust --subject '/CN=it'\\''s'")
  })
})

describe('S30 when a list carries terminal escapes, bidi overrides, tabs and newlines', () => {
  let b: Baseline
  let evil: ReturnType<World['image']>
  beforeAll(async () => {
    b = await subscribed()
    const { w } = b
    evil = w.image('evil.qcow2', 2000)
    await w.publish({
      id: w.listId, version: '2.0', images: [...b.images, imageEntry(evil, { 'dc:title': EVIL, 'dc:description': EVIL })],
      extra: { 'dc:title': EVIL, 'dc:description': EVIL },
    })
  })
  afterAll(async () => b.w.close())

  it('sync prints the new image line escaped, and the list is still accepted and the good image kept', async () => {
    const { w } = b
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(r.stdout + r.stderr).not.toMatch(RAW)
    expect(r.stdout).toContain('\\x1b]0;owned\\x07')
    expect(r.stdout).toContain('\\u202egnp.exe')
    expect(r.stdout.split('\n').some((l) => l.startsWith('error [FORGED]'))).toBe(false)
    expect(w.filesIn('cache')).toContain(b.images[0]!.sha512)
  })

  it('`sub images` keeps exactly five columns per row and shows the title escaped; --json stays exact', async () => {
    const { w } = b
    const r = await w.cli(['sub', 'images'])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toMatch(RAW)
    const rows = r.stdout.trimEnd().split('\n')
    expect(rows).toHaveLength(2)
    for (const row of rows) expect(row.split('\t')).toHaveLength(5)
    const evilRow = rows.find((l) => l.startsWith(evil.id))!
    expect(evilRow.split('\t')[4]).toBe(escapeText(EVIL))
    const j = await w.cli(['sub', 'images', '--json'])
    expect((JSON.parse(j.stdout) as { images: { identifier: string; title: string }[] }).images.find((i) => i.identifier === evil.id)!.title).toBe(EVIL)
  })

  it('`sub show` prints one key=value line per key, whatever the title holds', async () => {
    const { w } = b
    const r = await w.cli(['sub', 'show', w.listId])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toMatch(RAW)
    for (const line of r.stdout.trimEnd().split('\n')) expect(line).toMatch(/^[A-Za-z0-9.:_]+=/)
    expect(r.stdout).toContain(`imagelist.dc:title=${escapeText(EVIL)}`)
    const j = await w.cli(['sub', 'show', w.listId, '--json'])
    expect((JSON.parse(j.stdout) as { title: string }).title).toBe(EVIL)
  })

  it('`vmgit verify` prints the title escaped', async () => {
    const { w } = b
    const file = path.join(w.dir, 'evil.smime')
    writeFileSync(file, await w.signed({ id: w.listId, version: '3.0', images: [], extra: { 'dc:title': EVIL } }))
    const r = await w.cli(['verify', file, '--ca-dir', w.pki.caDir])
    expect(r.code).toBe(0)
    expect(r.stdout + r.stderr).not.toMatch(RAW)
    expect(r.stdout).toContain(`title:      ${escapeText(EVIL)}`)
  })

  it('escapes an error message that quotes list content, and a failing handler\'s output', async () => {
    const { w } = b
    const handler = path.join(w.dir, 'noisy.sh')
    writeFileSync(handler, '#!/bin/sh\nprintf "%s" "$VMCATCHER_EVENT_DC_TITLE"\nexit 1\n', { mode: 0o755 })
    await w.publish({ id: w.listId, version: '4.0', images: [...b.images, imageEntry(evil, { 'dc:title': EVIL }), imageEntry(w.image('e2.qcow2', 10), { 'dc:title': EVIL })] })
    const before = snapshot(w)
    const r = await w.sync(['--no-download'], { env: { VMGIT_EVENT: handler } })
    expect(r.stderr).toContain('[EVENT_FAILED]')
    expect(r.stdout + r.stderr).not.toMatch(RAW)
    expect(r.stderr.split('\n').some((l) => l.startsWith('error [FORGED]'))).toBe(false)
    // the list itself was good: accepted (the handler's failure is a warning)
    expect(snapshot(w).db.subscription).not.toEqual(before.db.subscription)
  })
})

describe('S30 when the signer DN holds shell metacharacters and the suggested `vmgit sub trust` is pasted', () => {
  let w: World
  let evilSigner: PkiCert
  const marker = 'PWNED'
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    // a certificate from the trusted CA whose CN is a shell attack (quotes, $(...), backticks, ;, a newline)
    const d1 = path.join(w.pki.dir, 'ca1')
    const conf = path.join(d1, 'ca.cnf')
    const cn = `O'Brien "$(touch ${marker})" \`touch ${marker}\`; touch ${marker}\nx`
    const name = `evil-${Date.now()}`
    await openssl(['req', '-new', '-config', conf, '-newkey', 'rsa:2048', '-nodes', '-utf8', '-subj', `/DC=org/DC=vmgit-test/O=Test Grid/CN=${cn}`, '-keyout', path.join(d1, `${name}.key`), '-out', path.join(d1, `${name}.csr`)])
    const day = 86_400_000
    const fmt = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')
    await openssl(['ca', '-batch', '-config', conf, '-notext', '-preserveDN', '-utf8', '-extensions', 'signer', '-startdate', fmt(new Date(Date.now() - day)), '-enddate', fmt(new Date(Date.now() + 30 * day)),
      '-cert', path.join(d1, 'ca.pem'), '-keyfile', path.join(d1, 'ca.key'), '-in', path.join(d1, `${name}.csr`), '-out', path.join(d1, `${name}.pem`)])
    evilSigner = { ...w.pki.signer, name, cert: path.join(d1, `${name}.pem`), key: path.join(d1, `${name}.key`), subject: '', serial: '' }
    const im = w.image('a.qcow2', 1000)
    await w.publish({ id: w.listId, version: '1', images: [im], dn: 'placeholder', ca: w.pki.signer.issuer }, { signer: evilSigner })
  })
  afterAll(async () => w.close())

  it('refuses the untrusted signer, keeps state, and suggests a command that passes each DN as exactly one argument', async () => {
    // a database with an unrelated endorser (read-only commands never create one)
    expect((await w.cli(['sub', 'trust', '--name', 'unrelated', '--subject', '/DC=org/CN=Unrelated', '--issuer', '/DC=org/CN=Unrelated CA'])).code).toBe(0)
    const before = snapshot(w)
    const r = await w.add(w.listUrl, ['--json'])
    expect(r.code).toBe(1)
    expect(snapshot(w)).toEqual(before)
    const err = (JSON.parse(r.stdout) as { error: { code: string; details: { subject: string; issuer: string; suggestion: string } } }).error
    expect(err.code).toBe('ENDORSER_NOT_TRUSTED')
    const { subject, issuer, suggestion } = err.details
    expect(subject).toContain("O'Brien")
    expect(subject).toContain('$(touch')
    // the human message carries the same command, escaped for the terminal (the DN here is printable: OpenSSL's \x0A form)
    expect(r.stderr).toContain(suggestion)
    expect(r.stderr).not.toMatch(RAW)
    // pasted into a shell with `vmgit` recording its arguments
    const cwd = path.join(w.dir, 'paste')
    mkdirSync(cwd, { recursive: true })
    const args = execFileSync('/bin/sh', ['-c', `vmgit() { printf '%s\\0' "$@"; }\n${suggestion}`], { cwd, encoding: 'utf8' })
    expect(args.split('\0').slice(0, -1)).toEqual(['sub', 'trust', '--subject', subject, '--issuer', issuer])
    expect(existsSync(path.join(cwd, marker))).toBe(false)
  })

  it('running the pasted command for real trusts exactly that signer; the subscription then succeeds', async () => {
    const r = await w.add(w.listUrl, ['--json'])
    const { suggestion, subject } = (JSON.parse(r.stdout) as { error: { details: { suggestion: string; subject: string } } }).error.details
    const cwd = path.join(w.dir, 'paste2')
    mkdirSync(cwd, { recursive: true })
    execFileSync('/bin/sh', ['-c', `vmgit() { "${process.execPath}" "${BIN}" "$@" --name evil-endorser; }\n${suggestion}`], { cwd, env: childEnv(w.env), encoding: 'utf8' })
    expect(existsSync(path.join(cwd, marker))).toBe(false)
    expect(w.query<{ subject: string }>("SELECT subject FROM endorser WHERE name <> 'unrelated'")).toEqual([{ subject }])
    const list = await w.cli(['sub', 'trust', 'list'])
    expect(list.stdout).not.toMatch(RAW)
    expect(list.stdout.split('\n').filter(Boolean).map((l) => l.split('\t').length)).toEqual([6, 6])
    // the list's hv:dn is a placeholder, so only --auto-endorse's signer pinning accepts it: the credential matched exactly
    const add = await w.add(w.listUrl, ['--endorser', 'evil-endorser', '--auto-endorse'])
    expect(add.stderr).not.toMatch(RAW)
    expect(add.code).toBe(0)
  })
})

describe('S30 `sub select` never crosses subscriptions silently', () => {
  let b: Baseline
  let otherId: string
  beforeAll(async () => {
    b = await subscribed()
    const { w } = b
    // a second subscribed list (same trusted endorser) carrying the production image's sha512 and identifier
    otherId = '0ther-list-' + w.listId.slice(0, 8)
    const prod = b.images[0]!
    const twin = imageEntry(prod, { 'dc:title': 'twin' })
    const extra = imageEntry(w.image('o.qcow2', 500), {})
    w.server.set('/other.smime', { body: await w.signed({ id: otherId, version: '1', images: [twin, extra] }) })
    expect((await w.add(w.server.url('/other.smime'))).code).toBe(0)
  })
  afterAll(async () => b.w.close())

  it('refuses --sha512 matching images in two subscriptions, selecting nothing', async () => {
    const { w } = b
    const before = snapshot(w)
    const r = await w.cli(['sub', 'select', '--sha512', b.images[0]!.sha512])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('[SELECT_AMBIGUOUS]')
    expect(r.stderr).toContain(otherId)
    expect(r.stderr).toContain('--subscription')
    expect(snapshot(w)).toEqual(before)
  })

  it('says so, one line per subscription, when an identifier shared by two lists (AppDB VO lists) is selected in both', async () => {
    const { w } = b
    const r = await w.cli(['sub', 'select', b.images[0]!.id])
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n').sort()).toEqual([`already selected ${b.images[0]!.id} in ${w.listId}`, `selected ${b.images[0]!.id} in ${otherId}`].sort())
    expect((await w.cli(['sub', 'deselect', b.images[0]!.id, '--subscription', otherId])).code).toBe(0)
  })

  it('selects only in the subscription named with --subscription', async () => {
    const { w } = b
    const r = await w.cli(['sub', 'select', '--sha512', b.images[0]!.sha512, '--subscription', otherId])
    expect(r.code).toBe(0)
    expect(w.query<{ subscription_id: string }>('SELECT subscription_id FROM selection WHERE identifier = ? ORDER BY 1', b.images[0]!.id).map((x) => x.subscription_id).sort())
      .toEqual([otherId, w.listId].sort())
    const again = await w.cli(['sub', 'select', '--sha512', b.images[0]!.sha512, '--subscription', w.listId])
    expect(again.stdout).toContain('already selected')
  })
})

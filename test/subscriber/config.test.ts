import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseRdbmsUrl, rdbmsUrl, resolveCacheDirs, resolveCaDir, resolveDbPath, resolveEventCommand } from '../../src/subscriber/config.js'
import { redactText, splitCredentials } from '../../src/net/redact.js'
import { makeWorld, sharedPki } from './world.js'

describe('where the subscriber keeps its state', () => {
  it('reads vmcatcher\'s VMCATCHER_RDBMS: three slashes relative, four absolute', () => {
    expect(parseRdbmsUrl('sqlite:////var/lib/vmcatcher/vmcatcher.db')).toBe('/var/lib/vmcatcher/vmcatcher.db')
    expect(parseRdbmsUrl('sqlite:///vmcatcher.db', '/srv')).toBe('/srv/vmcatcher.db')
    expect(() => parseRdbmsUrl('postgresql://db/vmcatcher')).toThrow(expect.objectContaining({ code: 'DB_URL_UNSUPPORTED' }))
    expect(rdbmsUrl('/a/b.db')).toBe('sqlite:////a/b.db')
  })

  it('prefers --db, then VMGIT_DB, then VMCATCHER_RDBMS, then the XDG state directory', () => {
    const env = { HOME: '/home/u', VMGIT_DB: '/x/vmgit.db', VMCATCHER_RDBMS: 'sqlite:////y/vmc.db' }
    expect(resolveDbPath('/flag.db', env)).toBe('/flag.db')
    expect(resolveDbPath(undefined, env)).toBe('/x/vmgit.db')
    expect(resolveDbPath(undefined, { ...env, VMGIT_DB: undefined })).toBe('/y/vmc.db')
    if (process.getuid?.() !== 0) expect(resolveDbPath(undefined, { HOME: '/home/u' })).toBe('/home/u/.local/state/vmgit/subscriber.db')
    else expect(resolveDbPath(undefined, { HOME: '/root' })).toBe('/var/lib/vmgit/subscriber.db')
  })

  it('takes the cache root from --cache-dir / VMGIT_CACHE_DIR, or vmcatcher\'s three directories', () => {
    expect(resolveCacheDirs('/c', {})).toEqual({ cache: '/c/cache', partial: '/c/partial', expired: '/c/expired' })
    const old = { VMCATCHER_CACHE_DIR_CACHE: '/v/endorsed', VMCATCHER_CACHE_DIR_DOWNLOAD: '/v/partial', VMCATCHER_CACHE_DIR_EXPIRE: '/v/expired', HOME: '/h' }
    expect(resolveCacheDirs(undefined, old)).toEqual({ cache: '/v/endorsed', partial: '/v/partial', expired: '/v/expired' })
    expect(resolveCacheDirs(undefined, { ...old, VMGIT_CACHE_DIR: '/g' }).cache).toBe('/g/cache')
  })

  it('takes the trust directory and event command from vmgit\'s or vmcatcher\'s variables', () => {
    expect(resolveCaDir(undefined, { VMCATCHER_DIR_CERT: '/etc/grid-security/certificates-x' })).toBe('/etc/grid-security/certificates-x')
    expect(resolveCaDir(undefined, {})).toBe('/etc/grid-security/certificates')
    expect(resolveEventCommand(undefined, { VMCATCHER_CACHE_EVENT: 'handler --x' })).toBe('handler --x')
    expect(resolveEventCommand('mine', { VMGIT_EVENT: 'env' })).toBe('mine')
    expect(resolveEventCommand(undefined, { VMGIT_EVENT: '  ' })).toBeUndefined()
  })

  it('keeps URL credentials apart and out of text', () => {
    expect(splitCredentials('https://tok%40en:x-oauth-basic@appdb.example/list')).toEqual({ url: 'https://appdb.example/list', username: 'tok@en', password: 'x-oauth-basic' })
    expect(splitCredentials('./list.smime').url).toBe(`file://${path.resolve('list.smime')}`)
    expect(redactText('failed: https://u:p@h/x and http://a@b/')).toBe('failed: https://***@h/x and http://***@b/')
    expect(() => splitCredentials('ftp://h/x')).toThrow(expect.objectContaining({ code: 'URL_SCHEME' }))
  })

  it('works with an existing vmcatcher environment: VMCATCHER_RDBMS and VMCATCHER_CACHE_DIR_* from cron', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const env = {
        VMGIT_DB: undefined, VMGIT_CACHE_DIR: undefined,
        VMCATCHER_RDBMS: `sqlite:///${path.join(w.dir, 'vmc.db')}`,
        VMCATCHER_CACHE_DIR_CACHE: path.join(w.dir, 'endorsed'), VMCATCHER_CACHE_DIR_DOWNLOAD: path.join(w.dir, 'partial'), VMCATCHER_CACHE_DIR_EXPIRE: path.join(w.dir, 'expired'),
      }
      const img = w.image('i.qcow2', 1000)
      await w.publish({ id: w.listId, version: '1', images: [img] })
      for (const args of [['sub', 'trust', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer], ['sub', 'add', w.listUrl, '--now', w.nowIso], ['sub', 'select', img.id], ['sync', '--now', w.nowIso]]) {
        const r = await w.cli(args, { env })
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
      }
      const { readFileSync } = await import('node:fs')
      expect(readFileSync(path.join(w.dir, 'endorsed', img.id))).toEqual(img.bytes)
    } finally {
      await w.close()
    }
  })
})

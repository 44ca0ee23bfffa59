/** vmgit import-config: vmcaster.cfg (INI, JSON values) → vmgit.yaml targets, merged in place. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { importVmcasterConfig, parseVmcasterIni, scpToSftp } from '../../src/publish/import-config.js'
import { mapUri, rulesFromConfig } from '../../src/publish/config.js'
import { ROOT, runCli } from '../helpers/cli.js'

const TEMPLATE = path.join(ROOT, 'test/fixtures/vmcaster/vmcaster.cfg.template')

describe('import-config', () => {
  let dir = ''
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-impcfg-'))))
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  describe('reading the INI', () => {
    it('decodes JSON values, lowercases keys and tolerates trailing spaces (the template)', () => {
      const s = parseVmcasterIni(readFileSync(TEMPLATE, 'utf8'))
      expect(s.map((x) => x.name)).toEqual(['x61', 'example.org', 'dish.desy.de', 'appdb', 'appdb-dev'])
      expect(s[1]!.values).toEqual({ server: 'http.example.org', protocol: 'scp', urimatch: 'http://http.example.org/repos/prod/vmcaster', urireplace: 'jenkins@http.example.org:/export/example.org/prod/vmcaster' })
      expect(s[4]!.values.urireplace).toBe('egiappdb://username@vmcaster.appdb-dev.marie.hellasgrid.gr/vmlist/submit/sso/')
    })
    it('reports a value that is not JSON at file:line with IMPORT_CONFIG_INVALID', () => {
      expect(() => parseVmcasterIni('[a]\nserver = "h"\nprotocol = scp\n', 'my.cfg')).toThrow(expect.objectContaining({ code: 'IMPORT_CONFIG_INVALID', message: expect.stringContaining('my.cfg:3') }))
    })
    it('reads pre-0.0.14 key names (writeprotocol, readprefix, writeprefix) and [DEFAULT]', async () => {
      const cfg = path.join(dir, 'old.cfg')
      writeFileSync(cfg, '[DEFAULT]\nwriteprotocol = "scp"\n[old]\nserver = "h.org"\nreadprefix = "https://h.org/vm/"\nwriteprefix = "me@h.org:/srv/vm/"\n')
      const r = await importVmcasterConfig(cfg, dir)
      expect(r.added).toEqual([{ section: 'old', match: 'https://h.org/vm/', replace: 'sftp://me@h.org/srv/vm/' }])
    })
  })

  describe('converting the template', () => {
    it('turns local into file:// and scp into sftp://, and reports gsidcap and egiappdb as unsupported', async () => {
      const r = await importVmcasterConfig(TEMPLATE, dir)
      expect(r.created).toBe(true)
      expect(r.added).toEqual([
        { section: 'x61', match: 'https://x61.example.org:2880/', replace: 'file:///tmp/example_publishing/' },
        { section: 'example.org', match: 'http://http.example.org/repos/prod/vmcaster', replace: 'sftp://jenkins@http.example.org/export/example.org/prod/vmcaster' },
      ])
      expect(r.unsupported.map((u) => [u.section, u.protocol, u.code])).toEqual([
        ['dish.desy.de', 'gsidcap', 'IMPORT_CONFIG_UNSUPPORTED'],
        ['appdb', 'egiappdb', 'IMPORT_CONFIG_UNSUPPORTED'],
        ['appdb-dev', 'egiappdb', 'IMPORT_CONFIG_UNSUPPORTED'],
      ])
      expect(r.unsupported[0]!.message).toMatch(/WebDAV.*https:\/\/dcache-desy-gsidcap\.desy\.de:2880/)
      expect(r.unsupported[1]!.message).toMatch(/register that URL in AppDB/)
      expect(r.notes.join('\n')).toMatch(/trailing \//)
      expect(r.notes.join('\n')).toMatch(/server "localhost" differs/)
    })
    it('writes a vmgit.yaml whose targets map uris as vmcaster did', async () => {
      await importVmcasterConfig(TEMPLATE, dir)
      const text = readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')
      expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=/)
      expect(text).toContain('# imported from vmcaster.cfg.template [example.org]')
      const rules = rulesFromConfig(parse(text))
      expect(mapUri('http://http.example.org/repos/prod/vmcaster/list.smime', rules)?.url).toBe('sftp://jenkins@http.example.org/export/example.org/prod/vmcaster/list.smime')
      expect(mapUri('https://x61.example.org:2880/images/a.img', rules)?.url).toBe('file:///tmp/example_publishing/images/a.img')
    })
    it('keeps a regex uriMatch as a regex target with Python groups translated', async () => {
      const cfg = path.join(dir, 're.cfg')
      writeFileSync(cfg, '[re]\nserver = "h.org"\nprotocol = "scp"\nuriMatch = "https://h.org/(.*)"\nuriReplace = "u@h.org:/srv/\\\\1"\n')
      const r = await importVmcasterConfig(cfg, dir)
      expect(r.added).toEqual([{ section: 're', match: 'https://h.org/(.*)', replace: 'sftp://u@h.org/srv/$1', regex: true }])
    })
  })

  describe('merging into an existing vmgit.yaml', () => {
    const existing = `# yaml-language-server: $schema=https://vmgit.dev/schemas/config.schema.json
# our settings
version: 1
lifetime: 14d # two weeks
targets:
  # the web server
  - match: "https://vm.example.org/"
    replace: "file:///srv/www/"
`
    it('appends new targets and keeps every other key and comment', async () => {
      writeFileSync(path.join(dir, 'vmgit.yaml'), existing)
      const r = await importVmcasterConfig(TEMPLATE, dir)
      const text = readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')
      expect(r.created).toBe(false)
      expect(text.startsWith(existing.trimEnd().split('\n').slice(0, 4).join('\n'))).toBe(true)
      expect(text).toContain('lifetime: 14d # two weeks')
      expect(text).toContain('# the web server')
      expect(parse(text).targets).toHaveLength(3)
    })
    it('importing twice adds nothing the second time', async () => {
      writeFileSync(path.join(dir, 'vmgit.yaml'), existing)
      await importVmcasterConfig(TEMPLATE, dir)
      const once = readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')
      const r = await importVmcasterConfig(TEMPLATE, dir)
      expect(r.added).toEqual([])
      expect(r.skipped.map((s) => s.section)).toEqual(['x61', 'example.org'])
      expect(readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')).toBe(once)
    })
    it('does not add a target whose match already maps elsewhere', async () => {
      writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\ntargets:\n  - match: "https://x61.example.org:2880/"\n    replace: "s3://bucket/"\n')
      const r = await importVmcasterConfig(TEMPLATE, dir)
      expect(r.skipped[0]).toMatchObject({ section: 'x61', reason: expect.stringContaining('kept the existing target') })
    })
  })

  describe('scp destinations', () => {
    it('map to sftp URLs, relative paths to the login directory', () => {
      expect(scpToSftp('jenkins@h.org:/export/x')).toBe('sftp://jenkins@h.org/export/x')
      expect(scpToSftp('h.org:public_html/vm')).toBe('sftp://h.org/~/public_html/vm')
      expect(scpToSftp('/just/a/path')).toBeUndefined()
    })
  })

  describe('the command', () => {
    it('vmgit import-config prints what it added and what it could not convert', async () => {
      const r = await runCli(['import-config', TEMPLATE, '--repo', dir])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/added .*x61/)
      expect(r.stderr).toMatch(/IMPORT_CONFIG_UNSUPPORTED.*gsidcap/)
      const j = await runCli(['import-config', TEMPLATE, '--repo', dir, '--json'])
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, added: [], unsupported: [{ section: 'dish.desy.de' }, {}, {}] })
    })
    it('a missing file is a usage error (exit 2)', async () => {
      const r = await runCli(['import-config', path.join(dir, 'nope.cfg'), '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('IMPORT_CONFIG_NOT_FOUND')
    })
  })
})

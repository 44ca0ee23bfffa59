import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadRepository } from '../../src/model/load.js'
import type { Problem } from '../../src/model/problems.js'
import { imageWith, SHA, tempDir, VALID, writeFiles } from './repo-helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => ({ dir, cleanup } = tempDir()))
afterEach(() => cleanup())

async function problems(overrides: Record<string, string>): Promise<Problem[]> {
  writeFiles(dir, { ...VALID, ...overrides })
  return (await loadRepository(dir)).problems
}
const at = (p: Problem) => `${p.file}:${p.line}:${p.col} ${p.severity} ${p.code}`

describe('loadRepository', () => {
  describe('when every file is valid', () => {
    it('reports no problems and maps friendly names to HEPiX keys', async () => {
      writeFiles(dir, VALID)
      const repo = await loadRepository(dir)
      expect(repo.problems).toEqual([])
      expect(repo.images.get('alma')!.hepix).toMatchObject({ 'dc:identifier': '8d1d6d0c-2f36-4c1e-9b8a-0d6c2f0b7d55', 'hv:size': 0, 'sl:checksum:sha512': SHA })
      expect(repo.lists.get('prod')).toMatchObject({ endorser: 'team', images: ['alma'] })
      expect(repo.config).toMatchObject({ layout: 'vmcaster', lifetime: '28d', digest: 'sha256', appdbKeys: 'off' })
    })
  })

  describe('when a file is not valid YAML', () => {
    it('reports YAML_SYNTAX at the parser position and never throws', async () => {
      const ps = await problems({ 'images/alma.yaml': 'identifier: x\ntitle: [unclosed\nsize: 1\n' })
      expect(ps.map(at)).toContain('images/alma.yaml:3:1 error YAML_SYNTAX')
    })
    it('reports binary garbage as YAML_SYNTAX too', async () => {
      const ps = await problems({ 'images/alma.yaml': '\u0000\u0001: : :\n\t- ]\n' })
      expect(ps.some((p) => p.file === 'images/alma.yaml' && p.code === 'YAML_SYNTAX')).toBe(true)
    })
  })

  describe('when a key appears twice', () => {
    it('reports YAML_DUPLICATE_KEY at the second occurrence', async () => {
      const ps = await problems({ 'images/alma.yaml': VALID['images/alma.yaml'] + 'title: again\n' })
      expect(ps.map(at)).toEqual(['images/alma.yaml:15:1 error YAML_DUPLICATE_KEY'])
      expect(ps[0]!.message).toContain('"title"')
    })
  })

  describe('when a file violates its schema', () => {
    it('points at an unknown key and suggests the friendly name it resembles', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ titel: 'typo' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:15:1 error SCHEMA'])
      expect(ps[0]!.message).toBe('unknown key "titel"; did you mean "title"?')
    })
    it('points at the map that lacks a required key', async () => {
      const list = VALID['imagelists/prod.yaml']!.replace('images:\n  - alma\n', '')
      const ps = await problems({ 'imagelists/prod.yaml': '# comment\n' + list })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:2:1 error SCHEMA'])
      expect(ps[0]!.message).toContain('missing required key "images"')
    })
    it('points at a value of the wrong type', async () => {
      const ps = await problems({ 'vmgit.yaml': 'version: 1\nlayout: xml\nlifetime: 28 days\nappdb_keys: off\n' })
      expect(ps.map(at)).toEqual(['vmgit.yaml:2:9 error SCHEMA', 'vmgit.yaml:3:11 error SCHEMA'])
      expect(ps[0]!.message).toBe('layout must be one of vmcaster, appdb')
    })
    it('reports an empty file as NOT_A_MAP', async () => {
      const ps = await problems({ 'endorsers/team.yaml': '# nothing yet\n' })
      expect(ps.map(at)).toContain('endorsers/team.yaml:1:1 error NOT_A_MAP')
    })
  })

  describe('when a list references files that do not exist', () => {
    it('reports UNKNOWN_ENDORSER at the endorser value and UNKNOWN_IMAGE at the list item', async () => {
      const list = VALID['imagelists/prod.yaml']!.replace('endorser: team', 'endorser: nobody') + '  - ghost\n'
      const ps = await problems({ 'imagelists/prod.yaml': list })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:6:11 error UNKNOWN_ENDORSER', 'imagelists/prod.yaml:9:5 error UNKNOWN_IMAGE'])
      expect(ps[1]!.message).toContain('images/ghost.yaml')
    })
    it('reports the same image named twice in one list', async () => {
      const ps = await problems({ 'imagelists/prod.yaml': VALID['imagelists/prod.yaml'] + '  - alma\n' })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:9:5 error DUPLICATE_IMAGE_REF'])
    })
  })

  describe('when two files share a dc:identifier', () => {
    it('reports DUPLICATE_IDENTIFIER on both images', async () => {
      const ps = await problems({ 'images/alma-copy.yaml': VALID['images/alma.yaml']! })
      expect(ps.map(at)).toEqual(['images/alma-copy.yaml:1:13 error DUPLICATE_IDENTIFIER', 'images/alma.yaml:1:13 error DUPLICATE_IDENTIFIER'])
      expect(ps[1]!.message).toContain('images/alma-copy.yaml')
    })
    it('reports DUPLICATE_IDENTIFIER on both lists', async () => {
      const ps = await problems({ 'imagelists/test.yaml': VALID['imagelists/prod.yaml']! })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:1:13 error DUPLICATE_IDENTIFIER', 'imagelists/test.yaml:1:13 error DUPLICATE_IDENTIFIER'])
    })
  })

  describe('when a value has the wrong form', () => {
    it('reports a sha512 that is not 128 lowercase hex digits, suggesting lowercase', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ sha512: SHA.toUpperCase() }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:8:9 error BAD_SHA512'])
      expect(ps[0]!.message).toContain('lowercase')
    })
    it('reports a size that is negative or quoted', async () => {
      expect((await problems({ 'images/alma.yaml': imageWith({ size: '-1' }) })).map(at)).toEqual(['images/alma.yaml:7:7 error BAD_SIZE'])
      expect((await problems({ 'images/alma.yaml': imageWith({ size: '"12"' }) })).map(at)).toEqual(['images/alma.yaml:7:7 error BAD_SIZE'])
    })
    it('reports a date that is not YYYY-MM-DDThh:mm:ssZ', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ expires: '2024-06-01 12:00:00' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:15:10 error BAD_DATE'])
      const list = VALID['imagelists/prod.yaml'] + 'created: 2024-06-01T12:00:00.5Z\n'
      expect((await problems({ 'imagelists/prod.yaml': list })).map(at)).toEqual(['imagelists/prod.yaml:9:10 error BAD_DATE'])
    })
    it('reports an identifier outside [A-Za-z0-9._-]{1,128} as an error', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ identifier: '../../etc/passwd' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:1:13 error UNSAFE_IDENTIFIER'])
    })
    it('warns about an identifier that is not an RFC 4122 UUID', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ identifier: 'FOOBAR' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:1:13 warning NOT_UUID'])
    })
    it('rejects a version YAML reads as a number and says how to quote it', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ version: '1.0' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:5:10 error BAD_VERSION'])
      expect(ps[0]!.message).toContain('version: "1.0"')
    })
  })

  describe('when raw HEPiX keys are used', () => {
    it('passes namespaced keys through with their type', async () => {
      writeFiles(dir, { ...VALID, 'images/alma.yaml': imageWith({ 'ad:group': 'General group', 'hv:ram_minimum': '"512"', 'hv:core_minimum': '2' }) })
      const repo = await loadRepository(dir)
      expect(repo.problems).toEqual([])
      expect(repo.images.get('alma')!.hepix).toMatchObject({ 'ad:group': 'General group', 'hv:ram_minimum': '512', 'hv:core_minimum': 2 })
    })
    it('reports a friendly name and its raw key set together', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ 'sl:checksum:sha512': SHA }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:15:1 error FRIENDLY_AND_RAW'])
    })
    it('reports keys vmgit builds itself', async () => {
      const ps = await problems({ 'imagelists/prod.yaml': VALID['imagelists/prod.yaml'] + 'hv:images: x\n' })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:9:1 error RESERVED_KEY'])
    })
    it('warns when a YAML number would render differently from its text', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ 'hv:ram_minimum': '1.0' }) })
      expect(ps.map(at)).toEqual(['images/alma.yaml:15:17 warning NUMBER_REWRITTEN'])
    })
  })

  describe('when a key every consumer needs is missing', () => {
    it('reports MISSING_KEY at the image map, naming the friendly keys', async () => {
      const ps = await problems({ 'images/alma.yaml': imageWith({ sha512: undefined, arch: undefined }) })
      expect(ps.filter((p) => p.severity === 'error').map(at)).toEqual(['images/alma.yaml:1:1 error MISSING_KEY'])
      expect(ps.find((p) => p.code === 'MISSING_KEY')!.message).toMatch(/^missing sha512, arch;/)
    })
  })

  describe('the consumer check of each rendered list', () => {
    it('merges missing AppDB keys into one warning per file, under their friendly names', async () => {
      const ps = await problems({ 'vmgit.yaml': 'version: 1\n' }) // appdb_keys defaults to warn
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:1:1 warning APPDB_KEY_MISSING', 'images/alma.yaml:1:1 warning APPDB_KEY_MISSING'])
      expect(ps[1]!.message).toMatch(/^missing AppDB keys mpuri \(ad:mpuri\), expires \(dc:date:expires\), ad:group, ad:user:fullname/)
      expect(ps[0]!.message).toContain('ad:vo')
    })
    it('says nothing about AppDB keys with appdb_keys: off', async () => {
      expect(await problems({ 'vmgit.yaml': 'version: 1\nappdb_keys: off\n' })).toEqual([])
    })
    it('refuses a list with a fixed expires date that has passed (LIST_EXPIRED, as sync and publish judge it)', async () => {
      const ps = await problems({ 'imagelists/prod.yaml': VALID['imagelists/prod.yaml'] + 'expires: 2011-04-07T17:09:12Z\n' })
      expect(ps.map(at)).toEqual(['imagelists/prod.yaml:9:10 error LIST_EXPIRED'])
    })
    it('accepts an endorser without dn/ca: signing fills them from the certificate', async () => {
      expect(await problems({ 'endorsers/team.yaml': 'email: team@example.org\ncreator: Example team\n' })).toEqual([])
    })
    it('reports an endorser without e-mail as MISSING_KEY once, not once per list', async () => {
      const ps = await problems({ 'endorsers/team.yaml': 'creator: Example team\n', 'imagelists/test.yaml': VALID['imagelists/prod.yaml']!.replace('2f0c6f4e', '3f0c6f4e') })
      expect(ps.map(at)).toEqual(['endorsers/team.yaml:1:1 error MISSING_KEY'])
    })
  })

  describe('when several files have problems', () => {
    it('reports every problem, sorted by file and position', async () => {
      const ps = await problems({
        'vmgit.yaml': 'version: 2\n',
        'images/alma.yaml': imageWith({ size: '-5', sha512: 'abc' }),
        'imagelists/prod.yaml': VALID['imagelists/prod.yaml']!.replace('endorser: team', 'endorser: nobody'),
      })
      expect(ps.map(at)).toEqual([
        'imagelists/prod.yaml:6:11 error UNKNOWN_ENDORSER',
        'images/alma.yaml:7:7 error BAD_SIZE',
        'images/alma.yaml:8:9 error BAD_SHA512',
        'vmgit.yaml:1:10 error SCHEMA',
      ])
    })
  })

  describe('when vmgit.yaml is missing', () => {
    it('warns and uses the defaults', async () => {
      const { 'vmgit.yaml': _, ...rest } = VALID
      writeFiles(dir, rest)
      const repo = await loadRepository(dir)
      expect(repo.problems.map(at)).toContain('vmgit.yaml:1:1 warning CONFIG_MISSING')
      expect(repo.config.lifetimeMs).toBe(28 * 86_400_000)
    })
  })

  describe('when the directory is not a repository', () => {
    it('throws NOT_A_REPOSITORY (a usage error)', async () => {
      await expect(loadRepository(dir)).rejects.toMatchObject({ code: 'NOT_A_REPOSITORY', exit: 2 })
      await expect(loadRepository(dir + '/missing')).rejects.toMatchObject({ code: 'REPO_NOT_FOUND' })
    })
  })
})

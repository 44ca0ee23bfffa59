/** vmgit.yaml targets (src/publish/config.ts): hv:uri → write location, vmcaster-compatible. */
import { describe, expect, it } from 'vitest'
import { parseTarget } from '../../src/transfer/index.js'
import { compilePythonRegex, imageUriFromRule, mapUri, PublishTargets, pySub, pythonReplacement, rulesFromConfig, transferOptionsFor } from '../../src/publish/config.js'

describe('publish targets', () => {
  describe('a prefix rule', () => {
    const rules = [{ match: 'https://vm.example.org/lists/', replace: 'sftp://deploy@web.example.org/srv/www/lists/' }]
    it('replaces the prefix and keeps the rest of the uri', () => {
      expect(mapUri('https://vm.example.org/lists/prod.list', rules)?.url).toBe('sftp://deploy@web.example.org/srv/www/lists/prod.list')
    })
    it('does not match other uris', () => {
      expect(mapUri('https://other.example.org/lists/prod.list', rules)).toBeUndefined()
    })
    it('treats regex characters in the prefix literally', () => {
      expect(mapUri('https://vmXexample.org/lists/a', rules)).toBeUndefined()
    })
  })

  describe('the first matching rule wins', () => {
    it('in file order', () => {
      const rules = [
        { match: 'https://vm.example.org/images/', replace: 's3://images/' },
        { match: 'https://vm.example.org/', replace: 'file:///srv/www/' },
      ]
      expect(mapUri('https://vm.example.org/images/a.qcow2', rules)).toMatchObject({ url: 's3://images/a.qcow2', index: 0 })
      expect(mapUri('https://vm.example.org/lists/a', rules)).toMatchObject({ url: 'file:///srv/www/lists/a', index: 1 })
    })
  })

  describe('a regex rule (vmcaster uriMatch/uriReplace)', () => {
    it('applies only when the pattern matches at the start (re.match), then substitutes (re.sub)', () => {
      const rules = [{ match: 'https://([a-z]+)\\.example\\.org/(.*)', replace: 'sftp://\\1@web.example.org/srv/\\g<2>', regex: true }]
      expect(mapUri('https://alice.example.org/x/y.img', rules)?.url).toBe('sftp://alice@web.example.org/srv/x/y.img')
      expect(mapUri('see https://alice.example.org/x', rules)).toBeUndefined()
    })
    it('matches `.*` once, as Python 2 re.sub did (vmcaster egiappdb sections)', () => {
      expect(mapUri('https://x.org/a', [{ match: '.*', replace: 'file:///srv/all.list', regex: true }])?.url).toBe('file:///srv/all.list')
    })
    it('accepts JS $1/$<name> and Python (?P<name>) groups', () => {
      const rules = [{ match: 'https://(?P<host>[^/]+)/(.*)', replace: 's3://$<host>/$2', regex: true }]
      expect(mapUri('https://h.example.org/p/q', rules)?.url).toBe('s3://h.example.org/p/q')
    })
    it('rejects an invalid pattern with TARGET_BAD_REGEX', () => {
      expect(() => mapUri('x', [{ match: '(unclosed', replace: 'y', regex: true }])).toThrow(expect.objectContaining({ code: 'TARGET_BAD_REGEX', exit: 2 }))
    })
  })

  describe('Python regex compatibility helpers', () => {
    it('translate replacement syntax', () => {
      expect(pythonReplacement('a\\1b\\g<2>c\\g<name>$d\\\\')).toBe('a$1b$2c$<name>$$d\\')
    })
    it('re.sub skips an empty match next to the previous match (Python 2)', () => {
      expect(pySub(compilePythonRegex('x*'), '-', 'abxd')).toBe('-a-b-d-')
    })
  })

  describe('secrets', () => {
    it('refuse passwords, tokens and URL passwords in vmgit.yaml with TARGET_SECRET_IN_CONFIG', () => {
      expect(() => rulesFromConfig({ targets: [{ match: 'a', replace: 'b', token: 'x' }] })).toThrow(expect.objectContaining({ code: 'TARGET_SECRET_IN_CONFIG' }))
      const e = (() => {
        try {
          rulesFromConfig({ targets: [{ match: 'a', replace: 'https://u:hunter2@dav/x' }] })
        } catch (err) {
          return err as Error
        }
      })()
      expect(e).toMatchObject({ code: 'TARGET_SECRET_IN_CONFIG' })
      expect(e?.message).not.toContain('hunter2')
    })
    it('take secrets from the environment variables a target names', () => {
      const [rule] = rulesFromConfig({ targets: [{ match: 'https://a/', replace: 'https://dav/', token_env: 'MY_TOKEN', known_hosts: '~/.ssh/kh', path_style: true }] })
      const o = transferOptionsFor(rule, { MY_TOKEN: 'tok-secret-1' })
      expect(String(o.token)).toBe('***')
      expect((o.token as { reveal(): string }).reveal()).toBe('tok-secret-1')
      expect(o.forcePathStyle).toBe(true)
      expect(() => transferOptionsFor(rule, {})).toThrow(expect.objectContaining({ code: 'TARGET_SECRET_MISSING' }))
    })
  })

  describe('PublishTargets', () => {
    it('resolves uris, explains a missing target, and gives each connection its rule\'s settings', () => {
      const t = new PublishTargets(rulesFromConfig({ targets: [{ match: 'https://vm.example.org/', replace: 'sftp://d@web/srv/', identity: '/keys/id' }] }), {})
      expect(t.resolve('https://vm.example.org/l.list')).toBe('sftp://d@web/srv/l.list')
      expect(() => t.require('https://elsewhere.org/x.list')).toThrow(expect.objectContaining({ code: 'TARGET_NO_MATCH', exit: 2 }))
      expect(t.optionsFor(parseTarget('sftp://d@web/srv/l.list')).identity).toBe('/keys/id')
    })
  })

  describe('the image_uri naming rule', () => {
    const v = { uri: 'https://vm.example.org/images/alma-3.qcow2', name: 'alma', version: '4', identifier: 'c0ffee', format: 'QCOW2', sha512: 'ab'.repeat(64), now: new Date('2026-03-04T05:06:07Z') }
    it('fills {base} {name} {version} {ext}', () => {
      expect(imageUriFromRule('{base}/{name}-{version}.{ext}', v)).toBe('https://vm.example.org/images/alma-4.qcow2')
    })
    it("reproduces vmcaster's {identifier}_{date} names and content-addressed names", () => {
      expect(imageUriFromRule('{base}/{identifier}_{date}.{ext}', v)).toBe('https://vm.example.org/images/c0ffee_2026-03-04_05-06-07.qcow2')
      expect(imageUriFromRule('{base}/{name}-{sha512:12}.{ext}', { ...v, uri: 'https://h/i/x.img.gz' })).toBe('https://h/i/alma-abababababab.img.gz')
    })
    it('rejects unknown placeholders with IMAGE_URI_RULE_INVALID', () => {
      expect(() => imageUriFromRule('{base}/{nmae}', v)).toThrow(expect.objectContaining({ code: 'IMAGE_URI_RULE_INVALID' }))
    })
  })
})

/**
 * OCI references (src/oci/reference.ts): strict parsing of every part, so a name is always safe in
 * a URL path and in a file name, and a reference is never ambiguous.
 */
import { describe, expect, it } from 'vitest'
import { childRepository, formatReference, parseDestination, parsePinned, parseReference } from '../../src/oci/reference.js'

const HEX = 'a'.repeat(64)

describe('OCI references', () => {
  describe('when well formed', () => {
    it.each([
      ['oci://registry.egi.eu/cloud/ubuntu', { registry: 'registry.egi.eu', repository: 'cloud/ubuntu' }],
      ['oci://127.0.0.1:5000/egi/list:latest', { registry: '127.0.0.1:5000', repository: 'egi/list', tag: 'latest' }],
      [`oci://[::1]:5000/a/b@sha256:${HEX}`, { registry: '[::1]:5000', repository: 'a/b', digest: `sha256:${HEX}` }],
      ['oci://h/a__b/c-d.e:1.0-2', { registry: 'h', repository: 'a__b/c-d.e', tag: '1.0-2' }],
    ])('parses %s', (input, want) => {
      expect(parseReference(input)).toEqual(want)
      expect(`oci://${formatReference(parseReference(input))}`).toBe(input)
    })
  })

  describe('when any part is malformed', () => {
    it.each([
      'https://h/a', 'oci://', 'oci://h', 'oci://h/', 'oci://H/a', 'oci://h/A', 'oci://h/a/../b', 'oci://h/a/./b', 'oci://h//a', 'oci://h/a/',
      'oci://h/a%2fb', 'oci://u:p@h/a', 'oci://h/a?x=1', 'oci://h/a#f', 'oci://h/a b', 'oci://h\\a/b', 'oci://h:0/a', 'oci://h:65536/a', 'oci://h:05000/a',
      'oci://h:/a', 'oci://h/a:', 'oci://h/a:-x', `oci://h/a:${'t'.repeat(129)}`, 'oci://h/a@sha256:abc', `oci://h/a@sha512:${HEX}`, `oci://h/a@sha256:${HEX.toUpperCase()}`,
      `oci://h/a:tag@sha256:${HEX}`, `oci://h/${'a'.repeat(256)}`, 'oci://h/a..b', 'oci://h/a-', 'oci://h/_a', 'oci://-h/a', 'oci://h/a\nb',
    ])('refuses %j with OCI_REFERENCE_INVALID (exit 2)', (input) => {
      expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: 'OCI_REFERENCE_INVALID', exit: 2 }))
    })
  })

  describe('destinations and children', () => {
    it('takes oci://HOST[:PORT]/PREFIX and puts an image name under it', () => {
      const d = parseDestination('oci://127.0.0.1:5000/egi/images')
      expect(childRepository(d, 'ubuntu-22.04')).toEqual({ registry: '127.0.0.1:5000', repository: 'egi/images/ubuntu-22.04' })
      expect(childRepository(parseDestination('oci://h'), 'x')).toEqual({ registry: 'h', repository: 'x' })
    })
    it('refuses a destination with a tag or digest, and an image name that is no component', () => {
      expect(() => parseDestination('oci://h/a:1')).toThrow(expect.objectContaining({ code: 'OCI_REFERENCE_INVALID' }))
      for (const n of ['Ubuntu', 'a/b', '..', 'a b', '']) expect(() => childRepository(parseDestination('oci://h/p'), n)).toThrow(expect.objectContaining({ code: 'OCI_NAME_INVALID' }))
    })
    it('a pinned reference is HOST/REPO@sha256 only', () => {
      expect(parsePinned(`h:1/a/b@sha256:${HEX}`).digest).toBe(`sha256:${HEX}`)
      expect(() => parsePinned('h/a/b:1')).toThrow(expect.objectContaining({ code: 'OCI_REFERENCE_INVALID' }))
    })
  })
})

describe('O09 registry hosts read one way only', () => {
  it.each([
    'oci://127.1:5000/a', 'oci://2130706433:5000/a', 'oci://0x7f.0.0.1:5000/a', 'oci://127.0.0.01:5000/a', 'oci://a.1/a',
    'oci://[:::1::]:5000/a', 'oci://[1.2.3.4]:5000/a', 'oci://[::1%25lo]:5000/a', 'oci://[]/a', 'oci://[::g]/a',
  ])('refuses %j with OCI_REFERENCE_INVALID', (input) => {
    expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: 'OCI_REFERENCE_INVALID' }))
  })
  it.each(['oci://[::1]:5000/a', 'oci://[::ffff:127.0.0.1]:5000/a', 'oci://[2001:db8::1]/a', 'oci://1.2.3.4/a', 'oci://xn--bcher-kva.example/a', 'oci://localhost:5000/a'])('accepts %j', (input) => {
    expect(parseReference(input).repository).toBe('a')
  })
})

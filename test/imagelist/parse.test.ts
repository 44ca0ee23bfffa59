import { describe, expect, it } from 'vitest'
import { parseStrictJson } from '../../src/imagelist/json.js'
import { detectLayout, parseImageListJson } from '../../src/imagelist/parse.js'
import { renderList } from '../../src/imagelist/render.js'
import { fixture } from './helpers.js'

const err = (code: string, extra: Record<string, unknown> = {}): unknown => expect.objectContaining({ code, ...extra })
const wrap = (inner: string): string => `{"hv:imagelist": ${inner}}`
const MINIMAL = '{"dc:title": "t", "hv:endorser": {"hv:x509": {"hv:dn": "/CN=x"}}, "hv:images": []}'

describe('parseImageListJson', () => {
  describe('when given a whole list', () => {
    it('splits list keys, the hv:x509 endorser and the inner hv:image objects', () => {
      const list = parseImageListJson(fixture('hepixvmitrust/readme_example.signed-content.json'))
      expect(list.list['dc:identifier']).toBe('4e186b44-2c64-40ea-97d5-e9e5c0bce059')
      expect(list.list).not.toHaveProperty('hv:endorser')
      expect(list.list).not.toHaveProperty('hv:images')
      expect(list.endorser['hv:dn']).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge')
      expect(list.images).toHaveLength(1)
      expect(list.images[0]?.['hv:size']).toBe(2147483648)
    })

    it('accepts the bare inner object (cloudkeeper structures/image_list07.json) like the wrapped one', () => {
      const bare = parseImageListJson(fixture('cloudkeeper/structures/image_list07.json'))
      const wrapped = parseImageListJson(fixture('cloudkeeper/structures/image_list10.json'))
      expect(bare.images).toHaveLength(2)
      expect(bare.list['ad:vo']).toBe('some1.vo.net')
      expect(Object.keys(bare.images[0] ?? {})).toEqual(Object.keys(wrapped.images[0] ?? {}))
    })

    it('accepts a string or a Buffer, CRLF or LF line ends', () => {
      const crlf = fixture('hepixvmitrust/imagelist.json')
      expect(parseImageListJson(crlf)).toEqual(parseImageListJson(crlf.toString().replace(/\r\n/g, '\n')))
    })

    it('keeps a key named __proto__ as an ordinary key', () => {
      const list = parseImageListJson(wrap('{"__proto__": "p", "hv:endorser": {"hv:x509": {}}, "hv:images": []}'))
      expect(Object.keys(list.list)).toEqual(['__proto__'])
      expect(renderList(list, 'vmcaster')).toContain('"__proto__": "p"')
    })
  })

  describe('when a key is repeated', () => {
    it('rejects a duplicate at list level with JSON_DUPLICATE_KEY, the key and its line and column', () => {
      const text = '{"hv:imagelist": {\n  "dc:title": "a",\n  "dc:title": "b",\n  "hv:endorser": {"hv:x509": {}}, "hv:images": []}}'
      expect(() => parseImageListJson(text)).toThrow(
        err('JSON_DUPLICATE_KEY', { details: expect.objectContaining({ key: 'dc:title', line: 3, column: 3, path: 'hv:imagelist/dc:title' }) }),
      )
    })

    it('rejects a duplicate deep inside an image', () => {
      const text = wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": [{"hv:image": {"hv:uri": "a"}}, {"hv:image": {"hv:uri": "a", "hv:uri": "b"}}]}')
      expect(() => parseImageListJson(text)).toThrow(err('JSON_DUPLICATE_KEY', { details: expect.objectContaining({ path: 'hv:imagelist/hv:images/1/hv:image/hv:uri' }) }))
    })

    it('rejects keys that differ only in escaping ("a" and "\\u0061") as duplicates', () => {
      expect(() => parseStrictJson('{"a": 1, "\\u0061": 2}')).toThrow(err('JSON_DUPLICATE_KEY'))
    })
  })

  describe('when the input is not JSON', () => {
    it.each([
      ['empty input', ''],
      ['trailing comma', '{"a": 1,}'],
      ['single quotes', "{'a': 1}"],
      ['raw newline in a string', '{"a": "x\ny"}'],
      ['text after the value', '{} {}'],
      ['bad escape', '{"a": "\\x41"}'],
      ['leading zero', '{"a": 01}'],
      ['NaN', '{"a": NaN}'],
      ['comment', '{"a": 1 /* c */}'],
      ['unterminated', '{"a": "'],
      ['absurd nesting', '['.repeat(100_000)],
    ])('rejects %s with NOT_JSON', (_name, text) => {
      expect(() => parseImageListJson(text)).toThrow(err('NOT_JSON'))
    })

    it('reports the line and column of a syntax error', () => {
      expect(() => parseImageListJson('{\n  "a": 1\n  "b": 2\n}')).toThrow(err('NOT_JSON', { details: expect.objectContaining({ line: 3, column: 3 }) }))
    })

    it('rejects bytes that are not UTF-8', () => {
      expect(() => parseImageListJson(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]))).toThrow(err('NOT_JSON'))
    })

    it('rejects a UTF-8 byte order mark, which Python and Ruby JSON readers refuse, and says to remove it', () => {
      const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('synthetic/vmcaster-style.json')])
      expect(() => parseImageListJson(bom)).toThrow(/byte order mark/)
      expect(() => parseImageListJson(bom.toString('utf8'))).toThrow(err('NOT_JSON', { details: { bom: true } }))
    })

    it('refuses integers beyond 2^53 instead of silently changing them', () => {
      expect(() => parseImageListJson(wrap('{"x": 9007199254740993, "hv:endorser": {"hv:x509": {}}, "hv:images": []}'))).toThrow(err('NOT_AN_IMAGELIST'))
    })
  })

  describe('when the JSON is not an image list', () => {
    it.each([
      ['an array', '[]'],
      ['a string', '"x"'],
      ['an object without hv:imagelist', '{"a": "b"}'],
      ['a single image fragment (structures/image_list01.json)', fixture('cloudkeeper/structures/image_list01.json').toString()],
      ['an endorser fragment (structures/image_list02.json)', fixture('cloudkeeper/structures/image_list02.json').toString()],
      ['a header fragment (structures/image_list06.json)', fixture('cloudkeeper/structures/image_list06.json').toString()],
      ['hv:imagelist that is not an object', '{"hv:imagelist": []}'],
      ['other keys next to hv:imagelist', `{"hv:imagelist": ${MINIMAL}, "x": 1}`],
      ['hv:images missing (vmcaster empty list)', wrap('{"hv:endorser": {"hv:x509": {}}}')],
      ['hv:images an object', wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": {}}')],
      ['an image entry without hv:image', wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": [{"dc:title": "x"}]}')],
      ['an image entry with extra keys', wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": [{"hv:image": {}, "x": 1}]}')],
      ['an image that is a string', wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": ["x"]}')],
      ['hv:endorser missing', wrap('{"hv:images": []}')],
      ['hv:endorser without hv:x509', wrap('{"hv:endorser": {"dc:creator": "x"}, "hv:images": []}')],
      ['a nested object as a list value', wrap('{"x": {"y": 1}, "hv:endorser": {"hv:x509": {}}, "hv:images": []}')],
      ['a boolean image value', wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": [{"hv:image": {"x": true}}]}')],
      ['a null endorser value', wrap('{"hv:endorser": {"hv:x509": {"hv:dn": null}}, "hv:images": []}')],
    ])('rejects %s with NOT_AN_IMAGELIST', (_name, text) => {
      expect(() => parseImageListJson(text)).toThrow(err('NOT_AN_IMAGELIST'))
    })

    it('rejects an array of endorsers and explains that vmcatcher cannot decode it', () => {
      const text = wrap('{"hv:endorser": [{"hv:x509": {}}, {"hv:x509": {}}], "hv:images": []}')
      expect(() => parseImageListJson(text)).toThrow(/vmcatcher cannot decode it.*exactly one endorser/)
    })

    it('names the offending path', () => {
      const text = wrap('{"hv:endorser": {"hv:x509": {}}, "hv:images": [{"hv:image": {}}, {"hv:image": {"hv:size": [1]}}]}')
      expect(() => parseImageListJson(text)).toThrow(err('NOT_AN_IMAGELIST', { details: { path: 'hv:images/1/hv:image/hv:size' } }))
    })
  })
})

describe('detectLayout', () => {
  it('recognises the AppDB 3-space layout', () => {
    expect(detectLayout(fixture('cloudkeeper/imagelist01.unsigned'))).toBe('appdb')
  })

  it('recognises the vmcaster layout by its trailing ", " (LF or CRLF)', () => {
    expect(detectLayout(fixture('synthetic/vmcaster-style.json'))).toBe('vmcaster')
    expect(detectLayout(fixture('hepixvmitrust/readme_example.signed-content.json'))).toBe('vmcaster')
  })

  it('recognises sorted 4-space JSON without trailing spaces (Python 3 default separators) as vmcaster', () => {
    const text = JSON.stringify(JSON.parse(fixture('synthetic/vmcaster-style.json').toString()), null, 4)
    expect(detectLayout(text)).toBe('vmcaster')
  })

  it('returns undefined for unsorted 4-space JSON, 2-space JSON, tabs and one-line JSON', () => {
    expect(detectLayout(JSON.stringify(JSON.parse(fixture('cloudkeeper/imagelist01.unsigned').toString()), null, 4))).toBeUndefined()
    expect(detectLayout(fixture('cloudkeeper/structures/image_list10.json'))).toBeUndefined()
    expect(detectLayout('{\n\t"a": 1\n}')).toBeUndefined()
    expect(detectLayout('{"a": 1}')).toBeUndefined()
  })
})

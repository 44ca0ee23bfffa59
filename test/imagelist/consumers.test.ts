import { describe, expect, it } from 'vitest'
import { checkConsumers, parseHepixDate, type Problem } from '../../src/imagelist/consumers.js'
import { isRfc4122, SAFE_ID } from '../../src/imagelist/identifiers.js'
import { parseImageListJson } from '../../src/imagelist/parse.js'
import type { HepixList } from '../../src/imagelist/types.js'
import { fixture } from './helpers.js'

const SHA = 'ab'.repeat(64)

/** A list every consumer accepts (vmcatcher "all" keys plus the AppDB keys). */
function goodList(): HepixList {
  const image = {
    'dc:identifier': '488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d', 'dc:title': 'VM', 'dc:description': 'd', 'sl:comments': '',
    'hv:uri': 'https://example.org/vm.img', 'hv:size': 1024, 'sl:checksum:sha512': SHA, 'hv:version': '1', 'hv:hypervisor': 'kvm',
    'sl:arch': 'x86_64', 'sl:os': 'Linux', 'sl:osversion': '9', 'hv:format': 'raw', 'sl:osname': 'Alma', 'ad:mpuri': 'https://m/',
    'dc:date:expires': '2499-12-31T22:00:00Z', 'ad:group': 'g', 'ad:user:fullname': 'n', 'ad:user:guid': 'g', 'ad:user:uri': 'u',
  }
  return {
    list: {
      'dc:identifier': '4e186b44-2c64-40ea-97d5-e9e5c0bce059', 'dc:date:created': '2025-01-01T00:00:00Z', 'dc:date:expires': '2025-01-29T00:00:00Z',
      'dc:title': 't', 'dc:description': 'd', 'dc:source': 's', 'hv:uri': 'https://example.org/l', 'hv:version': '1', 'ad:vo': 'vo.example.org',
    },
    endorser: { 'hv:dn': '/CN=a', 'hv:ca': '/CN=ca', 'hv:email': 'a@b', 'dc:creator': 'A' },
    images: [image],
  }
}
const codes = (ps: Problem[]): string[] => ps.map((p) => `${p.code} ${p.path}`)

describe('checkConsumers', () => {
  it('reports nothing for a list with every vmcatcher and AppDB key', () => {
    expect(checkConsumers(goodList())).toEqual({ errors: [], warnings: [] })
  })

  it('passes the real AppDB fixture with only the non-RFC-4122 anonymised ids as warnings', () => {
    const report = checkConsumers(parseImageListJson(fixture('cloudkeeper/imagelist01.unsigned')))
    expect(report.errors).toEqual([])
    expect(codes(report.warnings)).toEqual(['NOT_UUID hv:images/1/dc:identifier'])
  })

  describe('when keys vmcatcher needs are missing', () => {
    it('errors for a missing list key: vmcatcher rejects the whole list', () => {
      const l = goodList()
      delete l.list['hv:version']
      const { errors } = checkConsumers(l)
      expect(codes(errors)).toEqual(['MISSING_KEY hv:version'])
      expect(errors[0]?.message).toMatch(/rejects the whole list.*Add it/)
    })

    it('errors for a missing endorser key', () => {
      const l = goodList()
      delete l.endorser['hv:ca']
      expect(codes(checkConsumers(l).errors)).toEqual(['MISSING_KEY hv:endorser/hv:x509/hv:ca'])
    })

    it('errors for a missing image key: vmcatcher silently drops the image', () => {
      const l = goodList()
      delete l.images[0]?.['sl:osversion']
      const { errors } = checkConsumers(l)
      expect(codes(errors)).toEqual(['MISSING_KEY hv:images/0/sl:osversion'])
      expect(errors[0]?.message).toMatch(/silently drops this image/)
    })

    it('reports the vmcaster-only README list: no errors, but the AppDB keys as warnings', () => {
      const report = checkConsumers(parseImageListJson(fixture('hepixvmitrust/readme_example.signed-content.json')))
      expect(report.errors).toEqual([])
      expect(codes(report.warnings)).toEqual([
        'APPDB_KEY_MISSING ad:vo',
        ...['ad:mpuri', 'dc:date:expires', 'hv:format', 'sl:osname', 'ad:group', 'ad:user:fullname', 'ad:user:guid', 'ad:user:uri'].map(
          (k) => `APPDB_KEY_MISSING hv:images/0/${k}`,
        ),
      ])
      expect(report.warnings[0]?.message).toMatch(/cloudkeeper/)
      expect(report.warnings[2]?.message).toMatch(/cloudkeeper rejects the list/)
    })
  })

  describe('when values are malformed', () => {
    it.each([
      ['sl:checksum:sha512', SHA.toUpperCase(), 'BAD_SHA512'],
      ['sl:checksum:sha512', 'ab', 'BAD_SHA512'],
      ['sl:checksum:sha512', 'CHECKSUM', 'BAD_SHA512'],
      ['hv:size', -1, 'BAD_SIZE'],
      ['hv:size', 1.5, 'BAD_SIZE'],
      ['hv:size', '12 MB', 'BAD_SIZE'],
      ['dc:date:expires', '2499-12-31 22:00:00', 'BAD_DATE'],
      ['dc:identifier', 'has space', 'UNSAFE_IDENTIFIER'],
      ['dc:identifier', '../etc', 'UNSAFE_IDENTIFIER'],
      ['dc:identifier', '', 'UNSAFE_IDENTIFIER'],
    ])('errors when image %s is %j (%s)', (key, value, code) => {
      const l = goodList()
      ;(l.images[0] as Record<string, string | number>)[key] = value
      expect(codes(checkConsumers(l).errors)).toEqual([`${code} hv:images/0/${key}`])
    })

    it('suggests lowercase when only the case of the checksum is wrong', () => {
      const l = goodList()
      ;(l.images[0] as Record<string, string>)['sl:checksum:sha512'] = SHA.toUpperCase()
      expect(checkConsumers(l).errors[0]?.message).toMatch(/lowercase/)
    })

    it('accepts hv:size as a digit string (AppDB) or a number (vmcaster)', () => {
      const l = goodList()
      ;(l.images[0] as Record<string, string>)['hv:size'] = '121243136'
      expect(checkConsumers(l).errors).toEqual([])
    })

    it.each(['2025-02-30T00:00:00Z', '2025-01-01T00:00:00.5Z', '2025-01-01T00:00:00+00:00', '2025-1-01T00:00:00Z', '2025-01-01T24:00:00Z'])(
      'errors for list dc:date:created %j',
      (date) => {
        const l = goodList()
        l.list['dc:date:created'] = date
        expect(codes(checkConsumers(l).errors)).toEqual(['BAD_DATE dc:date:created'])
      },
    )

    it('errors for a list identifier outside the safe alphabet and warns for one that is not a UUID', () => {
      const l = goodList()
      l.list['dc:identifier'] = 'a/b'
      expect(codes(checkConsumers(l).errors)).toEqual(['UNSAFE_IDENTIFIER dc:identifier'])
      l.list['dc:identifier'] = 'FOOBAR'
      const report = checkConsumers(l)
      expect(report.errors).toEqual([])
      expect(codes(report.warnings)).toEqual(['NOT_UUID dc:identifier'])
      expect(report.warnings[0]?.message).toMatch(/uuidgen/)
    })

    it('errors when two images share a dc:identifier', () => {
      const l = goodList()
      l.images.push({ ...(l.images[0] ?? {}) })
      expect(codes(checkConsumers(l).errors)).toEqual(['DUPLICATE_IMAGE_ID hv:images/1/dc:identifier'])
    })
  })

  describe('when a check time is given', () => {
    it('errors when the list has expired (vmcatcher error 34)', () => {
      expect(codes(checkConsumers(goodList(), { now: new Date('2025-02-01T00:00:00Z') }).errors)).toEqual(['LIST_EXPIRED dc:date:expires'])
    })

    it('errors when the list is created in the future (vmcatcher error 33)', () => {
      expect(codes(checkConsumers(goodList(), { now: new Date('2024-12-31T00:00:00Z') }).errors)).toEqual(['CREATED_IN_FUTURE dc:date:created'])
    })

    it('is silent inside the validity window', () => {
      expect(checkConsumers(goodList(), { now: new Date('2025-01-15T00:00:00Z') }).errors).toEqual([])
    })
  })
})

describe('parseHepixDate', () => {
  it('reads YYYY-MM-DDThh:mm:ssZ as UTC', () => {
    expect(parseHepixDate('2499-12-31T22:00:00Z')?.toISOString()).toBe('2499-12-31T22:00:00.000Z')
  })
})

describe('identifiers', () => {
  it('SAFE_ID allows 1-128 of A-Z a-z 0-9 . _ -', () => {
    expect(SAFE_ID.test('a'.repeat(128))).toBe(true)
    expect(SAFE_ID.test('a'.repeat(129))).toBe(false)
    expect(SAFE_ID.test('FOOBAR_.-9')).toBe(true)
    expect(SAFE_ID.test('é')).toBe(false)
  })

  it.each([
    ['4e186b44-2c64-40ea-97d5-e9e5c0bce059', true],
    ['4E186B44-2C64-40EA-97D5-E9E5C0BCE059', true],
    ['76fdee70-8119-5d33-aaaa-3c57e1c60df1', true],
    ['018f4e2a-7b3c-7d4e-8f00-123456789abc', true], // version 7 (RFC 9562)
    ['662b0e71-3e21-bbbb-b6a1-cc2f51319fa7', false], // version nibble b
    ['4e186b44-2c64-40ea-c7d5-e9e5c0bce059', false], // variant c (Microsoft)
    ['00000000-0000-0000-0000-000000000000', false],
    ['4e186b442c6440ea97d5e9e5c0bce059', false],
    ['FOOBAR', false],
  ])('isRfc4122(%s) is %s', (id, ok) => {
    expect(isRfc4122(id)).toBe(ok)
  })
})

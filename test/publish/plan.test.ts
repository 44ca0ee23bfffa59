import { describe, expect, it } from 'vitest'
import type { HepixList } from '../../src/imagelist/types.js'
import { computePlan, planExitCode, type ListSide } from '../../src/publish/plan.js'
import { formatPlan, PLAN_COMMENT_MARKER } from '../../src/publish/plan-format.js'

const SHA_A = 'a'.repeat(128)
const SHA_B = 'b'.repeat(128)

function list(images: Record<string, string | number>[], extra: Record<string, string> = {}): HepixList {
  return {
    list: { 'dc:identifier': 'list-1', 'dc:title': 'Production', 'hv:version': '20260101000000', 'dc:date:created': '2026-01-01T00:00:00Z', 'dc:date:expires': '2026-01-29T00:00:00Z', ...extra },
    endorser: { 'hv:dn': '/CN=signer', 'hv:ca': '/CN=ca', 'hv:email': 'a@b', 'dc:creator': 'me' },
    images,
  }
}
const img = (over: Record<string, string | number> = {}) => ({ 'dc:identifier': 'img-1', 'dc:title': 'Alma 9', 'hv:version': '1.0', 'sl:checksum:sha512': SHA_A, 'hv:size': 10, 'hv:uri': 'https://x/alma-1.0.qcow2', ...over })
const side = (label: string, lists: Record<string, HepixList>): ListSide => ({
  label,
  lists: new Map(Object.entries(lists).map(([name, l]) => [String(l.list['dc:identifier']), { name, list: l }])),
})

describe('plan', () => {
  describe('when nothing changed but the signing time', () => {
    it('reports no changes and exits 0', () => {
      const a = list([img()])
      const b = list([img()], { 'hv:version': '20260201000000', 'dc:date:created': '2026-02-01T00:00:00Z' })
      const plan = computePlan(side('base', { prod: a }), side('head', { prod: b }))
      expect(plan.summary).toMatchObject({ add: 0, change: 0, remove: 0, errors: 0 })
      expect(planExitCode(plan)).toBe(0)
      expect(formatPlan(plan, 'text')).toContain('No changes.')
    })
  })

  describe('when an image is updated with a new version', () => {
    it('shows the image change with its keys and the version move, and exits 2', () => {
      const a = list([img()])
      const b = list([img({ 'hv:version': '1.1', 'sl:checksum:sha512': SHA_B, 'hv:uri': 'https://x/alma-1.1.qcow2' })])
      const plan = computePlan(side('main', { prod: a }), side('HEAD', { prod: b }))
      expect(planExitCode(plan)).toBe(4)
      const l = plan.lists[0]!
      expect(l.action).toBe('change')
      expect(l.images[0]).toMatchObject({ action: 'change', version: { from: '1.0', to: '1.1' } })
      expect(l.images[0]!.changes.map((c) => c.key)).toEqual(['hv:uri', 'hv:version', 'sl:checksum:sha512'])
      const text = formatPlan(plan, 'text')
      expect(text).toMatch(/^Legend: \+ add, ~ update in place, - remove$/m)
      expect(text).toContain('~ list prod "Production" (list-1) will be updated')
      expect(text).toContain('~ image "Alma 9" (img-1) will be updated (version 1.0 -> 1.1)')
      expect(text).toMatch(/^Plan: 0 list\(s\) to add, 1 to change, 0 to remove\.$/m)
    })
  })

  describe('when an image file changes without a version increase', () => {
    it('reports IMAGE_VERSION_NOT_RAISED (the rulebook code sync warns with) as an error and exits 1', () => {
      const plan = computePlan(side('b', { prod: list([img()]) }), side('h', { prod: list([img({ 'hv:size': 11 })]) }))
      expect(plan.issues.map((i) => i.code)).toEqual(['IMAGE_VERSION_NOT_RAISED'])
      expect(planExitCode(plan)).toBe(1)
    })
  })

  describe('when versions go down', () => {
    it('reports IMAGE_VERSION_DECREASED and ROLLBACK (the rulebook code sync reports for the same list)', () => {
      const a = list([img({ 'hv:version': '0.0.10' })], { 'hv:version': '3.3.0' })
      const b = list([img({ 'hv:version': '0.0.9', 'dc:title': 'renamed' })], { 'hv:version': '3.2.9' })
      const codes = computePlan(side('b', { prod: a }), side('h', { prod: b })).issues.map((i) => i.code).sort()
      expect(codes).toEqual(['IMAGE_VERSION_DECREASED', 'ROLLBACK'])
    })
    it('reports one IMAGE_VERSION_NOT_RAISED for an image whose content changed while its version went down', () => {
      const a = list([img({ 'hv:version': '0.0.10' })])
      const b = list([img({ 'hv:version': '0.0.9', 'hv:size': 1 })])
      expect(computePlan(side('b', { prod: a }), side('h', { prod: b })).issues.map((i) => i.code)).toEqual(['IMAGE_VERSION_NOT_RAISED'])
    })
  })

  describe('when lists and images are added and removed', () => {
    it('counts them and lists each object once', () => {
      const a = list([img()])
      const other = list([img({ 'dc:identifier': 'img-2', 'dc:title': 'Ubuntu' })], { 'dc:identifier': 'list-2', 'dc:title': 'Testing' })
      const b = list([img({ 'dc:identifier': 'img-3', 'dc:title': 'Rocky' })])
      const plan = computePlan(side('b', { prod: a }), side('h', { prod: b, testing: other }))
      expect(plan.summary).toMatchObject({ add: 1, change: 1, remove: 0 })
      const text = formatPlan(plan, 'text')
      expect(text).toContain('+ list testing "Testing" (list-2) will be added')
      expect(text).toContain('+ image "Rocky" (img-3) will be added')
      expect(text).toContain('- image "Alma 9" (img-1) will be removed')
    })
  })

  describe('with the signing certificate known', () => {
    const cert = { subject: '/CN=signer', issuer: '/CN=ca', notAfter: new Date('2026-01-15T00:00:00Z') }
    it('reports ENDORSER_MISMATCH when dn or ca differ from the certificate', () => {
      const b = list([img()])
      b.endorser['hv:dn'] = '/CN=someone else'
      const plan = computePlan(side('b', {}), side('h', { prod: b }), { cert })
      expect(plan.issues.map((i) => i.code)).toContain('ENDORSER_MISMATCH')
    })
    it('warns when the certificate expires before the list would', () => {
      const plan = computePlan(side('b', {}), side('h', { prod: list([img()]) }), { cert })
      const w = plan.issues.find((i) => i.code === 'CERT_EXPIRES_BEFORE_LIST')!
      expect(w.severity).toBe('warning')
      expect(w.message).toContain('2026-01-15T00:00:00Z')
    })
  })

  describe('when the list YAML fixes its version (an imported list) and the list changes', () => {
    const fixed = (l: HepixList): ListSide => ({ label: 'h', lists: new Map([['list-1', { name: 'prod', list: l, fixedVersion: true }]]) })
    it('reports EQUAL_VERSION, since subscribers reject an equal version with other bytes', () => {
      const plan = computePlan(side('b', { prod: list([img()]) }), fixed(list([img({ 'dc:identifier': 'img-2' })])))
      expect(plan.issues.map((i) => i.code)).toEqual(['EQUAL_VERSION'])
      expect(plan.issues[0]!.message).toContain('imagelists/prod.yaml')
    })
    it('accepts the same fixed version when nothing but the signing keys changed', () => {
      expect(computePlan(side('b', { prod: list([img()]) }), fixed(list([img()]))).issues).toEqual([])
    })
  })

  describe('when the list would be signed already expired (freeze, attacks S08)', () => {
    it('reports LIST_EXPIRED', () => {
      const now = new Date('2026-01-29T00:00:00Z')
      const plan = computePlan(side('b', {}), side('h', { prod: list([img()]) }), { now })
      expect(plan.issues.map((i) => i.code)).toEqual(['LIST_EXPIRED'])
      expect(computePlan(side('b', {}), side('h', { prod: list([img()]) }), { now: new Date('2026-01-28T23:59:59Z') }).issues).toEqual([])
    })
  })

  describe('when an explicit list version jumps far ahead (fast-forward, attacks S10)', () => {
    it('reports LIST_VERSION_JUMP', () => {
      const now = new Date('2026-02-01T00:00:00Z')
      const plan = computePlan(side('b', { prod: list([img()]) }), side('h', { prod: list([img()], { 'hv:version': '99999999999999', 'dc:date:expires': '2026-03-01T00:00:00Z' }) }), { now })
      expect(plan.issues.map((i) => i.code)).toEqual(['LIST_VERSION_JUMP'])
      const ok = computePlan(side('b', { prod: list([img()]) }), side('h', { prod: list([img()], { 'hv:version': '20260201000000', 'dc:date:expires': '2026-03-01T00:00:00Z' }) }), { now })
      expect(ok.issues).toEqual([])
    })
  })

  describe('formats', () => {
    const plan = computePlan(side('main', { prod: list([img()]) }), side('HEAD', { prod: list([img({ 'hv:version': '1.1', 'hv:size': 12 })]) }))
    it('JSON carries version 1 and the whole plan', () => {
      const j = JSON.parse(formatPlan(plan, 'json'))
      expect(j.version).toBe(1)
      expect(j.lists[0].images[0].version).toEqual({ from: '1.0', to: '1.1' })
    })
    it('Markdown starts with the hidden marker the PR comment is found by and has a summary table', () => {
      const md = formatPlan(plan, 'markdown')
      expect(md.startsWith(PLAN_COMMENT_MARKER)).toBe(true)
      expect(md).toContain('| ~ | prod (Production) |')
      expect(md).toContain('```diff')
    })
  })
})

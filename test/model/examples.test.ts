import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadRepository } from '../../src/model/load.js'
import { renderOne, selectLists } from '../../src/model/render.js'
import { EXAMPLES, ROOT } from './repo-helpers.js'

const NOW = new Date('2024-06-01T12:00:00Z')
const GOLDEN = path.join(ROOT, 'test/model/golden')

describe('examples/imagelists', () => {
  it('validates with no problems at all (errors or warnings)', async () => {
    const repo = await loadRepository(EXAMPLES, { now: NOW })
    expect(repo.problems).toEqual([])
    expect([repo.endorsers.size, repo.images.size, repo.lists.size]).toEqual([2, 6, 3])
  })

  it('has a production and a testing list that share images', async () => {
    const repo = await loadRepository(EXAMPLES, { now: NOW })
    const prod = repo.lists.get('cern-production')!.images
    const test = repo.lists.get('cern-testing')!.images
    expect(prod.filter((i) => test.includes(i)).length).toBeGreaterThanOrEqual(2)
  })

  // golden files: rerun with UPDATE_GOLDEN=1 after an intended change, and review the diff
  it.each(['cern-production', 'cern-testing', 'egi-fedcloud'])('renders %s exactly as the golden file', async (name) => {
    const repo = await loadRepository(EXAMPLES, { now: NOW })
    const [list] = selectLists(repo, name, false)
    const r = renderOne(repo, list!, { now: NOW })
    const file = path.join(GOLDEN, `${name}.json`)
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(GOLDEN, { recursive: true })
      writeFileSync(file, r.content)
    }
    expect(r.content).toBe(readFileSync(file, 'utf8'))
    expect(r.layout).toBe(name === 'egi-fedcloud' ? 'appdb' : 'vmcaster')
  })

  it('records sizes and sha512s that match the placeholder files make-images.mjs writes', async () => {
    const { placeholderImage } = (await import(path.join(EXAMPLES, 'make-images.mjs'))) as { placeholderImage: (n: string, s: number) => Buffer }
    const repo = await loadRepository(EXAMPLES, { now: NOW })
    for (const img of repo.images.values()) {
      const bytes = placeholderImage(img.name, img.hepix['hv:size'] as number)
      expect(createHash('sha512').update(bytes).digest('hex'), img.file).toBe(img.hepix['sl:checksum:sha512'])
      expect(img.source).toBe(`files/${img.name}.qcow2`)
    }
  })
})

import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
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

// the README's promise, checked the way its reader runs it: the CLI on the example directory
describe('vmgit validate on examples/imagelists, as its README tells', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-examples-'))
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))
  type Problem = { severity: string; code: string }

  it('finds no error as committed (only the uncommitted image files are warned about)', async () => {
    const r = await runCli(['validate', '--repo', EXAMPLES, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const problems = (JSON.parse(r.stdout) as { problems: Problem[] }).problems
    expect(problems.filter((p) => p.code !== 'IMAGE_SOURCE_UNREADABLE')).toEqual([])
  })

  it('finds no problem at all once make-images.mjs has written the image files', async () => {
    const repo = path.join(tmp, 'repo')
    cpSync(EXAMPLES, repo, { recursive: true, filter: (src) => !src.includes(`${path.sep}files`) })
    const { makeImages } = (await import(path.join(EXAMPLES, 'make-images.mjs'))) as { makeImages: (dir: string) => unknown }
    makeImages(repo)
    const r = await runCli(['validate', '--repo', repo, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { problems: Problem[] }).problems).toEqual([])
  })
})

/** src/git against real repositories made in temp dirs (no global git config relied on). */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Git } from '../../src/git/git.js'

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.org',
  GIT_COMMITTER_NAME: 'Test Committer',
  GIT_COMMITTER_EMAIL: 'committer@example.org',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: os.tmpdir(),
}
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, env: ENV }).toString()
}
function write(dir: string, file: string, text: string) {
  mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
  writeFileSync(path.join(dir, file), text)
}
function commit(dir: string, msg: string, date: string) {
  git(dir, 'add', '-A')
  execFileSync('git', ['commit', '-q', '-m', msg], { cwd: dir, env: { ...ENV, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } })
  return git(dir, 'rev-parse', 'HEAD').trim()
}

describe('Git', () => {
  let top = ''
  let repo = '' // the vmgit repository lives in a subdirectory of the work tree
  const c: string[] = []
  beforeAll(() => {
    top = mkdtempSync(path.join(os.tmpdir(), 'vmgit-git-'))
    git(top, 'init', '-q', '-b', 'main')
    repo = path.join(top, 'publishing')
    write(repo, 'vmgit.yaml', 'version: 1\n')
    write(repo, 'images/alma.yaml', 'version: "1"\nsize: 10\n')
    write(repo, 'images/debian.yaml', 'version: "1"\n')
    write(top, 'README.md', 'outside\n')
    c.push(commit(top, 'first', '2026-01-01T00:00:00Z'))
    write(repo, 'images/alma.yaml', 'version: "2"\nsize: 20\n')
    renameSync(path.join(repo, 'images/debian.yaml'), path.join(repo, 'images/debian12.yaml'))
    write(repo, 'imagelists/prod.yaml', 'images: [alma]\n')
    c.push(commit(top, 'second: alma 2', '2026-01-02T00:00:00Z'))
    write(repo, 'images/alma.yaml', '# a comment\nversion: "3"\n')
    rmSync(path.join(repo, 'imagelists/prod.yaml'))
    c.push(commit(top, 'third', '2026-01-03T00:00:00Z'))
    git(top, 'tag', 'v1', c[0]!)
  })
  afterAll(() => rmSync(top, { recursive: true, force: true }))

  describe('isRepo / open', () => {
    it('knows a work tree (also from a subdirectory) from a plain directory', async () => {
      expect(await Git.isRepo(repo)).toBe(true)
      expect(await Git.isRepo(os.tmpdir())).toBe(false)
      await expect(Git.open(os.tmpdir())).rejects.toMatchObject({ code: 'NOT_A_GIT_REPO', exit: 2 })
    })
  })

  describe('revParse', () => {
    it('resolves branches, tags, HEAD~n and short ids to full commit ids', async () => {
      const g = new Git(repo)
      expect(await g.revParse('HEAD')).toBe(c[2])
      expect(await g.revParse('main~1')).toBe(c[1])
      expect(await g.revParse('v1')).toBe(c[0])
      expect(await g.revParse(c[1]!.slice(0, 8))).toBe(c[1])
    })
    it('rejects an unknown ref, or an option in disguise, with GIT_BAD_REF', async () => {
      const g = new Git(repo)
      await expect(g.revParse('no-such-branch')).rejects.toMatchObject({ code: 'GIT_BAD_REF', exit: 2 })
      await expect(g.revParse('--output=/tmp/x')).rejects.toMatchObject({ code: 'GIT_BAD_REF' })
    })
  })

  describe('showFile', () => {
    it('returns a file as it was at a ref, relative to the repository dir', async () => {
      const g = new Git(repo)
      expect((await g.showFile(c[0]!, 'images/alma.yaml'))?.toString()).toBe('version: "1"\nsize: 10\n')
      expect((await g.showFile('HEAD', 'images/alma.yaml'))?.toString()).toContain('# a comment')
    })
    it('returns undefined for a path absent at that ref (or a directory)', async () => {
      const g = new Git(repo)
      expect(await g.showFile(c[0]!, 'imagelists/prod.yaml')).toBeUndefined()
      expect(await g.showFile('HEAD', 'images')).toBeUndefined()
    })
  })

  describe('listFiles', () => {
    it('lists files under a directory at a ref, without the work-tree prefix', async () => {
      const g = new Git(repo)
      expect(await g.listFiles(c[0]!, 'images')).toEqual(['images/alma.yaml', 'images/debian.yaml'])
      expect(await g.listFiles(c[1]!)).toEqual(['imagelists/prod.yaml', 'images/alma.yaml', 'images/debian12.yaml', 'vmgit.yaml'])
    })
  })

  describe('changedPaths', () => {
    it('reports added, modified, deleted and renamed files between two refs', async () => {
      const g = new Git(repo)
      expect(await g.changedPaths(c[0]!, c[1]!)).toEqual([
        { status: 'A', path: 'imagelists/prod.yaml' },
        { status: 'M', path: 'images/alma.yaml' },
        { status: 'R', path: 'images/debian12.yaml', from: 'images/debian.yaml' },
      ])
      expect(await g.changedPaths(c[1]!, c[2]!, 'images')).toEqual([{ status: 'M', path: 'images/alma.yaml' }])
    })
  })

  describe('log', () => {
    it('lists commits newest first with author, date and subject, optionally by path', async () => {
      const g = new Git(repo)
      const all = await g.log()
      expect(all.map((e) => e.subject)).toEqual(['third', 'second: alma 2', 'first'])
      expect(all[0]).toMatchObject({ sha: c[2], author: 'Test Author', email: 'author@example.org' })
      expect(all[2]!.date.toISOString()).toBe('2026-01-01T00:00:00.000Z')
      expect((await g.log({ paths: ['imagelists'] })).map((e) => e.subject)).toEqual(['third', 'second: alma 2'])
      expect(await g.log({ max: 1 })).toHaveLength(1)
    })
  })

  describe('reading the whole repository at a ref', () => {
    it('readTree maps every YAML path to its content in one git process', async () => {
      const m = await new Git(repo).readTree(c[1]!)
      expect([...m.keys()].sort()).toEqual(['imagelists/prod.yaml', 'images/alma.yaml', 'images/debian12.yaml', 'vmgit.yaml'])
      expect(m.get('images/alma.yaml')?.toString()).toBe('version: "2"\nsize: 20\n')
    })
    it('checkout extracts the repository dir at a ref into a temp dir the loader can read', async () => {
      const g = new Git(repo)
      const t = await g.checkout(c[0]!)
      try {
        expect(readFileSync(path.join(t.dir, 'images/alma.yaml'), 'utf8')).toBe('version: "1"\nsize: 10\n')
        expect(existsSync(path.join(t.dir, 'README.md'))).toBe(false) // outside the repository dir
        expect(t.commit).toBe(c[0])
      } finally {
        await t.cleanup()
      }
      expect(existsSync(t.dir)).toBe(false)
    })
    it('the model loader reads the repository as it was at an older ref', async () => {
      const { loadRepository } = await import('../../src/model/load.js')
      const repoAt = await new Git(repo).withTreeAt(c[0]!, (d) => loadRepository(d))
      expect([...repoAt.images.keys()]).toEqual(['alma', 'debian'])
      expect(repoAt.images.get('alma')?.data.version).toBe('1')
    })
    it('works when the repository is the top of the work tree', async () => {
      const solo = mkdtempSync(path.join(os.tmpdir(), 'vmgit-solo-'))
      try {
        git(solo, 'init', '-q', '-b', 'main')
        write(solo, 'vmgit.yaml', 'version: 1\n')
        const id = commit(solo, 'only', '2026-02-01T00:00:00Z')
        const g = new Git(solo)
        expect(await g.listFiles('HEAD')).toEqual(['vmgit.yaml'])
        expect(await g.withTreeAt(id, async (d) => readFileSync(path.join(d, 'vmgit.yaml'), 'utf8'))).toBe('version: 1\n')
      } finally {
        rmSync(solo, { recursive: true, force: true })
      }
    })
    it('withTreeAt removes the temp copy even when the callback throws', async () => {
      let seen = ''
      await expect(new Git(repo).withTreeAt('HEAD', async (d) => ((seen = d), Promise.reject(new Error('boom'))))).rejects.toThrow('boom')
      expect(existsSync(seen)).toBe(false)
    })
  })
})

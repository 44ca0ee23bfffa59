/** vmgit bump: one image, or every image changed since a git ref without a version increase (real git repo). */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

const ENV = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.org', GIT_CONFIG_NOSYSTEM: '1' }
const git = (dir: string, ...a: string[]) => execFileSync('git', a, { cwd: dir, env: ENV }).toString()
const sha = (c: string) => c.repeat(128)
const image = (id: string, version: string, s: string, uri = `https://vm.example.org/images/${id}.qcow2`) =>
  `# yaml-language-server: $schema=https://vmgit.dev/schemas/image.schema.json\n# keep me\nidentifier: ${id}\nversion: "${version}"\nuri: ${uri}\nsize: 10\nsha512: ${s}\n`

describe('vmgit bump', () => {
  let dir = ''
  const w = (f: string, t: string) => writeFileSync(path.join(dir, f), t)
  const read = (n: string) => parse(readFileSync(path.join(dir, 'images', `${n}.yaml`), 'utf8')) as Record<string, unknown>
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bump-'))
    mkdirSync(path.join(dir, 'images'))
    w('vmgit.yaml', 'version: 1\n')
    w('images/alma.yaml', image('alma', '1.9', sha('a')))
    w('images/debian.yaml', image('debian', '3', sha('b')))
    w('images/ubuntu.yaml', image('ubuntu', '0.0.1a', sha('c')))
    git(dir, 'init', '-q', '-b', 'main')
    git(dir, 'add', '-A')
    git(dir, 'commit', '-q', '-m', 'base')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  describe('one image', () => {
    it('increments the last digit run and keeps comments', async () => {
      const r = await runCli(['bump', 'alma', '--repo', dir])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('version 1.9 -> 1.10')
      expect(read('alma').version).toBe('1.10')
      expect(readFileSync(path.join(dir, 'images/alma.yaml'), 'utf8')).toContain('# keep me')
      await runCli(['bump', 'ubuntu', '--repo', dir])
      expect(read('ubuntu').version).toBe('0.0.2a')
    })
    it('needs an image name or --all-changed (BUMP_WHAT, exit 2)', async () => {
      const r = await runCli(['bump', '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('BUMP_WHAT')
    })
  })

  describe('--all-changed', () => {
    it('bumps exactly the images whose sha512, size or uri changed since the base without a version increase', async () => {
      w('images/alma.yaml', image('alma', '1.9', sha('d'))) // content changed, version not: bump
      w('images/debian.yaml', image('debian', '4', sha('e'))) // content changed and version up: fine
      w('images/ubuntu.yaml', image('ubuntu', '0.0.1a', sha('c'), 'https://mirror.example.org/ubuntu.qcow2')) // uri moved: bump
      w('images/new.yaml', image('new', '1', sha('f'))) // new since base: left alone
      const r = await runCli(['bump', '--all-changed', '--base', 'main', '--repo', dir, '--json'])
      expect(r.code).toBe(0)
      const j = JSON.parse(r.stdout)
      expect(j.bumped.map((b: { name: string; to: string }) => [b.name, b.to])).toEqual([
        ['alma', '1.10'],
        ['ubuntu', '0.0.2a'],
      ])
      expect(j.bumped[0].reason).toMatch(/sha512 changed since main/)
      expect(read('debian').version).toBe('4')
      expect(read('new').version).toBe('1')
    })
    it('matches images by identifier across a file rename', async () => {
      git(dir, 'mv', 'images/alma.yaml', 'images/almalinux.yaml')
      w('images/almalinux.yaml', image('alma', '1.9', sha('9')))
      const r = await runCli(['bump', '--all-changed', '--repo', dir, '--json'])
      expect(JSON.parse(r.stdout).bumped).toMatchObject([{ name: 'almalinux', from: '1.9', to: '1.10' }])
    })
    it('bumps above the base when the version went down, and a second run bumps nothing', async () => {
      w('images/debian.yaml', image('debian', '2', sha('e')))
      await runCli(['bump', '--all-changed', '--repo', dir])
      expect(read('debian').version).toBe('4')
      const again = await runCli(['bump', '--all-changed', '--repo', dir])
      expect(again.stdout).toMatch(/nothing to bump/)
    })
    it('applies the image_uri naming rule only when the uri did not change by hand', async () => {
      w('vmgit.yaml', 'version: 1\nimage_uri: "{base}/{name}-{version}.{ext}"\ntargets:\n  - match: https://vm.example.org/\n    replace: file:///srv/\n')
      w('images/alma.yaml', image('alma', '1.9', sha('d')))
      await runCli(['bump', '--all-changed', '--repo', dir])
      expect(read('alma').uri).toBe('https://vm.example.org/images/alma-1.10.qcow2')
    })
    it('rejects an unknown base (GIT_BAD_REF) and a directory that is not a git repository', async () => {
      const r = await runCli(['bump', '--all-changed', '--base', 'nope', '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('GIT_BAD_REF')
      const plain = mkdtempSync(path.join(os.tmpdir(), 'vmgit-nogit-'))
      try {
        const p = await runCli(['bump', '--all-changed', '--repo', plain])
        expect(p.code).toBe(2)
        expect(p.stderr).toContain('NOT_A_GIT_REPO')
      } finally {
        rmSync(plain, { recursive: true, force: true })
      }
    })
  })
})

import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseImageListJson } from '../../src/imagelist/parse.js'
import { parseSmime } from '../../src/smime/mime.js'
import { runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

/**
 * Issue 15, "GitOps means committed" and "A pull request is untrusted input", on real git
 * repositories: publish refuses files that differ from HEAD (NOT_COMMITTED) unless --allow-dirty;
 * each signed list carries vmgit:repository (no credentials), vmgit:commit (full id) and, in CI,
 * vmgit:run; an image source must resolve inside the repository.
 */

let pki: Pki
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-gitops-'))
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
const git = (cwd: string, ...a: string[]) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: 'pipe' }).toString().trim()
// no CI variables of the machine running the tests leak into what is signed
const NO_CI = { GITHUB_ACTIONS: undefined, GITHUB_RUN_ID: undefined, GITHUB_RUN_ATTEMPT: undefined, GITHUB_REPOSITORY: undefined, GITHUB_SERVER_URL: undefined, GITHUB_EVENT_PATH: undefined, GITLAB_CI: undefined, CI_JOB_URL: undefined, BUILD_URL: undefined, VMGIT_DEFAULT_BRANCH: undefined, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }
const ORIGIN = 'https://deploy:s3cr3t-t0ken@git.example.org/team/vm-images.git?private_token=qq#frag'

beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface World {
  repo: FixtureRepo
  pub: string
  publish(args?: string[], env?: Record<string, string | undefined>): ReturnType<typeof runCli>
  published(): { list: Record<string, unknown>; raw: string } | undefined
  commit(msg?: string): string
}

function world(opts: { git?: boolean } = {}): World {
  const dir = mkdtempSync(path.join(tmp, 'repo-'))
  const pub = mkdtempSync(path.join(tmp, 'pub-'))
  const repo = makeFixtureRepo(dir, 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
  if (opts.git !== false) {
    // the image files are not committed (big files rarely are): git ignores files/
    writeFileSync(path.join(dir, '.gitignore'), 'files/\n')
    git(dir, 'init', '-q', '-b', 'main')
    git(dir, 'remote', 'add', 'origin', ORIGIN)
    git(dir, 'add', '-A')
    git(dir, 'commit', '-qm', 'first')
  }
  const listFile = path.join(pub, 'lists/production.list')
  return {
    repo,
    pub,
    publish: (args = [], env = {}) => runCli(['publish', '--repo', dir, '--key', pki.signer.key, '--cert', pki.signer.cert, ...args], { env: { ...NO_CI, ...env } }),
    published: () => {
      if (!existsSync(listFile)) return undefined
      const raw = parseSmime(readFileSync(listFile)).content.toString('utf8')
      return { list: parseImageListJson(Buffer.from(raw)).list, raw }
    },
    commit: (msg = 'change') => {
      git(dir, 'add', '-A')
      git(dir, 'commit', '-qm', msg)
      return git(dir, 'rev-parse', 'HEAD')
    },
  }
}

const filesIn = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : [])

describe('issue 15: GitOps means committed', () => {
  describe('when every file that feeds the list is committed', () => {
    it('publishes, and the signed list names the repository without credentials and the full commit id', async () => {
      const w = world()
      const r = await w.publish(['--json'])
      expect(r.code, r.stderr).toBe(0)
      const head = git(w.repo.dir, 'rev-parse', 'HEAD')
      expect(JSON.parse(r.stdout)).toMatchObject({ commit: head })
      const p = w.published()!
      expect(p.list['vmgit:repository']).toBe('https://git.example.org/team/vm-images.git')
      expect(p.list['vmgit:commit']).toBe(head)
      expect(p.list['vmgit:commit']).toMatch(/^[0-9a-f]{40}$/)
      expect(p.list['vmgit:run']).toBeUndefined()
      expect(p.list['vmgit:dirty']).toBeUndefined()
      expect(p.raw).not.toContain('s3cr3t')
      expect(p.raw).not.toContain('private_token')
      expect(p.raw).not.toContain('deploy@')
    })
  })

  describe.each([
    ['a modified list file', (w: World) => appendFileSync(path.join(w.repo.dir, 'imagelists/production.yaml'), '# edited after review\n')],
    ['a modified image file', (w: World) => appendFileSync(path.join(w.repo.dir, 'images/alma.yaml'), '# edited\n')],
    ['a modified endorser file', (w: World) => appendFileSync(path.join(w.repo.dir, 'endorsers/team.yaml'), '# edited\n')],
    ['a modified vmgit.yaml', (w: World) => appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), '# edited\n')],
    ['a change staged but not committed', (w: World) => {
      appendFileSync(path.join(w.repo.dir, 'images/ubuntu.yaml'), '# staged\n')
      git(w.repo.dir, 'add', 'images/ubuntu.yaml')
    }],
    ['an image file git does not know (untracked)', (w: World) => {
      git(w.repo.dir, 'rm', '-q', '--cached', 'images/ubuntu.yaml')
      git(w.repo.dir, 'commit', '-qm', 'forget ubuntu')
    }],
    ['a list file git ignores', (w: World) => {
      writeFileSync(path.join(w.repo.dir, '.gitignore'), 'files/\nimagelists/\n')
      git(w.repo.dir, 'rm', '-q', '-r', '--cached', 'imagelists')
      git(w.repo.dir, 'add', '.gitignore')
      git(w.repo.dir, 'commit', '-qm', 'ignore lists')
    }],
    ['an image file hidden from git status (update-index --assume-unchanged)', (w: World) => {
      git(w.repo.dir, 'update-index', '--assume-unchanged', 'images/alma.yaml')
      appendFileSync(path.join(w.repo.dir, 'images/alma.yaml'), '# hidden edit\n')
    }],
    ['a list file hidden by --skip-worktree', (w: World) => {
      git(w.repo.dir, 'update-index', '--skip-worktree', 'imagelists/production.yaml')
      appendFileSync(path.join(w.repo.dir, 'imagelists/production.yaml'), '# hidden edit\n')
    }],
    ['an image source that git tracks, modified', (w: World) => {
      git(w.repo.dir, 'add', '-f', 'files/alma-1.0.qcow2')
      git(w.repo.dir, 'commit', '-qm', 'track the alma image')
      appendFileSync(path.join(w.repo.dir, 'files/alma-1.0.qcow2'), 'x')
    }],
  ])('when %s differs from HEAD', (_what, change) => {
    let w: World
    beforeEach(() => {
      w = world()
      change(w)
    })

    it('refuses with NOT_COMMITTED (exit 2), names the file, and writes nothing', async () => {
      const r = await w.publish(['--json'])
      expect(r.code).toBe(2)
      expect(JSON.parse(r.stdout).error.code).toBe('NOT_COMMITTED')
      expect(r.stderr).toMatch(/commit them|--allow-dirty/)
      expect(filesIn(w.pub)).toEqual([])
    })

    it('with --allow-dirty publishes, says so loudly on stderr and records vmgit:dirty in the signed list', async () => {
      const r = await w.publish(['--allow-dirty', '--json'])
      // an edited tracked source no longer matches its YAML: that check still stands
      if (_what.startsWith('an image source')) {
        expect(JSON.parse(r.stdout).lists[0].error.code).toBe('IMAGE_SOURCE_MISMATCH')
        return
      }
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain('WARNING: --allow-dirty')
      expect(JSON.parse(r.stdout).allowDirty).toMatchObject({ code: 'NOT_COMMITTED' })
      expect(w.published()!.list['vmgit:dirty']).toBe('true')
    })
  })

  describe('when an image source is not tracked by git (the usual case)', () => {
    it('publishes: the sha512 in the committed YAML binds the file', async () => {
      const w = world()
      expect(git(w.repo.dir, 'status', '--porcelain', '--ignored')).toContain('files/')
      expect((await w.publish()).code).toBe(0)
    })
  })

  describe('when a file that feeds no list changes (README, another directory)', () => {
    it('publishes', async () => {
      const w = world()
      writeFileSync(path.join(w.repo.dir, 'README.md'), 'notes\n')
      expect((await w.publish()).code).toBe(0)
    })
  })

  describe('when the repository is not in git at all', () => {
    it('refuses with NOT_A_GIT_REPO, and --allow-dirty publishes without commit but with vmgit:dirty', async () => {
      const w = world({ git: false })
      const r = await w.publish(['--json'])
      expect(r.code).toBe(2)
      expect(JSON.parse(r.stdout).error.code).toBe('NOT_A_GIT_REPO')
      expect(filesIn(w.pub)).toEqual([])
      const ok = await w.publish(['--allow-dirty'])
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stderr).toContain('WARNING: --allow-dirty')
      expect(w.published()!.list).toMatchObject({ 'vmgit:dirty': 'true' })
      expect(w.published()!.list['vmgit:commit']).toBeUndefined()
    })
  })

  describe('--dry-run on a dirty tree', () => {
    it('warns that publish would refuse, and writes nothing', async () => {
      const w = world()
      appendFileSync(path.join(w.repo.dir, 'images/alma.yaml'), '# edited\n')
      const r = await w.publish(['--dry-run'])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('NOT_COMMITTED')
      expect(filesIn(w.pub)).toEqual([])
    })
  })
})

describe('issue 15: provenance inside the signed bytes', () => {
  describe('in GitHub Actions', () => {
    it('records the workflow run (server, repository, run id and attempt)', async () => {
      const w = world()
      const r = await w.publish([], { GITHUB_ACTIONS: 'true', GITHUB_SERVER_URL: 'https://github.example.com', GITHUB_REPOSITORY: 'team/vm-images', GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '2' })
      expect(r.code, r.stderr).toBe(0)
      expect(w.published()!.list['vmgit:run']).toBe('https://github.example.com/team/vm-images/actions/runs/4242/attempts/2')
    })
  })

  describe('when vmgit.yaml says provenance: false', () => {
    it('signs no vmgit: key at all', async () => {
      const w = world()
      appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), 'provenance: false\n')
      w.commit()
      expect((await w.publish()).code).toBe(0)
      expect(Object.keys(w.published()!.list).filter((k) => k.startsWith('vmgit:'))).toEqual([])
    })
  })

  describe('when vmgit.yaml names the repository', () => {
    it('signs that URL (credentials stripped) instead of the origin remote', async () => {
      const w = world()
      appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), 'provenance:\n  repository: "https://bot:tok@github.com/team/images"\n')
      w.commit()
      expect((await w.publish()).code).toBe(0)
      expect(w.published()!.list['vmgit:repository']).toBe('https://github.com/team/images')
    })
  })

  describe('when a list YAML tries to set a provenance key itself', () => {
    it.each(['vmgit:commit', 'vmgit:repository', 'vmgit:run', 'vmgit:dirty'])('%s is RESERVED_KEY: the repository does not validate', async (key) => {
      const w = world()
      appendFileSync(path.join(w.repo.dir, 'imagelists/production.yaml'), `${key}: "forged"\n`)
      w.commit()
      const r = await w.publish()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('RESERVED_KEY')
    })
  })

  describe('a second publish from a later commit with the same content', () => {
    it('uploads nothing: a new commit alone is no new content', async () => {
      const w = world()
      expect((await w.publish()).code).toBe(0)
      writeFileSync(path.join(w.repo.dir, 'README.md'), 'x\n')
      w.commit()
      const r = await w.publish()
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('Nothing to publish')
    })
  })

  describe('vmgit verify', () => {
    it('shows repository, commit and run, in text and JSON', async () => {
      const w = world()
      await w.publish([], { GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'team/vm-images', GITHUB_RUN_ID: '7', GITHUB_RUN_ATTEMPT: '1' })
      const file = path.join(w.pub, 'lists/production.list')
      const head = git(w.repo.dir, 'rev-parse', 'HEAD')
      const t = await runCli(['verify', file, '--ca-dir', pki.caDir])
      expect(t.code, t.stderr).toBe(0)
      expect(t.stdout).toContain('repository: https://git.example.org/team/vm-images.git')
      expect(t.stdout).toContain(`commit:     ${head}`)
      expect(t.stdout).toContain('run:        https://github.com/team/vm-images/actions/runs/7/attempts/1')
      const j = JSON.parse((await runCli(['verify', file, '--ca-dir', pki.caDir, '--json'])).stdout)
      expect(j.provenance).toEqual({ repository: 'https://git.example.org/team/vm-images.git', commit: head, run: 'https://github.com/team/vm-images/actions/runs/7/attempts/1' })
    })
  })
})

describe('issue 15: a pull request is untrusted input (image source:)', () => {
  const outside = () => {
    const d = mkdtempSync(path.join(tmp, 'runner-'))
    const f = path.join(d, 'secret.img')
    writeFileSync(f, 'a file of the CI runner\n')
    return { dir: d, file: f }
  }
  /** Point alma's source at `source` and make its YAML describe exactly those bytes (the attacker can). */
  const pointAlma = (w: World, source: string, bytes: Buffer) => {
    const f = path.join(w.repo.dir, 'images/alma.yaml')
    const y = readFileSync(f, 'utf8')
      .replace(/^source: .*$/m, `source: ${JSON.stringify(source)}`)
      .replace(/^sha512: .*$/m, `sha512: "${createHash('sha512').update(bytes).digest('hex')}"`)
      .replace(/^size: .*$/m, `size: ${bytes.length}`)
    writeFileSync(f, y)
  }

  describe.each([
    ['an absolute path', (w: World, o: { file: string }) => o.file],
    ['a ../ path', (w: World, o: { file: string }) => path.relative(w.repo.dir, o.file)],
    // committed symlinks (files/ is ignored by git): what a pull request can add
    ['a symlink inside the repository pointing out', (w: World, o: { file: string }) => {
      symlinkSync(o.file, path.join(w.repo.dir, 'link.qcow2'))
      return 'link.qcow2'
    }],
    ['a path through a symlinked directory', (w: World, o: { dir: string }) => {
      symlinkSync(o.dir, path.join(w.repo.dir, 'store'))
      return 'store/secret.img'
    }],
  ])('when the source is %s resolving outside the repository', (_what, make) => {
    it('refuses with SOURCE_OUTSIDE_REPOSITORY and uploads nothing', async () => {
      const w = world()
      const o = outside()
      const src = make(w, o)
      pointAlma(w, src, readFileSync(o.file))
      w.commit('pull request')
      const r = await w.publish(['--json'])
      const rep = JSON.parse(r.stdout)
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(rep.lists[0].error.code).toBe('SOURCE_OUTSIDE_REPOSITORY')
      expect(filesIn(w.pub).filter((f) => !f.endsWith('images') && !f.endsWith('lists'))).toEqual([])
      // the reviewer sees it in the plan of the pull request already
      const plan = await runCli(['plan', '--repo', w.repo.dir, '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], { env: NO_CI })
      expect(plan.code).toBe(1)
      expect(JSON.parse(plan.stdout).issues).toContainEqual(expect.objectContaining({ code: 'SOURCE_OUTSIDE_REPOSITORY', severity: 'error' }))
    })
  })

  describe('when the source is inside .git (actions/checkout keeps its token in .git/config)', () => {
    it('refuses with SOURCE_OUTSIDE_REPOSITORY', async () => {
      const w = world()
      pointAlma(w, '.git/config', readFileSync(path.join(w.repo.dir, '.git/config')))
      w.commit('pull request')
      const r = await w.publish(['--json'])
      expect(JSON.parse(r.stdout).lists[0].error.code).toBe('SOURCE_OUTSIDE_REPOSITORY')
    })
  })

  describe('when a symlink inside the repository points at another file inside it', () => {
    it('publishes', async () => {
      const w = world()
      const real = path.join(w.repo.dir, w.repo.images[0]!.file.slice(w.repo.dir.length + 1))
      symlinkSync(real, path.join(w.repo.dir, 'files/alma-link.qcow2'))
      pointAlma(w, 'files/alma-link.qcow2', readFileSync(real))
      w.commit()
      const r = await w.publish()
      expect(r.code, r.stderr).toBe(0)
    })
  })

  // the registry path reads image sources too: the same rule, before a byte is read or pushed
  describe('when vmgit.yaml names a registry and the image goes only there (its uri matches no target)', () => {
    /** alma pushed to a registry only (a registry that refuses connections: nothing may be sent anyway) */
    const registryOnly = (w: World) => {
      appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), 'registry: oci://127.0.0.1:9/egi\n')
      const f = path.join(w.repo.dir, 'images/alma.yaml')
      writeFileSync(f, readFileSync(f, 'utf8').replace(/^uri: .*$/m, 'uri: "https://registry-only.example.org/alma-1.0.qcow2"'))
    }

    it('refuses a source outside the repository with SOURCE_OUTSIDE_REPOSITORY before reading or pushing it', async () => {
      const w = world()
      const o = outside()
      registryOnly(w)
      pointAlma(w, o.file, readFileSync(o.file))
      w.commit('pull request')
      const r = await w.publish(['--json'])
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(JSON.parse(r.stdout).lists[0].error.code).toBe('SOURCE_OUTSIDE_REPOSITORY')
    })

    it('plans a pull request whose source is a device (a committed symlink to /dev/zero) without reading it, and reports it', async () => {
      const w = world()
      registryOnly(w)
      symlinkSync('/dev/zero', path.join(w.repo.dir, 'zero.qcow2'))
      pointAlma(w, 'zero.qcow2', Buffer.alloc(4096))
      w.commit('pull request')
      const plan = await runCli(['plan', '--repo', w.repo.dir, '--format', 'json'], { env: NO_CI, timeoutMs: 60_000 })
      expect(plan.code, plan.stdout + plan.stderr).toBe(1)
      const issues = JSON.parse(plan.stdout).issues as { code: string }[]
      expect(issues).toContainEqual(expect.objectContaining({ code: 'SOURCE_OUTSIDE_REPOSITORY', severity: 'error' }))
      // the size of a file of the runner is never shown to the pull request's author
      expect(issues.map((i) => i.code)).not.toContain('IMAGE_SOURCE_MISMATCH')
    })
  })

  describe('source_roots', () => {
    const setup = (onDefault: boolean) => {
      const w = world()
      const o = outside()
      // the default branch as CI sees it: origin/main, fetched from a bare upstream
      const upstream = path.join(tmp, `upstream-${process.hrtime.bigint()}.git`)
      if (onDefault) {
        appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), `source_roots:\n  - ${JSON.stringify(o.dir)}\n`)
        w.commit('allow the image store')
      }
      git(tmp, 'clone', '-q', '--bare', w.repo.dir, upstream)
      git(w.repo.dir, 'remote', 'set-url', 'origin', upstream)
      git(w.repo.dir, 'fetch', '-q', 'origin')
      git(w.repo.dir, 'checkout', '-q', '-b', 'pr')
      if (!onDefault) appendFileSync(path.join(w.repo.dir, 'vmgit.yaml'), `source_roots:\n  - ${JSON.stringify(o.dir)}\n`)
      pointAlma(w, o.file, readFileSync(o.file))
      w.commit('pull request')
      return w
    }

    it('a root named only by the pull request (not by vmgit.yaml on the default branch) is refused', async () => {
      const w = setup(false)
      const r = await w.publish(['--json'], { VMGIT_DEFAULT_BRANCH: 'main' })
      expect(JSON.parse(r.stdout).lists[0].error.code).toBe('SOURCE_OUTSIDE_REPOSITORY')
      expect(JSON.parse(r.stdout).lists[0].error.message).toContain('default branch origin/main does not')
    })

    it('a root named by vmgit.yaml on the default branch is allowed', async () => {
      const w = setup(true)
      const r = await w.publish([], { VMGIT_DEFAULT_BRANCH: 'main' })
      expect(r.code, r.stderr).toBe(0)
    })

    it('a root is refused when the default branch cannot be known', async () => {
      const w = setup(true)
      git(w.repo.dir, 'remote', 'remove', 'origin')
      const r = await w.publish(['--json'])
      expect(JSON.parse(r.stdout).lists[0].error.code).toBe('SOURCE_OUTSIDE_REPOSITORY')
    })
  })
})

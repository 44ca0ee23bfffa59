import { spawn, spawnSync } from 'node:child_process'
import { watch } from 'node:fs'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CLEAR_SCREEN, isIgnoredPath, watchRepository } from '../../src/util/watch.js'
import { BIN, runCli } from '../helpers/cli.js'
import { headers, killLeftovers, lastRun, startCli } from './long-lived.js'

// The watch loop is tested for real: the built CLI runs as a child process on a temp
// repository, the test edits YAML files as an endorser would and waits (bounded, polling the
// output) for the next run to show the result. Run `npm run build` first.

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'vmgit-watch-'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
afterEach(() => killLeftovers())

let n = 0
async function newRepo(): Promise<string> {
  const dir = path.join(tmp, `repo-${++n}`)
  const r = await runCli(['init', dir, '--action-ref', 'my-org/vmgit@0123456789abcdef0123456789abcdef01234567'])
  expect(r.code, r.stderr).toBe(0)
  return dir
}

/** Replace one `key: value` line of a YAML file, as an editor save would. */
function edit(file: string, key: string, value: string): void {
  const text = readFileSync(file, 'utf8')
  const re = new RegExp(`^${key}: .*$`, 'm')
  expect(text).toMatch(re)
  writeFileSync(file, text.replace(re, `${key}: ${value}`))
}

const imageFile = (repo: string) => path.join(repo, 'images', readdirSync(path.join(repo, 'images'))[0]!)
const GOOD_SHA = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'

describe('vmgit validate --watch', () => {
  it('reports a problem introduced while it runs, shows the clean result once it is fixed, and exits 0 on Ctrl-C', async () => {
    const repo = await newRepo()
    const cli = startCli(['validate', '--watch', '--repo', repo])
    await cli.waitFor('the first, clean run', (out) => /no problems/.test(out))
    expect(headers(cli.stdout())[0]).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] vmgit validate --repo ${repo}: watching`))

    edit(imageFile(repo), 'sha512', 'not-a-digest')
    await cli.waitFor('the run showing the bad sha512', (out) => /BAD_SHA512[\s\S]*1 error/.test(lastRun(out)))
    expect(lastRun(cli.stdout())).toMatch(/images\/example-image\.yaml:\d+:\d+: error: .*\[BAD_SHA512\]/)

    edit(imageFile(repo), 'sha512', GOOD_SHA)
    await cli.waitFor('the clean run after the fix', (out) => /no problems/.test(lastRun(out)) && headers(out).length >= 3)

    expect(await cli.stop('SIGINT')).toBe(0)
    // not a terminal: the screen is never cleared into a pipe
    expect(cli.stdout()).not.toContain(CLEAR_SCREEN)
    expect(cli.stderr()).toBe('')
  })

  it('keeps watching through a file that is not YAML at all, and sees new files in new runs', async () => {
    const repo = await newRepo()
    const cli = startCli(['validate', '--watch', '--repo', repo])
    await cli.waitFor('the first run', (out) => /no problems/.test(out))
    writeFileSync(path.join(repo, 'images', 'broken.yaml'), 'title: [unclosed\n')
    await cli.waitFor('the YAML syntax error', (out) => /images\/broken\.yaml:\d+:\d+: error: .*\[YAML_SYNTAX\]/.test(lastRun(out)))
    rmSync(path.join(repo, 'images', 'broken.yaml'))
    await cli.waitFor('the clean run', (out) => /no problems/.test(lastRun(out)))
    expect(await cli.stop('SIGTERM')).toBe(0)
  })

  it('sees every save made by rename, as sed -i and safe-writing editors do (issue 14), not only the first', async () => {
    const repo = await newRepo()
    const file = imageFile(repo)
    const cli = startCli(['validate', '--watch', '--repo', repo])
    await cli.waitFor('the first run', (out) => /no problems/.test(out))
    // a safe write: a temporary file beside the target, renamed over it (a new inode each time)
    const renameSave = (size: string) => {
      const tmpFile = path.join(path.dirname(file), `.tmp-save-${size}`)
      writeFileSync(tmpFile, readFileSync(file, 'utf8').replace(/^size: .*$/m, `size: ${size}`))
      renameSync(tmpFile, file)
    }
    const sedSave = (size: string) => expect(spawnSync('sed', ['-i', `s/^size: .*/size: ${size}/`, file]).status).toBe(0)
    const saves: [(v: string) => void, string][] = [[sedSave, '-1'], [sedSave, '0'], [renameSave, '-2'], [renameSave, '0'], [sedSave, '-3']]
    for (const [save, size] of saves) {
      save(size)
      if (size === '0') await cli.waitFor(`the clean run after size ${size}`, (out) => /no problems/.test(lastRun(out)))
      else await cli.waitFor(`the run showing size ${size}`, (out) => new RegExp(`size ${size} must be`).test(lastRun(out)))
    }
    expect(await cli.stop('SIGINT')).toBe(0)
  })

  // util-linux `script` runs the CLI on a pseudo-terminal, as a user's shell would
  const script = spawnSync('script', ['--version']).status === 0
  it.skipIf(!script && process.env.CI !== 'true')(`clears the screen before each run on a terminal${script ? '' : ' (skipped: no util-linux `script` to make a pseudo-terminal)'}`, async () => {
    const repo = await newRepo()
    const cmd = [process.execPath, BIN, 'validate', '--watch', '--repo', repo].map((a) => `'${a}'`).join(' ')
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const closed = new Promise((r) => child.on('close', r))
    try {
      for (let i = 0; !/no problems/.test(out); i++) {
        if (i > 1200) throw new Error(`gave up waiting for the first run on the terminal:\n${out}`)
        await new Promise((r) => setTimeout(r, 25))
      }
      expect(out).toMatch(/\x1b\[2J\x1b\[H\[\d\d:\d\d:\d\d\] vmgit validate/)
    } finally {
      child.kill('SIGTERM')
      await closed
    }
  })

  it('refuses --json (one JSON document per run would not be JSON) with exit 2', async () => {
    const r = await runCli(['validate', '--watch', '--json', '--repo', tmp])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--json/)
  })

  it('exits 2 at once when --repo is not a repository, instead of watching nothing', async () => {
    const r = await runCli(['validate', '--watch', '--repo', path.join(tmp, 'missing')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/error \[REPO_NOT_FOUND\]/)
  })
})

describe('vmgit render --watch', () => {
  it('prints the list again after an edit, reports errors without stopping, and exits 0 on Ctrl-C', async () => {
    const repo = await newRepo()
    const list = path.join(repo, 'imagelists', 'example.yaml')
    const cli = startCli(['render', '--watch', '--repo', repo, '--now', '2024-06-01T12:00:00Z'])
    await cli.waitFor('the first rendering', (out) => /"dc:title": "Example image list"/.test(out) && /\}\n$/.test(out))

    edit(list, 'title', 'Renamed list')
    await cli.waitFor('the rendering with the new title', (out) => /"dc:title": "Renamed list"/.test(lastRun(out)) && /\}\n$/.test(out))
    // the JSON of each run is followed by a newline, so the next header starts a line
    expect(headers(cli.stdout())).toHaveLength(2)

    edit(imageFile(repo), 'size', '-1')
    await cli.waitFor('the refusal', (_out, err) => /error \[INVALID_REPOSITORY\]/.test(err))
    expect(cli.stderr()).toMatch(/example-image\.yaml:\d+:\d+: error: .*\[BAD_SIZE\]/)
    edit(imageFile(repo), 'size', '0')
    await cli.waitFor('the rendering after the fix', (out) => headers(out).length >= 4 && /"dc:title": "Renamed list"/.test(lastRun(out)) && /\}\n$/.test(out))

    expect(await cli.stop('SIGINT')).toBe(0)
  })

  it('does not re-run on its own output written inside the repository (no endless loop)', async () => {
    const repo = await newRepo()
    const list = path.join(repo, 'imagelists', 'example.yaml')
    const cli = startCli(['render', '--all', '--out-dir', path.join(repo, 'build'), '--watch', '--repo', repo])
    await cli.waitFor('the first write', (out) => /wrote .*build\/example\.json/.test(out))
    // had the written file counted as a change, runs would follow on their own: allow them
    // more than three debounce periods to happen before and after one real edit
    const settle = () => new Promise((r) => setTimeout(r, 500))
    await settle()
    edit(list, 'title', 'Edited title')
    await cli.waitFor('the run for the edit', (out) => headers(out).length >= 2 && /wrote /.test(lastRun(out)))
    await settle()
    expect(readFileSync(path.join(repo, 'build', 'example.json'), 'utf8')).toContain('"dc:title": "Edited title"')
    expect(await cli.stop('SIGINT')).toBe(0)
    expect(headers(cli.stdout())).toHaveLength(2)
  })

  it('exits 2 at once for a list that does not exist', async () => {
    const repo = await newRepo()
    const r = await runCli(['render', 'no-such-list', '--watch', '--repo', repo])
    expect(r.code).toBe(2)
  })
})

describe('watchRepository', () => {
  describe('which paths count as changes', () => {
    it('ignores .git/ and the temporary files editors write, not the YAML files', () => {
      for (const p of ['.git/index', '.git/objects/ab/cdef', 'sub/.git/HEAD', 'images/.alma.yaml.swp', 'images/.alma.yaml.swx', 'images/4913',
        'images/alma.yaml~', 'images/#alma.yaml#', 'images/.#alma.yaml', 'images/alma.yaml___jb_tmp___', 'images/.alma.yaml.1a2b3c.tmp', '.DS_Store'])
        expect(isIgnoredPath(p), p).toBe(true)
      for (const p of ['vmgit.yaml', 'images/alma.yaml', 'imagelists/production.yaml', 'endorsers/team.yaml', 'images', 'gitops/x.yaml'])
        expect(isIgnoredPath(p), p).toBe(false)
    })
  })

  async function inProcess(opts: { clear: boolean }) {
    const dir = mkdtempSync(path.join(tmp, 'inproc-'))
    mkdirSync(path.join(dir, '.git'))
    mkdirSync(path.join(dir, 'images'))
    const out = new PassThrough()
    let text = ''
    out.on('data', (d: Buffer) => (text += d.toString()))
    const ac = new AbortController()
    let runs = 0
    const done = watchRepository(dir, async () => void runs++, { debounceMs: 150, signal: ac.signal, clear: opts.clear, out, label: 'test', now: () => new Date(2024, 0, 1, 9, 5, 7) })
    return { dir, out: () => text, runs: () => runs, ac, done }
  }

  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; !cond(); i++) {
      if (i > 1200) throw new Error(`gave up waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** Resolves once a change to `file` under `dir` has been delivered to a watcher in this process. */
  const seen = (dir: string, file: string) =>
    new Promise<void>((resolve) => {
      const w = watch(dir, { recursive: true }, (_e, f) => {
        if (String(f).split(path.sep).join('/') === file) {
          w.close()
          resolve()
        }
      })
    })

  it('runs once at start with a timestamped header, clears the screen only when asked, and stops when aborted', async () => {
    const plain = await inProcess({ clear: false })
    await until('the first run', () => plain.runs() === 1)
    expect(plain.out()).toBe(`[09:05:07] test: watching ${plain.dir} for changes (Ctrl-C to stop)\n`)
    plain.ac.abort()
    await plain.done

    const tty = await inProcess({ clear: true })
    await until('the first run', () => tty.runs() === 1)
    expect(tty.out().startsWith(CLEAR_SCREEN + '[09:05:07] test:')).toBe(true)
    tty.ac.abort()
    await tty.done
  })

  it('ignores writes under .git/ and editor temp files, and debounces a burst of saves into one run', async () => {
    const w = await inProcess({ clear: false })
    await until('the first run', () => w.runs() === 1)
    const ignored = Promise.all([seen(w.dir, '.git/index'), seen(w.dir, 'images/.a.yaml.swp')])
    writeFileSync(path.join(w.dir, '.git', 'index'), 'x')
    writeFileSync(path.join(w.dir, 'images', '.a.yaml.swp'), 'x')
    await ignored
    // the changes were delivered; give the debounce over three times its quiet period to (wrongly) fire
    await new Promise((r) => setTimeout(r, 500))
    expect(w.runs()).toBe(1)

    for (let i = 0; i < 5; i++) writeFileSync(path.join(w.dir, 'images', 'a.yaml'), `title: t${i}\n`)
    await until('the run for the saves', () => w.runs() === 2)
    await new Promise((r) => setTimeout(r, 500))
    expect(w.runs()).toBe(2)
    w.ac.abort()
    await w.done
  })

  it('reports a failing run and keeps watching; an onError that rethrows ends the watch', async () => {
    const dir = mkdtempSync(path.join(tmp, 'inproc-'))
    const errors: string[] = []
    const ac = new AbortController()
    let runs = 0
    const done = watchRepository(
      dir,
      async () => {
        runs++
        throw new Error(`run ${runs} failed`)
      },
      { debounceMs: 20, signal: ac.signal, out: new PassThrough(), onError: (e) => void errors.push((e as Error).message) },
    )
    await until('the first run', () => runs === 1)
    writeFileSync(path.join(dir, 'a.yaml'), 'x')
    await until('the second run', () => runs === 2)
    expect(errors).toEqual(['run 1 failed', 'run 2 failed'])
    ac.abort()
    await done

    const fatal = watchRepository(dir, async () => Promise.reject(new Error('boom')), {
      out: new PassThrough(),
      onError: (e) => {
        throw e
      },
    })
    await expect(fatal).rejects.toThrow('boom')
  })
})

/**
 * Issue 14: repository YAML files are UTF-8 and at most MAX_YAML_BYTES, both checked before the
 * parser sees a byte, and a broken file lists a bounded number of problems. Before: non-UTF-8 bytes
 * passed validate and were signed as U+FFFD; a 100 MB file took 54 s and 3.5 GB.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { firstInvalidUtf8, MAX_YAML_BYTES, MAX_YAML_PROBLEMS } from '../../src/model/yaml-source.js'
import { runCli } from '../helpers/cli.js'

const REF = 'my-org/vmgit@0123456789abcdef0123456789abcdef01234567'
const IMAGE = 'images/example-image.yaml'

interface Problem { file: string; line: number; col: number; severity: string; code: string; message: string }

let root: string
let n = 0
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'vmgit-yaml-limits-'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A fresh repository from `vmgit init` (valid as it is). */
async function repo(): Promise<string> {
  const dir = path.join(root, `r${++n}`)
  expect((await runCli(['init', dir, '--action-ref', REF])).code).toBe(0)
  return dir
}

async function validate(dir: string): Promise<{ code: number; problems: Problem[]; ms: number }> {
  const t0 = Date.now()
  const r = await runCli(['validate', '--repo', dir, '--json'])
  return { code: r.code, problems: (JSON.parse(r.stdout) as { problems: Problem[] }).problems, ms: Date.now() - t0 }
}

describe('repository YAML files (issue 14)', () => {
  describe('when a file holds bytes that are not UTF-8', () => {
    const cases: [string, Buffer][] = [
      ['a Latin-1 é', Buffer.from([0x63, 0x61, 0x66, 0xe9])],
      ['an overlong "/" (C0 AF)', Buffer.from([0xc0, 0xaf])],
      ['a UTF-16 surrogate (ED A0 80)', Buffer.from([0xed, 0xa0, 0x80])],
      ['a code point past U+10FFFF (F4 90 80 80)', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
      ['a sequence cut short', Buffer.from([0xe2, 0x82])],
      ['a lone continuation byte', Buffer.from([0x80])],
    ]
    for (const [what, bytes] of cases) {
      it(`validate rejects ${what} with YAML_NOT_UTF8 at its line and exits 1`, async () => {
        const dir = await repo()
        appendFileSync(path.join(dir, IMAGE), Buffer.concat([Buffer.from('comments: "'), bytes, Buffer.from('"\n')]))
        const lines = readFileSync(path.join(dir, IMAGE)).toString('latin1').split('\n').length - 1
        const v = await validate(dir)
        expect(v.code).toBe(1)
        const p = v.problems.filter((x) => x.code === 'YAML_NOT_UTF8')
        expect(p).toEqual([expect.objectContaining({ file: IMAGE, line: lines, severity: 'error' })])
        expect(p[0]!.message).toMatch(/re-save it as UTF-8/)
        // the list naming the image does not also claim the file is missing
        expect(v.problems.map((x) => x.code)).not.toContain('UNKNOWN_IMAGE')
      })
    }

    it('rejects them in vmgit.yaml too', async () => {
      const dir = await repo()
      appendFileSync(path.join(dir, 'vmgit.yaml'), Buffer.from('# caf\xe9\n', 'latin1'))
      const v = await validate(dir)
      expect(v.code).toBe(1)
      expect(v.problems).toContainEqual(expect.objectContaining({ file: 'vmgit.yaml', code: 'YAML_NOT_UTF8' }))
    })

    it('image update and bump refuse the file instead of rewriting the bytes as U+FFFD', async () => {
      const dir = await repo()
      appendFileSync(path.join(dir, IMAGE), Buffer.from('comments: "caf\xe9"\n', 'latin1'))
      const before = readFileSync(path.join(dir, IMAGE))
      const b = await runCli(['bump', 'example-image', '--repo', dir])
      expect(b.code).toBe(2)
      expect(b.stderr).toContain('YAML_NOT_UTF8')
      expect(readFileSync(path.join(dir, IMAGE))).toEqual(before)
    })

    it('accepts UTF-8 with a byte order mark, accents and 4-byte characters', async () => {
      const dir = await repo()
      const text = readFileSync(path.join(dir, IMAGE), 'utf8')
      expect(text).toMatch(/^comments: .*$/m)
      writeFileSync(path.join(dir, IMAGE), `\ufeff${text.replace(/^comments: .*$/m, 'comments: "café ✓ 🐧 \ufffd"')}`)
      const v = await validate(dir)
      expect(v.problems.filter((p) => p.severity === 'error')).toEqual([])
      expect(v.code).toBe(0)
    })
  })

  describe('when a file is larger than the cap', () => {
    it(`refuses a 100 MB file with YAML_TOO_LARGE from its size, fast (cap ${MAX_YAML_BYTES} bytes)`, async () => {
      const dir = await repo()
      const big = path.join(dir, 'images/huge.yaml')
      writeFileSync(big, 'title: x\n')
      truncateSync(big, 100 * 1024 * 1024) // sparse: the test writes nothing, vmgit must not read it all
      const v = await validate(dir)
      expect(v.code).toBe(1)
      expect(v.problems).toContainEqual(expect.objectContaining({ file: 'images/huge.yaml', code: 'YAML_TOO_LARGE', severity: 'error' }))
      expect(v.ms).toBeLessThan(20_000) // was 54 s and 3.5 GB; the CLI start dominates what is left
    })

    it('accepts a file of exactly the cap and refuses one byte more', async () => {
      const dir = await repo()
      const file = path.join(dir, 'images/edge.yaml')
      const head = 'comments: "'
      const pad = (size: number) => writeFileSync(file, head + 'x'.repeat(size - head.length - 2) + '"\n')
      pad(MAX_YAML_BYTES)
      expect((await validate(dir)).problems.map((p) => p.code)).not.toContain('YAML_TOO_LARGE')
      pad(MAX_YAML_BYTES + 1)
      expect((await validate(dir)).problems).toContainEqual(expect.objectContaining({ file: 'images/edge.yaml', code: 'YAML_TOO_LARGE' }))
    })
  })

  describe('when a file is full of syntax errors', () => {
    it(`lists at most ${MAX_YAML_PROBLEMS} of them and one line counting the rest`, async () => {
      const dir = await repo()
      writeFileSync(path.join(dir, 'images/garbage.yaml'), Array.from({ length: 2000 }, () => 'a: b: c: ]').join('\n'))
      const v = await validate(dir)
      expect(v.code).toBe(1)
      const mine = v.problems.filter((p) => p.file === 'images/garbage.yaml')
      expect(mine.length).toBeGreaterThan(1)
      expect(mine.length).toBeLessThanOrEqual(MAX_YAML_PROBLEMS + 1)
      expect(mine.at(-1)?.message ?? '').toMatch(/more error\(s\) not listed/)
    })
  })
})

describe('firstInvalidUtf8 (the check behind YAML_NOT_UTF8)', () => {
  it('agrees with a fatal TextDecoder on every 1-, 2- and 3-byte prefix class and on random bytes', () => {
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
    const valid = (b: Uint8Array) => {
      try {
        strict.decode(b)
        return true
      } catch {
        return false
      }
    }
    const samples: Uint8Array[] = []
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b += 7) samples.push(Uint8Array.of(a, b), Uint8Array.of(a, b, 0x80), Uint8Array.of(a, b, 0x80, 0xbf))
    let seed = 1
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff
    for (let i = 0; i < 20_000; i++) samples.push(Uint8Array.from({ length: 1 + (i % 9) }, rnd))
    const disagree = samples.filter((s) => (firstInvalidUtf8(s) < 0) !== valid(s)).slice(0, 5).map((s) => Buffer.from(s).toString('hex'))
    expect(disagree).toEqual([])
  })
})

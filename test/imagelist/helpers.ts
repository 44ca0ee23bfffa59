import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HepixList, HepixObject } from '../../src/imagelist/types.js'

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures')
export const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'golden')

export const fixture = (rel: string): Buffer => readFileSync(path.join(FIXTURES, rel))
export const golden = (rel: string): string => readFileSync(path.join(GOLDEN, rel), 'utf8')
export const lf = (s: string | Buffer): string => s.toString().replace(/\r\n/g, '\n')

/** The exact signed content (first MIME part) of an OpenSSL detached S/MIME file. */
export function signedContent(smime: Buffer): string {
  const text = smime.toString('latin1')
  const boundary = /boundary="([^"]+)"/.exec(text)?.[1]
  if (!boundary) throw new Error('no boundary')
  const delim = `--${boundary}`
  const start = text.indexOf(`${delim}\n`) + delim.length + 1
  const end = text.indexOf(`\n${delim}`, start)
  return Buffer.from(text.slice(start, end), 'latin1').toString('utf8')
}

/** JSON value for python: the wrapped structure exactly as renderList sees it. */
export function wrapped(list: HepixList): unknown {
  return {
    'hv:imagelist': {
      ...list.list,
      'hv:endorser': { 'hv:x509': list.endorser },
      'hv:images': list.images.map((i) => ({ 'hv:image': i })),
    },
  }
}

/** Deterministic PRNG (mulberry32) so generated vectors are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Characters that stress the encoder: escapes, control chars, DEL, '/', non-ASCII, U+2028,
// BMP private use (sorts after surrogates in UTF-16 but before astral in code point order),
// astral (surrogate pairs) and a lone surrogate.
const POOL = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u001f', '\u007f', 'é', '中',
  '\u2028', '\ue000', '\uffff', '😀', '\ud800', ':', '-']

export function randomString(r: () => number, max = 12): string {
  let s = ''
  const n = Math.floor(r() * max)
  for (let i = 0; i < n; i++) s += POOL[Math.floor(r() * POOL.length)]
  return s
}

const FLOATS = [0.1, 1e-5, 1e-4, -2.5, 1.5e300, 1234567.125, 123456789012345.6, 1e-300, 5e-324, 0.3]

export function randomObject(r: () => number, size: number): HepixObject {
  const o: HepixObject = {}
  for (let i = 0; i < size; i++) {
    const key = `x:${randomString(r, 4)}`
    const roll = r()
    o[key] = roll < 0.7 ? randomString(r) : roll < 0.85 ? Math.floor(r() * 2 ** 40) - 2 ** 39 : (FLOATS[Math.floor(r() * FLOATS.length)] ?? 0)
  }
  return o
}

export function randomList(seed: number): HepixList {
  const r = rng(seed)
  const images = Array.from({ length: Math.floor(r() * 4) }, () => ({
    ...randomObject(r, Math.floor(r() * 6)),
    'hv:size': Math.floor(r() * 2 ** 45),
  }))
  return { list: randomObject(r, 1 + Math.floor(r() * 8)), endorser: randomObject(r, Math.floor(r() * 4)), images }
}

/** The real oracle: Python's json.dumps with vmcaster's arguments (py3 spelling of py2 defaults). */
const PY_DUMPS =
  'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.buffer.read().decode("utf-8")), sort_keys=True, indent=4, separators=(", ", ": ")))'

export const hasPython3 = spawnSync('python3', ['--version']).status === 0

export function pythonDumps(value: unknown): string {
  const res = spawnSync('python3', ['-c', PY_DUMPS], { input: JSON.stringify(value), encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`python3 failed: ${res.stderr}`)
  return res.stdout
}

/** Many values in one python run (the oracle is slow to start): returns one dump per value. */
export function pythonDumpsMany(values: unknown[]): string[] {
  const code =
    'import json,sys\nfor v in json.loads(sys.stdin.buffer.read().decode("utf-8")):\n' +
    '    sys.stdout.write(json.dumps(v, sort_keys=True, indent=4, separators=(", ", ": ")) + "\\u0000")'
  const res = spawnSync('python3', ['-c', code], { input: JSON.stringify(values), encoding: 'utf8', maxBuffer: 1 << 28 })
  if (res.status !== 0) throw new Error(`python3 failed: ${res.stderr}`)
  return res.stdout.split('\u0000').slice(0, -1)
}

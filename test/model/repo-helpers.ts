import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const FIXTURES = path.join(ROOT, 'test/fixtures')
export const EXAMPLES = path.join(ROOT, 'examples/imagelists')

export const SHA = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix = 'vmgit-model-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
    writeFileSync(path.join(dir, rel), text)
  }
}

/** A small valid repository; tests override single files to plant one problem each. */
export const VALID: Record<string, string> = {
  'vmgit.yaml': 'version: 1\nappdb_keys: off\n',
  'endorsers/team.yaml': [
    'dn: /DC=org/DC=example/CN=Signer',
    'ca: /DC=org/DC=example/CN=Example CA',
    'email: team@example.org',
    'creator: Example team',
    '',
  ].join('\n'),
  'images/alma.yaml': [
    'identifier: 8d1d6d0c-2f36-4c1e-9b8a-0d6c2f0b7d55',
    'title: AlmaLinux 9',
    'description: AlmaLinux 9 cloud image',
    'comments: ""',
    'version: "9.4"',
    'uri: https://vm-images.example.org/alma-9.4.qcow2',
    'size: 0',
    `sha512: ${SHA}`,
    'hypervisor: KVM',
    'format: QCOW2',
    'arch: x86_64',
    'os: Linux',
    'osname: AlmaLinux',
    'osversion: "9.4"',
    '',
  ].join('\n'),
  'imagelists/prod.yaml': [
    'identifier: 2f0c6f4e-9a57-4c4b-8f7e-2b1d9f0e3a11',
    'title: Production',
    'description: Production images',
    'origin: https://vm-images.example.org/',
    'uri: https://vm-images.example.org/prod.list',
    'endorser: team',
    'images:',
    '  - alma',
    '',
  ].join('\n'),
}

/** VALID with the image file's `key: value` line replaced (or appended when absent). */
export function imageWith(lines: Record<string, string | undefined>): string {
  const base = VALID['images/alma.yaml']!.trimEnd().split('\n')
  const out = base.flatMap((l) => {
    const k = l.slice(0, l.indexOf(':'))
    if (!(k in lines)) return [l]
    const v = lines[k]
    return v === undefined ? [] : [`${k}: ${v}`]
  })
  for (const [k, v] of Object.entries(lines)) if (v !== undefined && !base.some((l) => l.startsWith(`${k}:`))) out.push(`${k}: ${v}`)
  return out.join('\n') + '\n'
}

import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { EXAMPLES, FIXTURES, imageWith, tempDir, VALID, writeFiles } from '../model/repo-helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => ({ dir, cleanup } = tempDir('vmgit-cli-')))
afterEach(() => cleanup())

const fixture = (rel: string) => path.join(FIXTURES, rel)
const readme = () => readFileSync(fixture('hepixvmitrust/readme_example.signed-content.json'), 'utf8').replace(/\r\n/g, '\n')

let server: http.Server
let base: string
beforeAll(async () => {
  // serves fixture files, and redirects /latest to the S/MIME list as a real list URL might
  server = http.createServer((req, res) => {
    if (req.url === '/latest') return void res.writeHead(302, { location: '/hepixvmitrust/readme_example.smime' }).end()
    try {
      res.writeHead(200).end(readFileSync(path.join(FIXTURES, path.normalize(req.url ?? '/').replace(/^(\.\.[/\\])+/, ''))))
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

describe('vmgit import + vmgit render (the CLI round trip)', () => {
  it('reproduces cloudkeeper imagelist01.unsigned on stdout, byte for byte', async () => {
    const i = await runCli(['import', fixture('cloudkeeper/imagelist01.unsigned'), '--repo', dir, '--name', 'vo'])
    expect(i.code).toBe(0)
    expect(i.stdout).toMatch(/^created imagelists\/vo\.yaml \(76fdee70-8119-5d33-aaaa-3c57e1c60df1, layout appdb\)$/m)
    const r = await runCli(['render', 'vo', '--repo', dir])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(readFileSync(fixture('cloudkeeper/imagelist01.unsigned'), 'utf8'))
  })

  it('refuses the README S/MIME list (its signer expired in 2011) unless told to skip verification', async () => {
    const refused = await runCli(['import', `${base}/latest`, '--repo', dir, '--ca-dir', FIXTURES + '/cloudkeeper/ca'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error \[UNTRUSTED_SIGNER\]/m)
    expect(existsSync(path.join(dir, 'imagelists'))).toBe(false)
  })

  it('imports a signed list whose signature verifies against --ca-dir', async () => {
    // issue 14: the synthetic list expired 2025-01-29; import judges it at --at, as verify does
    const i = await runCli(['import', fixture('synthetic/vmcaster-style.sha256.smime'), '--repo', dir, '--ca-dir', FIXTURES + '/cloudkeeper/ca', '--no-crl-check', '--at', '2025-01-15T00:00:00Z'])
    expect(i.stderr).toBe('')
    expect(i.code).toBe(0)
    const r = await runCli(['render', '--repo', dir])
    expect(r.stdout).toBe(readFileSync(fixture('synthetic/vmcaster-style.json'), 'utf8'))
  })

  it('imports the README S/MIME list from an http URL (through a redirect) with --insecure-skip-verify, says so loudly, and reproduces its signed content', async () => {
    const i = await runCli(['import', `${base}/latest`, '--repo', dir, '--insecure-skip-verify'])
    expect(i.code).toBe(0)
    expect(i.stderr).toContain('INSECURE: the S/MIME signature was NOT verified')
    const r = await runCli(['render', '--repo', dir]) // the only list
    expect(r.stdout).toBe(readme())
  })

  it('updates in place on a second import and says so in --json', async () => {
    await runCli(['import', fixture('hepixvmitrust/readme_example.smime'), '--repo', dir, '--insecure-skip-verify'])
    const again = await runCli(['import', fixture('hepixvmitrust/readme_example.signed-content.json'), '--repo', dir, '--json'])
    const out = JSON.parse(again.stdout) as { list: { action: string }; images: { action: string }[] }
    expect(out.list.action).toBe('unchanged')
    expect(out.images.map((x) => x.action)).toEqual(['unchanged'])
  })

  it('imports a list consumers would drop images from, and then refuses to render it, saying why', async () => {
    await runCli(['import', fixture('snf-vmcatcher/ImageListConfigTest.imagelist.json'), '--repo', dir])
    const v = await runCli(['validate', '--repo', dir])
    expect(v.code).toBe(1)
    expect(v.stdout).toMatch(/images\/image-scientific-linux-6.0-kvm\.yaml:\d+:9: error: sha512 must be 128 lowercase hex digits \(8 characters\)/)
    const r = await runCli(['render', '--repo', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[BAD_SHA512]')
  })

  it('fails with the parser\'s code for something that is not an image list', async () => {
    const r = await runCli(['import', fixture('cloudkeeper/structures/image_list01.json'), '--repo', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error \[NOT_AN_IMAGELIST\]/)
  })
})

describe('vmgit render', () => {
  it('computes version, created and expires from --now and the lifetime when the list leaves them out', async () => {
    writeFiles(dir, { ...VALID, 'vmgit.yaml': 'version: 1\nlifetime: 12h\nappdb_keys: off\n' })
    const r = await runCli(['render', 'prod', '--repo', dir, '--now', '2024-06-01T12:00:00.750Z'])
    expect(r.code).toBe(0)
    const l = (JSON.parse(r.stdout) as { 'hv:imagelist': Record<string, unknown> })['hv:imagelist']
    expect([l['dc:date:created'], l['dc:date:expires'], l['hv:version']]).toEqual(['2024-06-01T12:00:00Z', '2024-06-02T00:00:00Z', '20240601120000'])
    expect(r.stdout.endsWith('}')).toBe(true) // vmcaster: no final newline
  })

  it('finds a list by dc:identifier and overrides the layout with --layout', async () => {
    writeFiles(dir, VALID)
    const r = await runCli(['render', '2f0c6f4e-9a57-4c4b-8f7e-2b1d9f0e3a11', '--repo', dir, '--layout', 'appdb'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\{\n {3}"hv:imagelist": \{\n/)
    expect(r.stdout).toContain('"hv:size": "0"')
  })

  it('writes every list with --all --out-dir', async () => {
    const out = path.join(dir, 'out')
    const r = await runCli(['render', '--all', '--repo', EXAMPLES, '--out-dir', out, '--now', '2024-06-01T12:00:00Z'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(3)
    expect(readFileSync(path.join(out, 'cern-production.json'), 'utf8')).toBe(readFileSync(path.join(path.dirname(FIXTURES), 'model/golden/cern-production.json'), 'utf8'))
  })

  it('refuses a list whose files have errors: exit 1, the problems at path:line:col on stderr', async () => {
    writeFiles(dir, { ...VALID, 'images/alma.yaml': imageWith({ sha512: 'CHECKSUM' }) })
    const r = await runCli(['render', 'prod', '--repo', dir])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`${dir}/images/alma.yaml:8:9: error:`)
    expect(r.stderr).toContain('error [INVALID_REPOSITORY]')
  })

  it('asks which list when there are several (exit 2)', async () => {
    const r = await runCli(['render', '--repo', EXAMPLES])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('LIST_REQUIRED')
  })

  it('says which lists exist when the name is unknown (exit 2)', async () => {
    const r = await runCli(['render', 'nope', '--repo', EXAMPLES])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('cern-production')
  })
})

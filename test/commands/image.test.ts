/** vmgit image add / image update, run as the built CLI against real files, a real HTTP server and sha*sum as the oracle. */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { needs } from '../helpers/servers.js'

const sum = (tool: string, file: string) => execFileSync(tool, [file]).toString().split(' ')[0]!
const META = ['--os', 'Linux', '--osversion', '9', '--arch', 'x86_64', '--hypervisor', 'KVM', '--description', 'test', '--comments', '']
const yaml = (dir: string, name: string) => parse(readFileSync(path.join(dir, 'images', `${name}.yaml`), 'utf8')) as Record<string, unknown>

// real qcow2 files come from qemu-img (Debian qemu-utils, installed by .ci/run)
const qemu = needs('/usr/bin/qemu-img')

describe.skipIf(qemu.skip)(`vmgit image${qemu.reason ? ` (${qemu.reason})` : ''}`, () => {
  let dir = ''
  let img = ''
  let http: TestServer
  beforeAll(async () => (http = await startServer()))
  afterAll(async () => http.stop())
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-image-'))
    writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\n')
    mkdirSync(path.join(dir, 'files'))
    img = path.join(dir, 'files', 'alma-9.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '16M'])
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  describe('add --file', () => {
    it('writes images/NAME.yaml with sha512 and size from one pass, a UUID, the sniffed format and source', async () => {
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://vm.example.org/images/alma-9-1.qcow2', ...META, '--repo', dir])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const text = readFileSync(path.join(dir, 'images/alma9.yaml'), 'utf8')
      expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=.*image\.schema\.json$/)
      const y = yaml(dir, 'alma9')
      expect(y).toMatchObject({ title: 'alma9', version: '1', size: readFileSync(img).length, sha512: sum('sha512sum', img), format: 'QCOW2', source: 'files/alma-9.qcow2' })
      expect(y.identifier).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      const v = await runCli(['validate', '--repo', dir])
      expect(v.stdout + v.stderr).not.toMatch(/alma9\.yaml.*error/)
    })
    it('refuses to overwrite an existing image (IMAGE_EXISTS, exit 2)', async () => {
      await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://h/a.qcow2', '--repo', dir])
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://h/a.qcow2', '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/IMAGE_EXISTS.*image update alma9/)
    })
    it('needs a uri when vmgit.yaml has no naming rule (IMAGE_URI_REQUIRED)', async () => {
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('IMAGE_URI_REQUIRED')
    })
    it('names the image by the image_uri rule when it has no {base}', async () => {
      writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\nimage_uri: "https://vm.example.org/images/{name}-{version}.{ext}"\n')
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--repo', dir, '--json'])
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, uri: 'https://vm.example.org/images/alma9-1.qcow2' })
    })
  })

  describe('add --checksums (upstream checksum files)', () => {
    it.each([
      ['SHA256SUMS (GNU form)', () => execFileSync('sha256sum', ['alma-9.qcow2'], { cwd: path.dirname(img) }).toString()],
      ['SHA512SUMS (BSD form)', () => execFileSync('sha512sum', ['--tag', 'alma-9.qcow2'], { cwd: path.dirname(img) }).toString()],
      ['MD5SUMS (binary marker)', () => `${sum('md5sum', img)} *alma-9.qcow2\n`],
    ])('accepts a file that matches %s', async (_n, make) => {
      writeFileSync(path.join(dir, 'SUMS'), `# vendor sums\n${'0'.repeat(64)}  other.img\n${make()}`)
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://h/a.qcow2', '--checksums', path.join(dir, 'SUMS'), '--repo', dir, '--json'])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).checksum).toMatchObject({ name: 'alma-9.qcow2' })
    })
    it('refuses a mismatch with CHECKSUM_MISMATCH (exit 1) and writes nothing', async () => {
      writeFileSync(path.join(dir, 'SHA256SUMS'), `${'ab'.repeat(32)}  alma-9.qcow2\n`)
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://h/a.qcow2', '--checksums', path.join(dir, 'SHA256SUMS'), '--repo', dir])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/CHECKSUM_MISMATCH.*sha256/)
      expect(existsSync(path.join(dir, 'images/alma9.yaml'))).toBe(false)
    })
    it('says which names the file lists when the image is not among them (CHECKSUM_NOT_LISTED)', async () => {
      writeFileSync(path.join(dir, 'SHA256SUMS'), `${'ab'.repeat(32)}  debian.qcow2\n`)
      const r = await runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://h/a', '--checksums', path.join(dir, 'SHA256SUMS'), '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/CHECKSUM_NOT_LISTED.*debian\.qcow2.*--checksum-name/)
    })
  })

  describe('add --url', () => {
    it('streams the download through the hash (and the checksum file over http) without keeping it', async () => {
      http.set('/cloud/alma-9.qcow2', { file: img })
      http.set('/cloud/SHA512SUMS', { body: execFileSync('sha512sum', ['alma-9.qcow2'], { cwd: path.dirname(img) }) })
      const r = await runCli(['image', 'add', 'alma9', '--url', http.url('/cloud/alma-9.qcow2'), '--checksums', http.url('/cloud/SHA512SUMS'), '--repo', dir, '--json'])
      expect(r.code).toBe(0)
      const y = yaml(dir, 'alma9')
      expect(y).toMatchObject({ uri: http.url('/cloud/alma-9.qcow2'), sha512: sum('sha512sum', img), size: readFileSync(img).length })
      expect(y.source).toBeUndefined()
      expect(http.count('/cloud/alma-9.qcow2')).toBe(1)
    })
    it('--keep stores the download and makes it the source', async () => {
      http.set('/cloud/alma-9.qcow2', { file: img })
      const r = await runCli(['image', 'add', 'alma9', '--url', http.url('/cloud/alma-9.qcow2'), '--keep', path.join(dir, 'files/kept.qcow2'), '--uri', 'https://h/a.qcow2', '--repo', dir])
      expect(r.code).toBe(0)
      expect(readFileSync(path.join(dir, 'files/kept.qcow2')).equals(readFileSync(img))).toBe(true)
      expect(yaml(dir, 'alma9').source).toBe('files/kept.qcow2')
    })
  })

  describe('update', () => {
    const add = () => runCli(['image', 'add', 'alma9', '--file', img, '--uri', 'https://vm.example.org/images/alma9-1.qcow2', '--version', '0.0.9', ...META, '--repo', dir])
    it('with the same content changes nothing and exits 0 saying so', async () => {
      await add()
      const before = readFileSync(path.join(dir, 'images/alma9.yaml'))
      const r = await runCli(['image', 'update', 'alma9', '--file', img, '--repo', dir])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/unchanged/)
      expect(readFileSync(path.join(dir, 'images/alma9.yaml')).equals(before)).toBe(true)
    })
    it('with new content updates sha512 and size, bumps the version and keeps comments', async () => {
      await add()
      const f = path.join(dir, 'images/alma9.yaml')
      writeFileSync(f, readFileSync(f, 'utf8').replace('version:', '# bumped by CI\nversion:') + '# end\n')
      const next = path.join(dir, 'files', 'alma-9.2.qcow2')
      writeFileSync(next, randomBytes(5000))
      const r = await runCli(['image', 'update', 'alma9', '--file', next, '--repo', dir])
      expect(r.code).toBe(0)
      const text = readFileSync(f, 'utf8')
      expect(text).toContain('# bumped by CI\nversion: 0.0.10')
      expect(text).toContain('# end')
      expect(yaml(dir, 'alma9')).toMatchObject({ version: '0.0.10', size: 5000, sha512: sum('sha512sum', next), source: 'files/alma-9.2.qcow2', uri: 'https://vm.example.org/images/alma9-1.qcow2' })
      expect(r.stdout).toMatch(/note: uri unchanged/)
    })
    it('renames the uri by vmgit.yaml image_uri when vmgit uploads the image', async () => {
      await add()
      writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\nimage_uri: "{base}/{name}-{version}.{ext}"\ntargets:\n  - match: https://vm.example.org/\n    replace: file:///srv/www/\n')
      writeFileSync(img, randomBytes(100))
      const r = await runCli(['image', 'update', 'alma9', '--file', img, '--repo', dir, '--json'])
      expect(JSON.parse(r.stdout)).toMatchObject({ action: 'updated', version: '0.0.10', uri: 'https://vm.example.org/images/alma9-0.0.10.qcow2' })
    })
    it('keeps raw HEPiX key spellings (sl:checksum:sha512, hv:size)', async () => {
      mkdirSync(path.join(dir, 'images'))
      writeFileSync(path.join(dir, 'images/raw.yaml'), `dc:identifier: x\nhv:version: "3"\nhv:uri: https://h/x.img\nhv:size: 1\nsl:checksum:sha512: ${'0'.repeat(128)}\n`)
      const r = await runCli(['image', 'update', 'raw', '--file', img, '--repo', dir])
      expect(r.code).toBe(0)
      expect(yaml(dir, 'raw')).toMatchObject({ 'hv:version': '4', 'sl:checksum:sha512': sum('sha512sum', img) })
      expect(yaml(dir, 'raw').sha512).toBeUndefined()
    })
    it('refuses a --version that is not higher (VERSION_NOT_INCREASING)', async () => {
      await add()
      writeFileSync(img, randomBytes(10))
      const r = await runCli(['image', 'update', 'alma9', '--file', img, '--version', '0.0.8', '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('VERSION_NOT_INCREASING')
    })
    it('reports a missing image with IMAGE_NOT_FOUND', async () => {
      const r = await runCli(['image', 'update', 'nope', '--file', img, '--repo', dir])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/IMAGE_NOT_FOUND.*image add nope/)
    })
  })
})

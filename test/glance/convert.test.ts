import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inspectDisk, prepareImage } from '../../src/glance/convert.js'
import { listTar } from '../../src/glance/ova.js'
import { hashFile } from '../../src/util/hash.js'
import { diskFormat, makeDisk, makeOva } from '../helpers/glance.js'

const haveQemu = ((): boolean => {
  try {
    execFileSync('qemu-img', ['--version'])
    return true
  } catch {
    return false
  }
})()
const skip = !haveQemu && process.env.CI !== 'true'

describe.skipIf(skip)('glance image preparation (real qemu-img; apt-get install qemu-utils)', () => {
  let dir: string
  let work: string
  let vmdk: string
  let qcow2: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-convert-'))
    work = path.join(dir, 'work')
    execFileSync('mkdir', ['-p', work])
    vmdk = await makeDisk(dir, 'disk.vmdk', 'vmdk', 1)
    qcow2 = await makeDisk(dir, 'disk.qcow2', 'qcow2', 1)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const sha = async (f: string): Promise<string> => (await hashFile(f)).sha512
  const leftovers = (): string[] => readdirSync(work)

  describe('when the image is a VMDK and the target qcow2', () => {
    it('converts it with qemu-img (its hash is taken later, while uploading) and cleans up its temp files', async () => {
      const p = await prepareImage(vmdk, { targetFormat: 'qcow2', workDir: work, sourceSha512: await sha(vmdk) })
      expect(p).toMatchObject({ diskFormat: 'qcow2', sourceFormat: 'vmdk', converted: true, size: readFileSync(p.path).length })
      expect(await diskFormat(p.path)).toBe('qcow2')
      expect(p.sha512).toBeUndefined()
      expect(p.path.startsWith(work)).toBe(true)
      await p.cleanup()
      expect(leftovers()).toEqual([])
    })
  })

  describe('when the image already is in the target format', () => {
    it('uploads the cache file itself, unconverted, with its known hash', async () => {
      const known = await sha(qcow2)
      const p = await prepareImage(qcow2, { targetFormat: 'qcow2', workDir: work, sourceSha512: known })
      expect(p).toMatchObject({ path: qcow2, converted: false, diskFormat: 'qcow2', sha512: known })
      await p.cleanup()
      expect(existsSync(qcow2)).toBe(true)
    })
  })

  describe('when the target is raw', () => {
    it('converts qcow2 to raw with the same guest content', async () => {
      const p = await prepareImage(qcow2, { targetFormat: 'raw', workDir: work })
      const raw = await makeDisk(dir, 'expected.raw', 'raw', 1)
      expect(p.diskFormat).toBe('raw')
      expect(readFileSync(p.path).equals(readFileSync(raw))).toBe(true)
      await p.cleanup()
    })
  })

  describe('when the image is an OVA (a tar holding the .ovf and one VMDK)', () => {
    for (const fmt of ['ustar', 'gnu', 'pax'] as const) {
      it(`extracts the disk (${fmt} tar) and converts it`, async () => {
        const ova = await makeOva(dir, `appliance-${fmt}`, [vmdk], fmt)
        const p = await prepareImage(ova, { targetFormat: 'qcow2', workDir: work, sourceSha512: await sha(ova) })
        expect(p).toMatchObject({ sourceFormat: 'ova/vmdk', diskFormat: 'qcow2', converted: true })
        const direct = await prepareImage(vmdk, { targetFormat: 'raw', workDir: work })
        const viaOva = await prepareImage(ova, { targetFormat: 'raw', workDir: work })
        expect(readFileSync(viaOva.path).equals(readFileSync(direct.path))).toBe(true)
        for (const x of [p, direct, viaOva]) await x.cleanup()
        expect(leftovers()).toEqual([])
      })
    }

    it('reads members with names longer than 100 characters (GNU long names)', async () => {
      const long = path.join(dir, `${'x'.repeat(120)}.vmdk`)
      writeFileSync(long, readFileSync(vmdk))
      const ova = await makeOva(dir, 'longname', [long], 'gnu')
      const entries = await listTar(ova)
      expect(entries.map((e) => e.name)).toEqual(['longname.ovf', path.basename(long)])
      const p = await prepareImage(ova, { targetFormat: 'qcow2', workDir: work })
      expect(p.sourceFormat).toBe('ova/vmdk')
      await p.cleanup()
    })

    it('refuses an OVA with two disks (OVA_MULTIPLE_DISKS) and leaves no temp files', async () => {
      const second = await makeDisk(dir, 'disk2.vmdk', 'vmdk', 2)
      const ova = await makeOva(dir, 'twodisks', [vmdk, second])
      await expect(prepareImage(ova, { targetFormat: 'qcow2', workDir: work })).rejects.toMatchObject({ code: 'OVA_MULTIPLE_DISKS' })
      expect(leftovers()).toEqual([])
    })

    it('refuses a truncated OVA (OVA_INVALID)', async () => {
      const ova = await makeOva(dir, 'cut', [vmdk])
      const cut = path.join(dir, 'cut-short.ova')
      writeFileSync(cut, readFileSync(ova).subarray(0, 2048))
      await expect(prepareImage(cut, { targetFormat: 'qcow2', workDir: work })).rejects.toMatchObject({ code: 'OVA_INVALID' })
    })
  })

  describe('when the image is gzip-compressed (hv:format raw.gz)', () => {
    it('unpacks it before probing and converting', async () => {
      const gz = path.join(dir, 'disk.raw.gz')
      writeFileSync(gz, gzipSync(readFileSync(await makeDisk(dir, 'plain.raw', 'raw', 3))))
      const p = await prepareImage(gz, { targetFormat: 'qcow2', workDir: work, sourceSha512: await sha(gz) })
      expect(p).toMatchObject({ sourceFormat: 'gzip/raw', diskFormat: 'qcow2' })
      await p.cleanup()
    })
  })

  describe('when the cache file no longer matches its sha512', () => {
    it('refuses to convert it or to unpack it (IMAGE_CHECKSUM_MISMATCH), leaving no temp files', async () => {
      const wrong = 'ab'.repeat(64)
      await expect(prepareImage(vmdk, { targetFormat: 'qcow2', workDir: work, sourceSha512: wrong })).rejects.toMatchObject({ code: 'IMAGE_CHECKSUM_MISMATCH' })
      await expect(prepareImage(await makeOva(dir, 'tampered', [vmdk]), { targetFormat: 'qcow2', workDir: work, sourceSha512: wrong })).rejects.toMatchObject({ code: 'IMAGE_CHECKSUM_MISMATCH' })
      expect(leftovers()).toEqual([])
    })
  })

  describe('images that would make qemu-img read other host files', () => {
    it('refuses a qcow2 with a backing file (IMAGE_HAS_BACKING_FILE)', async () => {
      const overlay = path.join(dir, 'overlay.qcow2')
      execFileSync('qemu-img', ['create', '-f', 'qcow2', '-F', 'qcow2', '-b', qcow2, overlay])
      await expect(inspectDisk(overlay)).rejects.toMatchObject({ code: 'IMAGE_HAS_BACKING_FILE' })
      await expect(prepareImage(overlay, { targetFormat: 'raw', workDir: work })).rejects.toMatchObject({ code: 'IMAGE_HAS_BACKING_FILE' })
    })

    it('refuses a VMDK descriptor whose extent is another file (IMAGE_HAS_EXTERNAL_EXTENT)', async () => {
      const flat = path.join(dir, 'secret-flat.raw')
      writeFileSync(flat, Buffer.alloc(1024 * 1024, 0x41))
      const desc = path.join(dir, 'descriptor.vmdk')
      writeFileSync(
        desc,
        `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "${flat}" 0\n\nddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "2"\nddb.geometry.heads = "16"\nddb.geometry.sectors = "63"\nddb.adapterType = "ide"\n`,
      )
      await expect(inspectDisk(desc)).rejects.toMatchObject({ code: 'IMAGE_HAS_EXTERNAL_EXTENT' })
    })

    it('probes a file qemu-img does not recognise as raw, as qemu-img does', async () => {
      const txt = path.join(dir, 'notes.txt')
      writeFileSync(txt, 'just text\n')
      expect((await inspectDisk(txt)).format).toBe('raw')
    })
  })
})

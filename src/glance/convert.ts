import { execFile } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { hashFile } from '../util/hash.js'
import { VmgitError, usageError } from '../util/errors.js'
import { extractOvaDisk, isTarHeader } from './ova.js'

/**
 * Turn a verified cache file into what Glance should store: unpack gzip, take the disk out of an
 * OVA, then `qemu-img convert` when the disk format differs from the target. qemu-img runs by
 * execFile (never a shell) with an explicit source format, and images that would make qemu-img
 * read other host files (backing files, external data files, VMDK extents) are refused.
 */
export const DISK_FORMATS = ['qcow2', 'raw', 'vmdk', 'vdi', 'vhd', 'vhdx'] as const
export type DiskFormat = (typeof DISK_FORMATS)[number]

/** qemu-img's driver names for Glance disk formats (Glance "vhd" is qemu "vpc"). */
const QEMU: Record<DiskFormat, string> = { qcow2: 'qcow2', raw: 'raw', vmdk: 'vmdk', vdi: 'vdi', vhd: 'vpc', vhdx: 'vhdx' }
const fromQemu = (f: string): DiskFormat | undefined => (DISK_FORMATS as readonly string[]).includes(f) ? (f as DiskFormat) : f === 'vpc' ? 'vhd' : undefined

export const QEMU_IMG = process.env.VMGIT_QEMU_IMG || 'qemu-img'

export interface PreparedImage {
  /** The file to upload (the cache file itself when nothing had to change). */
  path: string
  diskFormat: DiskFormat
  /** What the cache file was: e.g. "vmdk", "ova/vmdk", "gzip/raw". */
  sourceFormat: string
  converted: boolean
  size: number
  /** sha512 of `path` when known without another pass (the unchanged, verified cache file);
   *  a converted file is hashed while it is uploaded instead. */
  sha512?: string
  /** Remove the temporary files (safe to call twice). */
  cleanup(): Promise<void>
}

export interface PrepareOptions {
  targetFormat: DiskFormat
  /** Temporary files go below this directory (default: the OS temp dir). */
  workDir?: string
  /** Known sha512 of the source file (the cache verified it): saves a hash pass when unchanged. */
  sourceSha512?: string
}

function run(args: string[], timeoutMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(QEMU_IMG, args, { maxBuffer: 16 << 20, ...(timeoutMs ? { timeout: timeoutMs } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(usageError('QEMU_IMG_MISSING', `${QEMU_IMG} is not installed; install qemu-utils (apt-get install qemu-utils)`))
      }
      reject(new VmgitError('QEMU_IMG_FAILED', `qemu-img ${args[0]} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`, { details: { args } }))
    })
  })
}

interface QemuInfo {
  format: string
  'virtual-size'?: number
  'backing-filename'?: string
  'full-backing-filename'?: string
  'format-specific'?: { type?: string; data?: { extents?: { filename?: string }[]; 'data-file'?: string } }
}

/** `qemu-img info` probing the format, with the checks that make the file safe to convert. */
export async function inspectDisk(file: string): Promise<{ format: DiskFormat; virtualSize?: number }> {
  const info = JSON.parse(await run(['info', '--output=json', file], 120_000)) as QemuInfo
  // a backing file or external data file makes qemu-img read a host path the image names
  if (info['backing-filename'] || info['full-backing-filename']) {
    throw new VmgitError('IMAGE_HAS_BACKING_FILE', `${path.basename(file)} is a ${info.format} image with a backing file (${info['backing-filename']}); refusing: it could read host files`)
  }
  if (info['format-specific']?.data?.['data-file']) {
    throw new VmgitError('IMAGE_HAS_DATA_FILE', `${path.basename(file)} is a qcow2 image with an external data file; refusing: it could read host files`)
  }
  // a VMDK descriptor may list extents in other files: only self-contained VMDKs are accepted
  const extents = info['format-specific']?.data?.extents ?? []
  const self = path.resolve(file)
  for (const e of extents) {
    if (e.filename !== undefined && path.resolve(e.filename) !== self) {
      throw new VmgitError('IMAGE_HAS_EXTERNAL_EXTENT', `${path.basename(file)} is a VMDK whose extent is another file (${e.filename}); only monolithic/stream-optimized VMDKs are accepted`)
    }
  }
  const format = fromQemu(info.format)
  if (!format) throw new VmgitError('IMAGE_FORMAT_UNSUPPORTED', `${path.basename(file)} is in format ${info.format}, which Glance cannot take; supported: ${DISK_FORMATS.join(', ')}`)
  return { format, ...(info['virtual-size'] !== undefined ? { virtualSize: info['virtual-size'] } : {}) }
}

/**
 * Run the source check beside the work derived from it (two cores: the hash pass costs no wall
 * time), wait for both, and fail if either failed; nothing leaves before the check passed.
 */
async function alongside(check: Promise<void>, work: Promise<unknown>): Promise<void> {
  const [c, w] = await Promise.allSettled([check, work])
  if (c.status === 'rejected') throw c.reason
  if (w.status === 'rejected') throw w.reason
}

async function head(file: string): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const b = Buffer.alloc(512)
    const { bytesRead } = await fh.read(b, 0, 512, 0)
    return b.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

export async function prepareImage(file: string, opts: PrepareOptions): Promise<PreparedImage> {
  const work = await mkdtemp(path.join(opts.workDir ?? os.tmpdir(), 'vmgit-glance-'))
  const cleanup = (): Promise<void> => rm(work, { recursive: true, force: true })
  try {
    let current = file
    const layers: string[] = []
    // only verified bytes reach Glance: the source is re-hashed before anything is derived from it
    // (an unchanged file is checked by Glance's own sha512 of the upload instead)
    let verified = false
    const verifySource = async (): Promise<void> => {
      if (verified || !opts.sourceSha512) return
      const d = await hashFile(file)
      if (d.sha512 !== opts.sourceSha512.toLowerCase()) {
        throw new VmgitError('IMAGE_CHECKSUM_MISMATCH', `${file} does not match its sl:checksum:sha512 any more; run \`vmgit sync --check\` to re-verify the cache`)
      }
      verified = true
    }
    let h = await head(current)
    if (h[0] === 0x1f && h[1] === 0x8b) {
      // gzip (hv:format "raw.gz", "qcow2.gz"): unpacked to a temp file, never in memory
      const out = path.join(work, 'unpacked')
      await alongside(verifySource(), pipeline(createReadStream(current, { highWaterMark: 1 << 20 }), createGunzip(), createWriteStream(out, { flags: 'wx', mode: 0o600 })))
      current = out
      layers.push('gzip')
      h = await head(current)
    } else if (h.subarray(0, 3).toString('latin1') === 'BZh' || h.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))) {
      throw new VmgitError('IMAGE_COMPRESSION_UNSUPPORTED', `${path.basename(file)} is bzip2/xz compressed; vmgit unpacks gzip only: ask the endorser for a gzip or uncompressed image`)
    }
    if (isTarHeader(h)) {
      // OVA: a tar holding the .ovf descriptor and the VMDK disk
      const disk = path.join(work, 'disk.vmdk')
      await alongside(verifySource(), extractOvaDisk(current, disk))
      current = disk
      layers.push('ova')
    }
    const { format } = await inspectDisk(current)
    layers.push(format)
    let converted = false
    if (format !== opts.targetFormat) {
      const out = path.join(work, `image.${opts.targetFormat}`)
      await alongside(verifySource(), run(['convert', '-f', QEMU[format], '-O', QEMU[opts.targetFormat], current, out]))
      current = out
      converted = true
    }
    const sha512 = current === file ? opts.sourceSha512?.toLowerCase() : undefined
    return { path: current, diskFormat: opts.targetFormat, sourceFormat: layers.join('/'), converted, size: (await stat(current)).size, ...(sha512 ? { sha512 } : {}), cleanup }
  } catch (e) {
    await cleanup()
    throw e
  }
}

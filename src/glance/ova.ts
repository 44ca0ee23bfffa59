import { createReadStream, createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { VmgitError } from '../util/errors.js'

/**
 * A small ustar/GNU/pax tar reader, enough for OVA files (a tar holding an .ovf descriptor, an
 * optional manifest and the VMDK disks). Member names are only compared, never used as paths:
 * the disk is copied to a file name the caller chooses.
 */
export interface TarEntry {
  name: string
  /** Byte offset of the member's data in the archive. */
  offset: number
  size: number
  /** '0' regular file, '5' directory, ... ('\0' is normalised to '0'). */
  type: string
}

const BLOCK = 512

/** "ustar" magic at offset 257 (POSIX "ustar\0", GNU "ustar "). */
export const isTarHeader = (block: Buffer): boolean => block.length >= 263 && block.subarray(257, 262).toString('latin1') === 'ustar'

function cstr(b: Buffer): string {
  const end = b.indexOf(0)
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8')
}

/** Numeric field: octal text, or GNU base-256 (high bit set) for members of 8 GiB and more. */
function num(b: Buffer): number {
  if (b[0]! & 0x80) {
    let v = b[0]! & 0x7f
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!
    return v
  }
  const t = cstr(b).trim()
  return t === '' ? 0 : parseInt(t, 8)
}

function checksumOk(h: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!
  return sum === num(h.subarray(148, 156))
}

const bad = (file: string, why: string): VmgitError =>
  new VmgitError('OVA_INVALID', `${file} is not a readable OVA/tar archive: ${why}; check the endorsed file or its hv:format`)

/** List the regular members of a tar file, reading only the headers. */
export async function listTar(file: string): Promise<TarEntry[]> {
  const fh = await open(file, 'r')
  try {
    const { size: total } = await fh.stat()
    const out: TarEntry[] = []
    const h = Buffer.alloc(BLOCK)
    let pos = 0
    let longName: string | undefined
    for (;;) {
      if (pos + BLOCK > total) throw bad(file, 'it ends inside a header (truncated)')
      await fh.read(h, 0, BLOCK, pos)
      if (h.every((x) => x === 0)) break // end-of-archive marker
      if (!isTarHeader(h)) throw bad(file, `no ustar header at byte ${pos}`)
      if (!checksumOk(h)) throw bad(file, `header checksum mismatch at byte ${pos}`)
      const size = num(h.subarray(124, 136))
      const type = String.fromCharCode(h[156] || 48)
      const dataAt = pos + BLOCK
      if (dataAt + size > total) throw bad(file, 'a member extends past the end (truncated)')
      if (type === 'L' || type === 'x') {
        // GNU long name / pax extended header: the next member's real name
        const data = Buffer.alloc(Math.min(size, 1 << 16))
        await fh.read(data, 0, data.length, dataAt)
        longName = type === 'L' ? cstr(data) : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))?.[1] ?? longName)
      } else if (type !== 'g') {
        const prefix = cstr(h.subarray(345, 500))
        const name = longName ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)))
        longName = undefined
        out.push({ name, offset: dataAt, size, type })
      }
      pos = dataAt + Math.ceil(size / BLOCK) * BLOCK
    }
    return out
  } finally {
    await fh.close()
  }
}

/** Copy the OVA's one VMDK disk to `dest`; an OVA with no or several disks is refused. */
export async function extractOvaDisk(ova: string, dest: string): Promise<TarEntry> {
  const entries = await listTar(ova)
  const disks = entries.filter((e) => e.type === '0' && /\.vmdk$/i.test(e.name))
  if (disks.length === 0) {
    throw new VmgitError('OVA_NO_DISK', `${ova} holds no .vmdk disk (members: ${entries.map((e) => e.name).join(', ') || 'none'}); it cannot be imported`)
  }
  if (disks.length > 1) {
    throw new VmgitError('OVA_MULTIPLE_DISKS', `${ova} holds ${disks.length} disks (${disks.map((d) => d.name).join(', ')}); Glance images are single disks: publish each disk as its own image`)
  }
  const disk = disks[0]!
  if (disk.size === 0) throw new VmgitError('OVA_NO_DISK', `${ova}: the disk ${disk.name} is empty`)
  await pipeline(createReadStream(ova, { start: disk.offset, end: disk.offset + disk.size - 1, highWaterMark: 1 << 20 }), createWriteStream(dest, { flags: 'wx', mode: 0o600 }))
  return disk
}

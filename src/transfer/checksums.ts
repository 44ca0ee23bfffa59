/**
 * Upstream checksum files (MD5SUMS, SHA1SUMS, SHA256SUMS, SHA512SUMS, CHECKSUM): how an endorser
 * vets a vendor's base image before vouching for it. Both forms are read:
 *   GNU  `<hex>  name` / `<hex> *name` (coreutils; a leading \ escapes the name)
 *   BSD  `SHA256 (name) = <hex>` (BSD, Fedora/CentOS CHECKSUM files)
 * PGP clear-signed files are read too (their armour lines are ignored; the signature is not checked).
 * The algorithm is the BSD tag, else it follows from the hex length.
 */
import { VmgitError } from '../util/errors.js'

export type ChecksumAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512'
export interface ChecksumEntry {
  algo: ChecksumAlgo
  hex: string
  name: string
  line: number
}

const BY_LENGTH: Record<number, ChecksumAlgo> = { 32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512' }
const BSD_TAG: Record<string, ChecksumAlgo> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' }

export function parseChecksums(text: string): ChecksumEntry[] {
  const out: ChecksumEntry[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const l = raw.trim()
    if (!l || l.startsWith('#') || l.startsWith('-----') || /^Hash:/.test(l)) return
    const bsd = /^(MD5|SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/.exec(l)
    if (bsd) {
      const algo = BSD_TAG[bsd[1]!]!
      if (bsd[3]!.length === { md5: 32, sha1: 40, sha256: 64, sha512: 128 }[algo]) out.push({ algo, hex: bsd[3]!.toLowerCase(), name: bsd[2]!, line: i + 1 })
      return
    }
    const gnu = /^\\?([0-9a-fA-F]+) [ *](.+)$/.exec(l)
    const algo = gnu ? BY_LENGTH[gnu[1]!.length] : undefined
    if (gnu && algo) {
      const escaped = l.startsWith('\\')
      const name = escaped ? gnu[2]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\') : gnu[2]!
      out.push({ algo, hex: gnu[1]!.toLowerCase(), name, line: i + 1 })
    }
  })
  return out
}

/** The entry for `name` (exact, else by base name); CHECKSUM_NOT_LISTED when there is none. */
export function findChecksum(entries: ChecksumEntry[], name: string, file = 'the checksum file'): ChecksumEntry {
  const base = (n: string) => n.replace(/^.*\//, '').replace(/^\.\//, '')
  const hit = entries.find((e) => e.name === name) ?? entries.find((e) => base(e.name) === base(name))
  if (hit) return hit
  const names = entries.map((e) => e.name)
  throw new VmgitError(
    'CHECKSUM_NOT_LISTED',
    `${file} has no checksum for "${name}"${names.length ? ` (it lists ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})` : ' (no checksum lines found)'}; pass --checksum-name with the name the vendor uses`,
  )
}

/** CHECKSUM_MISMATCH (exit 1): the file is not the one the vendor published. */
export function checkChecksum(entry: ChecksumEntry, actualHex: string, file: string): void {
  if (entry.hex === actualHex) return
  throw new VmgitError(
    'CHECKSUM_MISMATCH',
    `${entry.algo} of the image is ${actualHex} but ${file}:${entry.line} says ${entry.hex} for ${entry.name}: the download is corrupt or not the vendor's file. Nothing was written; fetch it again or check the vendor's announcement.`,
    { details: { algo: entry.algo, expected: entry.hex, actual: actualHex } },
  )
}

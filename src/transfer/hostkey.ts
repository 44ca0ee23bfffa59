/**
 * SSH host key checking: the server's key must be listed for this host in a known_hosts file or
 * match a pinned `SHA256:` fingerprint. An unknown or different key is refused, never accepted
 * blindly (a publisher that uploads to an impostor hands it the image list to replay).
 */
import { createHash, createHmac } from 'node:crypto'

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority'
  hosts: string
  type: string
  key: Buffer
  file: string
  line: number
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; type: string }
  | { ok: false; code: 'HOSTKEY_UNKNOWN' | 'HOSTKEY_MISMATCH'; fingerprint: string; type: string; message: string }

/** OpenSSH's fingerprint form: `SHA256:` + unpadded base64 of sha256(key blob). */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/** The algorithm name at the start of an SSH public key blob (an SSH "string"). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const n = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + n).toString('latin1')
}

export function normaliseFingerprint(fp: string): string {
  const m = /^SHA256:([A-Za-z0-9+/]+)=*$/.exec(fp.trim())
  if (!m) throw new Error(`"${fp}" is not a SHA256 fingerprint; expected SHA256:<base64> as printed by ssh-keygen -lf`)
  return `SHA256:${m[1]}`
}

export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const out: KnownHostEntry[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const f = line.split(/\s+/)
    let marker: KnownHostEntry['marker']
    if (f[0] === '@revoked' || f[0] === '@cert-authority') marker = f.shift() as KnownHostEntry['marker']
    const [hosts, type, b64] = f
    if (!hosts || !type || !b64) return
    out.push({ ...(marker ? { marker } : {}), hosts, type, key: Buffer.from(b64, 'base64'), file, line: i + 1 })
  })
  return out
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export const knownHostsName = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`)

function globToRegExp(p: string): RegExp {
  return new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i')
}

/** Does a known_hosts host field (comma list, wildcards, !negation, or |1|salt|hash) name this host? */
export function hostMatches(field: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port)
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|')
    if (!salt || !hash) return false
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
  }
  let matched = false
  for (const pat of field.split(',')) {
    const neg = pat.startsWith('!')
    if (globToRegExp(neg ? pat.slice(1) : pat).test(name)) {
      if (neg) return false
      matched = true
    }
  }
  return matched
}

/** Known key types for this host, in file order: used to ask the server for a key we can check. */
export function knownTypesFor(entries: KnownHostEntry[], host: string, port: number): string[] {
  const types = entries.filter((e) => !e.marker && hostMatches(e.hosts, host, port)).map((e) => e.type)
  return [...new Set(types)]
}

export function checkHostKey(blob: Buffer, host: string, port: number, policy: { entries: KnownHostEntry[]; fingerprints: string[]; sources: string[] }): HostKeyVerdict {
  const fingerprint = fingerprintOf(blob)
  const type = keyTypeOf(blob)
  const name = knownHostsName(host, port)
  const add =
    `Check "${type} ${fingerprint}" with the server's administrator, then either pin it ` +
    `(target option host_fingerprint: "${fingerprint}", or VMGIT_SSH_HOST_FINGERPRINT) or add it to known_hosts: ` +
    `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${host} >> ~/.ssh/known_hosts`
  if (policy.fingerprints.length) {
    if (policy.fingerprints.includes(fingerprint)) return { ok: true, fingerprint, type }
    return { ok: false, code: 'HOSTKEY_MISMATCH', fingerprint, type, message: `host key of ${name} is ${type} ${fingerprint}, not the pinned ${policy.fingerprints.join(' or ')}. This may be a man-in-the-middle attack or a reinstalled server; update the pin only after checking with the server's administrator.` }
  }
  const mine = policy.entries.filter((e) => hostMatches(e.hosts, host, port))
  const revoked = mine.find((e) => e.marker === '@revoked' && e.key.equals(blob))
  if (revoked) return { ok: false, code: 'HOSTKEY_MISMATCH', fingerprint, type, message: `host key of ${name} (${fingerprint}) is marked @revoked in ${revoked.file}:${revoked.line}; refusing to connect.` }
  const plain = mine.filter((e) => !e.marker)
  if (plain.some((e) => e.key.equals(blob))) return { ok: true, fingerprint, type }
  const sameType = plain.find((e) => e.type === type || (e.type === 'ssh-rsa' && type.startsWith('rsa-')))
  if (sameType) {
    return {
      ok: false, code: 'HOSTKEY_MISMATCH', fingerprint, type,
      message: `host key of ${name} changed: the server offers ${type} ${fingerprint} but ${sameType.file}:${sameType.line} has ${fingerprintOf(sameType.key)}. This may be a man-in-the-middle attack or a reinstalled server. If the change is expected, remove the old key (ssh-keygen -R '${name}' -f ${sameType.file}) and add the new one. ${add}`,
    }
  }
  const where = policy.sources.length ? policy.sources.join(', ') : 'no known_hosts file'
  return { ok: false, code: 'HOSTKEY_UNKNOWN', fingerprint, type, message: `host key of ${name} is not known (looked in ${where}). ${add}` }
}

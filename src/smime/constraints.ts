/**
 * nameConstraints (RFC 5280 §4.2.1.10, attacks S21), evaluated as OpenSSL's x509_vfy.c
 * check_name_constraints and v3_ncons.c do: a CA's constraints apply to every certificate below
 * it (self-issued intermediates excepted); subject DN (directoryName), emailAddress attributes
 * and SAN rfc822Name (email), SAN dNSName (and, for the signer without a SAN dNSName, a
 * hostname-like CN), SAN URI host, SAN iPAddress. Directory names compare by OpenSSL's canonical
 * encoding, as a prefix. Forms vmgit cannot evaluate fail closed (rules.ts NAME_CONSTRAINT_TYPE).
 */
import { VmgitError } from '../util/errors.js'
import type { CertInfo } from './cert.js'
import { children, content, DerError, oidToString, readTlv, type Tlv } from './der.js'
import { canonicalName } from './dn.js'

type Kind = 'dn' | 'email' | 'dns' | 'uri' | 'ip'
interface Subtree { kind: Kind; value: Buffer }
interface Constraints { permitted: Subtree[]; excluded: Subtree[] }

const GN_KIND: Record<number, Kind> = { 0x81: 'email', 0x82: 'dns', 0xa4: 'dn', 0x86: 'uri', 0x87: 'ip' }
const GN_UNSUPPORTED: Record<number, string> = { 0xa0: 'otherName', 0xa3: 'x400Address', 0xa5: 'ediPartyName', 0x88: 'registeredID' }
const EMAIL_OID = '1.2.840.113549.1.9.1'
const CN_OID = '2.5.4.3'

const violation = (leaf: CertInfo, ca: CertInfo, sub: CertInfo, why: string): VmgitError =>
  new VmgitError('NAME_CONSTRAINTS', `signer ${leaf.subject} is not trusted: ${sub.subject} violates the name constraints of CA ${ca.subject} (${why}); ` +
    'the CA may not issue for that name — the list must be signed with a certificate inside the CA\'s namespace',
  { details: { signer: leaf.subject, ca: ca.subject, certificate: sub.subject } })

function gnValue(buf: Uint8Array, t: Tlv): Buffer {
  // directoryName is EXPLICIT: the Name inside; the others are IMPLICIT primitives
  return t.tag === 0xa4 ? Buffer.from(buf.subarray(readTlv(buf, t.body).start, readTlv(buf, t.body).end)) : Buffer.from(content(buf, t))
}

function parseConstraints(ca: CertInfo, leaf: CertInfo, ext: Uint8Array): Constraints {
  const out: Constraints = { permitted: [], excluded: [] }
  for (const part of children(ext, readTlv(ext, 0))) {
    const list = part.tag === 0xa0 ? out.permitted : part.tag === 0xa1 ? out.excluded : undefined
    if (!list) continue
    for (const st of children(ext, part)) {
      const [base, ...rest] = children(ext, st)
      if (!base) continue
      // OpenSSL: minimum/maximum are not supported (X509_V_ERR_SUBTREE_MINMAX)
      if (rest.length) throw violation(leaf, ca, ca, 'a subtree with minimum/maximum, which RFC 5280 forbids')
      const kind = GN_KIND[base.tag]
      if (!kind) throw violation(leaf, ca, ca, `a ${GN_UNSUPPORTED[base.tag] ?? `tag ${base.tag}`} constraint, which vmgit cannot evaluate`)
      list.push({ kind, value: gnValue(ext, base) })
    }
  }
  return out
}

/** The names of `c` that constraints apply to. */
function namesOf(c: CertInfo, isLeaf: boolean): { kind: Kind; value: Buffer }[] {
  const out: { kind: Kind; value: Buffer }[] = []
  const subj = c.subjectDer
  const rdns = children(subj, readTlv(subj, 0))
  if (rdns.length) out.push({ kind: 'dn', value: Buffer.from(subj) })
  const cns: Buffer[] = []
  for (const rdn of rdns) {
    for (const ava of children(subj, rdn)) {
      const [type, value] = children(subj, ava)
      if (!type || !value) continue
      const oid = oidToString(content(subj, type))
      if (oid === EMAIL_OID) out.push({ kind: 'email', value: Buffer.from(content(subj, value)) })
      if (oid === CN_OID) cns.push(Buffer.from(content(subj, value)))
    }
  }
  let sanDns = false
  if (c.subjectAltName) {
    const san = c.subjectAltName
    for (const gn of children(san, readTlv(san, 0))) {
      const kind = GN_KIND[gn.tag]
      if (kind) out.push({ kind, value: gnValue(san, gn) })
      if (kind === 'dns') sanDns = true
    }
  }
  // OpenSSL NAME_CONSTRAINTS_check_CN: a signer without SAN dNSName is checked by its hostname-like CNs
  if (isLeaf && !sanDns) {
    for (const cn of cns) {
      const s = cn.toString('latin1')
      if (/^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_-]+)+\.?$/.test(s)) out.push({ kind: 'dns', value: cn })
    }
  }
  return out
}

const lower = (b: Buffer): string => b.toString('latin1').toLowerCase()

function dnsMatch(name: string, base: string): boolean {
  if (base === '') return true
  if (base.startsWith('.')) return name.endsWith(base)
  return name === base || name.endsWith('.' + base)
}

function emailMatch(raw: Buffer, baseRaw: Buffer): boolean {
  const email = raw.toString('latin1')
  const base = baseRaw.toString('latin1')
  const at = email.lastIndexOf('@')
  if (at < 0) return false // not an address: never matches a permitted subtree, so it is refused there
  const local = email.slice(0, at)
  const host = email.slice(at + 1).toLowerCase()
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@')
    return local === base.slice(0, bat) && host === base.slice(bat + 1).toLowerCase()
  }
  const b = base.toLowerCase()
  if (b.startsWith('.')) return host.endsWith(b)
  return host === b
}

function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/.exec(uri)
  return m?.[1]?.toLowerCase()
}

function matches(kind: Kind, name: Buffer, base: Buffer): boolean {
  switch (kind) {
    case 'dn': {
      const b = canonicalName(base)
      const n = canonicalName(name)
      return b.length <= n.length && n.subarray(0, b.length).equals(b)
    }
    case 'email': return emailMatch(name, base)
    case 'dns': return dnsMatch(lower(name), lower(base))
    case 'uri': {
      const host = uriHost(name.toString('latin1'))
      if (!host) return false
      const b = lower(base)
      return b.startsWith('.') ? host.endsWith(b) : host === b
    }
    case 'ip': {
      if (base.length !== 2 * name.length) return false
      const n = name.length
      for (let i = 0; i < n; i++) if (((name[i]! ^ base[i]!) & base[n + i]!) !== 0) return false
      return true
    }
  }
}

function wellFormed(kind: Kind, v: Buffer): boolean {
  if (kind === 'email') return v.includes(0x40)
  if (kind === 'uri') return !!uriHost(v.toString('latin1'))
  if (kind === 'ip') return v.length === 4 || v.length === 16
  return true
}

/** S21: every certificate below a CA with nameConstraints must satisfy them. `certs` is signer first. */
export function checkNameConstraints(certs: CertInfo[]): void {
  try {
    check(certs)
  } catch (e) {
    // a malformed nameConstraints or subjectAltName fails closed, with the constraint's code
    if (e instanceof DerError) {
      const leaf = certs[0]!
      throw new VmgitError('NAME_CONSTRAINTS', `signer ${leaf.subject} is not trusted: a nameConstraints or subjectAltName extension in its chain is malformed (${e.message}); ` +
        'the CA must re-issue the certificate', { details: { signer: leaf.subject } })
    }
    throw e
  }
}

function check(certs: CertInfo[]): void {
  const leaf = certs[0]!
  for (let j = certs.length - 1; j > 0; j--) {
    const ca = certs[j]!
    if (!ca.nameConstraints) continue
    const nc = parseConstraints(ca, leaf, ca.nameConstraints)
    for (let i = j - 1; i >= 0; i--) {
      const sub = certs[i]!
      if (i > 0 && sub.selfIssued) continue // RFC 5280 §6.1.3 (b): self-issued intermediates are exempt
      for (const n of namesOf(sub, i === 0)) {
        const permitted = nc.permitted.filter((p) => p.kind === n.kind)
        const constrained = permitted.length > 0 || nc.excluded.some((e) => e.kind === n.kind)
        // OpenSSL: a name it cannot parse under a constraint of its kind is an error, permitted or excluded
        if (constrained && !wellFormed(n.kind, n.value)) throw violation(leaf, ca, sub, `malformed ${n.kind} name "${n.value.toString('latin1')}"`)
        if (permitted.length && !permitted.some((p) => matches(n.kind, n.value, p.value))) {
          throw violation(leaf, ca, sub, `${n.kind} name not in the permitted subtrees`)
        }
        if (nc.excluded.some((e) => e.kind === n.kind && matches(n.kind, n.value, e.value))) {
          throw violation(leaf, ca, sub, `${n.kind} name in an excluded subtree`)
        }
      }
    }
  }
}

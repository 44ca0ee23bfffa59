/**
 * Signature algorithms (attacks S21, S22): which ones vmgit verifies, how (hash, RSA-PSS
 * parameters), and which are too weak. Every algorithm OpenSSL 3 verifies in an image list's
 * signature is accepted here unless a rule in rules.ts makes vmgit stricter; an algorithm vmgit
 * does not know is UNSUPPORTED_ALGORITHM, never "forged" (S22).
 */
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { VmgitError } from '../util/errors.js'
import { children, content, DerError, oidToString, readTlv, type Tlv } from './der.js'

/** Digest algorithm OID → node hash name. */
export const DIGEST_OIDS: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5', '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.7': 'sha3-224', '2.16.840.1.101.3.4.2.8': 'sha3-256', '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
}

/** Signature algorithm OID → hash (null: the key type implies it, e.g. Ed25519). */
const SIG_HASH: Record<string, string | null> = {
  '1.2.840.113549.1.1.2': 'md2', '1.2.840.113549.1.1.3': 'md4',
  '1.2.840.113549.1.1.4': 'md5', '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '2.16.840.1.101.3.4.3.13': 'sha3-224', '2.16.840.1.101.3.4.3.14': 'sha3-256', '2.16.840.1.101.3.4.3.15': 'sha3-384', '2.16.840.1.101.3.4.3.16': 'sha3-512',
  '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.1': 'sha224', '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
  '2.16.840.1.101.3.4.3.9': 'sha3-224', '2.16.840.1.101.3.4.3.10': 'sha3-256', '2.16.840.1.101.3.4.3.11': 'sha3-384', '2.16.840.1.101.3.4.3.12': 'sha3-512',
  '1.3.101.112': null, '1.3.101.113': null,
}
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1'
const EC_PUBLIC_KEY = '1.2.840.10045.2.1'
export const RSA_PSS = '1.2.840.113549.1.1.10'
const MGF1 = '1.2.840.113549.1.1.8'

/** Hashes below OpenSSL 3's default security level (80 bits: MD5 39, SHA-1 63 for signatures). */
const WEAK_HASHES = new Set(['md2', 'md4', 'md5'])
const WEAK_CERT_HASHES = new Set(['md2', 'md4', 'md5', 'sha1'])

export interface SigAlg {
  /** signature algorithm OID */
  oid: string
  /** DER of the parameters (absent or NULL for most) */
  params?: Uint8Array
}

export interface SigScheme {
  /** node hash name (null: implied by the key, Ed25519/Ed448) */
  hash: string | null
  pss?: { saltLength: number }
  /** a name for messages: sha256WithRSA, rsassaPss(sha256), ecdsa-with-sha384 … */
  name: string
}

export const unsupported = (what: string): VmgitError =>
  new VmgitError('UNSUPPORTED_ALGORITHM', `${what} is not supported by vmgit; re-sign with RSA (PKCS#1 v1.5 or PSS) or ECDSA and SHA-256/384/512`,
    { details: { algorithm: what } })

function algId(buf: Uint8Array, t: Tlv): SigAlg {
  const [o, p] = children(buf, t)
  if (!o || o.tag !== 0x06) throw unsupported('a malformed AlgorithmIdentifier')
  return { oid: oidToString(content(buf, o)), params: p ? buf.subarray(p.start, p.end) : undefined }
}

/** RSASSA-PSS-params (RFC 8017 A.2.3); MGF1 must use the message hash (as node and every CA do). */
function pssScheme(params: Uint8Array | undefined): SigScheme {
  let hash = 'sha1'
  let mgfHash = 'sha1'
  let saltLength = 20
  if (params && params.length > 2) {
    const seq = readTlv(params, 0)
    for (const f of children(params, seq)) {
      const inner = readTlv(params, f.body)
      if (f.tag === 0xa0) hash = DIGEST_OIDS[algId(params, inner).oid] ?? 'unknown'
      else if (f.tag === 0xa1) {
        const mgf = algId(params, inner)
        if (mgf.oid !== MGF1 || !mgf.params) throw unsupported(`RSA-PSS with mask generation ${mgf.oid}`)
        mgfHash = DIGEST_OIDS[algId(mgf.params, readTlv(mgf.params, 0)).oid] ?? 'unknown'
      } else if (f.tag === 0xa2) {
        const v = content(params, inner)
        if (inner.tag !== 0x02 || v.length > 4) throw unsupported('RSA-PSS with a malformed salt length')
        saltLength = v.reduce((a, b) => a * 256 + b, 0)
      } else if (f.tag === 0xa3) {
        const v = content(params, inner)
        if (v.length !== 1 || v[0] !== 1) throw unsupported('RSA-PSS with a trailer field other than 1')
      }
    }
  }
  if (hash === 'unknown' || mgfHash !== hash) throw unsupported(`RSA-PSS with hash ${hash} and MGF1 hash ${mgfHash}`)
  return { hash, pss: { saltLength }, name: `rsassaPss(${hash})` }
}

/**
 * How to verify a signature made with `alg`. For the CMS form (rsaEncryption / id-ecPublicKey
 * as the signature algorithm) the hash is the SignerInfo's digest algorithm.
 */
export function sigScheme(alg: SigAlg, digest?: string): SigScheme {
  if (alg.oid === RSA_PSS) {
    try {
      return pssScheme(alg.params)
    } catch (e) {
      if (e instanceof DerError) throw unsupported(`RSA-PSS with malformed parameters (${e.message})`)
      throw e
    }
  }
  const hash = SIG_HASH[alg.oid]
  if (hash !== undefined) return { hash, name: `${alg.oid}(${hash ?? 'implicit'})` }
  if ((alg.oid === RSA_ENCRYPTION || alg.oid === EC_PUBLIC_KEY) && digest) return { hash: digest, name: `${alg.oid}(${digest})` }
  throw unsupported(`signature algorithm ${alg.oid}`)
}

/** Verify `sig` over `data` with `key` (UNSUPPORTED_ALGORITHM for an unknown algorithm, false for a bad signature). */
export function verifyWith(alg: SigAlg, digest: string | undefined, data: Uint8Array, sig: Uint8Array, key: KeyObject): boolean {
  const s = sigScheme(alg, digest)
  try {
    if (s.pss) {
      return cryptoVerify(s.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.pss.saltLength }, sig)
    }
    return cryptoVerify(s.hash, data, key, sig)
  } catch (e) {
    const msg = (e as Error).message
    if (/unsupported|not supported|invalid digest|unknown/i.test(msg)) throw unsupported(`${s.name} (${msg})`)
    return false
  }
}

/** MD5 (and MD2/MD4) anywhere: vmgit refuses them (rules.ts WEAK_DIGEST). */
export const isWeakDigest = (hash: string | null): boolean => hash !== null && WEAK_HASHES.has(hash)
/** Signatures on certificates and CRLs need 80 bits (OpenSSL -auth_level 1: no MD5, no SHA-1). */
export const isWeakCertHash = (hash: string | null): boolean => hash !== null && WEAK_CERT_HASHES.has(hash)

/** Security bits of a public key as OpenSSL counts them (RSA 1024 = 80, 2048 = 112; EC = half the order). */
export function keyBits(key: KeyObject): number | undefined {
  const d = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss' || key.asymmetricKeyType === 'dsa') {
    const n = d?.modulusLength ?? 0
    return n >= 15360 ? 256 : n >= 7680 ? 192 : n >= 3072 ? 128 : n >= 2048 ? 112 : n >= 1024 ? 80 : 0
  }
  if (key.asymmetricKeyType === 'ec') {
    const curveBits: Record<string, number> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp256k1: 256, secp224r1: 224 }
    const b = curveBits[d?.namedCurve ?? '']
    return b === undefined ? undefined : Math.floor(b / 2)
  }
  if (key.asymmetricKeyType === 'ed25519') return 128
  if (key.asymmetricKeyType === 'ed448') return 224
  return undefined
}

/**
 * Detached S/MIME signing, byte-compatible with `openssl smime -sign` (spec §2.2, §2.3):
 * SignedData v1, one SignerInfo (issuerAndSerialNumber), only the signer certificate, signed
 * attributes contentType, signingTime (UTCTime), messageDigest and OpenSSL's default
 * SMIMECapabilities, rsaEncryption (PKCS#1 v1.5). With the same key, content, signingTime and
 * boundary the output equals OpenSSL's byte for byte (RSA PKCS#1 v1.5 is deterministic).
 */
import { createHash, webcrypto } from 'node:crypto'
import { VmgitError } from '../util/errors.js'
import type { CertInfo } from './cert.js'
import { NULL, int, oid, seq, setOf, tlv } from './der.js'
import './engine.js'
import { canonicalizeInto, isCanonical, newBoundary, smimeHead, smimeTail } from './mime.js'

/** room after the content for the signature part (base64 of SignedData with one certificate) */
const TAIL_ROOM = 16 * 1024

export type Digest = 'sha256' | 'sha1'

export interface SigningCredentials {
  /** unencrypted PKCS#8 DER of the private key (kept in memory only) */
  pkcs8: Buffer
  cert: CertInfo
  /** where the credentials came from, for messages (never the secret itself) */
  source: string
}

export interface SignOptions {
  digest?: Digest
  /** injected for reproducible output; default now */
  signingTime?: Date
  /** 32 hex digits (without the `----` prefix); default random like OpenSSL */
  boundary?: string
}

const DIGEST_OID: Record<Digest, string> = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' }
const WEB_HASH: Record<Digest, string> = { sha1: 'SHA-1', sha256: 'SHA-256' }
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1'
const OID_DATA = '1.2.840.113549.1.7.1'
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2'

const attribute = (type: string, value: Buffer): Buffer => seq(oid(type), setOf([value]))

/** ASN.1 Time as OpenSSL writes it: UTCTime for 1950–2049, else GeneralizedTime. */
function asn1Time(d: Date): Buffer {
  const iso = d.toISOString()
  const y = d.getUTCFullYear()
  const body = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z'
  return y >= 1950 && y < 2050 ? tlv(0x17, Buffer.from(body.slice(2), 'latin1')) : tlv(0x18, Buffer.from(body, 'latin1'))
}

/** OpenSSL's default capability list (PKCS7_sign without NOSMIMECAP), in its order. */
function smimeCapabilities(): Buffer {
  const rc2 = '1.2.840.113549.3.2'
  return seq(
    seq(oid('2.16.840.1.101.3.4.1.42')), seq(oid('2.16.840.1.101.3.4.1.22')), seq(oid('2.16.840.1.101.3.4.1.2')),
    seq(oid('1.2.840.113549.3.7')), seq(oid(rc2), int(128)), seq(oid(rc2), int(64)), seq(oid('1.3.14.3.2.7')), seq(oid(rc2), int(40)),
  )
}

const keyCache = new WeakMap<SigningCredentials, Map<Digest, webcrypto.CryptoKey>>()
async function signingKey(creds: SigningCredentials, digest: Digest): Promise<webcrypto.CryptoKey> {
  let m = keyCache.get(creds)
  if (!m) keyCache.set(creds, (m = new Map()))
  let k = m.get(digest)
  if (!k) {
    try {
      k = await webcrypto.subtle.importKey('pkcs8', creds.pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: WEB_HASH[digest] }, false, ['sign'])
    } catch (e) {
      throw new VmgitError('UNSUPPORTED_KEY', `the signing key from ${creds.source} is not an RSA key (${(e as Error).message}); ` +
        'HEPiX consumers expect RSA (PKCS#1 v1.5) signatures — use an RSA certificate')
    }
    m.set(digest, k)
  }
  return k
}

/** DER ContentInfo(SignedData) over already-canonical content. */
export async function signDetached(canonical: Buffer, creds: SigningCredentials, opts: SignOptions = {}): Promise<Buffer> {
  const digest = opts.digest ?? 'sha256'
  if (!(digest in DIGEST_OID)) throw new VmgitError('BAD_DIGEST', `digest ${digest} is not supported; use sha256 or sha1`)
  const digestAlg = seq(oid(DIGEST_OID[digest]), NULL)
  const md = createHash(digest).update(canonical).digest()
  const attrs = [
    attribute('1.2.840.113549.1.9.3', oid(OID_DATA)),
    attribute('1.2.840.113549.1.9.5', asn1Time(opts.signingTime ?? new Date())),
    attribute('1.2.840.113549.1.9.4', tlv(0x04, md)),
    attribute('1.2.840.113549.1.9.15', smimeCapabilities()),
  ]
  const signedAttrsSet = setOf(attrs) // DER: the signature covers the SET OF encoding (tag 0x31)
  const key = await signingKey(creds, digest)
  const signature = Buffer.from(await webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', key, signedAttrsSet))
  const cert = creds.cert
  const signerInfo = seq(
    int(1),
    seq(Buffer.from(cert.issuerDer), Buffer.from(cert.pk.serialNumber.toBER())),
    digestAlg,
    Buffer.concat([Buffer.from([0xa0]), signedAttrsSet.subarray(1)]), // [0] IMPLICIT SET OF Attribute
    seq(oid(RSA_ENCRYPTION), NULL),
    tlv(0x04, signature),
  )
  const signedData = seq(
    int(1),
    setOf([digestAlg]),
    seq(oid(OID_DATA)),
    tlv(0xa0, cert.der), // certificates [0] IMPLICIT: only the signer, byte-exact
    setOf([signerInfo]),
  )
  return seq(oid(OID_SIGNED_DATA), tlv(0xa0, signedData))
}

/**
 * Sign `content` (any line ends; canonicalised to CRLF as OpenSSL does) and return the complete
 * S/MIME file in OpenSSL's multipart/signed layout (spec §2.1). The canonical bytes are written
 * straight into the output buffer (one pass, no extra copy of a multi-megabyte list).
 */
export async function signContent(content: Buffer, creds: SigningCredentials, opts: SignOptions = {}): Promise<Buffer> {
  const digest = opts.digest ?? 'sha256'
  const boundary = opts.boundary ?? newBoundary()
  if (!/^[0-9A-F]{32}$/.test(boundary)) throw new VmgitError('BAD_BOUNDARY', `boundary must be 32 uppercase hex digits, got "${boundary}"`)
  const head = Buffer.from(smimeHead(digest, boundary), 'latin1')
  const canonical = isCanonical(content)
  let lfs = 0 // canonical length <= length + one CR per LF; sizing exactly halves the allocation
  if (!canonical) for (let p = content.indexOf(0x0a); p >= 0; p = content.indexOf(0x0a, p + 1)) lfs++
  const out = Buffer.allocUnsafe(head.length + content.length + lfs + TAIL_ROOM)
  head.copy(out, 0)
  const end = canonical ? head.length + content.copy(out, head.length) : canonicalizeInto(content, out, head.length)
  const body = out.subarray(head.length, end)
  // the boundary must not occur in the content (it never does by chance; refuse a crafted one)
  if (body.includes(Buffer.from('------' + boundary))) {
    throw new VmgitError('BAD_BOUNDARY', 'the content contains the MIME boundary; sign again (a new random boundary is chosen)')
  }
  const tail = Buffer.from(smimeTail(await signDetached(body, creds, { ...opts, digest }), boundary), 'latin1')
  if (end + tail.length > out.length) return Buffer.concat([out.subarray(0, end), tail])
  tail.copy(out, end)
  return out.subarray(0, end + tail.length)
}

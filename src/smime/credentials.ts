/**
 * Signing credentials: where they come from and whether they may sign (spec §1.3, §2.4, attacks S17).
 *
 * Sources, first match wins:
 *   --p12 FILE                      PKCS#12 (read with node-forge; password from VMGIT_KEY_PASSPHRASE or a TTY prompt)
 *   --key FILE --cert FILE          PEM; PKCS#1 or PKCS#8, encrypted keys likewise
 *   VMGIT_SIGNING_KEY / _CERT       the PEM text itself (CI secrets; never written to disk)
 *   VMCASTER_X509_KEY / _CERT       paths, as the old vmcaster publisher read them
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type Forge from 'node-forge'
import { certLifetimeVerdicts, endorserVerdicts, refuse, signingCertVerdicts } from '../rules/list.js'
import { usageError, VmgitError } from '../util/errors.js'
import { CERT_LABELS, parseCert, pemBlocks, type CertInfo } from './cert.js'
import { promptSecret } from './prompt.js'
import type { SigningCredentials } from './sign.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

export interface CredentialFlags {
  key?: string
  cert?: string
  p12?: string
}

export interface CredentialContext {
  env?: NodeJS.ProcessEnv
  /** asks for a passphrase; default: a no-echo prompt on the TTY, or an error without one */
  prompt?: (question: string) => Promise<string>
  /** certificate path used when a key is given but no certificate (vmgit.yaml `signing.cert`) */
  defaultCert?: string
}

/** Endorser object (`hv:x509`): string/number values keyed by HEPiX names. */
export type Endorser = Record<string, string | number>

const SOURCES_HELP = 'give --key and --cert (PEM), --p12, or set VMGIT_SIGNING_KEY and VMGIT_SIGNING_CERT (PEM text)'

async function readPath(p: string, what: string): Promise<Buffer> {
  checkRegularFile(p, `the ${what}`, CAP.credential)
  try {
    return await readFile(p)
  } catch (e) {
    throw usageError('CREDENTIALS_UNREADABLE', `cannot read the ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`)
  }
}

async function passphrase(ctx: CredentialContext, what: string): Promise<string> {
  const env = ctx.env ?? process.env
  if (env.VMGIT_KEY_PASSPHRASE !== undefined) return env.VMGIT_KEY_PASSPHRASE
  return (ctx.prompt ?? promptSecret)(`Passphrase for ${what}: `)
}

async function privateKey(pem: Buffer, what: string, ctx: CredentialContext): Promise<KeyObject> {
  const text = pem.toString('latin1')
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(text)
  if (!encrypted) {
    try {
      return createPrivateKey({ key: pem, format: 'pem' })
    } catch (e) {
      throw usageError('KEY_UNREADABLE', `the private key ${what} is not a PEM RSA key (PKCS#1 or PKCS#8): ${(e as Error).message}`)
    }
  }
  const pass = await passphrase(ctx, what)
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase: pass })
  } catch {
    throw usageError('KEY_PASSPHRASE_WRONG', `cannot decrypt the private key ${what}: wrong passphrase; check VMGIT_KEY_PASSPHRASE`)
  }
}

/** Pick the certificate whose public key matches the private key (a PEM may hold a chain). */
function matchCert(key: KeyObject, certs: CertInfo[], what: string): CertInfo {
  if (certs.length === 0) throw usageError('CERT_UNREADABLE', `no PEM certificate found in ${what}`)
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const hit = certs.find((c) => Buffer.from(c.pk.subjectPublicKeyInfo.toSchema().toBER()).equals(spki))
  if (!hit) {
    throw usageError('KEY_CERT_MISMATCH', `the private key does not belong to the certificate ${certs[0]!.subject} (${what}); ` +
      'give the key and certificate of the same identity')
  }
  return hit
}

function done(key: KeyObject, cert: CertInfo, source: string): SigningCredentials {
  return { pkcs8: key.export({ type: 'pkcs8', format: 'der' }), cert, source }
}

async function fromPem(keyPem: Buffer, certPem: Buffer, what: { key: string; cert: string; source: string }, ctx: CredentialContext): Promise<SigningCredentials> {
  const key = await privateKey(keyPem, what.key, ctx)
  const certs = pemBlocks(certPem, CERT_LABELS).map((d) => parseCert(d))
  return done(key, matchCert(key, certs, what.cert), what.source)
}

async function fromP12(file: string, ctx: CredentialContext): Promise<SigningCredentials> {
  const der = await readPath(file, 'PKCS#12 file')
  // issue 6/16: node-forge (~40 modules) is loaded only to read a .p12, not by every verify and sync that imports this file
  const forge: typeof Forge = (await import('node-forge')).default
  const open = (pass: string): Forge.pkcs12.Pkcs12Pfx =>
    forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary'))), false, pass)
  let p12: Forge.pkcs12.Pkcs12Pfx
  try {
    p12 = open('')
  } catch {
    const pass = await passphrase(ctx, file)
    try {
      p12 = open(pass)
    } catch (e) {
      throw usageError('KEY_PASSPHRASE_WRONG', `cannot open the PKCS#12 file ${file}: ${(e as Error).message}; check the password (VMGIT_KEY_PASSPHRASE)`)
    }
  }
  const bags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag!] ?? []),
  ]
  const fkey = bags.find((b) => b.key)?.key
  if (!fkey) throw usageError('KEY_UNREADABLE', `the PKCS#12 file ${file} holds no private key`)
  const key = createPrivateKey({ key: forge.pki.privateKeyToPem(fkey), format: 'pem' })
  const certs = (p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag!] ?? [])
    .filter((b) => b.cert)
    .map((b) => parseCert(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(b.cert!)).getBytes(), 'binary')))
  return done(key, matchCert(key, certs, file), `PKCS#12 ${file}`)
}

/** CI secrets sometimes arrive with literal "\n" instead of line breaks. */
const envPem = (v: string): Buffer => Buffer.from(v.includes('\n') ? v : v.replace(/\\n/g, '\n'))

export async function loadCredentials(flags: CredentialFlags, ctx: CredentialContext = {}): Promise<SigningCredentials> {
  const env = ctx.env ?? process.env
  if (flags.p12) {
    if (flags.key || flags.cert) throw usageError('CREDENTIALS_CONFLICT', 'give either --p12 or --key/--cert, not both')
    return fromP12(flags.p12, ctx)
  }
  if (flags.key && !flags.cert && ctx.defaultCert) flags = { ...flags, cert: ctx.defaultCert }
  if (flags.key || flags.cert) {
    if (!flags.key || !flags.cert) throw usageError('CREDENTIALS_INCOMPLETE', `--key and --cert go together; ${SOURCES_HELP}`)
    return fromPem(await readPath(flags.key, 'key'), await readPath(flags.cert, 'certificate'),
      { key: flags.key, cert: flags.cert, source: `${flags.key} + ${flags.cert}` }, ctx)
  }
  if (env.VMGIT_SIGNING_KEY && !env.VMGIT_SIGNING_CERT && ctx.defaultCert) {
    return fromPem(envPem(env.VMGIT_SIGNING_KEY), await readPath(ctx.defaultCert, 'certificate'),
      { key: 'VMGIT_SIGNING_KEY', cert: ctx.defaultCert, source: `VMGIT_SIGNING_KEY + ${ctx.defaultCert}` }, ctx)
  }
  if (env.VMGIT_SIGNING_KEY || env.VMGIT_SIGNING_CERT) {
    if (!env.VMGIT_SIGNING_KEY || !env.VMGIT_SIGNING_CERT) throw usageError('CREDENTIALS_INCOMPLETE', 'set both VMGIT_SIGNING_KEY and VMGIT_SIGNING_CERT')
    return fromPem(envPem(env.VMGIT_SIGNING_KEY), envPem(env.VMGIT_SIGNING_CERT),
      { key: 'VMGIT_SIGNING_KEY', cert: 'VMGIT_SIGNING_CERT', source: 'environment VMGIT_SIGNING_KEY/VMGIT_SIGNING_CERT' }, ctx)
  }
  if (env.VMCASTER_X509_KEY && env.VMCASTER_X509_CERT) {
    return fromPem(await readPath(env.VMCASTER_X509_KEY, 'key'), await readPath(env.VMCASTER_X509_CERT, 'certificate'),
      { key: env.VMCASTER_X509_KEY, cert: env.VMCASTER_X509_CERT, source: 'VMCASTER_X509_KEY/VMCASTER_X509_CERT' }, ctx)
  }
  throw usageError('CREDENTIALS_MISSING', `no signing credentials: ${SOURCES_HELP}`)
}

export interface CertCheckOptions {
  now: Date
  /** allow a certificate without keyUsage, or whose keyUsage lacks digitalSignature (test CAs) */
  allowNoKeyUsage?: boolean
}

/** May this certificate sign image lists now? Throws; returns warnings for overridden problems. */
export function checkSigningCert(cert: CertInfo, opts: CertCheckOptions): string[] {
  const warnings: string[] = []
  // vmcaster exit 31/32: the certificate must allow digital signatures
  if (!cert.keyUsage || !cert.keyUsage.has('digitalSignature')) {
    const what = cert.keyUsage ? `its keyUsage (${[...cert.keyUsage].join(', ')}) lacks digitalSignature` : 'it has no keyUsage extension'
    if (!opts.allowNoKeyUsage) {
      throw new VmgitError('CERT_KEY_USAGE', `certificate ${cert.subject} may not sign image lists: ${what}; use a certificate with ` +
        'keyUsage digitalSignature, or pass --allow-no-key-usage for a test CA (such as the cloudkeeper fixtures\' one)')
    }
    warnings.push(`certificate ${cert.subject}: ${what} (allowed by --allow-no-key-usage; vmcaster-era consumers may refuse it)`)
  }
  // rulebook CERT_EXPIRED / CERT_NOT_YET_VALID (src/rules): the same verdict plan and validate report
  refuse(signingCertVerdicts(cert, opts.now))
  return warnings
}

/** hv:dn / hv:ca must equal the certificate's subject / issuer in one-line form (spec §2.4; vmcatcher error 12). */
export function checkEndorser(endorser: Endorser, cert: Pick<CertInfo, 'subject' | 'issuer'>): void {
  // rulebook ENDORSER_MISMATCH (src/rules)
  refuse(endorserVerdicts(endorser, cert), { details: { dn: endorser['hv:dn'], ca: endorser['hv:ca'], subject: cert.subject, issuer: cert.issuer } })
}

/** Fill hv:dn / hv:ca left out (or empty) from the certificate; other keys unchanged. */
export function fillEndorser(endorser: Endorser, cert: Pick<CertInfo, 'subject' | 'issuer'>): Endorser {
  const out = { ...endorser }
  if (out['hv:dn'] === undefined || out['hv:dn'] === '') out['hv:dn'] = cert.subject
  if (out['hv:ca'] === undefined || out['hv:ca'] === '') out['hv:ca'] = cert.issuer
  return out
}

/** Warn when the list would outlive the certificate (attacks S17). */
export function expiryWarnings(list: Record<string, string | number>, cert: CertInfo): string[] {
  // rulebook CERT_EXPIRES_BEFORE_LIST (src/rules)
  return certLifetimeVerdicts(list['dc:date:expires'], cert).map((v) => `${v.message} [${v.code}]`)
}

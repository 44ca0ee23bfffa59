/**
 * The differential corpus (issue 12, attacks S21/S22): signed image lists over many chains, made
 * with the real `openssl` (keys, `openssl ca` certificates and CRLs, `openssl cms -sign`), each
 * verified by `vmgit verify` (the CLI) and by
 * `openssl cms -verify -crl_check_all -purpose smimesign -CApath DIR -attime NOW` at the same now.
 *
 * A case is one chain root → intermediate(s) → signer (levels: 0 = signer, 1..depth = intermediates
 * from the signer up, depth+1 = root) with one thing varied: revoked / expired / not yet valid at a
 * level, extensions (EKU, keyUsage, basicConstraints, pathLen, nameConstraints, critical
 * extensions), algorithms (RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256/P-384; MD5/SHA-1/SHA-2 for
 * certificates, CRLs and the CMS digest), CRLs (missing, expired, weak), and the encoding (DER,
 * BER indefinite lengths, 40 extra certificates of >100 KB, trailing bytes).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { children, readTlv, tlv, type Tlv } from '../../src/smime/der.js'
import { BIN, childEnv } from '../helpers/cli.js'

const exec = promisify(execFile)

export type KeyKind = 'rsa' | 'rsa1024' | 'rsa512' | 'ec256' | 'ec384'
export type Md = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'

export interface CaseSpec {
  name: string
  /** number of intermediate CAs (0..3) */
  depth: number
  /** signer key (the CMS signature), CA keys */
  key?: KeyKind
  caKey?: KeyKind
  /** key type of one level (a CA re-keyed under the same name) */
  keyOverride?: Record<number, KeyKind>
  /** replace the SignerInfo's signature algorithm OID by an unknown one (S22: UNSUPPORTED_ALGORITHM) */
  unknownSigAlg?: boolean
  /** add an extra element where RFC 5652 allows none (OpenSSL's decoder refuses it; pkijs would not) */
  extraField?: 'contentInfo' | 'signedData' | 'digestAlgorithm'
  /** digest of certificate signatures, per level (default sha256 for all) */
  certMd?: Md | Record<number, Md>
  /** certificate signatures with RSA-PSS */
  certPss?: boolean
  cmsMd?: Md
  cmsPss?: boolean
  crlMd?: Md
  /** level whose certificate is revoked (in its issuer's CRL) */
  revoked?: number
  expired?: number
  notYetValid?: number
  /** level whose issuer publishes no CRL / an expired CRL */
  crlMissing?: number
  crlExpired?: number
  /** extension lines replacing the default section of a level */
  ext?: Record<number, string>
  /** subject of a level (default /DC=org/DC=vmgit-diff/O=Level<n>/CN=…) */
  subject?: Record<number, string>
  /** intermediates embedded in the CMS (true) or installed in the CA dir (false, default) */
  embed?: boolean
  ber?: boolean
  extraCerts?: number
  trailing?: boolean
  /** the stricter rule (src/smime/rules.ts) this case exercises, if vmgit should refuse what OpenSSL accepts */
  stricter?: string
  /** sanity: what OpenSSL must say (guards against a generator that breaks every case) */
  expectOpenssl?: boolean
}

export interface Outcome {
  name: string
  openssl: boolean
  opensslError: string
  vmgit: boolean
  vmgitCode?: string
  stricter?: string
}

const DAY = 86_400_000
const caDate = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z').slice(2)
const hepix = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z')

async function ossl(args: string[], opts: { input?: string | Buffer; cwd?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { cwd: opts.cwd, maxBuffer: 64 << 20, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`openssl ${args.slice(0, 2).join(' ')}: ${stderr}`), { stderr }))
      else resolve({ stdout, stderr })
    })
    child.stdin?.on('error', () => {})
    child.stdin?.end(opts.input ?? '')
  })
}

/** A pool of keys made once per corpus (RSA generation is the slow part). */
export class KeyPool {
  private made = new Map<string, Promise<string>>()
  constructor(readonly dir: string) {}

  key(kind: KeyKind, slot: number): Promise<string> {
    const id = `${kind}-${slot}`
    let p = this.made.get(id)
    if (!p) {
      const file = path.join(this.dir, `${id}.key`)
      const args = kind.startsWith('rsa')
        ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${kind === 'rsa' ? 2048 : kind.slice(3)}`, '-out', file]
        : ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind === 'ec256' ? 'P-256' : 'P-384'}`, '-out', file]
      p = mkdir(this.dir, { recursive: true }).then(() => ossl(args)).then(() => file)
      this.made.set(id, p)
    }
    return p
  }
}

const CA_EXT = 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid'
const LEAF_EXT = 'basicConstraints = CA:false\nkeyUsage = critical, digitalSignature, nonRepudiation\nextendedKeyUsage = emailProtection\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid'

const caConf = (dir: string, exts: Record<string, string>): string => `
[ ca ]
default_ca = d
[ d ]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
preserve = yes
email_in_dn = yes
copy_extensions = none
[ any ]
commonName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
${Object.entries(exts).map(([k, v]) => `[ ${k} ]\n${v}\n`).join('')}
${NC_SECTIONS}`

/** Section names the nameConstraints lines refer to (appended to every case's config). */
const NC_SECTIONS = `
[ nc_ok ]
1.DC = org
2.DC = vmgit-diff
[ nc_other ]
1.DC = org
2.DC = elsewhere
[ nc_leaf ]
1.DC = org
2.DC = vmgit-diff
O = Level0
[ nc_leaf_lc ]
1.DC = ORG
2.DC = VMGIT-DIFF
O = level0
`

const mdOf = (s: CaseSpec, level: number): Md => (typeof s.certMd === 'string' ? s.certMd : s.certMd?.[level]) ?? 'sha256'

/** The image list the case signs: hv:dn/hv:ca name the signer, dates valid at `now`. */
export function listFor(dn: string, ca: string, now: Date, name: string): string {
  const img = {
    'dc:identifier': '3a5b1c7e-0c0d-4b36-9a4e-5f4a4f2f0b11', 'dc:title': 'Image', 'dc:description': 'differential test image',
    'hv:hypervisor': 'kvm', 'hv:format': 'qcow2', 'hv:size': 1024, 'hv:uri': 'https://images.example.org/image.qcow2', 'hv:version': '1',
    'sl:arch': 'x86_64', 'sl:checksum:sha512': 'ab'.repeat(64), 'sl:comments': '', 'sl:os': 'Linux', 'sl:osversion': '9',
  }
  return JSON.stringify({
    'hv:imagelist': {
      'dc:date:created': hepix(new Date(now.getTime() - 3600_000)), 'dc:date:expires': hepix(new Date(now.getTime() + 7 * DAY)),
      'dc:description': `differential case ${name}`, 'dc:identifier': '9d2e8f54-7a61-4c0e-b3f2-1f5f2c4d6e70', 'dc:source': 'vmgit differential',
      'dc:title': 'Differential list', 'hv:endorser': { 'hv:x509': { 'dc:creator': 'Diff', 'hv:ca': ca, 'hv:dn': dn, 'hv:email': 'd@example.org' } },
      'hv:images': [{ 'hv:image': img }], 'hv:uri': 'https://lists.example.org/diff.smime', 'hv:version': '1.0',
    },
  }, null, 4)
}

/** Re-encode the definite-length DER ContentInfo of an S/MIME file with indefinite lengths on its outer layers (valid BER). */
function berify(der: Buffer): Buffer {
  // ContentInfo SEQUENCE { OID, [0] { SignedData SEQUENCE { … } } }: the three outer constructed TLVs become 0x80 … 00 00
  const hdr = (off: number): { body: number; end: number } => {
    let len = der[off + 1]!
    let body = off + 2
    if (len & 0x80) {
      const n = len & 0x7f
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!
      body += n
    }
    return { body, end: body + len }
  }
  const ci = hdr(0)
  const oidEnd = hdr(ci.body).end
  const expl = hdr(oidEnd)
  const sd = hdr(expl.body)
  const eoc = Buffer.from([0, 0])
  return Buffer.concat([
    Buffer.from([0x30, 0x80]), der.subarray(ci.body, oidEnd),
    Buffer.from([0xa0, 0x80]), Buffer.from([0x30, 0x80]), der.subarray(sd.body, sd.end), eoc, eoc, eoc,
  ])
}

function smime(content: Buffer, sig: Buffer): Buffer {
  const b = '----DIFFERENTIALBOUNDARY0123456789'
  const b64 = sig.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')
  return Buffer.concat([
    Buffer.from(`MIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg="sha-256"; boundary="${b}"\n\n` +
      `This is an S/MIME signed message\n\n--${b}\n`),
    content,
    Buffer.from(`\n--${b}\nContent-Type: application/x-pkcs7-signature; name="smime.p7s"\nContent-Transfer-Encoding: base64\n` +
      `Content-Disposition: attachment; filename="smime.p7s"\n\n${b64}\n--${b}--\n\n`),
  ])
}

/** Re-encode a DER ContentInfo with one NULL too many in the chosen SEQUENCE. */
function addExtraField(der: Buffer, where: NonNullable<CaseSpec['extraField']>): Buffer {
  const NULL = Buffer.from([5, 0])
  const w = (t: Tlv): Buffer => Buffer.from(der.subarray(t.start, t.end))
  const [oidT, explT] = children(der, readTlv(der, 0)) as [Tlv, Tlv]
  const sdT = readTlv(der, explT.body)
  const sd = children(der, sdT)
  if (where === 'contentInfo') return tlv(0x30, Buffer.concat([w(oidT), w(explT), NULL]))
  let fields = sd.map(w)
  if (where === 'signedData') fields = [...fields, NULL]
  else {
    // digestAlgorithms { AlgorithmIdentifier { OID, [params,] NULL, NULL } }
    const algs = children(der, sd[1]!).map((a) => tlv(0x30, Buffer.concat([...children(der, a).map(w), NULL, NULL])))
    fields[1] = tlv(0x31, Buffer.concat(algs))
  }
  return tlv(0x30, Buffer.concat([w(oidT), tlv(0xa0, tlv(0x30, Buffer.concat(fields)))]))
}

/** A built chain: the trust directory and the signer's credentials. */
export interface BuiltChain {
  caDir: string
  /** signer certificate and key (PEM files) */
  cert: string
  key: string
  /** signer subject and issuer in OpenSSL's one-line form (hv:dn, hv:ca) */
  subject: string
  issuer: string
  /** intermediate certificates to embed in the signature (PEM, possibly empty) */
  embedPem: string
  dir: string
}

/** Build the chain of a case under `dir`: `trust/` (CApath: root, intermediates unless embedded, one CRL per CA). */
export async function buildChain(s: CaseSpec, dir: string, keys: KeyPool, now: Date): Promise<BuiltChain> {
  const root = s.depth + 1
  const trust = path.join(dir, 'trust')
  await mkdir(trust, { recursive: true })
  const subj = (l: number): string => s.subject?.[l] ?? `/DC=org/DC=vmgit-diff/O=Level${l}/CN=${l === 0 ? 'Diff Signer' : l === root ? 'Diff Root CA' : `Diff Intermediate ${l}`}`
  const keyOf = (l: number): Promise<string> => keys.key(s.keyOverride?.[l] ?? (l === 0 ? (s.key ?? 'rsa') : (s.caKey ?? 'rsa')), l)
  const certFile = (l: number): string => path.join(dir, `l${l}.pem`)
  const caDirOf = (l: number): string => path.join(dir, `ca${l}`)
  const exts: Record<string, string> = {}
  for (let l = 0; l <= root; l++) exts[`e${l}`] = s.ext?.[l] ?? (l === 0 ? LEAF_EXT : CA_EXT)
  const dates = (l: number): [Date, Date] => {
    if (s.expired === l) return [new Date(now.getTime() - 60 * DAY), new Date(now.getTime() - DAY)]
    if (s.notYetValid === l) return [new Date(now.getTime() + DAY), new Date(now.getTime() + 60 * DAY)]
    return [new Date(now.getTime() - 2 * DAY), new Date(now.getTime() + (l === 0 ? 30 : 365) * DAY)]
  }
  // each CA gets its own `openssl ca` database
  for (let l = 1; l <= root; l++) {
    const d = caDirOf(l)
    await mkdir(d, { recursive: true })
    await writeFile(path.join(d, 'index.txt'), '')
    await writeFile(path.join(d, 'serial'), randomBytes(8).toString('hex').replace(/^./, '4') + '\n')
    await writeFile(path.join(d, 'crlnumber'), '01\n')
    await writeFile(path.join(d, 'ca.cnf'), caConf(d, exts))
  }
  const pssOpts = (md: Md): string[] => (s.certPss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest', '-sigopt', `rsa_mgf1_md:${md}`] : [])
  for (let l = root; l >= 0; l--) {
    const issuer = l === root ? null : l + 1
    const conf = path.join(caDirOf(issuer ?? root), 'ca.cnf')
    const csr = path.join(dir, `l${l}.csr`)
    await ossl(['req', '-new', '-config', conf, '-key', await keyOf(l), '-subj', subj(l), '-out', csr])
    const [from, to] = dates(l)
    const md = mdOf(s, l)
    const args = ['ca', '-batch', '-config', conf, '-notext', '-preserveDN', '-extensions', `e${l}`, '-md', md, ...pssOpts(md),
      '-startdate', caDate(from), '-enddate', caDate(to), '-in', csr, '-out', certFile(l)]
    if (issuer === null) args.push('-selfsign', '-keyfile', await keyOf(l))
    else args.push('-cert', certFile(issuer), '-keyfile', await keyOf(issuer))
    await ossl(args)
  }
  if (s.revoked !== undefined) {
    const issuer = s.revoked + 1
    await ossl(['ca', '-config', path.join(caDirOf(issuer), 'ca.cnf'), '-cert', certFile(issuer), '-keyfile', await keyOf(issuer),
      '-revoke', certFile(s.revoked), '-crl_reason', 'keyCompromise'])
  }
  for (let l = 1; l <= root; l++) {
    const hash = (await ossl(['x509', '-in', certFile(l), '-noout', '-subject_hash'])).stdout.trim()
    if (l === root || !s.embed) await writeFile(path.join(trust, `${hash}.0`), await readFile(certFile(l)))
    if (s.crlMissing === l - 1) continue
    const [last, next] = s.crlExpired === l - 1 ? [-60 * DAY, -DAY] : [-DAY, 30 * DAY]
    const times = ['-crl_lastupdate', caDate(new Date(now.getTime() + last)), '-crl_nextupdate', caDate(new Date(now.getTime() + next))]
    await ossl(['ca', '-gencrl', '-batch', '-config', path.join(caDirOf(l), 'ca.cnf'), '-cert', certFile(l), '-keyfile', await keyOf(l),
      '-md', s.crlMd ?? 'sha256', ...times, '-out', path.join(trust, `${hash}.r0`)])
  }
  const names = (await ossl(['x509', '-in', certFile(0), '-noout', '-nameopt', 'compat', '-subject', '-issuer'])).stdout.split('\n')
  let embedPem = ''
  if (s.embed) for (let l = 1; l <= s.depth; l++) embedPem += await readFile(certFile(l), 'latin1')
  return {
    caDir: trust, cert: certFile(0), key: await keyOf(0), dir, embedPem,
    subject: names[0]!.replace(/^subject=/, ''), issuer: names[1]!.replace(/^issuer=/, ''),
  }
}

/** Sign `content` (made canonical: CRLF) as the case says: digest, PSS, embedded and extra certificates, BER, trailing bytes. */
export async function signList(s: CaseSpec, chain: BuiltChain, content: Buffer, keys: KeyPool): Promise<Buffer> {
  const crlf = Buffer.from(content.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1')
  const tag = randomBytes(4).toString('hex')
  const contentFile = path.join(chain.dir, `content-${tag}.json`)
  const sigFile = path.join(chain.dir, `sig-${tag}.der`)
  await writeFile(contentFile, crlf)
  let certfile = chain.embedPem
  if (s.extraCerts) certfile += (await extraCerts(keys, s.extraCerts)).join('')
  const signArgs = ['cms', '-sign', '-binary', '-outform', 'DER', '-signer', chain.cert, '-inkey', chain.key, '-md', s.cmsMd ?? 'sha256',
    '-in', contentFile, '-out', sigFile]
  if (s.cmsPss) signArgs.push('-keyopt', 'rsa_padding_mode:pss')
  if (certfile) {
    const f = path.join(chain.dir, `chain-${tag}.pem`)
    await writeFile(f, certfile)
    signArgs.push('-certfile', f)
  }
  await ossl(signArgs)
  let sig: Buffer = await readFile(sigFile)
  if (s.unknownSigAlg) {
    // the last rsaEncryption / ecPublicKey OID is the SignerInfo's signatureAlgorithm; 1.2.840.113549.1.1.99 is no algorithm
    const rsa = Buffer.from('06092a864886f70d010101', 'hex')
    const at = sig.lastIndexOf(rsa)
    if (at < 0) throw new Error('unknownSigAlg needs an RSA PKCS#1 v1.5 signer')
    sig = Buffer.from(sig)
    sig[at + rsa.length - 1] = 99
  }
  if (s.extraField) sig = addExtraField(sig, s.extraField)
  if (s.ber) sig = berify(sig)
  if (s.trailing) sig = Buffer.concat([sig, Buffer.from([0, 0, 0x30, 0x00])])
  return smime(crlf, sig)
}

/** Build one case under `dir`: `trust/` (CApath) and `list.smime`. */
export async function buildCase(s: CaseSpec, dir: string, keys: KeyPool, now: Date): Promise<{ caDir: string; file: string }> {
  const chain = await buildChain(s, dir, keys, now)
  const file = path.join(dir, 'list.smime')
  await writeFile(file, await signList(s, chain, Buffer.from(listFor(chain.subject, chain.issuer, now, s.name)), keys))
  return { caDir: chain.caDir, file }
}

const extraCache = new WeakMap<KeyPool, Promise<string[]>>()
/** `n` unrelated self-signed certificates, each with a 2.5 KB comment (40 of them: >100 KB). */
async function extraCerts(keys: KeyPool, n: number): Promise<string[]> {
  let made = extraCache.get(keys)
  if (!made) {
    made = (async () => {
    const out: string[] = []
    const key = await keys.key('ec256', 99)
    const filler = 'x'.repeat(2500)
    for (let i = 0; i < 40; i++) {
      const f = path.join(keys.dir, `extra${i}.pem`)
      await ossl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=Unrelated ${i}`, '-days', '30', '-addext', `nsComment=${filler}`, '-out', f])
      out.push(await readFile(f, 'latin1'))
    }
    return out
    })()
    extraCache.set(keys, made)
  }
  return (await made).slice(0, n)
}

/** Run both verifiers on a built case. */
export async function verifyBoth(s: CaseSpec, built: { caDir: string; file: string }, now: Date): Promise<Outcome> {
  const at = String(Math.floor(now.getTime() / 1000))
  let openssl = true
  let opensslError = ''
  try {
    await ossl(['cms', '-verify', '-crl_check_all', '-purpose', 'smimesign', '-CApath', built.caDir, '-attime', at, '-in', built.file, '-out', '/dev/null'])
  } catch (e) {
    openssl = false
    opensslError = ((e as { stderr?: string }).stderr ?? String(e)).split('\n').find((l) => /Verify error|error:/.test(l))?.trim() ?? ''
  }
  let vmgit = true
  let vmgitCode: string | undefined
  try {
    await exec(process.execPath, [BIN, 'verify', built.file, '--ca-dir', built.caDir, '--at', now.toISOString(), '--json'], { env: childEnv(), maxBuffer: 16 << 20 })
  } catch (e) {
    vmgit = false
    const err = e as { stdout?: string; stderr?: string; code?: number }
    const m = /"code":\s*"([A-Z_]+)"/.exec(`${err.stdout ?? ''}${err.stderr ?? ''}`) ?? /\[([A-Z_]+)\]/.exec(err.stderr ?? '')
    vmgitCode = m?.[1] ?? `exit ${err.code}`
  }
  return { name: s.name, openssl, opensslError, vmgit, vmgitCode, stricter: s.stricter }
}

/**
 * A throwaway PKI made with the real `openssl` binary at test time (design.md "Real parts in tests").
 *
 *   const pki = await makePki(tmpDir)
 *   pki.caDir          hashed trust dir: CA `<hash>.0` + CRL `<hash>.r0` (revoked signer listed),
 *                      plus an intermediate CA `<hash>.0` + its CRL
 *   pki.signer         good signer (keyUsage digitalSignature), valid now
 *   pki.expired        signer valid 2020-01-01 .. 2021-01-01
 *   pki.revoked        signer listed in the CRL of pki.caDir
 *   pki.noKeyUsage     signer without a keyUsage extension
 *   pki.subSigner      signer issued by the intermediate CA (chain CA → intermediate → signer)
 *   pki.ca2 / signer2  a second, unrelated CA and its signer; pki.ca2Dir trusts only CA 2
 *   pki.expiredCrlDir  CA 1 whose CRL expired (nextUpdate 2020-02-01)
 *   pki.noCrlDir       CA 1 without any CRL
 *
 * Every certificate carries `subject`/`issuer` in OpenSSL one-line form (spec §2.4), read back from
 * `openssl x509 -nameopt compat`. Signing/verifying helpers wrap `openssl smime`.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdir, writeFile, copyFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface PkiCert {
  name: string
  /** PEM private key (unencrypted PKCS#8) path */
  key: string
  /** PEM certificate path */
  cert: string
  /** OpenSSL oneline subject, e.g. `/DC=org/DC=vmgit-test/CN=Good Signer` */
  subject: string
  /** OpenSSL oneline issuer */
  issuer: string
  /** hex serial as openssl prints it */
  serial: string
  notBefore: Date
  notAfter: Date
}

export interface Pki {
  dir: string
  ca: PkiCert
  intermediate: PkiCert
  signer: PkiCert
  expired: PkiCert
  revoked: PkiCert
  noKeyUsage: PkiCert
  subSigner: PkiCert
  ca2: PkiCert
  signer2: PkiCert
  /** CA 1 + intermediate, each with a current CRL (`<hash>.0`, `<hash>.r0`) */
  caDir: string
  /** CA 2 only, with its CRL */
  ca2Dir: string
  /** CA 1 with a CRL whose nextUpdate is 2020-02-01 */
  expiredCrlDir: string
  /** CA 1 with no CRL at all */
  noCrlDir: string
  /** subject hash (8 hex) of CA 1, CA 2 and the intermediate */
  hashes: { ca: string; ca2: string; intermediate: string }
}

export async function openssl(args: string[], input?: Buffer | string): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.on('error', reject)
    // openssl may exit (e.g. on a verification failure) before reading its input: that EPIPE is no error of ours
    child.stdin.on('error', () => {})
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString()
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr })
      else reject(Object.assign(new Error(`openssl ${args[0]} failed (${code}): ${stderr}`), { code, stderr, stdout: Buffer.concat(out) }))
    })
    child.stdin.end(input ?? '')
  })
}

const caConf = (dir: string): string => `
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_crl_days = 30
policy = policy_any
unique_subject = no
preserve = yes
email_in_dn = yes
copy_extensions = none
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ signer ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ signer_noku ]
basicConstraints = CA:false
subjectKeyIdentifier = hash
`

/** `2025-01-02T03:04:05Z` → `20250102030405Z` (openssl ca date form) */
const caDate = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')

async function initCa(dir: string): Promise<string> {
  await mkdir(path.join(dir, 'newcerts'), { recursive: true })
  await writeFile(path.join(dir, 'index.txt'), '')
  await writeFile(path.join(dir, 'serial'), (Math.floor(Math.random() * 0x7fff_ffff) + 0x1000).toString(16).padStart(8, '0') + '\n')
  await writeFile(path.join(dir, 'crlnumber'), '01\n')
  const conf = path.join(dir, 'ca.cnf')
  await writeFile(conf, caConf(dir))
  return conf
}

/** key + CSR in one openssl call */
async function newRequest(dir: string, name: string, subj: string, conf: string): Promise<void> {
  await openssl(['req', '-new', '-config', conf, '-newkey', 'rsa:2048', '-nodes', '-utf8', '-subj', subj,
    '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.csr`)])
}

async function issue(conf: string, caName: string | null, dir: string, name: string,
  ext: string, from: Date, to: Date): Promise<void> {
  const args = ['ca', '-batch', '-config', conf, '-notext', '-preserveDN', '-utf8', '-extensions', ext,
    '-startdate', caDate(from), '-enddate', caDate(to),
    '-in', path.join(dir, `${name}.csr`), '-out', path.join(dir, `${name}.pem`)]
  if (caName === null) args.push('-selfsign', '-keyfile', path.join(dir, `${name}.key`))
  else args.push('-cert', path.join(dir, `${caName}.pem`), '-keyfile', path.join(dir, `${caName}.key`))
  await openssl(args)
}

async function describe(dir: string, name: string): Promise<PkiCert> {
  const cert = path.join(dir, `${name}.pem`)
  const { stdout } = await openssl(['x509', '-in', cert, '-noout', '-nameopt', 'compat', '-subject', '-issuer', '-serial', '-startdate', '-enddate'])
  const f: Record<string, string> = {}
  for (const line of stdout.toString('utf8').split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) f[line.slice(0, i)] = line.slice(i + 1)
  }
  return {
    name, cert, key: path.join(dir, `${name}.key`),
    subject: f.subject ?? '', issuer: f.issuer ?? '', serial: f.serial ?? '',
    notBefore: new Date(f.notBefore ?? ''), notAfter: new Date(f.notAfter ?? ''),
  }
}

async function subjectHash(cert: string): Promise<string> {
  return (await openssl(['x509', '-in', cert, '-noout', '-subject_hash'])).stdout.toString().trim()
}

async function gencrl(conf: string, dir: string, caName: string, out: string, times?: { last: Date; next: Date }): Promise<void> {
  const args = ['ca', '-gencrl', '-batch', '-config', conf, '-cert', path.join(dir, `${caName}.pem`),
    '-keyfile', path.join(dir, `${caName}.key`), '-out', out]
  if (times) args.push('-crl_lastupdate', caDate(times.last), '-crl_nextupdate', caDate(times.next))
  await openssl(args)
}

const DAY = 86_400_000

/** Create the PKI under `dir` (created if missing). Takes about a second (9 RSA-2048 keys). */
export async function makePki(dir: string): Promise<Pki> {
  const d1 = path.join(dir, 'ca1')
  const d2 = path.join(dir, 'ca2')
  const di = path.join(dir, 'inter')
  const [c1, c2, ci] = await Promise.all([initCa(d1), initCa(d2), initCa(di)])
  const now = Date.now()
  const longAgo = new Date('2015-01-01T00:00:00Z')
  const future = new Date(now + 3650 * DAY)
  const yesterday = new Date(now - DAY)
  const nextYear = new Date(now + 365 * DAY)
  const base = '/DC=org/DC=vmgit-test'

  await Promise.all([
    newRequest(d1, 'ca', `${base}/O=Test Grid/CN=vmgit Test Root CA`, c1),
    newRequest(d1, 'signer', `${base}/O=Test Grid/OU=Publishers/CN=Good Signer/emailAddress=good@example.org`, c1),
    newRequest(d1, 'expired', `${base}/O=Test Grid/CN=Expired Signer`, c1),
    newRequest(d1, 'revoked', `${base}/O=Test Grid/CN=Revoked Signer`, c1),
    newRequest(d1, 'noku', `${base}/O=Test Grid/CN=No KeyUsage Signer`, c1),
    newRequest(d1, 'inter', `${base}/O=Test Grid/CN=vmgit Test Intermediate CA`, c1),
    newRequest(di, 'sub', `${base}/O=Test Grid/CN=Sub Signer`, ci),
    newRequest(d2, 'ca2', '/C=XX/O=Other Federation/CN=Other Root CA', c2),
    newRequest(d2, 'signer2', '/C=XX/O=Other Federation/CN=Other Signer', c2),
  ])
  await Promise.all([
    issue(c1, null, d1, 'ca', 'v3_ca', longAgo, future),
    issue(c2, null, d2, 'ca2', 'v3_ca', longAgo, future),
  ])
  // CA 1's database is shared: its issuances run one after another.
  const ca1Work = (async () => {
    await issue(c1, 'ca', d1, 'inter', 'v3_ca', longAgo, future)
    await issue(c1, 'ca', d1, 'signer', 'signer', yesterday, nextYear)
    await issue(c1, 'ca', d1, 'expired', 'signer', new Date('2020-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'))
    await issue(c1, 'ca', d1, 'revoked', 'signer', yesterday, nextYear)
    await issue(c1, 'ca', d1, 'noku', 'signer_noku', yesterday, nextYear)
    await openssl(['ca', '-batch', '-config', c1, '-cert', path.join(d1, 'ca.pem'), '-keyfile', path.join(d1, 'ca.key'),
      '-revoke', path.join(d1, 'revoked.pem'), '-crl_reason', 'keyCompromise'])
    await gencrl(c1, d1, 'ca', path.join(d1, 'ca.crl'))
    await gencrl(c1, d1, 'ca', path.join(d1, 'ca-expired.crl'), { last: new Date('2020-01-01T00:00:00Z'), next: new Date('2020-02-01T00:00:00Z') })
    // the intermediate's own database (in di) issues the sub signer
    await copyFile(path.join(d1, 'inter.pem'), path.join(di, 'inter.pem'))
    await copyFile(path.join(d1, 'inter.key'), path.join(di, 'inter.key'))
    await issue(ci, 'inter', di, 'sub', 'signer', yesterday, nextYear)
    await gencrl(ci, di, 'inter', path.join(di, 'inter.crl'))
  })()
  const ca2Work = (async () => {
    await issue(c2, 'ca2', d2, 'signer2', 'signer', yesterday, nextYear)
    await gencrl(c2, d2, 'ca2', path.join(d2, 'ca2.crl'))
  })()
  await Promise.all([ca1Work, ca2Work])

  const [hCa, hCa2, hInter] = await Promise.all([
    subjectHash(path.join(d1, 'ca.pem')), subjectHash(path.join(d2, 'ca2.pem')), subjectHash(path.join(d1, 'inter.pem')),
  ])
  const caDir = path.join(dir, 'trust')
  const ca2Dir = path.join(dir, 'trust-ca2')
  const expiredCrlDir = path.join(dir, 'trust-expired-crl')
  const noCrlDir = path.join(dir, 'trust-no-crl')
  await Promise.all([caDir, ca2Dir, expiredCrlDir, noCrlDir].map((p) => mkdir(p, { recursive: true })))
  await Promise.all([
    copyFile(path.join(d1, 'ca.pem'), path.join(caDir, `${hCa}.0`)),
    copyFile(path.join(d1, 'ca.crl'), path.join(caDir, `${hCa}.r0`)),
    copyFile(path.join(d1, 'inter.pem'), path.join(caDir, `${hInter}.0`)),
    copyFile(path.join(di, 'inter.crl'), path.join(caDir, `${hInter}.r0`)),
    copyFile(path.join(d2, 'ca2.pem'), path.join(ca2Dir, `${hCa2}.0`)),
    copyFile(path.join(d2, 'ca2.crl'), path.join(ca2Dir, `${hCa2}.r0`)),
    copyFile(path.join(d1, 'ca.pem'), path.join(expiredCrlDir, `${hCa}.0`)),
    copyFile(path.join(d1, 'ca-expired.crl'), path.join(expiredCrlDir, `${hCa}.r0`)),
    copyFile(path.join(d1, 'ca.pem'), path.join(noCrlDir, `${hCa}.0`)),
  ])

  const [ca, intermediate, signer, expired, revoked, noKeyUsage, subSigner, ca2, signer2] = await Promise.all([
    describe(d1, 'ca'), describe(d1, 'inter'), describe(d1, 'signer'), describe(d1, 'expired'), describe(d1, 'revoked'),
    describe(d1, 'noku'), describe(di, 'sub'), describe(d2, 'ca2'), describe(d2, 'signer2'),
  ])
  return {
    dir, ca, intermediate, signer, expired, revoked, noKeyUsage, subSigner, ca2, signer2,
    caDir, ca2Dir, expiredCrlDir, noCrlDir, hashes: { ca: hCa, ca2: hCa2, intermediate: hInter },
  }
}

/**
 * `openssl smime -sign` (detached, OpenSSL's multipart/signed layout) of `content` by one signer,
 * or by several signers at once (`-signer` repeated) to make a multi-SignerInfo message.
 */
export async function opensslSign(content: Buffer | string, signer: PkiCert | PkiCert[], md: 'sha1' | 'sha256' = 'sha256'): Promise<Buffer> {
  const signers = Array.isArray(signer) ? signer : [signer]
  const args = ['smime', '-sign', '-md', md]
  for (const s of signers) args.push('-signer', s.cert, '-inkey', s.key)
  return (await openssl(args, content)).stdout
}

export interface OpensslVerifyResult {
  ok: boolean
  /** the verified content as openssl writes it (CRLF lines) */
  content: Buffer
  stderr: string
}

/**
 * `openssl smime -verify -CApath caDir [-crl_check] [-attime]` on a file path or bytes.
 * `caDir: null` means `-noverify` (signature and digest only, no chain).
 */
export async function opensslVerify(
  file: string | Buffer,
  caDir: string | null,
  opts: { crlCheck?: boolean; attime?: Date } = {},
): Promise<OpensslVerifyResult> {
  const args = ['smime', '-verify']
  if (caDir === null) args.push('-noverify')
  else args.push('-CApath', caDir)
  if (opts.crlCheck) args.push('-crl_check')
  if (opts.attime) args.push('-attime', String(Math.floor(opts.attime.getTime() / 1000)))
  if (typeof file === 'string') args.push('-in', file)
  try {
    const r = await openssl(args, typeof file === 'string' ? undefined : file)
    return { ok: true, content: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { stderr?: string; stdout?: Buffer }
    return { ok: false, content: err.stdout ?? Buffer.alloc(0), stderr: err.stderr ?? String(e) }
  }
}

/** Subject hash of a certificate file as `openssl x509 -subject_hash` prints it. */
export { subjectHash }
/** Run a binary and collect stdout (for tests that need other openssl subcommands). */
export const execText = async (cmd: string, args: string[]): Promise<string> => (await run(cmd, args)).stdout

/** The error code a verification promise rejects with, or 'OK' when it resolves. */
export async function outcomeCode(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return (e as { code: string }).code
  }
  return 'OK'
}

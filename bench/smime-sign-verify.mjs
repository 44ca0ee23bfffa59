// Sign and verify a 10,000-image list with vmgit (in-process) and with the openssl binary (as a
// process, the way cron jobs and vmcatcher/atrope run it), and verify against a 150-CA trust
// directory with CRLs. Prints each time and the ratio vmgit/openssl (target: <= 1x).
// Run after `npm run build`:  node bench/smime-sign-verify.mjs [iterations]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadCredentials } from '../dist/smime/credentials.js'
import { signContent } from '../dist/smime/sign.js'
import { loadTrustStore } from '../dist/smime/trust.js'
import { verifySmime } from '../dist/smime/verify.js'
import { renderList } from '../dist/imagelist/render.js'

const ITER = Number(process.argv[2] ?? 10)
const IMAGES = 10_000
const FILLER_CAS = 149
const REVOKED = 1000
const tmp = mkdtempSync(path.join(tmpdir(), 'vmgit-bench-smime-'))
const ossl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 28 })
const caDate = (d) => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')

function caConf(dir) {
  const conf = path.join(dir, 'ca.cnf')
  writeFileSync(conf, `[ca]\ndefault_ca=d\n[d]\ndir=${dir}\ndatabase=$dir/index.txt\nnew_certs_dir=$dir\nserial=$dir/serial\n` +
    `crlnumber=$dir/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\npolicy=p\npreserve=yes\n[p]\ncommonName=supplied\n` +
    `[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n` +
    `[signer]\nbasicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n`)
  writeFileSync(path.join(dir, 'serial'), '1000\n')
  writeFileSync(path.join(dir, 'crlnumber'), '01\n')
  return conf
}

/** A CA (RSA 2048 for the signer's CA, EC P-256 for the fillers: key generation speed only) and its CRL. */
function makeCa(name, subj, { rsa = false, revoked = 0 } = {}) {
  const dir = path.join(tmp, name)
  mkdirSync(dir, { recursive: true })
  const conf = caConf(dir)
  const keyArgs = rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
  ossl(['req', '-x509', '-config', conf, '-extensions', 'v3_ca', ...keyArgs, '-nodes', '-subj', subj, '-days', '3650',
    '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.pem')])
  // revoked entries written straight into the CA database, then one -gencrl
  const rows = []
  for (let i = 0; i < revoked; i++) rows.push(`R\t300101000000Z\t240101000000Z,keyCompromise\t${(0x100000 + i).toString(16).toUpperCase()}\tunknown\t/CN=revoked ${i}\n`)
  writeFileSync(path.join(dir, 'index.txt'), rows.join(''))
  ossl(['ca', '-gencrl', '-batch', '-config', conf, '-cert', path.join(dir, 'ca.pem'), '-keyfile', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crl')])
  const hash = ossl(['x509', '-in', path.join(dir, 'ca.pem'), '-noout', '-subject_hash']).toString().trim()
  return { dir, conf, hash }
}

/** Run vmgit and openssl alternately (both see the same machine load); median and minimum of each, in ms. */
const pair = async (n, ours, theirs) => {
  await ours()
  await theirs()
  const a = []
  const b = []
  for (let i = 0; i < n; i++) {
    let t0 = performance.now()
    await ours()
    a.push(performance.now() - t0)
    t0 = performance.now()
    await theirs()
    b.push(performance.now() - t0)
  }
  const med = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]
  return { ours: med(a), theirs: med(b), oursMin: Math.min(...a), theirsMin: Math.min(...b) }
}

try {
  process.stdout.write(`setting up: 1 RSA CA + ${FILLER_CAS} EC CAs with CRLs, a signer, a ${IMAGES}-image list ...\n`)
  const main = makeCa('main', '/DC=org/DC=bench/CN=Bench Root CA', { rsa: true, revoked: REVOKED })
  ossl(['req', '-new', '-config', main.conf, '-newkey', 'rsa:2048', '-nodes', '-subj', '/DC=org/DC=bench/CN=Bench Signer',
    '-keyout', path.join(tmp, 'signer.key'), '-out', path.join(tmp, 'signer.csr')])
  ossl(['ca', '-batch', '-config', main.conf, '-notext', '-extensions', 'signer', '-cert', path.join(main.dir, 'ca.pem'),
    '-keyfile', path.join(main.dir, 'ca.key'), '-startdate', caDate(new Date(Date.now() - 86400e3)), '-enddate', caDate(new Date(Date.now() + 365 * 86400e3)),
    '-in', path.join(tmp, 'signer.csr'), '-out', path.join(tmp, 'signer.pem')])
  const ca150 = path.join(tmp, 'ca150')
  const ca1 = path.join(tmp, 'ca1')
  mkdirSync(ca150)
  mkdirSync(ca1)
  for (const d of [ca150, ca1]) {
    copyFileSync(path.join(main.dir, 'ca.pem'), path.join(d, `${main.hash}.0`))
    copyFileSync(path.join(main.dir, 'ca.crl'), path.join(d, `${main.hash}.r0`))
  }
  for (let i = 0; i < FILLER_CAS; i++) {
    const f = makeCa(`f${i}`, `/DC=org/DC=igtf/O=Filler ${i}/CN=Filler CA ${i}`)
    let n = 0
    while (n < 10) { try { copyFileSync(path.join(f.dir, 'ca.pem'), path.join(ca150, `${f.hash}.${n}`), 1 /* COPYFILE_EXCL */); break } catch { n++ } }
    copyFileSync(path.join(f.dir, 'ca.crl'), path.join(ca150, `${f.hash}.r${n}`))
    writeFileSync(path.join(ca150, `filler${i}.signing_policy`), 'access_id_CA X509 ...\n')
  }

  const image = (i) => ({
    'dc:description': `benchmark image ${i}`, 'dc:identifier': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    'dc:title': `Image ${i}`, 'hv:hypervisor': 'kvm', 'hv:format': 'QCOW2', 'hv:size': 2147483648 + i,
    'hv:uri': `https://example.org/images/${i}.qcow2`, 'hv:version': '1.0.0', 'sl:arch': 'x86_64',
    'sl:checksum:sha512': 'ab'.repeat(64), 'sl:comments': '', 'sl:os': 'Linux', 'sl:osversion': '9',
  })
  const list = {
    list: { 'dc:date:created': '2025-01-01T00:00:00Z', 'dc:date:expires': '2025-02-01T00:00:00Z', 'dc:description': 'bench',
      'dc:identifier': '4e186b44-2c64-40ea-97d5-e9e5c0bce059', 'dc:source': 'example.org', 'dc:title': 'bench',
      'hv:uri': 'https://example.org/list.smime', 'hv:version': '1' },
    endorser: { 'dc:creator': 'Bench', 'hv:ca': '/DC=org/DC=bench/CN=Bench Root CA', 'hv:dn': '/DC=org/DC=bench/CN=Bench Signer', 'hv:email': 'a@b.c' },
    images: Array.from({ length: IMAGES }, (_, i) => image(i)),
  }
  const json = Buffer.from(renderList(list, 'vmcaster'))
  const jsonFile = path.join(tmp, 'list.json')
  writeFileSync(jsonFile, json)
  const creds = await loadCredentials({ key: path.join(tmp, 'signer.key'), cert: path.join(tmp, 'signer.pem') }, { env: {} })
  const signedFile = path.join(tmp, 'list.smime')
  const signed = await signContent(json, creds)
  writeFileSync(signedFile, signed)
  const mb = (json.length / 1048576).toFixed(1)
  const now = new Date()

  const report = (what, r) => process.stdout.write(`${what}: vmgit ${r.ours.toFixed(1)} ms, openssl ${r.theirs.toFixed(1)} ms, ` +
    `ratio ${(r.ours / r.theirs).toFixed(2)}x (best runs ${r.oursMin.toFixed(1)} / ${r.theirsMin.toFixed(1)} ms = ${(r.oursMin / r.theirsMin).toFixed(2)}x; target <= 1x)\n`)

  for (const digest of ['sha256', 'sha1']) {
    const r = await pair(ITER, () => signContent(json, creds, { digest }), () => ossl(['smime', '-sign', '-md', digest, '-in', jsonFile,
      '-signer', path.join(tmp, 'signer.pem'), '-inkey', path.join(tmp, 'signer.key'), '-out', path.join(tmp, 'o.smime')]))
    report(`sign ${IMAGES} images (${mb} MB, ${digest})`, r)
  }
  for (const [label, dir] of [['150-CA dir', ca150], ['1-CA dir', ca1]]) {
    const r = await pair(ITER, async () => verifySmime(readFileSync(signedFile), { trust: await loadTrustStore(dir), at: now, crlCheck: true }),
      () => ossl(['smime', '-verify', '-CApath', dir, '-crl_check', '-in', signedFile, '-out', '/dev/null']))
    report(`verify ${IMAGES} images (${mb} MB) against ${label} with CRLs (${REVOKED} revoked in the signer's CRL)`, r)
  }
  const small = await signContent(Buffer.from(renderList({ ...list, images: list.images.slice(0, 10) }, 'vmcaster')), creds)
  const smallFile = path.join(tmp, 'small.smime')
  writeFileSync(smallFile, small)
  report('verify 10 images against 150-CA dir with CRLs', await pair(ITER,
    async () => verifySmime(readFileSync(smallFile), { trust: await loadTrustStore(ca150), at: now, crlCheck: true }),
    () => ossl(['smime', '-verify', '-CApath', ca150, '-crl_check', '-in', smallFile, '-out', '/dev/null'])))
  process.stdout.write(`(median of ${ITER} alternating runs each; vmgit in-process incl. reading the file and opening the trust dir, openssl as a process)\n`)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

#!/usr/bin/env node
// `npm run demo` (after the build): vmgit's main job end to end, on embedded defaults.
//  1. a throwaway CA and two endorser certificates, made with openssl at run time;
//  2. examples/imagelists copied into a temp git repository, validated, planned, published
//     (images and signed lists) to a local directory served over HTTP on 127.0.0.1;
//  3. a temp subscriber database subscribes to the lists, trusts the signers, selects the
//     images and runs `vmgit sync`: every list verified, every image downloaded and checked;
//  4. a second commit replaces one image: plan, publish, sync again: the new image is cached
//     and the old one expired. Everything lives in one temp directory, removed at the end.
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeImages } from '../examples/imagelists/make-images.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin/run.js')
const tmp = mkdtempSync(path.join(tmpdir(), 'vmgit-demo-'))
const tty = process.stdout.isTTY && !process.env.NO_COLOR
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s)
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s)
const gitEnv = { GIT_AUTHOR_NAME: 'Demo Endorser', GIT_AUTHOR_EMAIL: 'demo@example.org', GIT_COMMITTER_NAME: 'Demo Endorser', GIT_COMMITTER_EMAIL: 'demo@example.org' }

function exec(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1', ...gitEnv, ...opts.env }, cwd: opts.cwd ?? tmp }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    )
  })
}

async function openssl(...args) {
  const r = await exec('openssl', args)
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`)
  return r.stdout
}

/** Show and run a vmgit command; `ok` lists the exit codes that are not a failure. */
async function vmgit(args, { ok = [0], quiet = false, show } = {}) {
  console.log(`${dim('$')} vmgit ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ').replaceAll(tmp, '$DEMO')}`)
  const r = await exec(process.execPath, [bin, ...args])
  const text = (show ? show(r.stdout) : r.stdout + r.stderr).trimEnd()
  if (text && !quiet) console.log(text.replaceAll(tmp, '$DEMO').replace(/^/gm, '    '))
  if (!ok.includes(r.code)) throw new Error(`vmgit ${args[0]} exited ${r.code}\n${r.stdout}${r.stderr}`)
  return r
}

const step = (n, title) => console.log(`\n${bold(`== ${n}. ${title}`)}`)

// ---- 1. throwaway PKI: one CA per endorser, each with a CRL, in an OpenSSL hashed directory
async function makeCa(name, caSubject, signerSubject) {
  const d = path.join(tmp, 'pki', name)
  mkdirSync(d, { recursive: true })
  writeFileSync(path.join(d, 'index.txt'), '')
  writeFileSync(path.join(d, 'crlnumber'), '01\n')
  writeFileSync(path.join(d, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${d}/index.txt\ncrlnumber = ${d}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n`)
  writeFileSync(path.join(d, 'signer.ext'), 'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, nonRepudiation\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n')
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${d}/ca.key`, '-out', `${d}/ca.pem`, '-days', '30', '-subj', caSubject, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${d}/signer.key`, '-out', `${d}/signer.csr`, '-subj', signerSubject)
  await openssl('x509', '-req', '-in', `${d}/signer.csr`, '-CA', `${d}/ca.pem`, '-CAkey', `${d}/ca.key`, '-CAcreateserial', '-days', '30', '-extfile', `${d}/signer.ext`, '-out', `${d}/signer.pem`)
  await openssl('ca', '-config', `${d}/ca.cnf`, '-gencrl', '-keyfile', `${d}/ca.key`, '-cert', `${d}/ca.pem`, '-out', `${d}/ca.crl`)
  const hash = (await openssl('x509', '-noout', '-subject_hash', '-in', `${d}/ca.pem`)).trim()
  const trust = path.join(tmp, 'trust')
  mkdirSync(trust, { recursive: true })
  cpSync(`${d}/ca.pem`, path.join(trust, `${hash}.0`))
  cpSync(`${d}/ca.crl`, path.join(trust, `${hash}.r0`))
  return { key: `${d}/signer.key`, cert: `${d}/signer.pem`, subject: signerSubject, issuer: caSubject }
}

// ---- the site's web server: serves what publish writes, like any static web host
function serve(dir) {
  const server = createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    if (!file.startsWith(dir + path.sep) || !existsSync(file)) return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file))
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

const imagesLine = (stdout) => {
  try {
    const rows = JSON.parse(stdout)
    const list = Array.isArray(rows) ? rows : (rows.images ?? [])
    return list.map((i) => `${String(i.title ?? i.identifier).padEnd(34)} ${String(i.version ?? '').padEnd(16)} ${i.cached ? 'cached+verified' : i.state ?? ''}`).join('\n')
  } catch {
    return stdout
  }
}

let server
try {
  step(1, 'A throwaway test CA for each endorser (openssl, made now)')
  const cern = await makeCa('cern', '/DC=ch/DC=cern/CN=CERN Grid Certification Authority', '/DC=ch/DC=cern/OU=computers/CN=vm-images.cern.example')
  const egi = await makeCa('egi', '/DC=ORG/DC=SEE-GRID/CN=SEE-GRID CA 2013', '/DC=EU/DC=EGI/C=NL/O=Hosts/O=EGI.eu/CN=appdb.egi.example')
  console.log(`    trust directory $DEMO/trust: ${readdirSync(path.join(tmp, 'trust')).sort().join(' ')}`)
  console.log(`    signer ${cern.subject}\n    signer ${egi.subject}`)

  step(2, 'The endorsers\' repository: examples/imagelists in a fresh git repository')
  const www = path.join(tmp, 'www')
  mkdirSync(www)
  server = await serve(www)
  const base = `http://127.0.0.1:${server.address().port}`
  const repo = path.join(tmp, 'repo')
  cpSync(path.join(root, 'examples/imagelists'), repo, { recursive: true, filter: (src) => !src.includes(`${path.sep}files`) })
  // the example's public URLs become this machine's web server; targets write into its directory
  for (const dir of ['images', 'imagelists']) {
    for (const f of readdirSync(path.join(repo, dir))) {
      const p = path.join(repo, dir, f)
      writeFileSync(p, readFileSync(p, 'utf8').replaceAll('https://vm-images.cern.example/', `${base}/cern/`).replaceAll('https://appdb.egi.example/', `${base}/egi/`))
    }
  }
  const cfg = readFileSync(path.join(repo, 'vmgit.yaml'), 'utf8').replace(/^targets:[\s\S]*$/m, '')
  // vmgit init already names each image version by its own URL (image_uri); the demo adds the target
  writeFileSync(path.join(repo, 'vmgit.yaml'), `${cfg}${/^image_uri:/m.test(cfg) ? '' : 'image_uri: "{base}/{name}-{version}.{ext}"\n'}targets:\n  - match: ${base}/\n    replace: file://${www}/\n`)
  makeImages(repo)
  writeFileSync(path.join(repo, '.gitignore'), 'files/\n')
  await exec('git', ['init', '-q', '-b', 'main'], { cwd: repo })
  await exec('git', ['add', '-A'], { cwd: repo })
  await exec('git', ['commit', '-qm', 'Endorse the example images'], { cwd: repo })
  console.log(`    ${readdirSync(path.join(repo, 'images')).length} images, ${readdirSync(path.join(repo, 'imagelists')).length} lists, served at ${base}/`)
  await vmgit(['validate', '--repo', repo])
  await vmgit(['plan', '--repo', repo], { ok: [4] }) // 4: the plan has changes

  step(3, 'Publish: upload the images, sign each list, upload it, read it back')
  await vmgit(['publish', 'cern-production', 'cern-testing', '--repo', repo, '--key', cern.key, '--cert', cern.cert])
  await vmgit(['publish', 'egi-fedcloud', '--repo', repo, '--key', egi.key, '--cert', egi.cert])
  await vmgit(['verify', `${base}/cern/lists/production.list`, '--ca-dir', path.join(tmp, 'trust')])

  step(4, 'A cloud site subscribes: trust the endorsers, add the lists, select the images, sync')
  const site = ['--db', path.join(tmp, 'site/subscriber.db')]
  const siteEnv = ['--ca-dir', path.join(tmp, 'trust')]
  const cache = ['--cache-dir', path.join(tmp, 'site/cache')]
  const events = path.join(tmp, 'site/events.log')
  mkdirSync(path.join(tmp, 'site'), { recursive: true })
  const handler = `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_TITLE $VMCATCHER_EVENT_HV_VERSION" >> ${events}`
  await vmgit(['sub', 'trust', ...site, '--name', 'cern', '--subject', cern.subject, '--issuer', cern.issuer])
  await vmgit(['sub', 'trust', ...site, '--name', 'egi', '--subject', egi.subject, '--issuer', egi.issuer])
  for (const url of [`${base}/cern/lists/production.list`, `${base}/cern/lists/testing.list`, `${base}/egi/store/vo/fedcloud.example/image.list`]) {
    await vmgit(['sub', 'add', url, ...site, ...siteEnv])
  }
  const images = JSON.parse((await vmgit(['sub', 'images', ...site, '--json'], { quiet: true })).stdout)
  const ids = [...new Set((Array.isArray(images) ? images : images.images).map((i) => i.identifier))]
  for (const id of ids) await vmgit(['sub', 'select', id, ...site], { quiet: true })
  console.log(`    selected ${ids.length} images`)
  await vmgit(['sync', ...site, ...siteEnv, ...cache, '--event', handler])
  await vmgit(['sub', 'images', ...site, '--json'], { show: imagesLine })
  const cached = readdirSync(path.join(tmp, 'site/cache/cache'))
  console.log(`    cache/: ${cached.filter((f) => /^[0-9a-f]{128}$/.test(f)).length} verified files named by sha512, each also linked as cache/<identifier> for existing handlers`)

  step(5, 'The endorser replaces AlmaLinux 9 in a second commit: plan, publish, sync')
  const newFile = path.join(repo, 'files/almalinux-9-9.5.qcow2')
  writeFileSync(newFile, Buffer.concat([Buffer.from('AlmaLinux 9.5 demo image\n'), readFileSync(path.join(repo, 'files/almalinux-9.qcow2'))]))
  await vmgit(['image', 'update', 'almalinux-9', '--file', newFile, '--repo', repo])
  await exec('git', ['commit', '-qam', 'AlmaLinux 9.5'], { cwd: repo })
  await vmgit(['plan', '--repo', repo, '--base', 'HEAD~1'], { ok: [4] })
  const later = new Date(Date.now() + 2000).toISOString()
  await vmgit(['publish', 'cern-production', 'cern-testing', '--repo', repo, '--key', cern.key, '--cert', cern.cert, '--now', later])
  await vmgit(['publish', 'egi-fedcloud', '--repo', repo, '--key', egi.key, '--cert', egi.cert, '--now', later])
  await vmgit(['sync', ...site, ...siteEnv, ...cache, '--event', handler])
  await vmgit(['sub', 'images', ...site, '--json'], { show: imagesLine })
  console.log(`    expired/: ${readdirSync(path.join(tmp, 'site/cache/expired')).length} file(s) (the old AlmaLinux 9)`)
  console.log(`    events the handler saw:\n${readFileSync(events, 'utf8').trimEnd().replace(/^/gm, '      ')}`)

  console.log(`\n${bold('Done.')} Every list was verified (signature, chain, CRL, endorser, version) and every cached image matched its sha512.`)
  console.log('Next: vmgit init my-images, edit the YAML, vmgit validate --repo my-images; see README.md.')
} catch (e) {
  console.error(`\ndemo failed: ${e.message}`)
  process.exitCode = 1
} finally {
  server?.close()
  rmSync(tmp, { recursive: true, force: true })
}

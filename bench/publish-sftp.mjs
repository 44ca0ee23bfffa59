#!/usr/bin/env node
// SFTP upload of a 1 GiB image with vmgit's sftp backend (ssh2-sftp-client, setNoDelay, fastPut to
// a temp name + posix-rename) against OpenSSH's `scp` (SFTP protocol in OpenSSH 9) to the same
// throwaway sshd on 127.0.0.1 (Debian openssh-server, started here and stopped by PID).
// Target: ratio <= 1.2. Run after `npm run build`. BENCH_SFTP_MIB changes the size.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { openTransfer } from '../dist/transfer/index.js'
import { writeRandomFile } from './lib/random-file.mjs'

const MiB = 1 << 20
const SIZE_MIB = Number(process.env.BENCH_SFTP_MIB ?? 1024)
const RUNS = 3

const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)) }) })
const canConnect = (port) => new Promise((res) => { const s = net.connect(port, '127.0.0.1'); s.once('connect', () => (s.destroy(), res(true))); s.once('error', () => res(false)) })

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bench-sftp-'))
let sshd
try {
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true })
  const port = await freePort()
  const key = (n) => (execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, n)]), path.join(dir, n))
  const hostKey = key('host')
  const clientKey = key('client')
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(clientKey + '.pub'))
  const knownHosts = path.join(dir, 'known_hosts')
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(hostKey + '.pub', 'utf8').split(' ').slice(0, 2).join(' ')}\n`)
  writeFileSync(path.join(dir, 'sshd_config'), [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${dir}/sshd.pid`, `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `PermitRootLogin ${process.getuid?.() === 0 ? 'yes' : 'no'}`, 'Subsystem sftp internal-sftp', 'LogLevel ERROR', ''].join('\n'))
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: 'ignore' })
  while (!(await canConnect(port))) await new Promise((r) => setTimeout(r, 50))

  const file = path.join(dir, 'image.raw')
  writeRandomFile(file, SIZE_MIB * MiB)
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] })
  const dest = path.join(dir, 'dest')
  mkdirSync(dest)
  const user = os.userInfo().username

  // each run starts with no dirty pages of the previous one pending (writeback would bill the next run)
  const time = async (fn) => {
    execFileSync('sync')
    const t = process.hrtime.bigint()
    await fn()
    return Number(process.hrtime.bigint() - t) / 1e6
  }
  let scp = Infinity
  let scpGcm = Infinity
  let ours = Infinity
  const scpArgs = ['-q', '-i', clientKey, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-P', String(port), file, `${user}@127.0.0.1:${dest}/scp.raw`]
  const runScp = async () => {
    scp = Math.min(scp, await time(() => execFileSync('scp', scpArgs)))
    rmSync(`${dest}/scp.raw`)
    // the same cipher vmgit negotiates (ssh2 prefers AES-GCM; OpenSSH prefers chacha20-poly1305)
    scpGcm = Math.min(scpGcm, await time(() => execFileSync('scp', ['-c', 'aes128-gcm@openssh.com', ...scpArgs])))
    rmSync(`${dest}/scp.raw`)
  }
  const runOurs = async () => {
    ours = Math.min(ours, await time(async () => {
      // connection set-up included, as scp's is
      const t = await openTransfer(`sftp://${user}@127.0.0.1:${port}${dest}`, { identity: clientKey, knownHosts })
      await t.put(file, `${dest}/vmgit.raw`)
      await t.close()
    }))
    if (statSync(`${dest}/vmgit.raw`).size !== SIZE_MIB * MiB) throw new Error('upload incomplete')
    rmSync(`${dest}/vmgit.raw`)
  }
  // alternate who goes first, so neither always meets the other's after-effects
  for (let i = 0; i < RUNS; i++) for (const run of i % 2 ? [runOurs, runScp] : [runScp, runOurs]) await run()
  const mbps = (ms) => ((SIZE_MIB * MiB) / 1e6 / (ms / 1000)).toFixed(0)
  const limit = Math.min(scp, scpGcm)
  console.log(`scp ${SIZE_MIB} MiB to 127.0.0.1 sshd: ${scp.toFixed(0)} ms (${mbps(scp)} MB/s); scp -c aes128-gcm: ${scpGcm.toFixed(0)} ms (${mbps(scpGcm)} MB/s)`)
  console.log(`vmgit sftp put ${SIZE_MIB} MiB: ${ours.toFixed(0)} ms (${mbps(ours)} MB/s), ratio ${(ours / limit).toFixed(2)} to the faster scp (target <= 1.2)`)
} finally {
  if (sshd?.pid) process.kill(sshd.pid, 'SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}

/** sftp backend against a real openssh sshd: host key trust, key/passphrase/agent auth, paths. */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTransfer, Secret, type Transfer } from '../../src/transfer/index.js'
import { freePort, needs, SSHD, startSshd, type Sshd } from '../helpers/servers.js'

const need = needs(SSHD, '/usr/bin/ssh-agent')

describe.skipIf(need.skip)(`sftp transfer${need.reason ? ` (${need.reason})` : ''}`, () => {
  let s: Sshd
  let url = ''
  const opened: Transfer[] = []
  const open = async (...a: Parameters<typeof openTransfer>) => {
    const t = await openTransfer(...a)
    opened.push(t)
    return t
  }
  beforeAll(async () => {
    s = await startSshd()
    url = `sftp://${s.user}@127.0.0.1:${s.port}${s.root}`
  })
  afterAll(async () => {
    for (const t of opened) await t.close()
    await s?.stop()
  })

  describe('host key checking', () => {
    it('accepts a host listed in known_hosts', async () => {
      const t = await open(url, { identity: s.clientKey, knownHosts: s.knownHosts })
      await t.put(Buffer.from('ok'), `${s.root}/known.txt`)
      expect(readFileSync(path.join(s.root, 'known.txt'), 'utf8')).toBe('ok')
    })

    it('refuses an unknown host with HOSTKEY_UNKNOWN and tells how to add it', async () => {
      const empty = path.join(s.dir, 'empty_known_hosts')
      execFileSync('touch', [empty])
      const err = await openTransfer(url, { identity: s.clientKey, knownHosts: empty }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'HOSTKEY_UNKNOWN', exit: 3 })
      const msg = (err as Error).message
      expect(msg).toContain(s.fingerprint)
      expect(msg).toContain(`ssh-keyscan -p ${s.port} 127.0.0.1`)
      expect(msg).toContain('host_fingerprint')
    })

    it('refuses a host whose key differs from known_hosts with HOSTKEY_MISMATCH', async () => {
      const err = await openTransfer(url, { identity: s.clientKey, knownHosts: s.wrongKnownHosts }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'HOSTKEY_MISMATCH' })
      expect((err as Error).message).toMatch(/man-in-the-middle.*ssh-keygen -R/s)
    })

    it('accepts a pinned SHA256 fingerprint instead of known_hosts, and refuses a different pin', async () => {
      const t = await open(url, { identity: s.clientKey, hostFingerprint: s.fingerprint, knownHosts: '/nonexistent' })
      expect(await t.stat(`${s.root}/known.txt`)).toMatchObject({ size: 2 })
      const wrong = 'SHA256:' + 'A'.repeat(43)
      await expect(openTransfer(url, { identity: s.clientKey, hostFingerprint: wrong })).rejects.toMatchObject({ code: 'HOSTKEY_MISMATCH' })
    })

    it('rejects a malformed pin as a configuration error', async () => {
      await expect(openTransfer(url, { identity: s.clientKey, hostFingerprint: 'MD5:aa:bb' })).rejects.toMatchObject({ code: 'TRANSFER_CONFIG', exit: 2 })
    })
  })

  describe('authentication', () => {
    it('uses a PEM key protected by a passphrase', async () => {
      const t = await open(url, { identity: s.pemKey, passphrase: new Secret(s.passphrase), knownHosts: s.knownHosts })
      await t.put(Buffer.from('pem'), `${s.root}/pem.txt`)
      expect(await t.get(`${s.root}/pem.txt`)).toEqual(Buffer.from('pem'))
    })

    it('fails with TRANSFER_AUTH_FAILED on a wrong passphrase and never prints it', async () => {
      const bad = 'wrong-passphrase-xyz'
      const err = await openTransfer(url, { identity: s.pemKey, passphrase: bad, knownHosts: s.knownHosts }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_AUTH_FAILED' })
      expect(JSON.stringify(err) + String(err)).not.toContain(bad)
    })

    it('fails with TRANSFER_AUTH_FAILED when the server does not know the key', async () => {
      const other = path.join(s.dir, 'unknown_key')
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
      await expect(openTransfer(url, { identity: other, knownHosts: s.knownHosts })).rejects.toMatchObject({ code: 'TRANSFER_AUTH_FAILED' })
    })

    it('uses the ssh agent when no key file is given', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-agent-'))
      const sock = path.join(dir, 'agent.sock')
      const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' })
      try {
        for (let i = 0; i < 100 && !execFileSync('ls', [dir]).toString().includes('agent.sock'); i++) await new Promise((r) => setTimeout(r, 20))
        execFileSync('ssh-add', [s.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' })
        const t = await open(url, { agent: sock, knownHosts: s.knownHosts })
        await t.put(Buffer.from('agent'), `${s.root}/agent.txt`)
        expect(readFileSync(path.join(s.root, 'agent.txt'), 'utf8')).toBe('agent')
      } finally {
        process.kill(agent.pid!, 'SIGTERM')
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it('refuses to start without any credential (TRANSFER_CONFIG)', async () => {
      await expect(openTransfer(url, { knownHosts: s.knownHosts, agent: '' })).rejects.toMatchObject({ code: 'TRANSFER_CONFIG' })
    })
  })

  describe('paths', () => {
    it('treats /~/ as the login directory', async () => {
      const t = await open(url, { identity: s.clientKey, knownHosts: s.knownHosts })
      const rel = `vmgit-test-${process.pid}.txt`
      await t.put(Buffer.from('home'), `/~/${rel}`)
      const home = os.homedir()
      try {
        expect(readFileSync(path.join(home, rel), 'utf8')).toBe('home')
      } finally {
        rmSync(path.join(home, rel), { force: true })
      }
    })
  })

  describe('a server that goes away', () => {
    it('fails with TRANSFER_CONNECT_FAILED when nothing listens', async () => {
      const port = await freePort()
      const t = await openTransfer(`sftp://${s.user}@127.0.0.1:${port}/x`, { identity: s.clientKey, knownHosts: s.knownHosts }).catch((e: unknown) => e)
      expect(t).toMatchObject({ code: 'TRANSFER_CONNECT_FAILED' })
    })
  })
})

import { Flags } from '@oclif/core'
import { DEFAULT_MAX_IMAGES, type FetchLimits } from '../net/http.js'
import { ADDRESS_RANGES } from '../net/ssrf.js'

/**
 * oclif flag definitions shared by the `vmgit sync` and `vmgit sub …` commands (the only file of
 * src/subscriber/ that knows oclif; the core never imports it).
 */
export const dbFlag = {
  db: Flags.string({ description: 'Subscriber database (default ~/.local/state/vmgit/subscriber.db; /var/lib/vmgit/subscriber.db for root). Env: VMGIT_DB, or vmcatcher\'s VMCATCHER_RDBMS=sqlite:////abs/path', env: 'VMGIT_DB', helpGroup: 'STATE' }),
}

export const nowFlag = {
  now: Flags.string({ description: 'Verify at this instant instead of the clock (tests, historical checks); fixed for the whole run', hidden: true }),
}

export const trustFlags = {
  'ca-dir': Flags.string({ description: 'Trust directory of CA certificates and CRLs (IGTF layout). Env: VMGIT_CA_DIR, VMCATCHER_DIR_CERT; default /etc/grid-security/certificates', helpGroup: 'TRUST' }),
  'crl-check': Flags.boolean({ description: 'Require a current CRL of the signer\'s CA (--no-crl-check only for test CAs that publish none)', default: true, allowNo: true, helpGroup: 'TRUST' }),
}

export const netFlags = {
  'connect-timeout': Flags.integer({ description: 'Seconds to wait for a connection. Env: VMGIT_CONNECT_TIMEOUT', default: 30, env: 'VMGIT_CONNECT_TIMEOUT', min: 1, helpGroup: 'NETWORK' }),
  'idle-timeout': Flags.integer({ description: 'Seconds without data before a transfer is abandoned (stalled server). Env: VMGIT_IDLE_TIMEOUT', default: 60, env: 'VMGIT_IDLE_TIMEOUT', min: 1, helpGroup: 'NETWORK' }),
  deadline: Flags.integer({ description: 'Overall seconds for one list transfer (images get this plus size / --min-rate). Env: VMGIT_DEADLINE', default: 300, env: 'VMGIT_DEADLINE', min: 1, helpGroup: 'NETWORK' }),
  'allow-range': Flags.string({ description: 'Let image URLs and their redirects also reach this address range (attack S32; by default only public addresses and the range a signed URL names itself). Repeatable', multiple: true, options: ADDRESS_RANGES.filter((r) => r !== 'public'), helpGroup: 'NETWORK' }),
  'max-images': Flags.integer({ description: `Refuse a list with more images than this (TOO_MANY_IMAGES). Env: VMGIT_MAX_IMAGES`, default: DEFAULT_MAX_IMAGES, min: 1, env: 'VMGIT_MAX_IMAGES', helpGroup: 'LIMITS' }),
}

export function limitsFrom(f: { 'connect-timeout': number; 'idle-timeout': number; deadline: number; 'max-images': number; 'allow-range'?: string[] }): Partial<FetchLimits> {
  return { connectTimeoutMs: f['connect-timeout'] * 1000, idleTimeoutMs: f['idle-timeout'] * 1000, deadlineMs: f.deadline * 1000, maxImages: f['max-images'], ...(f['allow-range'] ? { allowRanges: f['allow-range'] } : {}) }
}

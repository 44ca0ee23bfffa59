import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'

/**
 * vmcatcher's event interface, which site handlers (glancepush's gpvmcupdate, the OpenNebula
 * example handler, the OpenStack handler) depend on: the event command runs through `/bin/sh -c`
 * with the image's data ONLY in environment variables (never on the command line), variables set
 * only when non-empty, a fresh environment per event (vmcatcher leaked one event's values into the
 * next), and a real timeout: TERM to the handler's process group, then KILL.
 */
export type EventType =
  | 'ProcessPrefix'
  | 'SubscriptionImageNew'
  | 'ExpirePrefix'
  | 'ExpirePostfix'
  | 'AvailablePrefix'
  | 'AvailablePostfix'
  | 'ProcessPostfix'

/** hv:image keys → VMCATCHER_EVENT_<name> (vmcatcher/launch.py plus the AppDB additions). */
export const IMAGE_VARS: readonly [string, string][] = [
  ['dc:description', 'DC_DESCRIPTION'],
  ['dc:identifier', 'DC_IDENTIFIER'],
  ['dc:title', 'DC_TITLE'],
  ['hv:hypervisor', 'HV_HYPERVISOR'],
  ['hv:size', 'HV_SIZE'],
  ['hv:uri', 'HV_URI'],
  ['hv:format', 'HV_FORMAT'],
  ['hv:version', 'HV_VERSION'],
  ['sl:arch', 'SL_ARCH'],
  ['sl:checksum:sha512', 'SL_CHECKSUM_SHA512'],
  ['sl:comments', 'SL_COMMENTS'],
  ['sl:os', 'SL_OS'],
  ['sl:osversion', 'SL_OSVERSION'],
  ['ad:mpuri', 'AD_MPURI'],
]

/** What one event says about an image: its list entry, its list, and the file name. */
export interface EventData {
  image?: Record<string, string | number>
  listId?: string
  vo?: string | null
  /** Base name of the file inside the cache dir (Available*) or the expired dir (ExpirePostfix), as vmcatcher. */
  filename?: string
}

export interface EventResult {
  type: EventType
  identifier?: string
  ok: boolean
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  output: string
}

export interface EventRunnerOptions {
  command?: string
  timeoutMs?: number
  /** grace period between TERM and KILL */
  killAfterMs?: number
  /** exported with every event: VMCATCHER_CACHE_DIR_*, VMCATCHER_RDBMS */
  runEnv: Record<string, string>
  baseEnv?: NodeJS.ProcessEnv
}

const OUTPUT_CAP = 16 * 1024

export function eventEnv(type: EventType, data: EventData, session: string, runEnv: Record<string, string>, base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !k.startsWith('VMCATCHER_EVENT_')) env[k] = v
  Object.assign(env, runEnv)
  const set = (name: string, v: unknown): void => {
    if (v === undefined || v === null) return
    const s = String(v)
    // set only when non-empty (vmcatcher); a NUL cannot travel in the environment
    if (s !== '' && !s.includes('\0')) env[`VMCATCHER_EVENT_${name}`] = s
  }
  set('TYPE', type)
  set('UUID_SESSION', session)
  if (data.image) for (const [key, name] of IMAGE_VARS) set(name, data.image[key])
  set('IL_DC_IDENTIFIER', data.listId)
  set('VO', data.vo)
  set('FILENAME', data.filename)
  return env
}

export class EventRunner {
  readonly session = randomUUID()
  readonly results: EventResult[] = []

  constructor(private readonly opts: EventRunnerOptions) {}

  get enabled(): boolean {
    return this.opts.command !== undefined
  }

  /** Run the handler for one event; never throws — a failing handler is reported, not fatal. */
  async fire(type: EventType, data: EventData = {}): Promise<EventResult | undefined> {
    const command = this.opts.command
    if (command === undefined) return undefined
    const env = eventEnv(type, data, this.session, this.opts.runEnv, this.opts.baseEnv ?? process.env)
    const timeoutMs = this.opts.timeoutMs ?? 10_000
    const killAfterMs = this.opts.killAfterMs ?? 5_000
    const identifier = data.image?.['dc:identifier']
    const result = await new Promise<EventResult>((resolve) => {
      let output = ''
      let timedOut = false
      const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      const collect = (d: Buffer): void => {
        if (output.length < OUTPUT_CAP) output += d.toString('utf8').slice(0, OUTPUT_CAP - output.length)
      }
      child.stdout.on('data', collect)
      child.stderr.on('data', collect)
      const killGroup = (sig: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig)
        } catch {
          // already gone
        }
      }
      let killTimer: NodeJS.Timeout | undefined
      const termTimer = setTimeout(() => {
        timedOut = true
        killGroup('SIGTERM')
        killTimer = setTimeout(() => killGroup('SIGKILL'), killAfterMs)
      }, timeoutMs)
      const finish = (exitCode: number | null, signal: string | null): void => {
        clearTimeout(termTimer)
        clearTimeout(killTimer)
        // after a timeout nothing of the handler's process group may survive
        if (timedOut) killGroup('SIGKILL')
        // a handler that left a background child holding our pipes must not hold the run
        child.stdout.destroy()
        child.stderr.destroy()
        resolve({ type, ok: exitCode === 0 && !timedOut, exitCode, signal, timedOut, output: output.trim(), ...(typeof identifier === 'string' ? { identifier } : {}) })
      }
      child.once('error', (e) => {
        output += e.message
        finish(null, null)
      })
      child.once('exit', (code, sig) => finish(code, sig))
    })
    this.results.push(result)
    return result
  }
}

export function describeEventFailure(r: EventResult): string {
  const what = r.timedOut ? 'timed out and was stopped' : r.signal ? `was killed by ${r.signal}` : `exited with ${r.exitCode}`
  const tail = r.output ? `: ${r.output.split('\n').slice(-3).join(' | ')}` : ''
  return `event handler for ${r.type}${r.identifier ? ` (image ${r.identifier})` : ''} ${what}${tail}`
}

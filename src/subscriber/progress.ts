import { escapeText } from '../util/escape.js'

/**
 * Download progress on a terminal only (never in cron mail or --json output): one status line on
 * stderr, redrawn at most every 200 ms, erased when the downloads end.
 */
export interface Bar {
  update(bytes: number): void
  done(): void
}

export interface Progress {
  start(label: string, total: number): Bar
}

const mib = (n: number): string => (n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)

export function makeProgress(stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY) return undefined
  const active = new Map<number, { label: string; total: number; bytes: number }>()
  let next = 0
  let last = 0
  const draw = (force: boolean): void => {
    const now = Date.now()
    if (!force && now - last < 200) return
    last = now
    const parts = [...active.values()].map((a) => {
      const pct = a.total > 0 ? Math.floor((100 * a.bytes) / a.total) : 100
      const width = 20
      const filled = Math.round((pct / 100) * width)
      return `${escapeText(a.label).slice(0, 24)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(a.bytes)}/${mib(a.total)} MiB`
    })
    const cols = stream.columns || 100
    stream.write('\r\x1b[K' + parts.join('  ').slice(0, cols - 1))
  }
  return {
    start(label, total) {
      const id = next++
      active.set(id, { label, total, bytes: 0 })
      draw(true)
      return {
        update(bytes) {
          const a = active.get(id)
          if (a) a.bytes = bytes
          draw(false)
        },
        done() {
          active.delete(id)
          if (active.size === 0) stream.write('\r\x1b[K')
          else draw(true)
        },
      }
    },
  }
}

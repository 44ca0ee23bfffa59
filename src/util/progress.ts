/**
 * A one-line progress bar on stderr, for TTYs only (callers decide; cron and CI logs get one
 * summary line per item instead). Returns an onProgress(sent, total) callback.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  let last = 0
  return (done: number, total: number) => {
    const t = Date.now()
    if (done < total && t - last < 100) return
    last = t
    const width = 30
    const frac = total > 0 ? Math.min(1, done / total) : 0
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.')
    const mib = (n: number) => (n / 1048576).toFixed(1)
    stream.write(`\r${label.slice(0, 40).padEnd(40)} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${mib(done)}/${mib(total)} MiB`)
    if (done >= total) stream.write('\n')
  }
}

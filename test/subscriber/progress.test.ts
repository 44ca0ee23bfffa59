import { describe, expect, it } from 'vitest'
import { makeProgress } from '../../src/subscriber/progress.js'

const stream = (tty: boolean): NodeJS.WriteStream & { out: string } => {
  const s = { isTTY: tty, columns: 100, out: '', write(c: string) { s.out += c; return true } }
  return s as unknown as NodeJS.WriteStream & { out: string }
}

describe('download progress', () => {
  it('is drawn on a terminal and erased when the downloads end', () => {
    const s = stream(true)
    const bar = makeProgress(s)!.start('image-a', 4 * 1048576)
    bar.update(2 * 1048576)
    bar.done()
    expect(s.out).toContain('image-a [....................] 0.0/4.0 MiB')
    expect(s.out.endsWith('\r\x1b[K')).toBe(true)
  })

  it('is never drawn into a pipe, a log file or cron mail', () => {
    expect(makeProgress(stream(false))).toBeUndefined()
  })
})

// The benchmarks' test image: `bytes` random bytes (incompressible, so no layer of the stack can
// shortcut them), written in 8 MiB blocks without holding the file in memory.
import { randomFillSync } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'

export function writeRandomFile(file, bytes) {
  const fd = openSync(file, 'w')
  try {
    const chunk = Buffer.alloc(8 << 20)
    for (let done = 0; done < bytes; done += chunk.length) {
      randomFillSync(chunk)
      writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done))
    }
  } finally {
    closeSync(fd)
  }
}

/** A no-echo passphrase prompt on the controlling terminal (never echoes, never logs). */
import { usageError } from '../util/errors.js'

export async function promptSecret(question: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    throw usageError('KEY_PASSPHRASE_REQUIRED', 'the key is encrypted and there is no terminal to ask for its passphrase; ' +
      'set VMGIT_KEY_PASSPHRASE (e.g. from a CI secret)')
  }
  // no echo: raw mode before the prompt shows, so nothing typed (or pasted) right after it is echoed
  stdin.setRawMode(true)
  process.stderr.write(question)
  stdin.resume()
  return new Promise((resolve, reject) => {
    let buf = ''
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(null)
        if (ch === '\u0003') return finish(usageError('KEY_PASSPHRASE_REQUIRED', 'passphrase entry cancelled'))
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1)
        else buf += ch
      }
    }
    const finish = (err: Error | null): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      if (err) reject(err)
      else resolve(buf)
    }
    stdin.on('data', onData)
  })
}

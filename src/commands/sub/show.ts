import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { usageError } from '../../util/errors.js'
import { escapeText } from '../../util/escape.js'
import { resolveDbPath } from '../../subscriber/config.js'
import { dbFlag } from '../../subscriber/flags.js'
import { storedUrl } from '../../net/redact.js'
import { findSubscription, openStore } from '../../subscriber/store.js'
import { showLines, subscriptionView } from '../../subscriber/views.js'

const FORMATS = ['lines', 'json', 'message', 'smime']

export default class SubShow extends BaseCommand<typeof SubShow> {
  static override summary = 'Show one subscription and its stored list'
  static override description = `Formats: lines (vmcatcher's key=value info lines), json, message (the verified JSON exactly as signed),
smime (the signed original, as fetched). Credentials are never printed.`
  static override examples = [
    '<%= config.bin %> sub show 4e186b44-2c64-40ea-97d5-e9e5c0bce059',
    '<%= config.bin %> sub show https://example.org/prod.smime --format message | jq .',
    '<%= config.bin %> sub show ID --format smime > list.smime && openssl smime -verify -CApath /etc/grid-security/certificates -in list.smime',
  ]
  static override args = { subscription: Args.string({ required: true, description: 'Subscription identifier or URL' }) }
  static override flags = {
    ...dbFlag,
    format: Flags.string({
      char: 'f',
      description: 'Output format: lines, json, message or smime (any case, as vmcatcher\'s VMCATCHER_OUTPUT_FORMAT=SMIME)',
      default: 'lines',
      env: 'VMCATCHER_OUTPUT_FORMAT',
      parse: async (v) => {
        const f = v.toLowerCase()
        if (!FORMATS.includes(f)) throw usageError('BAD_FORMAT', `--format ${v} is not one of ${FORMATS.join(', ')}`)
        return f
      },
    }),
  }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const sub = findSubscription(db, this.args.subscription, storedUrl)
      const format = this.flags.json ? 'json' : this.flags.format
      // exact bytes for a pipe (jq, openssl); on a terminal, S30: bidi and C1 controls (legal raw in JSON) are escaped
      const raw = (b: Buffer): boolean => process.stdout.write(process.stdout.isTTY ? escapeText(b.toString('utf8'), { newline: true, tab: true }) : b)
      if (format === 'message') return void raw(sub.content)
      if (format === 'smime') return void raw(sub.smime)
      const v = subscriptionView(db, sub)
      if (format === 'json') return void process.stdout.write(JSON.stringify(v, null, 2) + '\n')
      this.emit(v, () => showLines(v))
    } finally {
      db.close()
    }
  }
}

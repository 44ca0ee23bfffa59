import { Command, Flags, Interfaces } from '@oclif/core'
import { asLocalStateError } from './subscriber/localstate.js'
import { Exit, VmgitError } from './util/errors.js'
import { escapeText } from './util/escape.js'
import { Logger } from './util/log.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Thin adapter between oclif and the library core: parses flags, maps VmgitError to
 * exit codes and prints `--json` or text. No logic lives in commands.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout (errors too).', default: false }),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  /** every positional argument, for commands with `strict = false` (variadic) */
  protected positional: string[] = []

  public override async init(): Promise<void> {
    await super.init()
    const { args, flags, argv } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.positional = argv as string[]
  }

  /**
   * Print a result: JSON object with --json (exact; JSON escaping is already safe), else the text
   * lines. S30: every text line is escaped for the terminal (list-supplied strings can never drive
   * it or forge lines); a line given as an array is one tab-separated row whose fields are escaped
   * one by one, so a tab inside a field cannot forge a column.
   */
  protected emit(json: unknown, text: () => string | (string | readonly unknown[])[]): void {
    if (this.flags?.json) {
      process.stdout.write(JSON.stringify(json, null, 2) + '\n')
      return
    }
    const t = text()
    const lines = Array.isArray(t) ? t : [t]
    for (const l of lines) {
      const line = typeof l === 'string' ? escapeText(l) : l.map((f) => escapeText(f === null || f === undefined ? '' : String(f))).join('\t')
      if (line !== '') process.stdout.write(line + '\n')
    }
  }

  /** A warning on stderr, escaped for the terminal (S30). */
  protected warn2(message: string): void {
    this.logger().warning(escapeText(message))
  }

  /** Lines for people and log systems (journald priorities under systemd; `--log-format json` where a command has it). */
  protected logger(): Logger {
    return new Logger({ format: (this.flags as Record<string, unknown> | undefined)?.['log-format'] === 'json' ? 'json' : 'text' })
  }

  protected override async catch(caught: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // S34: a failure of the local state (SQLite, cache permissions) is a typed error with the path and the fix
    const err = asLocalStateError(caught) as typeof caught
    if (err instanceof VmgitError) {
      if (this.flags?.json) process.stdout.write(JSON.stringify({ ok: false, error: err.toJSON() }, null, 2) + '\n')
      this.logger().error(escapeText(err.message), { code: err.code })
      this.exit(err.exit)
    }
    // oclif's own exits (this.exit) and parse errors keep their codes; parse errors are usage (2).
    if (err.oclif?.exit !== undefined) throw err
    if (process.env.VMGIT_DEBUG) throw err
    this.logger().error(`${escapeText(err.message)}\n(set VMGIT_DEBUG=1 for a stack trace and report it as a bug)`, { code: 'INTERNAL' })
    this.exit(Exit.INVALID)
  }
}

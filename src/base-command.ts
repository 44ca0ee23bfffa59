import { Command, Flags, Interfaces } from '@oclif/core'
import { asLocalStateError } from './subscriber/localstate.js'
import { envError } from './util/envfs.js'
import { VmgitError, type ErrorCode } from './util/errors.js'
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
  protected emit(json: object, text: () => string | (string | readonly unknown[])[]): void {
    if (this.flags?.json) {
      // the --json contract: one document, `ok` first (true unless the command says otherwise)
      process.stdout.write(JSON.stringify({ ok: true, ...json }, null, 2) + '\n')
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

  /** What a failing command had to report besides its error (per-item problems, counts), for --json. */
  private failResult: Record<string, unknown> = {}

  /**
   * End the command with a failure after its result: with --json one document
   * `{ ok: false, error: { code, message, exit }, ...result }`; as text the error line on stderr.
   * The exit status is the error's (from the catalogue), so `exit` in the document is the process's.
   */
  protected fail(error: VmgitError, result: object = {}): never {
    const { ok: _ok, error: _e, ...rest } = result as Record<string, unknown>
    this.failResult = rest
    throw error
  }

  /** --json was asked for, even when flag parsing failed before this.flags was set. */
  private wantsJson(): boolean {
    if (this.flags) return this.flags.json === true
    const end = this.argv.indexOf('--')
    return (end < 0 ? this.argv : this.argv.slice(0, end)).some((a) => a === '--json' || a === '--json=true')
  }

  protected override async catch(caught: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits (this.exit) keep their codes
    if (caught?.constructor?.name === 'ExitError') throw caught
    // S34: a failure of the local state (SQLite, cache permissions) is a typed error with the path and the fix;
    // issue 14: so are a wrong flag or argument, and every other error of the environment (errno + path)
    const err = asLocalStateError(caught) as typeof caught
    if (err instanceof VmgitError && /^Parsing --/.test(err.message)) err.message = cleanParseMessage(err.message)
    const typed = err instanceof VmgitError ? err : (parseError(err, this.id) ?? envError(err))
    if (typed) {
      if (this.wantsJson()) process.stdout.write(JSON.stringify({ ok: false, error: typed.toJSON(), ...this.failResult }, null, 2) + '\n')
      this.logger().error(escapeText(typed.message), { code: typed.code })
      this.exit(typed.exit)
    }
    if ((err as typeof caught).oclif?.exit !== undefined) throw err
    if (process.env.VMGIT_DEBUG) throw err
    const bug = new VmgitError('INTERNAL', `${err?.message ?? String(err)}\n(set VMGIT_DEBUG=1 for a stack trace and report it as a bug)`)
    if (this.wantsJson()) process.stdout.write(JSON.stringify({ ok: false, error: bug.toJSON(), ...this.failResult }, null, 2) + '\n')
    this.logger().error(escapeText(bug.message), { code: bug.code })
    this.exit(bug.exit)
  }
}

/** oclif's flag and argument parsing errors, by class, as catalogued usage errors (exit 2). */
const PARSE_ERRORS: Record<string, ErrorCode> = {
  NonExistentFlagsError: 'FLAG_UNKNOWN',
  UnexpectedArgsError: 'ARG_UNEXPECTED',
  RequiredArgsError: 'ARG_MISSING',
  FlagInvalidOptionError: 'FLAG_INVALID',
  ArgInvalidOptionError: 'ARG_INVALID',
  FailedFlagValidationError: 'FLAG_CONFLICT',
  ViolatedFlagConstraintError: 'FLAG_CONFLICT',
  CLIParseError: 'FLAG_INVALID',
}

function parseError(e: unknown, id: string | undefined): VmgitError | undefined {
  const name = (e as Error)?.constructor?.name ?? ''
  // a flag's own parser failing (e.g. an integer flag given "abc"): oclif rewrites the message to "Parsing --FLAG …"
  const isParse = name in PARSE_ERRORS || (e as { parse?: unknown })?.parse !== undefined || /^Parsing --/.test((e as Error)?.message ?? '')
  if (!isParse) return undefined
  const code = PARSE_ERRORS[name] ?? 'FLAG_INVALID'
  const msg = cleanParseMessage((e as Error).message)
  return new VmgitError(code, `${msg}; see vmgit ${(id ?? '').replace(/:/g, ' ')} --help`.replace(/ {2,}/g, ' '))
}

/** oclif's parse message on one line, without its "See more help" tail (vmgit names the command's --help). */
const cleanParseMessage = (m: string): string => m.replace(/\n?See more help with --help\s*$/, '').replace(/^(Parsing --[\w-]+)\s*\n\s*/, '$1: ').replace(/\s*\n\s*/g, ' ').trim()

/**
 * oclif help with one addition: every command's --help ends with the exit-code table
 * (EXIT_TABLE in util/errors.ts), so a script author reads the same contract everywhere.
 */
import { Command, Help } from '@oclif/core'
import { EXIT_TABLE } from './util/errors.js'

export default class VmgitHelp extends Help {
  protected override formatCommand(command: Command.Loadable): string {
    const rows: [string, string][] = EXIT_TABLE.map((r) => [String(r.code), r.meaning])
    return `${super.formatCommand(command)}\n\n${this.section('EXIT CODES', rows)}`
  }
}

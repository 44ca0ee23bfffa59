import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

/** Issue 14: -h, "did you mean" for mistyped commands, and shell completions, through the CLI. */
describe('-h, command suggestions and completions (issue 14)', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'vmgit-ac-'))
  afterAll(() => rmSync(home, { recursive: true, force: true }))

  describe('-h', () => {
    it('is --help for the root and for every kind of command (topic, nested, flagged)', async () => {
      for (const args of [[], ['verify'], ['sub', 'add'], ['sub', 'trust', 'list']]) {
        const [short, long] = [await runCli([...args, '-h']), await runCli([...args, '--help'])]
        expect(short.code, args.join(' ')).toBe(0)
        expect(short.stdout).toBe(long.stdout)
        expect(short.stdout).toContain('USAGE')
      }
    })
  })

  describe('when a command is mistyped', () => {
    it('names the closest command as COMMAND_UNKNOWN, exit 2', async () => {
      const r = await runCli(['verfy', 'list.smime'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('error [COMMAND_UNKNOWN]')
      expect(r.stderr).toContain('did you mean "vmgit verify"?')
    })

    it('suggests inside a topic (sub lst → sub list) and answers --json with one document', async () => {
      const r = await runCli(['sub', 'lst', '--json'])
      expect(r.code).toBe(2)
      expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: 'COMMAND_UNKNOWN', exit: 2, message: expect.stringContaining('did you mean "vmgit sub list"?'), details: { suggestion: 'sub list' } } })
    })

    it('suggests nothing when nothing is close', async () => {
      const r = await runCli(['zzzzzzzzzzzzzzzz'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('error [COMMAND_UNKNOWN]')
      expect(r.stderr).not.toContain('did you mean')
    })
  })

  describe('shell completions (vmgit autocomplete)', () => {
    const cache = path.join(home, '.cache/vmgit/autocomplete')
    const env = { HOME: home, XDG_CACHE_HOME: undefined }

    it('prints the bash setup line and builds the completion functions for bash and zsh', async () => {
      const setup = await runCli(['autocomplete', 'script', 'bash'], { env })
      expect(setup.code).toBe(0)
      expect(setup.stdout).toContain(path.join(cache, 'bash_setup'))
      const refresh = await runCli(['autocomplete', '--refresh-cache'], { env })
      expect(refresh.code, refresh.stderr).toBe(0)
      expect(existsSync(path.join(cache, 'functions/bash/vmgit.bash'))).toBe(true)
      expect(existsSync(path.join(cache, 'functions/zsh/_vmgit'))).toBe(true)
    })

    it('completes commands, topics and flags in bash', () => {
      const complete = (line: string): string[] => {
        const words = line.split(' ')
        const script = `source "${path.join(cache, 'functions/bash/vmgit.bash')}"; COMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE="${line}"; _vmgit_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`
        return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean)
      }
      expect(complete('vmgit ver')).toEqual(['verify'])
      expect(complete('vmgit sub ad')).toEqual(['add'])
      expect(complete('vmgit verify --c')).toEqual(['--ca-dir', '--crl-check'])
    })
  })
})

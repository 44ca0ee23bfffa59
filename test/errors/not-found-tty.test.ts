import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { runCliOnTty } from '../helpers/pty.js'
import { imageWith, tempDir, VALID, writeFiles } from '../model/repo-helpers.js'

/**
 * Issue 14, "did you mean" on a terminal: @oclif/plugin-not-found asks "Did you mean vmgit
 * validate?" (src/hooks/command-not-found.ts) only when stdin and stderr are a terminal, on a real
 * pseudo-terminal here. Off a terminal (pipes, cron, CI) and with --json it never asks:
 * test/errors/help-suggest-complete.test.ts runs those through pipes and gets COMMAND_UNKNOWN.
 */

let dir: string
let cleanup: () => void
beforeEach(() => ({ dir, cleanup } = tempDir('vmgit-notfound-')))
afterEach(() => cleanup())

const PROMPT = 'Did you mean validate?'

describe('a mistyped command on a terminal', () => {
  describe('when the suggestion is confirmed', () => {
    it('runs the suggested command with the arguments as typed, and exits with its status (0)', async () => {
      writeFiles(dir, VALID)
      const r = await runCliOnTty(['valdate', '--repo', dir], { answers: [[PROMPT, 'y\r']], timeoutMs: 30_000 })
      expect(r.screen).toContain('valdate is not a vmgit command')
      expect(r.screen).toContain(PROMPT)
      expect(r.screen).toMatch(/ok: 1 endorser\(s\), 1 image\(s\), 1 list\(s\), no problems/)
      expect(r.code).toBe(0)
    })

    it('keeps the exit status of the command it ran when that one fails (1 for problems found, not 2 nor 127)', async () => {
      writeFiles(dir, { ...VALID, 'images/alma.yaml': imageWith({ sha512: 'ABC' }) })
      const r = await runCliOnTty(['valdate', '--repo', dir], { answers: [[PROMPT, 'y\r']], timeoutMs: 30_000 })
      expect(r.screen).toContain('[BAD_SHA512]')
      expect(r.screen).toContain('VALIDATION_FAILED')
      expect(r.screen).not.toContain('COMMAND_UNKNOWN')
      expect(r.code).toBe(1)
    })
  })

  describe('when the suggestion is declined', () => {
    it('runs nothing and fails with COMMAND_UNKNOWN naming the command (exit 2, not the plugin\'s 127)', async () => {
      writeFiles(dir, VALID)
      const r = await runCliOnTty(['valdate', '--repo', dir], { answers: [[PROMPT, 'n\r']], timeoutMs: 30_000 })
      expect(r.screen).toContain(PROMPT)
      expect(r.screen).toContain('error [COMMAND_UNKNOWN]: "valdate" is not a vmgit command; did you mean "vmgit validate"?')
      expect(r.screen).not.toContain('no problems')
      expect(r.code).toBe(2)
    })
  })

  describe('when nobody answers', () => {
    it('gives up after the plugin\'s 10 s and fails with COMMAND_UNKNOWN instead of waiting forever', async () => {
      writeFiles(dir, VALID)
      const t = Date.now()
      const r = await runCliOnTty(['valdate', '--repo', dir], { timeoutMs: 40_000 })
      expect(r.screen).toContain(PROMPT)
      expect(r.screen).toContain('error [COMMAND_UNKNOWN]')
      expect(r.code).toBe(2)
      expect(Date.now() - t).toBeLessThan(35_000)
    }, 45_000)
  })

  describe('with --json', () => {
    it('never asks: one JSON document with COMMAND_UNKNOWN and the suggestion, exit 2', async () => {
      writeFiles(dir, VALID)
      const r = await runCliOnTty(['valdate', '--repo', dir, '--json'], { timeoutMs: 30_000 })
      expect(r.screen).not.toContain('Did you mean')
      const doc = r.screen.slice(r.screen.indexOf('{'), r.screen.lastIndexOf('}') + 1).replace(/\r\n/g, '\n')
      expect(JSON.parse(doc)).toEqual({ ok: false, error: { code: 'COMMAND_UNKNOWN', exit: 2, message: expect.stringContaining('did you mean "vmgit validate"?'), details: { suggestion: 'validate' } } })
      expect(r.code).toBe(2)
    })
  })
})

describe('a mistyped command off a terminal (pipes: a script, cron, CI)', () => {
  it('never asks and never waits: COMMAND_UNKNOWN at once, exit 2', async () => {
    writeFiles(dir, VALID)
    const t = Date.now()
    const r = await runCli(['valdate', '--repo', dir])
    expect(r.stdout + r.stderr).not.toContain('Did you mean')
    expect(r.stderr).toContain('error [COMMAND_UNKNOWN]')
    expect(r.code).toBe(2)
    expect(Date.now() - t).toBeLessThan(9_000) // the prompt would wait 10 s
  })
})

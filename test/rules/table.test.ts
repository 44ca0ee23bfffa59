/**
 * Issue 14, "one rulebook": each rule of src/rules/book.ts run through each command that applies
 * it, as a user would (the built CLI, real git repositories from test/publish/repo-fixture.ts, lists
 * signed by openssl and served over loopback HTTP from test/subscriber/world.ts), asserting the same
 * verdict everywhere: the rule's one code in the command's output, and the same exit class —
 * "refused" (exit 1 or 2: the command stops, publish writes nothing) or "reported" (a warning; exit
 * 0, or 4 for plan's "changes"). A last test proves every (rule, command) pair of the book is in
 * the table, so a rule added to the book without a row here fails.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RULES, type Command, type RuleId } from '../../src/rules/book.js'
import { runCli, type CliResult } from '../helpers/cli.js'
import type { Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'
import { hepixDate, makeWorld, sharedPki, type ListSpec, type World } from '../subscriber/world.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-rules-'))
let pki: Pki
// one instant for every command: seconds precision, inside the test signer's validity and after
// the test CRLs were issued (set once the PKI exists)
let NOW: Date
let NOW_ISO: string
const MIN = 60_000

beforeAll(async () => {
  pki = await sharedPki()
  NOW = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000)
  NOW_ISO = NOW.toISOString()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

type Outcome = 'refused' | 'reported'
interface Row {
  rule: RuleId
  command: Command
  outcome: Outcome
  run: () => Promise<CliResult>
}

// ---------- the publisher side: a fresh git repository per case ----------

let n = 0
interface Pub { repo: FixtureRepo; pub: string }
function publisherRepo(mutate: (r: FixtureRepo) => void = () => {}): Pub {
  const dir = path.join(tmp, `repo-${++n}`)
  const pub = path.join(dir, '..', `pub-${n}`)
  const repo = makeFixtureRepo(dir, 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
  mutate(repo)
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' } })
  writeFileSync(path.join(dir, '.gitignore'), 'files/\n')
  git('init', '-q', '-b', 'main')
  git('add', '-A')
  git('commit', '-qm', 'fixture')
  return { repo, pub }
}
const edit = (r: FixtureRepo, file: string, from: string | RegExp, to: string) => {
  const p = path.join(r.dir, file)
  const before = readFileSync(p, 'utf8')
  const after = before.replace(from, to)
  if (after === before) throw new Error(`edit of ${file} changed nothing`)
  writeFileSync(p, after)
}
const addToList = (r: FixtureRepo, line: string) => edit(r, 'imagelists/production.yaml', 'endorser:', `${line}\nendorser:`)

type PubCase = { mutate?: (r: FixtureRepo) => void; now?: string; cert?: () => { key: string; cert: string }; env?: Record<string, string> }
const signer = () => ({ key: pki.signer.key, cert: pki.signer.cert })

function publisherRuns(c: PubCase): Record<'validate' | 'plan' | 'sign' | 'publish', () => Promise<CliResult>> {
  const env = c.env ?? {}
  const now = () => c.now ?? NOW_ISO
  return {
    validate: () => runCli(['validate', '--repo', publisherRepo(c.mutate).repo.dir, '--now', now()], { env }),
    plan: () => runCli(['plan', '--repo', publisherRepo(c.mutate).repo.dir, '--now', now(), '--cert', (c.cert ?? signer)().cert], { env }),
    sign: () => {
      const { repo } = publisherRepo(c.mutate)
      const cr = (c.cert ?? signer)()
      return runCli(['sign', 'production', '--repo', repo.dir, '--now', now(), '--key', cr.key, '--cert', cr.cert, '--out', path.join(repo.dir, 'out.smime')], { env })
    },
    publish: async () => {
      const { repo, pub } = publisherRepo(c.mutate)
      const cr = (c.cert ?? signer)()
      const r = await runCli(['publish', '--repo', repo.dir, '--now', now(), '--key', cr.key, '--cert', cr.cert], { env })
      // a refused publish writes no list
      let listWritten = true
      try {
        readFileSync(path.join(pub, 'lists/production.list'))
      } catch {
        listWritten = false
      }
      return { ...r, stdout: `${r.stdout}\n[list written: ${listWritten}]` }
    },
  }
}

// ---------- the signed side: lists signed by openssl, served over loopback ----------

const worlds: World[] = []
afterAll(async () => {
  for (const w of worlds) await w.close()
})
async function world(): Promise<World> {
  const w = await makeWorld({ pki })
  worlds.push(w)
  return w
}
type Bad = (w: World) => Omit<ListSpec, 'id' | 'version' | 'images'>

function signedRuns(bad: Bad): Record<'verify' | 'import' | 'sub add' | 'sync', () => Promise<CliResult>> {
  const fileOf = async (): Promise<{ w: World; file: string }> => {
    const w = await world()
    const file = path.join(w.dir, 'list.smime')
    writeFileSync(file, await w.signed({ id: w.listId, version: '2', images: [], ...bad(w) }))
    return { w, file }
  }
  return {
    verify: async () => {
      const { w, file } = await fileOf()
      return w.cli(['verify', file, '--ca-dir', pki.caDir, '--at', NOW_ISO])
    },
    import: async () => {
      const { w, file } = await fileOf()
      return w.cli(['import', file, '--repo', path.join(w.dir, 'repo'), '--ca-dir', pki.caDir, '--at', NOW_ISO])
    },
    'sub add': async () => {
      const w = await world()
      await w.publish({ id: w.listId, version: '2', images: [], ...bad(w) })
      expect((await w.trust()).code).toBe(0)
      return w.cli(['sub', 'add', w.listUrl, '--now', NOW_ISO])
    },
    sync: async () => {
      const w = await world()
      await w.publish({ id: w.listId, version: '1', images: [] })
      expect((await w.trust()).code).toBe(0)
      expect((await w.cli(['sub', 'add', w.listUrl, '--now', NOW_ISO])).code).toBe(0)
      const before = w.dump()
      await w.publish({ id: w.listId, version: '2', images: [], ...bad(w) })
      const r = await w.cli(['sync', '--now', NOW_ISO])
      expect(w.dump().subscription).toEqual(before.subscription) // the stored list is kept
      return r
    },
  }
}

// ---------- the table ----------

const rows: Row[] = []
const add = (rule: RuleId, runs: Partial<Record<Command, () => Promise<CliResult>>>, outcome: Outcome | Partial<Record<Command, Outcome>> = 'refused') => {
  for (const [command, run] of Object.entries(runs) as [Command, () => Promise<CliResult>][]) {
    rows.push({ rule, command, run, outcome: typeof outcome === 'string' ? outcome : (outcome[command] ?? 'refused') })
  }
}

// S08: the boundary: a list whose dc:date:expires IS the time of judging is expired everywhere
add('LIST_EXPIRED', {
  ...publisherRuns({ mutate: (r) => addToList(r, `expires: "${hepixDate(NOW)}"`) }),
  ...signedRuns(() => ({ expires: NOW })),
})
// S09: created more than the 5 minutes of clock skew after now
add('CREATED_IN_FUTURE', {
  ...publisherRuns({ mutate: (r) => addToList(r, `created: "${hepixDate(new Date(NOW.getTime() + 10 * MIN))}"`) }),
  ...signedRuns(() => ({ created: new Date(NOW.getTime() + 10 * MIN) })),
})
// §2.4 / S03: the endorser names someone else than the signer (validate knows no signer: not its rule)
const otherDn = '/DC=org/DC=vmgit-test/O=Test Grid/CN=Someone Else'
const pubMismatch = publisherRuns({ mutate: (r) => writeFileSync(path.join(r.dir, 'endorsers/team.yaml'), `dn: "${otherDn}"\nemail: images@example.org\ncreator: Image team\n`) })
add('ENDORSER_MISMATCH', { plan: pubMismatch.plan, sign: pubMismatch.sign, publish: pubMismatch.publish, ...signedRuns(() => ({ dn: otherDn })) })
// §2.2 / S17: the signing certificate expired (validate judges the configured certificate)
const expiredCert = () => ({ key: pki.expired.key, cert: pki.expired.cert })
add('CERT_EXPIRED', publisherRuns({ cert: expiredCert, env: { VMGIT_SIGNING_CERT: '' }, mutate: (r) => edit(r, 'vmgit.yaml', 'version: 1\n', `version: 1\nsigning:\n  cert: ${pki.expired.cert}\n`) }))
// §2.2: a signing time before the certificate's notBefore (the test signer is valid from yesterday)
add('CERT_NOT_YET_VALID', publisherRuns({ now: '2015-06-01T00:00:00Z', mutate: (r) => edit(r, 'vmgit.yaml', 'version: 1\n', `version: 1\nsigning:\n  cert: ${pki.signer.cert}\n`) }))
// S17: a list that outlives its certificate is signed, with the same warning everywhere
add('CERT_EXPIRES_BEFORE_LIST', publisherRuns({ mutate: (r) => edit(r, 'vmgit.yaml', /lifetime: 28d\nsigning:[^\n]*\n|lifetime: 28d\n/, `lifetime: 3650d\nsigning:\n  cert: ${pki.signer.cert}\n`) }), 'reported')
// publish order: an image to upload whose source: file is gone (validate cannot know whether publish must upload it: it warns)
const noSource = publisherRuns({ mutate: (r) => unlinkSync(r.images[0]!.file) })
add('IMAGE_SOURCE_UNREADABLE', { validate: noSource.validate, plan: noSource.plan, publish: noSource.publish }, { validate: 'reported' })
// §3.3: an image with a source whose uri no target matches
const noTarget = publisherRuns({ mutate: (r) => edit(r, 'images/alma.yaml', /uri: "https:\/\/images\.example\.org\//, 'uri: "https://elsewhere.example.net/') })
add('NO_TARGET', { validate: noTarget.validate, plan: noTarget.plan, publish: noTarget.publish })
// §3.3: a list whose hv:uri no target matches
const listNoMatch = publisherRuns({ mutate: (r) => edit(r, 'imagelists/production.yaml', 'uri: "https://images.example.org/lists/', 'uri: "https://elsewhere.example.net/lists/') })
add('TARGET_NO_MATCH', { validate: listNoMatch.validate, plan: listNoMatch.plan, publish: listNoMatch.publish })
// a relative target: `replace: public/` is neither a URL nor an absolute path
const relative = publisherRuns({ mutate: (r) => edit(r, 'vmgit.yaml', /replace: "file:\/\/[^"]*"/, 'replace: "public/"') })
add('TRANSFER_URL_INVALID', { validate: relative.validate, plan: relative.plan, publish: relative.publish })

describe('issue 14: one rulebook, the same verdict in every command', () => {
  describe.each(Object.keys(RULES) as RuleId[])('rule %s', (rule) => {
    const mine = rows.filter((r) => r.rule === rule)
    it.each(mine.map((r) => [r.command, r.outcome, r] as const))('%s: %s with the code', async (_c, outcome, row) => {
      const r = await row.run()
      const out = `${r.stdout}\n${r.stderr}`
      expect(out, `exit ${r.code}\n${out}`).toContain(RULES[rule].code)
      if (outcome === 'refused') {
        expect([1, 2], out).toContain(r.code)
        if (row.command === 'publish') expect(r.stdout).toContain('[list written: false]')
      } else {
        expect([0, 4], out).toContain(r.code)
      }
    }, 60_000)
  })

  it(`covers every (rule, command) pair of the book (${rows.length} pairs)`, () => {
    const book = Object.entries(RULES).flatMap(([id, r]) => r.commands.map((c) => `${id} × ${c}`)).sort()
    expect(rows.map((r) => `${r.rule} × ${r.command}`).sort()).toEqual(book)
  })
})

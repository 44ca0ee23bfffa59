/**
 * Issue 14, "one rulebook": each rule of src/rules/book.ts run through each command that applies
 * it, as a user would (the built CLI, real git repositories from test/publish/repo-fixture.ts, lists
 * signed by openssl and served over loopback HTTP from test/subscriber/world.ts), asserting the same
 * verdict everywhere: the rule's one code in the command's output, and the outcome the book gives
 * that command (book.ts `outcome`, shown in docs/rules.md) — "refuses" (exit 1 or 2: the command
 * stops, publish writes no list, sync and sub add keep the stored state), "warns" (exit 0, or 4 for
 * plan's "changes") or "marks the image" (exit 0: the list is stored, that one image is recorded as
 * unusable, the others are not). A last test proves every (rule, command) pair of the book is in the
 * table, so a rule added to the book without a row here fails.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { outcomeOf, RULES, type Command, type Outcome, type RuleId } from '../../src/rules/book.js'
import { runCli, type CliResult } from '../helpers/cli.js'
import { commitAll } from '../helpers/git.js'
import type { Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'
import { hepixDate, imageEntry, makeWorld, sharedPki, type ImageFile, type ListSpec, type World } from '../subscriber/world.js'

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
/** A world whose site trusts the endorser and is subscribed to `first`, the list served at its URL. */
async function subscribed(first: Omit<ListSpec, 'id'>): Promise<World> {
  const w = await world()
  await w.publish({ id: w.listId, ...first })
  expect((await w.trust()).code).toBe(0)
  expect((await w.cli(['sub', 'add', w.listUrl, '--now', NOW_ISO])).code).toBe(0)
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
      const w = await subscribed({ version: '1', images: [] })
      const before = w.dump()
      await w.publish({ id: w.listId, version: '2', images: [], ...bad(w) })
      const r = await w.cli(['sync', '--now', NOW_ISO])
      expect(w.dump().subscription).toEqual(before.subscription) // the stored list is kept
      return r
    },
  }
}

// ---------- version order: a second list after a first one ----------

/**
 * A repository published once with a fixed `version: "2.0"`, then changed by `then` and committed:
 * the next plan (against the published copy) and publish see the list before and after.
 */
function republishRuns(then: (r: FixtureRepo) => void): Record<'plan' | 'publish', () => Promise<CliResult>> {
  const setup = async (): Promise<Pub> => {
    const p = publisherRepo((r) => addToList(r, 'version: "2.0"'))
    const first = await runCli(['publish', '--repo', p.repo.dir, '--now', NOW_ISO, '--key', pki.signer.key, '--cert', pki.signer.cert])
    expect(first.code, first.stderr).toBe(0)
    then(p.repo)
    commitAll(p.repo.dir, 'the change')
    return p
  }
  return {
    plan: async () => runCli(['plan', '--repo', (await setup()).repo.dir, '--now', NOW_ISO, '--cert', pki.signer.cert]),
    publish: async () => {
      const { repo, pub } = await setup()
      const file = path.join(pub, 'lists/production.list')
      const before = readFileSync(file)
      const r = await runCli(['publish', '--repo', repo.dir, '--now', NOW_ISO, '--key', pki.signer.key, '--cert', pki.signer.cert])
      return { ...r, stdout: `${r.stdout}\n[list written: ${!readFileSync(file).equals(before)}]` }
    },
  }
}

/** sync after a subscription stored `stored`, on `next` served in its place: the stored list is kept. */
const syncAfter = (stored: Partial<ListSpec>, next: Partial<ListSpec>) => async (): Promise<CliResult> => {
  const w = await subscribed({ version: '2', images: [], ...stored })
  const before = w.dump()
  await w.publish({ id: w.listId, version: '2', images: [], ...next })
  const r = await w.cli(['sync', '--now', NOW_ISO])
  expect(w.dump().subscription).toEqual(before.subscription)
  return r
}

// ---------- image values: one bad image beside a good one, in a signed list ----------

type ImageRow = { identifier: string; problem: string | null }
/**
 * verify, import, sub add and sync on a signed list holding a good image and one whose entry `bad`
 * changes. Each runner also checks the state its outcome in the book promises: refused, nothing is
 * written or stored; marked, the list is stored with only that image unusable.
 */
function imageRuns(rule: RuleId, bad: (f: ImageFile) => Record<string, string | number>): Partial<Record<Command, () => Promise<CliResult>>> {
  let badId = ''
  const spec = (w: World): ListSpec => {
    const good = w.image('good.qcow2', 1000)
    const other = w.image('other.qcow2', 1000)
    const entry = { ...imageEntry(other), ...bad(other) }
    badId = String(entry['dc:identifier'])
    return { id: w.listId, version: '2', images: [imageEntry(good), entry] }
  }
  // marked: both images are stored, only the bad one with a problem naming the rule
  const marked = (w: World, command: Command): void => {
    if (outcomeOf(RULES[rule], command) !== 'marks the image') return
    const images = w.dump().image as ImageRow[]
    expect(images).toHaveLength(2)
    expect(images.filter((i) => i.problem !== null).map((i) => [i.identifier, String(i.problem).includes(rule)])).toEqual([[badId, true]])
  }
  const runs: Partial<Record<Command, () => Promise<CliResult>>> = {
    verify: async () => {
      const w = await world()
      const file = path.join(w.dir, 'list.smime')
      writeFileSync(file, await w.signed(spec(w)))
      return w.cli(['verify', file, '--ca-dir', pki.caDir, '--at', NOW_ISO])
    },
    import: async () => {
      const w = await world()
      const file = path.join(w.dir, 'list.smime')
      writeFileSync(file, await w.signed(spec(w)))
      const repo = path.join(w.dir, 'repo')
      const r = await w.cli(['import', file, '--repo', repo, '--ca-dir', pki.caDir, '--at', NOW_ISO])
      // refused: nothing is written; reported: the list is imported as it is
      expect(existsSync(path.join(repo, 'imagelists')), r.stderr).toBe(outcomeOf(RULES[rule], 'import') !== 'refuses')
      return r
    },
    'sub add': async () => {
      const w = await world()
      await w.publish(spec(w))
      expect((await w.trust()).code).toBe(0)
      const r = await w.cli(['sub', 'add', w.listUrl, '--now', NOW_ISO])
      expect(w.dump().subscription ?? [], r.stderr).toHaveLength(outcomeOf(RULES[rule], 'sub add') === 'refuses' ? 0 : 1)
      marked(w, 'sub add')
      return r
    },
    sync: async () => {
      const w = await subscribed({ version: '1', images: [] })
      const before = w.dump()
      await w.publish(spec(w))
      const r = await w.cli(['sync', '--now', NOW_ISO])
      const after = w.dump().subscription as { version: string }[]
      if (outcomeOf(RULES[rule], 'sync') === 'refuses') expect(after).toEqual(before.subscription)
      else expect(after.map((x) => x.version), r.stderr).toEqual(['2'])
      marked(w, 'sync')
      return r
    },
  }
  return Object.fromEntries(Object.entries(runs).filter(([c]) => (RULES[rule].commands as readonly string[]).includes(c)))
}

/** The runners of the commands a rule names. */
function pick<T>(runs: Partial<Record<Command, T>>, commands: readonly Command[]): Partial<Record<Command, T>> {
  return Object.fromEntries(Object.entries(runs).filter(([c]) => commands.includes(c as Command))) as Partial<Record<Command, T>>
}

/** The image YAML of the publisher fixture, changed by `f`. */
const editImage = (f: (yaml: string) => string) => (r: FixtureRepo): void => {
  const file = path.join(r.dir, 'images/alma.yaml')
  writeFileSync(file, f(readFileSync(file, 'utf8')))
}

// ---------- the table ----------

const rows: Row[] = []
/** A row per command; its outcome is the book's for that command (book.ts `outcome`), never the table's own. */
const add = (rule: RuleId, runs: Partial<Record<Command, () => Promise<CliResult>>>) => {
  for (const [command, run] of Object.entries(runs) as [Command, () => Promise<CliResult>][]) {
    rows.push({ rule, command, run, outcome: outcomeOf(RULES[rule], command) })
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
add('CERT_EXPIRES_BEFORE_LIST', publisherRuns({ mutate: (r) => edit(r, 'vmgit.yaml', /lifetime: 28d\nsigning:[^\n]*\n|lifetime: 28d\n/, `lifetime: 3650d\nsigning:\n  cert: ${pki.signer.cert}\n`) }))
// publish order: an image to upload whose source: file is gone (validate cannot know whether publish must upload it: it warns)
const noSource = publisherRuns({ mutate: (r) => unlinkSync(r.images[0]!.file) })
add('IMAGE_SOURCE_UNREADABLE', { validate: noSource.validate, plan: noSource.plan, publish: noSource.publish })
// §3.3: an image with a source whose uri no target matches
const noTarget = publisherRuns({ mutate: (r) => edit(r, 'images/alma.yaml', /uri: "https:\/\/images\.example\.org\//, 'uri: "https://elsewhere.example.net/') })
add('NO_TARGET', { validate: noTarget.validate, plan: noTarget.plan, publish: noTarget.publish })
// §3.3: a list whose hv:uri no target matches
const listNoMatch = publisherRuns({ mutate: (r) => edit(r, 'imagelists/production.yaml', 'uri: "https://images.example.org/lists/', 'uri: "https://elsewhere.example.net/lists/') })
add('TARGET_NO_MATCH', { validate: listNoMatch.validate, plan: listNoMatch.plan, publish: listNoMatch.publish })
// a relative target: `replace: public/` is neither a URL nor an absolute path
const relative = publisherRuns({ mutate: (r) => edit(r, 'vmgit.yaml', /replace: "file:\/\/[^"]*"/, 'replace: "public/"') })
add('TRANSFER_URL_INVALID', { validate: relative.validate, plan: relative.plan, publish: relative.publish })

// S06: a lower hv:version than the published / stored one
add('ROLLBACK', {
  ...republishRuns((r) => edit(r, 'imagelists/production.yaml', 'version: "2.0"', 'version: "1.0"')),
  sync: syncAfter({ version: '2' }, { version: '1' }),
})
// S07: the same hv:version over other signed content
add('EQUAL_VERSION', {
  ...republishRuns((r) => edit(r, 'imagelists/production.yaml', /title: "[^"]*"/, 'title: "Production, retitled"')),
  sync: syncAfter({ version: '2' }, { version: '2', extra: { 'dc:description': 'other content, same version' } }),
})
// issue 15: an image's bytes change under the same image hv:version
add('IMAGE_VERSION_NOT_RAISED', {
  plan: async () => {
    const { repo } = publisherRepo()
    edit(repo, 'images/alma.yaml', /sha512: "[0-9a-f]+"/, `sha512: "${'e'.repeat(128)}"`)
    return runCli(['plan', '--repo', repo.dir, '--base', 'HEAD', '--now', NOW_ISO, '--cert', pki.signer.cert])
  },
  sync: async () => {
    const w = await world()
    const first = w.image('first.qcow2', 1000)
    await w.publish({ id: w.listId, version: '1', images: [first] })
    expect((await w.trust()).code).toBe(0)
    expect((await w.cli(['sub', 'add', w.listUrl, '--now', NOW_ISO])).code).toBe(0)
    await w.publish({ id: w.listId, version: '2', images: [w.image('second.qcow2', 1200, first.id)] }) // both at image hv:version 1
    const r = await w.cli(['sync', '--now', NOW_ISO])
    expect((w.dump().subscription as { version: string }[]).map((x) => x.version), r.stderr).toEqual(['2'])
    return r
  },
})
// format §1.2: a checksum in uppercase (consumers compare the text)
const upperSha = (y: string): string => y.replace(/sha512: "([0-9a-f]+)"/, (_m, h: string) => `sha512: "${h.toUpperCase()}"`)
add('BAD_SHA512', {
  ...pick(publisherRuns({ mutate: editImage(upperSha) }), RULES.BAD_SHA512.commands),
  ...imageRuns('BAD_SHA512', (f) => ({ 'sl:checksum:sha512': f.sha512.toUpperCase() })),
})
// format §1.2: a size above 2^53-1 (JSON numbers lose exactness there)
add('BAD_SIZE', {
  ...pick(publisherRuns({ mutate: editImage((y) => y.replace(/size: \d+/, 'size: 9007199254740993')) }), RULES.BAD_SIZE.commands),
  ...imageRuns('BAD_SIZE', () => ({ 'hv:size': '9007199254740993' })),
})
// S18: an identifier that climbs out of a cache directory
add('UNSAFE_IDENTIFIER', {
  ...pick(publisherRuns({ mutate: editImage((y) => y.replace(/identifier: "[^"]*"/, 'identifier: ".."')) }), RULES.UNSAFE_IDENTIFIER.commands),
  ...imageRuns('UNSAFE_IDENTIFIER', () => ({ 'dc:identifier': '..' })),
})
// format §1.2: a safe identifier that is not a UUID
add('NOT_UUID', {
  ...pick(publisherRuns({ mutate: editImage((y) => y.replace(/identifier: "[^"]*"/, 'identifier: "alma-9"')) }), RULES.NOT_UUID.commands),
  ...imageRuns('NOT_UUID', () => ({ 'dc:identifier': 'other-image-9' })),
})

describe('issue 14: one rulebook, the same verdict in every command', () => {
  describe.each(Object.keys(RULES) as RuleId[])('rule %s', (rule) => {
    const mine = rows.filter((r) => r.rule === rule)
    it.each(mine.map((r) => [r.command, r.outcome, r] as const))('%s: %s, with the code', async (_c, outcome, row) => {
      const r = await row.run()
      const out = `${r.stdout}\n${r.stderr}`
      expect(out, `exit ${r.code}\n${out}`).toContain(RULES[rule].code)
      if (outcome === 'refuses') {
        expect([1, 2], out).toContain(r.code)
        if (row.command === 'publish') expect(r.stdout).toContain('[list written: false]')
      } else if (outcome === 'warns') {
        expect([0, 4], out).toContain(r.code)
      } else {
        // marks the image: the list is taken (the runner checked the stored state)
        expect(r.code, out).toBe(0)
      }
    }, 90_000)
  })

  it(`covers every (rule, command) pair of the book (${rows.length} pairs)`, () => {
    const book = Object.entries(RULES).flatMap(([id, r]) => r.commands.map((c) => `${id} × ${c}`)).sort()
    expect(rows.map((r) => `${r.rule} × ${r.command}`).sort()).toEqual(book)
  })
})

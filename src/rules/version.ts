/**
 * The rulebook's version-order rules (book.ts: ROLLBACK, EQUAL_VERSION), as one pure function used
 * by plan (base against head), publish (the copy at the target against what it would sign) and
 * sync (the stored list against the fetched one). The order itself is format §1.4's
 * split_numeric_sort, passed in as `compare` (src/imagelist/version.ts compareVersions: the rulebook
 * sits below imagelist/ in the import graph).
 */
import type { Verdict } from './list.js'
import { RULES } from './book.js'

export interface VersionFacts {
  /** hv:version of the list before (published, base, stored) */
  before: string
  /** hv:version of the list now (to publish, head, fetched) */
  now: string
  /** true when the signed content is the same (then an equal version is no change at all) */
  sameContent: boolean
  /** the creation dates, where the judge has them (sync: a higher version created earlier is a replay too) */
  createdBefore?: Date
  createdNow?: Date
}

/** What each side is told to do. */
const FIX = {
  publisher: {
    ROLLBACK: (name: string) => `subscribers refuse it as a replay (vmcatcher error 17): remove the explicit version from ${name} (vmgit then stamps the signing time) or set a higher one`,
    EQUAL_VERSION: (name: string) => `subscribers refuse an equal version with other content (attacks S07): remove the \`version:\` line from ${name} (vmgit then stamps the signing time) or raise it`,
  },
  subscriber: {
    ROLLBACK: (id: string) => `an old list was replayed (if the publisher really went back after a key compromise, run \`vmgit sub reset ${id}\`)`,
    EQUAL_VERSION: () => 'the stored list is kept (the publisher must raise hv:version)',
  },
} as const

/**
 * S06 / vmcatcher 17: a lower hv:version is a rollback; S07: an equal one with other signed content
 * is refused. `who` names the list in the fix (the publisher's YAML file, the subscriber's list id).
 */
export function versionOrderVerdicts(f: VersionFacts, compare: (a: string, b: string) => -1 | 0 | 1, side: 'publisher' | 'subscriber', who: string): Verdict[] {
  const cmp = compare(f.now, f.before)
  if (cmp < 0) {
    const what = side === 'publisher' ? `hv:version ${f.now} is lower than the published ${f.before}` : `the list has hv:version ${f.now}, lower than the stored ${f.before}`
    return [{ rule: 'ROLLBACK', code: RULES.ROLLBACK.code, severity: 'error', key: 'hv:version', message: `${what}; ${FIX[side].ROLLBACK(who)}` }]
  }
  if (cmp === 0) {
    if (f.sameContent) return []
    const what = side === 'publisher' ? `the list changes but keeps the published hv:version ${f.now}` : `the list keeps hv:version ${f.now} but its signed content changed`
    return [{ rule: 'EQUAL_VERSION', code: RULES.EQUAL_VERSION.code, severity: 'error', key: 'hv:version', message: `${what}; ${FIX[side].EQUAL_VERSION(who)}` }]
  }
  if (f.createdBefore && f.createdNow && f.createdNow.getTime() < f.createdBefore.getTime()) {
    return [{ rule: 'ROLLBACK', code: RULES.ROLLBACK.code, severity: 'error', key: 'dc:date:created', message: `the list has a higher hv:version but was created ${f.createdNow.toISOString()}, before the stored one (${f.createdBefore.toISOString()}); refused` }]
  }
  return []
}

/**
 * issue 15 / format §1.2 image hv:version: an image whose content keys changed (`changed`: the
 * publisher compares sl:checksum:sha512, hv:size and hv:uri, since vmgit names an upload after the
 * version; a subscriber the bytes, sl:checksum:sha512 and hv:size) must come with a higher image
 * hv:version. plan refuses it; sync warns and keeps the good copy (book.ts outcome).
 */
export function imageVersionVerdicts(f: { before: string | null; now: string | null; changed: readonly string[] }, compare: (a: string, b: string) => -1 | 0 | 1, side: 'publisher' | 'subscriber', what: string): Verdict[] {
  if (f.changed.length === 0) return []
  if (f.before !== null && f.now !== null && compare(f.now, f.before) > 0) return []
  const fix = side === 'publisher'
    ? `run \`vmgit bump ${what}\` or set a version higher than ${f.before ?? '(none)'}`
    : 'the publisher should raise it. The cached copy stays until the new file is verified'
  const message = side === 'publisher'
    ? `image "${what}" changed ${f.changed.join(', ')} but its hv:version ${f.now ?? '(none)'} is not higher than ${f.before ?? '(none)'}; ${fix}`
    : `image ${what} changes its ${f.changed[0]} but its hv:version ${f.now ?? '(none)'} is not higher than the previous ${f.before ?? '(none)'}; ${fix}`
  return [{ rule: 'IMAGE_VERSION_NOT_RAISED', code: RULES.IMAGE_VERSION_NOT_RAISED.code, severity: 'error', key: 'hv:version', message }]
}

/**
 * The rulebook (issue 14, design.md "Rules as a table, verdicts as data"): every rule about a list
 * or an image that more than one command judges, written once, with the spec section or attack id
 * it enforces, its one stable code, and the commands that apply it. The checks themselves are in
 * list.ts (pure: facts and a time in, verdicts out) and publishable.ts (the repository against its
 * vmgit.yaml targets and the files on disk); commands differ only in which rules they apply (the
 * `commands` column) and how they report a verdict (a problem line, a plan issue, an error).
 * test/rules/table.test.ts runs each rule through each of its commands and asserts the same verdict.
 */

import type { ErrorCode } from '../util/catalogue.js'

export type Command = 'validate' | 'plan' | 'sign' | 'publish' | 'verify' | 'import' | 'sub add' | 'sync'

export interface Rule {
  /** the one code every command reports for it */
  code: ErrorCode
  /** spec section or attack id */
  cite: string
  /** what it refuses */
  rule: string
  /** the commands that apply it; every other command does not judge this */
  commands: readonly Command[]
}

const SIGNED: readonly Command[] = ['verify', 'import', 'sub add', 'sync']
const PUBLISHER: readonly Command[] = ['validate', 'plan', 'sign', 'publish']

export const RULES = {
  LIST_EXPIRED: {
    code: 'LIST_EXPIRED', cite: 'attacks S08; vmcatcher error 34; format §1.2',
    rule: 'a list whose dc:date:expires is at or before the time of judging (expires == now is expired)',
    commands: [...PUBLISHER, ...SIGNED],
  },
  CREATED_IN_FUTURE: {
    code: 'CREATED_IN_FUTURE', cite: 'attacks S09; vmcatcher error 33',
    rule: 'a list whose dc:date:created is more than the clock skew (5 minutes) after the time of judging',
    commands: [...PUBLISHER, ...SIGNED],
  },
  ENDORSER_MISMATCH: {
    code: 'ENDORSER_MISMATCH', cite: 'format §1.2, §2.4; attacks S03; vmcatcher error 12',
    rule: 'hv:dn / hv:ca that are not the signing certificate\'s subject / issuer',
    commands: ['plan', 'sign', 'publish', 'verify', 'import', 'sub add', 'sync'],
  },
  CERT_EXPIRED: {
    code: 'CERT_EXPIRED', cite: 'format §2.2 (the signer must be currently valid); attacks S17',
    rule: 'a signing certificate whose notAfter is before the signing time',
    commands: ['validate', 'plan', 'sign', 'publish'],
  },
  CERT_NOT_YET_VALID: {
    code: 'CERT_NOT_YET_VALID', cite: 'format §2.2',
    rule: 'a signing certificate whose notBefore is after the signing time',
    commands: ['validate', 'plan', 'sign', 'publish'],
  },
  CERT_EXPIRES_BEFORE_LIST: {
    code: 'CERT_EXPIRES_BEFORE_LIST', cite: 'attacks S17 (a list never outlives its signature)',
    rule: 'a list that would expire after its signing certificate (a warning: subscribers drop it when the certificate expires)',
    commands: ['validate', 'plan', 'sign', 'publish'],
  },
  IMAGE_SOURCE_UNREADABLE: {
    code: 'IMAGE_SOURCE_UNREADABLE', cite: 'publish order (images before the list); format §3.6',
    rule: 'an image with a `source:` file that cannot be read, when publishing must upload it (validate, which cannot see the targets, warns)',
    commands: ['validate', 'plan', 'publish'],
  },
  NO_TARGET: {
    code: 'NO_TARGET', cite: 'format §3.3 (the upload target is derived from hv:uri)',
    rule: 'an image with a `source:` to upload whose uri no vmgit.yaml target matches',
    commands: ['validate', 'plan', 'publish'],
  },
  TARGET_NO_MATCH: {
    code: 'TARGET_NO_MATCH', cite: 'format §3.3, §3.7',
    rule: 'a list whose hv:uri no vmgit.yaml target matches (only in a repository that declares targets)',
    commands: ['validate', 'plan', 'publish'],
  },
  TRANSFER_URL_INVALID: {
    code: 'TRANSFER_URL_INVALID', cite: 'format §3.3; transfer targets',
    rule: 'a target that maps a uri to something that is not an absolute URL or path (e.g. `replace: public/`)',
    commands: ['validate', 'plan', 'publish'],
  },
} as const satisfies Record<string, Rule>

export type RuleId = keyof typeof RULES

/** The clock skew allowed on dc:date:created (attacks.md "Defaults": 5 minutes). */
export const CLOCK_SKEW_MS = 5 * 60 * 1000

/**
 * Verdicts about one list's own dates: `publish` refuses that list and goes on with the others (a
 * list past its fixed expiry must not stop the refresh of every other list), where other repository
 * errors stop the whole run.
 */
export const PER_LIST_CODES: ReadonlySet<string> = new Set([RULES.LIST_EXPIRED.code, RULES.CREATED_IN_FUTURE.code])

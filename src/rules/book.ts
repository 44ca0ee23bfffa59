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

/**
 * How a command acts on a verdict. 'refuses' (the default): the command stops, or refuses the list
 * or repository it judges (exit 1 or 2). 'warns': reported, the command goes on (exit 0; plan 0 or
 * 4). 'marks the image': the list is accepted and the one image is recorded as unusable (never
 * downloaded, never delivered); the list's other images are kept (sync, sub add).
 */
export type Outcome = 'refuses' | 'warns' | 'marks the image'

export interface Rule {
  /** the one code every command reports for it */
  code: ErrorCode
  /** spec section or attack id */
  cite: string
  /** what it refuses */
  rule: string
  /** the commands that apply it; every other command does not judge this */
  commands: readonly Command[]
  /** where a command legitimately acts otherwise than 'refuses', and why (the rule text says why) */
  outcome?: Partial<Record<Command, Outcome>>
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
    outcome: { validate: 'warns', plan: 'warns', sign: 'warns', publish: 'warns' },
  },
  IMAGE_SOURCE_UNREADABLE: {
    code: 'IMAGE_SOURCE_UNREADABLE', cite: 'publish order (images before the list); format §3.6',
    rule: 'an image with a `source:` file that cannot be read, when publishing must upload it (validate, which cannot see the targets, warns)',
    commands: ['validate', 'plan', 'publish'],
    outcome: { validate: 'warns' },
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
  // ---- version order (format §1.4: split_numeric_sort; compareVersions in src/imagelist/version.ts) ----
  ROLLBACK: {
    code: 'ROLLBACK', cite: 'attacks S06; vmcatcher error 17; format §1.2 hv:version, §1.4',
    rule: 'a list whose hv:version is lower than the one before it: the published list (plan: the base; publish: the copy at the target) or the list this site stored (sync, even if that one expired; also a higher version created before the stored list). validate, verify, import and sub add judge one list alone: there is no earlier version to compare',
    commands: ['plan', 'publish', 'sync'],
  },
  EQUAL_VERSION: {
    code: 'EQUAL_VERSION', cite: 'attacks S07 (TUF 5.4.3.1); format §1.2 hv:version',
    rule: 'a list that keeps the hv:version of the one before it but whose signed content changed (plan: a fixed `version:` on a changed list; publish: re-signing at the published version; sync: the stored list is kept)',
    commands: ['plan', 'publish', 'sync'],
  },
  IMAGE_VERSION_NOT_RAISED: {
    code: 'IMAGE_VERSION_NOT_RAISED', cite: 'issue 15 (the subscriber keeps the good copy); format §1.2 image hv:version, §3.6; docs/subscriber.md',
    rule: 'an image that keeps its dc:identifier but changes its content without a higher image hv:version (plan compares sl:checksum:sha512, hv:size and hv:uri with the base or published list; sync compares sl:checksum:sha512 and hv:size with the stored list). plan refuses it; sync warns and accepts the list (a refusal would freeze every other image of it; consumers do not compare image versions) and keeps the cached copy until the new file verifies',
    commands: ['plan', 'sync'],
    outcome: { sync: 'warns' },
  },
  // ---- image values (format §1.2 image level; attacks S05, S18) ----
  BAD_SHA512: {
    code: 'BAD_SHA512', cite: 'format §1.2 sl:checksum:sha512; attacks S05',
    rule: 'an image whose sl:checksum:sha512 is not 128 lowercase hex digits (consumers compare it to hexdigest() as text). The publisher (validate, plan, sign, publish) refuses to sign it; import writes it as it is and reports it (the YAML is to be fixed: validate then refuses it); a subscriber keeps the list and marks that one image unusable (vmcatcher drops the image, not the list); verify reports it as sync would judge it',
    commands: ['validate', 'plan', 'sign', 'publish', 'verify', 'import', 'sub add', 'sync'],
    outcome: { verify: 'warns', import: 'warns', 'sub add': 'marks the image', sync: 'marks the image' },
  },
  BAD_SIZE: {
    code: 'BAD_SIZE', cite: 'format §1.2 hv:size; attacks S12 (the download is capped at hv:size)',
    rule: 'an image whose hv:size is not a whole number of bytes from 0 to 2^53-1 (a JSON integer, or a string of digits as AppDB writes it). The publisher (validate, plan, sign, publish) refuses to sign it; import writes it as it is and reports it; a subscriber keeps the list and marks that one image unusable; verify reports it as sync would judge it',
    commands: ['validate', 'plan', 'sign', 'publish', 'verify', 'import', 'sub add', 'sync'],
    outcome: { verify: 'warns', import: 'warns', 'sub add': 'marks the image', sync: 'marks the image' },
  },
  UNSAFE_IDENTIFIER: {
    code: 'UNSAFE_IDENTIFIER', cite: 'attacks S18; format §1.2 dc:identifier',
    rule: 'a list or image dc:identifier outside [A-Za-z0-9._-]{1,128}, or `.` / `..` (consumers use it in file names): refused everywhere, the whole list (sync keeps the stored one)',
    commands: ['validate', 'plan', 'sign', 'publish', 'verify', 'import', 'sub add', 'sync'],
  },
  NOT_UUID: {
    code: 'NOT_UUID', cite: 'format §1.2 dc:identifier (RFC 4122 UUID; "format unchecked" by vmcatcher)',
    rule: 'a safe list or image dc:identifier that is not an RFC 4122 UUID: a warning where vmgit writes or reads the list (publish signs it: plan already said so); subscribers (vmcatcher does not check the form either) accept it silently',
    commands: ['validate', 'plan', 'verify', 'import'],
    outcome: { validate: 'warns', plan: 'warns', verify: 'warns', import: 'warns' },
  },
} as const satisfies Record<string, Rule>

/** How `command` acts on a verdict of `rule` (the book's `outcome`, else 'refuses'). */
export function outcomeOf(rule: Rule, command: Command): Outcome {
  return rule.outcome?.[command] ?? 'refuses'
}

export type RuleId = keyof typeof RULES

/** The clock skew allowed on dc:date:created (attacks.md "Defaults": 5 minutes). */
export const CLOCK_SKEW_MS = 5 * 60 * 1000

/**
 * Verdicts about one list's own dates: `publish` refuses that list and goes on with the others (a
 * list past its fixed expiry must not stop the refresh of every other list), where other repository
 * errors stop the whole run.
 */
export const PER_LIST_CODES: ReadonlySet<string> = new Set([RULES.LIST_EXPIRED.code, RULES.CREATED_IN_FUTURE.code])

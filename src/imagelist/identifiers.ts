/**
 * dc:identifier rules. Consumers use identifiers as file and directory names in their caches and
 * as database keys, so vmgit only publishes identifiers from a safe alphabet; RFC 4122 UUIDs are
 * what the format asks for (book `imagetransfer-specs.xml`, spec §1.2), anything else is a warning.
 * The rules themselves are the rulebook's (src/rules/image.ts: UNSAFE_IDENTIFIER, NOT_UUID).
 */
import { isSafeIdentifier, RFC4122, SAFE_ID } from '../rules/image.js'

export { SAFE_ID }

export function isRfc4122(id: string): boolean {
  return RFC4122.test(id)
}

/** S18: safe as a file name (the alphabet, and not `.` or `..`). */
export function isSafeId(id: string): boolean {
  return isSafeIdentifier(id)
}

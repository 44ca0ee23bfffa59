/**
 * dc:identifier rules. Consumers use identifiers as file and directory names in their caches and
 * as database keys, so vmgit only publishes identifiers from a safe alphabet; RFC 4122 UUIDs are
 * what the format asks for (book `imagetransfer-specs.xml`, spec §1.2), anything else is a warning.
 */

/** Identifiers that are safe as file names everywhere: 1 to 128 of `A-Z a-z 0-9 . _ -`. */
export const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * An RFC 4122 UUID in its canonical 8-4-4-4-12 hex form (either case), with the RFC 4122 variant
 * (10xx: first hex digit of the 4th group is 8, 9, a or b) and a version 1-8 (1-5 from RFC 4122,
 * 6-8 from RFC 9562, which keeps the same layout and variant). The nil UUID is not accepted: it
 * cannot identify anything.
 */
const RFC4122 = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

export function isRfc4122(id: string): boolean {
  return RFC4122.test(id)
}

export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id)
}

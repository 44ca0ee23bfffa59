/**
 * The in-memory shape of a HEPiX image list (spec §1.1), independent of any JSON layout.
 *
 *   { "hv:imagelist": { <list>, "hv:endorser": { "hv:x509": <endorser> },
 *                       "hv:images": [ { "hv:image": <image> }, ... ] } }
 *
 * Every value is a scalar: the format has no nested objects apart from the fixed
 * endorser/images structure, which this type models explicitly.
 */

/** A metadata value. vmcaster emits only `hv:size` as an integer; AppDB emits every value as a string. */
export type HepixScalar = string | number

/** One level of metadata (list keys, the hv:x509 endorser, or one hv:image). Insertion order is kept. */
export type HepixObject = Record<string, HepixScalar>

export interface HepixList {
  /** List-level keys, except hv:endorser and hv:images. */
  list: HepixObject
  /** The hv:x509 object of the single endorser. */
  endorser: HepixObject
  /** The inner hv:image objects, in list order. */
  images: HepixObject[]
}

/**
 * Byte layouts (spec §1.5):
 * - `vmcaster`: Python 2 `json.dumps(sort_keys=True, indent=4)`, as signed by vmcaster/hepixvmitrust;
 * - `appdb`: the EGI AppDB layout (3-space indent, fixed key order, string values, final newline).
 */
export type Layout = 'vmcaster' | 'appdb'

export const LAYOUTS: readonly Layout[] = ['vmcaster', 'appdb']

/** HEPiX image list core: types, strict parsing, byte-exact rendering, versions, consumer checks. */
export * from './types.js'
export { parseImageListJson, detectLayout, decodeText, toHepixList } from './parse.js'
export { renderList, APPDB_LIST_ORDER, APPDB_ENDORSER_ORDER, APPDB_IMAGE_ORDER } from './render.js'
export { compareVersions, bumpVersion } from './version.js'
export { SAFE_ID, isRfc4122, isSafeId } from './identifiers.js'
export { checkConsumers, parseHepixDate, type Problem, type ConsumerReport } from './consumers.js'
export { parseStrictJson, type JsonValue } from './json.js'

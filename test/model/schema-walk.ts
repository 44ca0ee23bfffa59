export { loadSchema, SCHEMA_DIR, SCHEMA_FILES, schemaUrl } from '../../src/model/schemas.js'

type Node = Record<string, unknown>

/** Visit every property schema (properties, patternProperties, items), depth first. */
export function type(schema: Node, where: string, visit: (where: string, node: Node) => void): void {
  for (const group of ['properties', 'patternProperties'] as const) {
    const props = schema[group] as Record<string, Node> | undefined
    for (const [k, sub] of Object.entries(props ?? {})) {
      visit(`${where}.${k}`, sub)
      type(sub, `${where}.${k}`, visit)
    }
  }
  const items = schema.items as Node | undefined
  if (items) {
    visit(`${where}[]`, items)
    type(items, `${where}[]`, visit)
  }
}

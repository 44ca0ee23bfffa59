import { readdirSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { FIELDS, IMAGE_LOCAL, LIST_LOCAL } from '../../src/model/friendly.js'
import { loadSchema, SCHEMA_DIR, SCHEMA_FILES, schemaUrl, type } from './schema-walk.js'

describe('schemas/', () => {
  it('holds exactly one JSON Schema 2020-12 per file kind, each with its $id', () => {
    expect(readdirSync(SCHEMA_DIR).sort()).toEqual(Object.values(SCHEMA_FILES).sort())
    for (const kind of Object.keys(SCHEMA_FILES) as (keyof typeof SCHEMA_FILES)[]) {
      const s = loadSchema(kind)
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
      expect(s.$id).toBe(schemaUrl(kind))
      expect(typeof s.title).toBe('string')
    }
  })

  it('gives every property a title, a description and examples (editors show them)', () => {
    const missing: string[] = []
    for (const kind of Object.keys(SCHEMA_FILES) as (keyof typeof SCHEMA_FILES)[]) {
      type(loadSchema(kind), kind, (where, node) => {
        for (const k of ['title', 'description', 'examples']) if (!(k in node)) missing.push(`${where}: ${k}`)
        if ('examples' in node && (!Array.isArray(node.examples) || node.examples.length === 0)) missing.push(`${where}: examples empty`)
      })
    }
    expect(missing).toEqual([])
  })

  it('has examples that validate against the schema they illustrate', () => {
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true })
    for (const kind of Object.keys(SCHEMA_FILES) as (keyof typeof SCHEMA_FILES)[]) {
      const schema = loadSchema(kind)
      const validate = ajv.compile(schema)
      for (const ex of schema.examples as unknown[]) expect(validate(ex), `${kind}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
  })

  it('documents exactly the friendly names the model maps (and the vmgit-only keys)', () => {
    const props = (k: keyof typeof SCHEMA_FILES) => Object.keys((loadSchema(k).properties ?? {}) as object).sort()
    expect(props('image')).toEqual([...FIELDS.image.map((f) => f.name), ...IMAGE_LOCAL].sort())
    expect(props('imagelist')).toEqual([...FIELDS.imagelist.map((f) => f.name), ...LIST_LOCAL].sort())
    expect(props('endorser')).toEqual(FIELDS.endorser.map((f) => f.name).sort())
    // each friendly title names the HEPiX key it renders to
    for (const kind of ['image', 'imagelist', 'endorser'] as const) {
      const p = loadSchema(kind).properties as Record<string, { title: string }>
      for (const f of FIELDS[kind]) expect(p[f.name]!.title).toContain(`(${f.key})`)
    }
  })
})

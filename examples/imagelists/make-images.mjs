#!/usr/bin/env node
// Writes the small placeholder image files that images/*.yaml point at with `source:`.
// The bytes are a deterministic function of the image's file name and size, so the sha512
// and size recorded in the YAML match what this writes (a test keeps them in step).
// Usage: node make-images.mjs [REPO_DIR]   (default: this directory)
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** `size` bytes: sha512("vmgit example image <name> block <i>") for i = 0, 1, ... concatenated. */
export function placeholderImage(name, size) {
  const out = Buffer.alloc(size)
  for (let i = 0, off = 0; off < size; i++, off += 64)
    createHash('sha512').update(`vmgit example image ${name} block ${i}`).digest().copy(out, off)
  return out
}

export function makeImages(repo) {
  const written = []
  for (const f of readdirSync(path.join(repo, 'images')).filter((n) => n.endsWith('.yaml')).sort()) {
    const name = f.slice(0, -5)
    const img = parse(readFileSync(path.join(repo, 'images', f), 'utf8'))
    if (typeof img.source !== 'string' || /^https?:/.test(img.source)) continue
    const bytes = placeholderImage(name, img.size)
    const sha512 = createHash('sha512').update(bytes).digest('hex')
    if (sha512 !== img.sha512) throw new Error(`images/${f}: sha512 does not match the placeholder content`)
    const file = path.join(repo, img.source)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, bytes)
    written.push({ name, file, size: bytes.length, sha512 })
  }
  return written
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = path.resolve(process.argv[2] ?? path.dirname(fileURLToPath(import.meta.url)))
  for (const w of makeImages(repo)) console.log(`wrote ${path.relative(process.cwd(), w.file)} (${w.size} bytes)`)
}

// Writes oclif.manifest.json from the built commands in dist/, so `vmgit --help` and
// `vmgit --version` do not import every command at start-up. A test fails when it is stale.
import { Config } from '@oclif/core'
import { rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const file = path.join(root, 'oclif.manifest.json')
rmSync(file, { force: true })
const config = await Config.load({ root })
const plugin = config.getPluginsList().find((p) => p.root === root)
const manifest = { ...plugin.manifest }
const commands = Object.fromEntries(Object.entries(manifest.commands).sort(([a], [b]) => a.localeCompare(b)))
writeFileSync(file, JSON.stringify({ commands, version: manifest.version }, null, 2) + '\n')
console.log(`wrote ${path.relative(process.cwd(), file)} (${Object.keys(commands).length} commands)`)

/**
 * The docs stay true: every error code and every config field is documented
 * in the README, the shipped mesh.config.json is exactly the default config,
 * and every section of docs/ARCHITECTURE.md that a code comment cites exists.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { configSchema, defaultConfig, parseConfig } from '../../src/config.ts'
import { ERROR_CODES } from '../../src/errors.ts'

const root = join(import.meta.dirname, '..', '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

describe('documentation', () => {
  it.each(Object.keys(ERROR_CODES))('README documents error code %s', code => {
    expect(readme).toContain(`\`${code}\``)
  })

  it.each(Object.keys(configSchema.shape))('README documents config field %s', field => {
    expect(readme).toMatch(new RegExp(`\\| \`${field}[.\`]`))
  })

  it('the shipped mesh.config.json is valid and equals the defaults', () => {
    const shipped = JSON.parse(readFileSync(join(root, 'mesh.config.json'), 'utf8')) as unknown
    expect(parseConfig(shipped, 'mesh.config.json')).toEqual(defaultConfig())
  })

  it('every docs/ARCHITECTURE.md section the code cites exists, and nothing cites a file outside the repository', () => {
    const architecture = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8')
    const sections = new Set([...architecture.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\.? /gm)].map(m => m[1]))
    const files = ['src', 'node', 'protocols', 'bench', 'test', 'scripts']
      .flatMap(dir => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map(f => join(dir, f)))
      .filter(f => f.endsWith('.ts') || f.endsWith('.md'))
    const missing: string[] = []
    const outside: string[] = []
    let cited = 0
    for (const f of [...files, 'README.md', 'eslint.config.js']) {
      const text = readFileSync(join(root, f), 'utf8')
      if (/DESIGN\.md|\.\.\/shared\//.test(text) && !f.endsWith('docs.test.ts')) outside.push(f)
      for (const m of text.matchAll(/ARCHITECTURE\.md((?:[ ,–]+§\d+(?:\.\d+)?)+)/g)) {
        for (const n of m[1]!.matchAll(/§(\d+(?:\.\d+)?)/g)) {
          cited++
          if (!sections.has(n[1]!)) missing.push(`${f}: §${n[1]!}`)
        }
      }
    }
    expect(outside).toEqual([])
    expect(missing).toEqual([])
    expect(cited).toBeGreaterThan(20)
  })
})

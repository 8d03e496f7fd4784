/**
 * The docs stay true: every error code and every config field is documented
 * in the README, and the shipped mesh.config.json is exactly the default config.
 */
import { readFileSync } from 'node:fs'
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
})

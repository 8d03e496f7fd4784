/**
 * Where this package's own files are. The same modules run from the
 * TypeScript sources (tests, `node node/….ts`) and compiled under `dist/`
 * (`bin/mesh`, an installed package), so paths are found, not assumed.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The folder with meshwork's package.json: one level above node/, two above dist/node/. */
export const PACKAGE_ROOT = findPackageRoot(import.meta.dirname)

/**
 * The compiled and bundled CLI (scripts/bundle-cli.ts), which local meshes
 * (the demo, the benchmarks, the system tests) spawn as `mesh start`: what an
 * operator runs, not the sources.
 */
export const CLI_ENTRY = join(PACKAGE_ROOT, 'dist', 'cli', 'bin.js')

/**
 * A module next to `importMetaUrl` with the same extension: `.ts` when
 * running the sources, `.js` when compiled. For files loaded by path at run
 * time (worker threads), which the compiler does not rewrite.
 */
export function siblingModule (importMetaUrl: string, relative: string): URL {
  return new URL(relative + importMetaUrl.slice(importMetaUrl.lastIndexOf('.')), importMetaUrl)
}

export function packageVersion (): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

function findPackageRoot (from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`meshwork: no package.json above ${from}`)
  }
}

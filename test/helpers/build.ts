/**
 * Vitest global setup: system tests, the demo and the benchmarks run the
 * compiled package (`dist/`, what an operator runs), while the tests import
 * the sources. Rebuild before the run when any build input is newer than the
 * last build, so the two never disagree.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { CLI_ENTRY, PACKAGE_ROOT } from '../../node/package.ts'

/** The last file the build writes. */
const STAMP = CLI_ENTRY
const INPUTS = ['protocols', 'src', 'node', 'examples/pi', 'examples/ml', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map(p => join(PACKAGE_ROOT, p))

function newestMtime (path: string): number {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let newest = st.mtimeMs
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)))
  return newest
}

export default function setup (): void {
  const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0
  if (!INPUTS.some(p => existsSync(p) && newestMtime(p) > built)) return
  execFileSync('npm', ['run', 'build'], { cwd: PACKAGE_ROOT, stdio: 'inherit' })
}

#!/usr/bin/env node
/**
 * The `mesh` executable. It checks the Node.js version before anything else is
 * loaded (a static import of the CLI would be linked, and could fail, first),
 * so an old Node gets one sentence instead of a stack trace from deep inside
 * libp2p.
 */
import { nodeVersionProblem } from '../node-version.ts'

const problem = nodeVersionProblem(process.versions.node)
if (problem !== undefined) {
  process.stderr.write(`mesh: ${problem}\n`)
  process.exit(2)
}
// V8 keeps the compiled code of the CLI's modules on disk (in the OS temp
// folder) and reuses it on the next start instead of compiling again.
process.getBuiltinModule('node:module').enableCompileCache?.()
await import('./main.ts')

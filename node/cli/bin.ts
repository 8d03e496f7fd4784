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
await import('./main.ts')

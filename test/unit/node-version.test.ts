/**
 * An old Node.js gets one sentence naming the version found and the one
 * needed, from the library and from the CLI, instead of a stack trace from
 * deep inside libp2p.
 */
import { execFile, execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createPeer } from '../../node/index.ts'
import { nodeVersionProblem } from '../../node/node-version.ts'
import { CLI_ENTRY, PACKAGE_ROOT } from '../../node/package.ts'

describe('the Node.js version check', () => {
  it.each(['22.12.0', '22.23.3', '23.0.0', '24.1.0', '30.0.0'])('accepts %s', version => {
    expect(nodeVersionProblem(version)).toBeUndefined()
  })

  it.each(['22.11.9', '22.0.0', '20.20.2', '18.19.0', 'garbage'])('refuses %s, naming it and 22.12', version => {
    expect(nodeVersionProblem(version)).toBe(`Meshwork needs Node.js 22.12 or newer, but this is Node.js ${version}.`)
  })

  it('createPeer rejects with MESH_ERR_NODE_VERSION before doing anything', async () => {
    const real = Object.getOwnPropertyDescriptor(process.versions, 'node')!
    Object.defineProperty(process.versions, 'node', { ...real, value: '20.11.1' })
    try {
      await expect(createPeer({ ephemeral: true, config: { mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] } }))
        .rejects.toMatchObject({ code: 'MESH_ERR_NODE_VERSION', message: 'Meshwork needs Node.js 22.12 or newer, but this is Node.js 20.11.1.' })
    } finally {
      Object.defineProperty(process.versions, 'node', real)
    }
  })

  it('the CLI says it in one line on stderr and exits 2', async () => {
    // A real old Node where the machine has one (its system Node is 20 here), else this one told it is 20.
    const old = findOldNode()
    const argv = old !== undefined
      ? [old, CLI_ENTRY, 'peers']
      : [process.execPath, '--import', 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})', CLI_ENTRY, 'peers']
    const r = await new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
      execFile(argv[0]!, argv.slice(1), { cwd: PACKAGE_ROOT }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }) })
    })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^mesh: Meshwork needs Node\.js 22\.12 or newer, but this is Node\.js \d+\.\d+\.\d+\.\n$/)
  })
})

/** A `node` on PATH, outside node_modules, older than 22.12. */
function findOldNode (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '' || dir.includes('node_modules')) continue
    const bin = join(dir, 'node')
    try {
      const version = execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 5000 }).trim()
      if (nodeVersionProblem(version) !== undefined) return bin
    } catch { /* not there */ }
  }
  return undefined
}

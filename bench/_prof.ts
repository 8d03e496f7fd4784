import { join } from 'node:path'
import { createLocalMesh, ROOT } from '../node/local-mesh.ts'
import { CLI_ENTRY } from '../node/package.ts'
import { cpuMs } from './lib.ts'
const HANDLERS = join(ROOT, 'bench', 'handlers.ts')
const mesh = await createLocalMesh(4, () => ({ executor: { handlers: { noop: `${HANDLERS}#noop`, burn: `${HANDLERS}#burn` } } }), { command: [process.execPath, '--cpu-prof', '--cpu-prof-dir=/tmp/prof', CLI_ENTRY] })
await Promise.all(mesh.daemons.map(async d => { await d.start() }))
await new Promise(r => setTimeout(r, 2500))
const origin = mesh.daemons[0]!.client()
const run = async (spec: unknown) => { const { id } = await origin.submit(spec); await origin.events(id, () => {}) ; return id }
await run({ name: 'warm', tasks: { t: { kind: 'handler', handler: 'noop', count: 50 } } })
const pids = mesh.daemons.map(d => d.pid!)
const c0 = pids.map(cpuMs); const t0 = Date.now()
await run({ name: 'burn', tasks: { t: { kind: 'handler', handler: 'burn', input: { ms: 5 }, count: 300 } } })
const c = pids.map((p, i) => cpuMs(p) - c0[i]!)
console.log('burn s', (Date.now() - t0) / 1000, 'cpu per daemon ms', c, 'per task', c.reduce((a, b) => a + b, 0) / 300)
await mesh.stop()

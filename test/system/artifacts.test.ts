/**
 * Artifacts through real daemons and the CLI: a job file names a model by a
 * path relative to itself; `mesh submit` hands it to the origin daemon, which
 * reads it into its cache; the peer that runs the exec tasks (the origin
 * cannot) fetches it once and finds it in its scratch directory; `mesh status`
 * says where the bytes came from and `mesh peers` what each cache holds; and
 * after that peer restarts, its cache still has the model (hashed again before
 * use), so the same job moves nothing.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalMesh, type LocalMesh } from '../../node/local-mesh.ts'
import { mesh, peersJson } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

const SIZE = 3 * 1024 * 1024 + 123
let m: LocalMesh
let sha: string
let jobFile: string

beforeAll(async () => {
  // Daemon 0 is the origin and runs nothing; daemon 1 runs `sha256sum`.
  m = await createLocalMesh(2, i => i === 0 ? {} : { executor: { exec: { allow: ['sha256sum'] } } })
  await Promise.all(m.daemons.map(async d => { await d.start() }))
  await waitFor('the mesh to form', async () => (await peersJson(m.daemons[0]!.config)).peers.filter(p => p.state === 'alive').length === 2, { timeoutMs: 15_000, intervalMs: 250 })
  const data = randomBytes(SIZE)
  sha = createHash('sha256').update(data).digest('hex')
  mkdirSync(join(m.dir, 'job', 'models'), { recursive: true })
  writeFileSync(join(m.dir, 'job', 'models', 'model.bin'), data)
  jobFile = join(m.dir, 'job', 'hash.json')
  writeFileSync(jobFile, JSON.stringify({
    name: 'hash-model',
    tasks: { hash: { kind: 'exec', command: ['sha256sum', 'model.bin'], count: 2, artifacts: { 'model.bin': 'models/model.bin' }, resources: { cpu: 0.5 } } }
  }))
}, 60_000)

afterAll(async () => { await m.destroy() })

/** Submit the job file and wait; the per-task artifact bytes from `mesh status --json`. */
async function runJob (): Promise<{ stdout: string[], bytes: Array<{ network: number, cache: number }> }> {
  const r = await mesh(['submit', jobFile, '--wait', '--json', '--config', m.daemons[0]!.config], { timeoutMs: 60_000 })
  expect(r.code, r.stderr).toBe(0)
  const out = JSON.parse(r.stdout) as { id: string, results: Record<string, { stdout: string, exitCode: number }> }
  const status = await mesh(['status', out.id, '--json', '--config', m.daemons[0]!.config])
  expect(status.code, status.stderr).toBe(0)
  const tasks = (JSON.parse(status.stdout) as { tasks: Array<{ peer: string, artifactBytes?: { network: number, cache: number } }> }).tasks
  for (const t of tasks) expect(t.peer).toBe(m.daemons[1]!.peerId)
  return { stdout: Object.values(out.results).map(v => v.stdout), bytes: tasks.map(t => t.artifactBytes!) }
}

const sum = (xs: Array<{ network: number, cache: number }>): { network: number, cache: number } =>
  xs.reduce((a, b) => ({ network: a.network + b.network, cache: a.cache + b.cache }), { network: 0, cache: 0 })

describe('artifacts through the CLI', () => {
  it('a path relative to the job file reaches the task; the peer fetches it once and shows it in its cache', async () => {
    const { stdout, bytes } = await runJob()
    expect(stdout).toEqual([`${sha}  model.bin\n`, `${sha}  model.bin\n`])
    // Two tasks on one peer: one fetched the model, the other found it there (in the cache, or the same fetch).
    expect(sum(bytes)).toEqual({ network: SIZE, cache: SIZE })
    const self = (await peersJson(m.daemons[1]!.config)).peers.find(p => p.self)!
    expect(self.cache).toMatchObject({ artifacts: 1, usedMB: 3 })
    await waitFor('the origin to see the model in the runner\'s ad', async () =>
      (await peersJson(m.daemons[0]!.config)).peers.find(p => p.id === m.daemons[1]!.peerId)?.cache?.artifacts === 1, { timeoutMs: 5000, intervalMs: 100 })
    const table = await mesh(['peers', '--config', m.daemons[0]!.config])
    expect(table.stdout).toMatch(/0\/20 GB, 1 artifact\b/)
  })

  it('keeps the model across a restart of the peer that holds it: the same job moves nothing', async () => {
    const runner = m.daemons[1]!
    runner.signal('SIGTERM')
    expect(await runner.exited()).toBe(0)
    await runner.start()
    await waitFor('the restarted peer to be alive again', async () => (await peersJson(m.daemons[0]!.config)).peers.some(p => p.id === runner.peerId && p.state === 'alive' && p.caps.commands.includes('sha256sum')), { timeoutMs: 15_000, intervalMs: 250 })
    const { stdout, bytes } = await runJob()
    expect(stdout).toEqual([`${sha}  model.bin\n`, `${sha}  model.bin\n`])
    expect(sum(bytes)).toEqual({ network: 0, cache: 2 * SIZE })
  })
})

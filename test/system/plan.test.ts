/**
 * `mesh plan JOB.json` against real daemons: the live peers' capacities come
 * from the daemon, the plan is a proven optimum no shorter than the lower
 * bound, the auction's dry run finishes the job, and nothing runs. A job
 * without durations, and one no peer can run, are refused with the reason.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PlanReply } from '../../node/cli/plan.ts'
import { createLocalMesh, type LocalMesh } from '../../node/local-mesh.ts'
import { ROOT, mesh, peersJson } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

const handlers = join(ROOT, 'test', 'fixtures', 'handlers', 'basic.ts')
/** Three peers of different shapes; only the third has a GPU. */
const SHAPES = [{ cpu: 2, memoryMB: 4096, gpu: 0 }, { cpu: 1, memoryMB: 2048, gpu: 0 }, { cpu: 1, memoryMB: 4096, gpu: 1 }]

let m: LocalMesh

beforeAll(async () => {
  m = await createLocalMesh(3, i => ({
    resources: { ...SHAPES[i], reserve: { cpu: 0, memoryMB: 0 }, speed: 1 },
    executor: { handlers: { square: `${handlers}#square` } }
  }))
  await Promise.all(m.daemons.map(async d => { await d.start() }))
  await waitFor('the mesh to form', async () => (await peersJson(m.daemons[0]!.config)).peers.filter(p => p.state === 'alive').length === 3, { timeoutMs: 45_000, intervalMs: 250 })
}, 90_000)

afterAll(async () => { await m?.destroy() })

function jobFile (name: string, spec: unknown): string {
  const file = join(m.dir, name)
  writeFileSync(file, JSON.stringify(spec))
  return file
}

describe('mesh plan', () => {
  it('plans a job on the live peers: a proven optimum, the lower bound, and the auction’s dry run', async () => {
    const file = jobFile('job.json', {
      name: 'plan-me',
      tasks: {
        prep: { kind: 'handler', handler: 'square', input: 2, estimateMs: 1000 },
        part: { kind: 'handler', handler: 'square', input: 3, count: 4, estimateMs: 2000, after: ['prep'] },
        gpu: { kind: 'handler', handler: 'square', input: 4, estimateMs: 1000, resources: { gpu: 1 } },
        join: { kind: 'handler', handler: 'square', input: 5, estimateMs: 1000, after: ['part'] }
      }
    })
    const r = await mesh(['plan', file, '--json', '--config', m.daemons[0]!.config], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(r.stdout) as PlanReply
    expect(plan.tasks).toBe(7)
    expect(plan.peers.map(p => p.capacity.cpu).sort()).toEqual([1, 1, 2])
    expect(plan.optimal).toMatchObject({ status: 'optimal', exact: true })
    expect(plan.optimal.placements).toHaveLength(7)
    // 4 cores: prep and the GPU task (1 s each) side by side, then 4 × 2 s parts on the 4 cores, then join: 4 s, the chain.
    expect(plan.optimal.makespanMs).toBe(4000)
    expect(plan.optimal.placements.find(p => p.task === 'gpu')!.peer).toBe(plan.peers.find(p => p.capacity.gpu === 1)!.id)
    expect(plan.lowerBound.ms).toBe(4000)
    expect(plan.auction.state).toBe('done')
    expect(plan.auction.placements).toHaveLength(7)
    expect(plan.auction.scheduleMakespanMs).toBeGreaterThanOrEqual(plan.optimal.makespanMs)

    // Nothing was submitted.
    const status = await mesh(['status', '--json', '--config', m.daemons[0]!.config])
    expect(JSON.parse(status.stdout)).toEqual([])

    const text = await mesh(['plan', file, '--config', m.daemons[1]!.config], { timeoutMs: 60_000 })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/job "plan-me": 7 tasks on 3 live peers/)
    expect(text.stdout).toMatch(/optimal +4\.00 s +\(proven optimal/)
    expect(text.stdout).toMatch(/auction +\d+\.\d+ s +\(dry run of the real auction/)
    expect(text.stdout).toMatch(/part\[3\]/)
  }, 90_000)

  it('refuses a job whose tasks have no estimateMs, naming them', async () => {
    const file = jobFile('bare.json', { name: 'bare', tasks: { a: { kind: 'handler', handler: 'square' }, b: { kind: 'handler', handler: 'square', estimateMs: 10 } } })
    const r = await mesh(['plan', file, '--config', m.daemons[0]!.config])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/needs "estimateMs".*missing on a/)
  })

  it('says which tasks no live peer can run', async () => {
    const file = jobFile('wide.json', { name: 'wide', tasks: { big: { kind: 'handler', handler: 'square', estimateMs: 10, resources: { cpu: 8 } }, odd: { kind: 'handler', handler: 'nope', estimateMs: 10 } } })
    const r = await mesh(['plan', file, '--config', m.daemons[0]!.config])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/big: no capable peer offers cpu ≥ 8/)
    expect(r.stdout).toMatch(/odd: no peer is able to run it/)
  })
})

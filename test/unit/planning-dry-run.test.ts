/**
 * "What the auction would do": the real core played out on a simulated mesh
 * (`dryRunAuction`), and a job spec turned into a placement problem
 * (`problemFromSpec`), as `mesh plan` uses them.
 */
import { describe, expect, it } from 'vitest'
import type { ResourceAd } from '../../protocols/resources.ts'
import { parseJobSpec } from '../../src/jobs/spec.ts'
import { checkSchedule } from '../../src/planning/check.ts'
import { dryRunAuction } from '../../src/planning/dry-run.ts'
import { dryRunPeers, problemFromSpec, type MeshPeerInfo } from '../../src/planning/from-spec.ts'
import { optimalPlan } from '../../src/planning/optimal.ts'

const caps = (handlers: string[], tags: string[] = []): ResourceAd['caps'] => ({ kinds: ['handler'], handlers, commands: [], tags })
const res = (cpu: number, memoryMB = 4096, gpu = 0) => ({ cpu, memoryMB, gpu, custom: {} })

const peers: MeshPeerInfo[] = [
  { id: 'p1', capacity: res(2), speed: 1, caps: caps(['work']) },
  { id: 'p2', capacity: res(1), speed: 2, caps: caps(['work']) },
  { id: 'p3', capacity: res(1, 8192, 1), speed: 1, caps: caps(['work', 'render'], ['site=b']) }
]

const spec = parseJobSpec({
  name: 'dry',
  tasks: {
    split: { kind: 'handler', handler: 'work', estimateMs: 1000 },
    part: { kind: 'handler', handler: 'work', count: 4, estimateMs: 2000, after: ['split'] },
    render: { kind: 'handler', handler: 'render', estimateMs: 1500, resources: { gpu: 1 } },
    local: { kind: 'handler', handler: 'work', estimateMs: 500, tags: ['site=b'] },
    join: { kind: 'handler', handler: 'work', estimateMs: 1000, after: ['part', 'render'] }
  }
})

describe('problemFromSpec', () => {
  it('expands fan-out, waits for every instance upstream, and keeps tasks to peers able to bid for them', () => {
    const p = problemFromSpec(spec, peers)
    const byId = new Map(p.tasks.map(t => [t.id, t]))
    expect(p.tasks.map(t => t.id)).toEqual(['split', 'render', 'local', 'part[0]', 'part[1]', 'part[2]', 'part[3]', 'join'])
    expect(byId.get('join')!.after).toEqual(['part[0]', 'part[1]', 'part[2]', 'part[3]', 'render'])
    expect(byId.get('part[2]')!.after).toEqual(['split'])
    expect(byId.get('render')!.peers).toEqual(['p3'])
    expect(byId.get('local')!.peers).toEqual(['p3'])
    expect(byId.get('split')!.peers).toEqual(['p1', 'p2', 'p3'])
    expect(p.peers.find(x => x.id === 'p2')!.speed).toBe(2)
  })

  it('needs estimateMs on every task, and names those without', () => {
    const bare = parseJobSpec({ name: 'x', tasks: { a: { kind: 'handler', handler: 'work', estimateMs: 5 }, b: { kind: 'handler', handler: 'work' }, c: { kind: 'exec', command: ['true'] } } })
    expect(() => problemFromSpec(bare, peers)).toThrow(/needs "estimateMs".*missing on b, c/)
  })

  it('leaves out peers that run only other origins’ jobs', () => {
    const picky: MeshPeerInfo[] = [peers[0]!, { ...peers[1]!, caps: { ...caps(['work']), origins: ['someone-else'] } }]
    const p = problemFromSpec(parseJobSpec({ name: 'x', tasks: { a: { kind: 'handler', handler: 'work', estimateMs: 5 } } }), picky, 'p1')
    expect(p.tasks[0]!.peers).toEqual(['p1'])
  })
})

describe('dryRunAuction', () => {
  it('runs the job on the simulated mesh: a valid schedule, no shorter than the optimum, the same every time', async () => {
    const problem = problemFromSpec(spec, peers)
    const run = await dryRunAuction(spec, dryRunPeers(peers), { origin: 'p1' })
    expect(run.state).toBe('done')
    expect(run.schedule.placements).toHaveLength(8)
    expect(checkSchedule(problem, run.schedule)).toEqual([])
    const where = Object.fromEntries(run.schedule.placements.map(p => [p.task, p.peer]))
    expect(where.render).toBe('p3')
    expect(where.local).toBe('p3')
    // Submission → job-done covers the schedule plus messages.
    expect(run.makespanMs).toBeGreaterThanOrEqual(run.schedule.makespanMs)
    const best = await optimalPlan(problem)
    expect(best.status).toBe('optimal')
    expect(run.schedule.makespanMs).toBeGreaterThanOrEqual(best.makespanMs)

    const again = await dryRunAuction(spec, dryRunPeers(peers), { origin: 'p1' })
    expect(again.schedule).toEqual(run.schedule)
    expect(again.makespanMs).toBe(run.makespanMs)
  })

  it('a task no peer can run leaves the job unfinished, and says so', async () => {
    const gpuJob = parseJobSpec({ name: 'g', tasks: { g: { kind: 'handler', handler: 'work', estimateMs: 100, resources: { gpu: 1 } } } })
    const run = await dryRunAuction(gpuJob, dryRunPeers(peers.slice(0, 2)), { maxSimMs: 5000 })
    expect(run.state).toBe('running')
    expect(run.error).toMatch(/not finished after/)
  })

  it('refuses a job without durations', async () => {
    await expect(dryRunAuction(parseJobSpec({ name: 'x', tasks: { a: { kind: 'handler', handler: 'work' } } }), dryRunPeers(peers))).rejects.toThrow(/no estimateMs/)
  })
})

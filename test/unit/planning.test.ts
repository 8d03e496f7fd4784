/**
 * The central planner behind `mesh plan` and the placement benchmark: the
 * lower bound, the MIP optimum (on instances whose optimum is known by hand),
 * list scheduling of a fixed assignment, the baselines, and the checker that
 * every schedule here is verified with.
 */
import { describe, expect, it } from 'vitest'
import type { Resources } from '../../protocols/resources.ts'
import { lowerBound } from '../../src/planning/bounds.ts'
import { randomAssignment, roundRobinAssignment } from '../../src/planning/baselines.ts'
import { checkSchedule } from '../../src/planning/check.ts'
import { simulatePlacement } from '../../src/planning/list-schedule.ts'
import { optimalPlan } from '../../src/planning/optimal.ts'
import { indexProblem, PlanError, type PlanPeer, type PlanProblem, type PlanTask, type Schedule } from '../../src/planning/problem.ts'
import { PLACEMENT_PEERS, PLACEMENT_TASKS, placementLowerBound } from '../../bench/placement-workload.ts'

const res = (cpu: number, memoryMB = 0, gpu = 0, custom: Record<string, number> = {}): Resources => ({ cpu, memoryMB, gpu, custom })
const peer = (id: string, capacity: Resources, speed?: number): PlanPeer => ({ id, capacity, ...(speed === undefined ? {} : { speed }) })
const task = (id: string, workMs: number, demand: Resources = res(1), after: string[] = []): PlanTask => ({ id, demand, workMs, after })

/** Where each task ran, for assertions that read like the schedule. */
const where = (s: Schedule): Record<string, string> => Object.fromEntries(s.placements.map(p => [p.task, `${p.peer}@${p.startMs}-${p.endMs}`]))

describe('lowerBound', () => {
  it('is the larger of total work ÷ total capacity and the longest chain', () => {
    // Four 3 s single-core tasks on 4 cores: 3 s of work per core.
    const flat: PlanProblem = { peers: [peer('a', res(2)), peer('b', res(2))], tasks: ['t1', 't2', 't3', 't4'].map(id => task(id, 3000)) }
    expect(lowerBound(flat)).toMatchObject({ ms: 3000, chainMs: 3000, byWork: { cpu: 3000 } })

    // A chain of three 1 s tasks on plenty of cores: the chain decides.
    const chain: PlanProblem = { peers: [peer('a', res(8))], tasks: [task('x', 1000), task('y', 1000, res(1), ['x']), task('z', 1000, res(1), ['y'])] }
    expect(lowerBound(chain)).toMatchObject({ ms: 3000, chainMs: 3000, chain: ['x', 'y', 'z'] })
    expect(lowerBound(chain).byWork.cpu).toBeCloseTo(375)
  })

  it('counts each resource, custom ones by name, and a task at its fastest peer', () => {
    const p: PlanProblem = {
      peers: [peer('fast', res(1, 0, 0, { lic: 1 }), 2), peer('slow', res(1))],
      // 4 s of licence work at the fast peer's speed: 2 s on the only licence.
      tasks: [task('l1', 2000, res(1, 0, 0, { lic: 1 })), task('l2', 2000, res(1, 0, 0, { lic: 1 }))]
    }
    const lb = lowerBound(p)
    expect(lb.byWork.lic).toBe(2000)
    expect(lb.ms).toBe(2000)
  })

  it('agrees with the benchmark workload’s own bound (8 units)', () => {
    const lb = lowerBound(benchProblem(1000))
    expect(lb.ms).toBe(placementLowerBound().units * 1000)
    expect(lb.ms).toBe(8000)
  })
})

describe('optimalPlan', () => {
  it('one 2-core peer: the big task alone, the two small ones side by side (3 s)', async () => {
    const p: PlanProblem = { peers: [peer('a', res(2))], tasks: [task('big', 2000, res(2)), task('s1', 1000), task('s2', 1000)] }
    const plan = await optimalPlan(p)
    expect(plan).toMatchObject({ status: 'optimal', exact: true, makespanMs: 3000, boundMs: 3000, gap: 0, slotMs: 1000 })
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
  })

  it('speeds and a DAG: both inputs done by 2 s at best, the join on the fast peer (2.5 s)', async () => {
    // fast runs 2 s of work in 1 s. x and y end by 2 s at the earliest (one each, or both on fast);
    // z needs both, and takes 0.5 s on fast.
    const p: PlanProblem = {
      peers: [peer('fast', res(1), 2), peer('slow', res(1))],
      tasks: [task('x', 2000), task('y', 2000), task('z', 1000, res(1), ['x', 'y'])]
    }
    const plan = await optimalPlan(p)
    expect(plan).toMatchObject({ status: 'optimal', exact: true, makespanMs: 2500, slotMs: 500 })
    expect(where(plan.schedule!).z).toBe('fast@2000-2500')
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
  })

  it('memory and GPUs: tasks only one peer can hold queue there (GPU tasks serialise)', async () => {
    const p: PlanProblem = {
      peers: [peer('gpu', res(4, 4096, 1)), peer('big', res(4, 32768)), peer('small', res(4, 2048))],
      tasks: [
        task('g1', 2000, res(1, 1024, 1)), task('g2', 2000, res(1, 1024, 1)),
        task('m1', 3000, res(1, 20000)), task('m2', 3000, res(1, 20000)),
        task('s', 1000, res(1, 1024))
      ]
    }
    const plan = await optimalPlan(p)
    // The 20 GB tasks fit only on `big`, one at a time (2 × 20000 MB > 32768 MB): 6 s.
    expect(plan).toMatchObject({ status: 'optimal', exact: true, makespanMs: 6000 })
    const w = where(plan.schedule!)
    expect([w.g1, w.g2].map(x => x!.split('@')[0])).toEqual(['gpu', 'gpu'])
    expect([w.m1, w.m2].map(x => x!.split('@')[0])).toEqual(['big', 'big'])
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
  })

  it('a task no peer can run: status unplaceable, with the reason', async () => {
    const p: PlanProblem = { peers: [peer('a', res(4, 8192))], tasks: [task('ok', 1000), task('needs-gpu', 1000, res(1, 0, 1)), task('too-wide', 1000, res(8))] }
    const plan = await optimalPlan(p)
    expect(plan.status).toBe('unplaceable')
    expect(plan.unplaceable).toEqual([
      { task: 'needs-gpu', reason: 'no capable peer offers gpu ≥ 1' },
      { task: 'too-wide', reason: 'no capable peer offers cpu ≥ 8' }
    ])
    expect(() => roundRobinAssignment(p)).toThrow(PlanError)
  })

  it('a task limited to some peers (handler, tags) stays there', async () => {
    const p: PlanProblem = { peers: [peer('a', res(1)), peer('b', res(1))], tasks: [{ ...task('t1', 1000), peers: ['b'] }, { ...task('t2', 1000), peers: ['b'] }] }
    const plan = await optimalPlan(p)
    expect(plan.makespanMs).toBe(2000)
    expect(plan.schedule!.placements.every(x => x.peer === 'b')).toBe(true)
    expect(indexProblem({ ...p, tasks: [{ ...task('t', 1000), peers: [] }] }).unplaceable[0]!.reason).toMatch(/no peer is able to run it/)
  })

  it('too large for exact slots: a coarser slot, durations rounded up, still a valid schedule, not exact', async () => {
    const p: PlanProblem = { peers: [peer('a', res(2)), peer('b', res(1))], tasks: [task('t1', 1000), task('t2', 1500), task('t3', 700, res(1), ['t1']), task('t4', 1300)] }
    const plan = await optimalPlan(p, { maxVariables: 12 })
    expect(plan.exact).toBe(false)
    expect(plan.slotMs).toBeGreaterThan(100)
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
    expect(plan.makespanMs).toBeGreaterThanOrEqual(lowerBound(p).ms)
    // The same problem with exact (100 ms) slots can only do as well or better.
    const exact = await optimalPlan(p)
    expect(exact).toMatchObject({ status: 'optimal', exact: true, slotMs: 100 })
    expect(exact.makespanMs).toBeLessThanOrEqual(plan.makespanMs)
  })

  it('calibrated speeds (durations not whole ms): rounded slots, a valid schedule, flagged as not exact', async () => {
    const p: PlanProblem = {
      peers: [peer('quick', res(2), 1.3), peer('plain', res(1), 0.7)],
      tasks: [task('a', 1000), task('b', 2000), task('c', 1500, res(1), ['a']), task('d', 800, res(2))]
    }
    const plan = await optimalPlan(p)
    expect(plan.exact).toBe(false)
    expect(['optimal', 'time-limit']).toContain(plan.status)
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
    expect(plan.makespanMs).toBeGreaterThanOrEqual(plan.boundMs)
  })

  it('rejects a problem with a cycle or an unknown dependency', async () => {
    await expect(optimalPlan({ peers: [peer('a', res(1))], tasks: [task('x', 1000, res(1), ['y']), task('y', 1000, res(1), ['x'])] })).rejects.toThrow(/dependency cycle/)
    await expect(optimalPlan({ peers: [peer('a', res(1))], tasks: [task('x', 1000, res(1), ['nope'])] })).rejects.toThrow(/unknown task "nope"/)
  })

  it('solves the benchmark instance (30 tasks, 6 peers) to a proven optimum of 8 units, its lower bound', async () => {
    const p = benchProblem(1000)
    const plan = await optimalPlan(p, { timeLimitMs: 60_000 })
    expect(plan).toMatchObject({ status: 'optimal', exact: true, slotMs: 1000, makespanMs: 8_000, gap: 0 })
    expect(checkSchedule(p, plan.schedule!)).toEqual([])
  }, 90_000)
})

describe('simulatePlacement', () => {
  it('one peer runs its tasks in order as capacity frees; a dependent task waits for its input elsewhere', () => {
    const p: PlanProblem = {
      peers: [peer('a', res(1)), peer('b', res(2))],
      tasks: [task('x', 1000), task('y', 1000), task('z', 500, res(1), ['x']), task('w', 2000, res(2))]
    }
    const s = simulatePlacement(p, { x: 'a', y: 'a', z: 'b', w: 'b' })
    // b starts w (2 cores) at once; z is ready at 1 s but b is full until 2 s.
    expect(where(s)).toEqual({ x: 'a@0-1000', y: 'a@1000-2000', w: 'b@0-2000', z: 'b@2000-2500' })
    expect(s.makespanMs).toBe(2500)
    expect(checkSchedule(p, s)).toEqual([])
  })

  it('a task that cannot start yet does not hold back the ones behind it', () => {
    const p: PlanProblem = { peers: [peer('a', res(2))], tasks: [task('first', 1000), task('later', 1000, res(1), ['first']), task('free', 1000)] }
    expect(where(simulatePlacement(p, { first: 'a', later: 'a', free: 'a' }))).toEqual({ first: 'a@0-1000', free: 'a@0-1000', later: 'a@1000-2000' })
  })

  it('refuses an assignment to a peer that cannot run the task, or a missing one', () => {
    const p: PlanProblem = { peers: [peer('a', res(1)), peer('g', res(1, 0, 1))], tasks: [task('t', 1000, res(1, 0, 1)), task('u', 1000)] }
    expect(() => simulatePlacement(p, { t: 'a', u: 'a' })).toThrow(/assigned to a, which cannot run it/)
    expect(() => simulatePlacement(p, { t: 'g' })).toThrow(/"u" is not assigned/)
  })
})

describe('baselines', () => {
  const p: PlanProblem = {
    peers: [peer('a', res(1)), peer('b', res(1)), peer('g', res(1, 0, 1))],
    tasks: [task('t0', 1000), task('t1', 1000), task('gpu', 1000, res(1, 0, 1)), task('t2', 1000), task('t3', 1000)]
  }

  it('round-robin goes round the peers in order, skipping those that cannot run a task', () => {
    expect(Object.fromEntries(roundRobinAssignment(p))).toEqual({ t0: 'a', t1: 'b', gpu: 'g', t2: 'a', t3: 'b' })
  })

  it('random picks only capable peers, and the same seed gives the same placement', () => {
    const one = randomAssignment(p, 7)
    expect(one.get('gpu')).toBe('g')
    expect(randomAssignment(p, 7)).toEqual(one)
    const seen = new Set(Array.from({ length: 50 }, (_, s) => randomAssignment(p, s).get('t0')))
    expect(seen).toEqual(new Set(['a', 'b', 'g']))
  })

  it('on the benchmark instance, both are valid schedules no better than the optimum', () => {
    const bench = benchProblem(1000)
    for (const s of [simulatePlacement(bench, roundRobinAssignment(bench)), simulatePlacement(bench, randomAssignment(bench, 1))]) {
      expect(checkSchedule(bench, s)).toEqual([])
      expect(s.makespanMs).toBeGreaterThanOrEqual(10_000)
    }
  })
})

describe('checkSchedule', () => {
  const p: PlanProblem = {
    peers: [peer('a', res(2, 1024)), peer('b', res(1))],
    tasks: [task('x', 1000, res(1, 512)), task('y', 1000, res(1, 512)), task('z', 1000, res(1), ['x'])]
  }
  const good: Schedule = {
    placements: [{ task: 'x', peer: 'a', startMs: 0, endMs: 1000 }, { task: 'y', peer: 'a', startMs: 0, endMs: 1000 }, { task: 'z', peer: 'b', startMs: 1000, endMs: 2000 }],
    makespanMs: 2000
  }
  const edit = (i: number, change: Partial<Schedule['placements'][number]>): Schedule => ({ ...good, placements: good.placements.map((pl, j) => j === i ? { ...pl, ...change } : pl) })

  it('accepts a valid schedule', () => {
    expect(checkSchedule(p, good)).toEqual([])
  })

  it.each([
    ['a task started before its input is done', edit(2, { startMs: 500, endMs: 1500 }), /z: starts at 500 before x ends at 1000/],
    ['a peer over capacity', { ...edit(2, { peer: 'a', startMs: 0, endMs: 1000 }), makespanMs: 1000 }, /peer a at 0 ms: over capacity \(cpu 3 > 2\)/],
    ['a task run for the wrong time', edit(0, { endMs: 900 }), /x: runs 900 ms on a, needs 1000 ms/],
    ['a task missing', { ...good, placements: good.placements.slice(0, 2), makespanMs: 1000 }, /z: not placed/],
    ['a task placed twice', { ...good, placements: [...good.placements, good.placements[0]!] }, /x: placed more than once/],
    ['a peer that cannot hold the task', edit(0, { peer: 'b' }), /x: peer b cannot run it/],
    ['a wrong makespan', { ...good, makespanMs: 1500 }, /makespan says 1500 ms, the last task ends at 2000 ms/]
  ])('rejects %s', (_name, schedule, message) => {
    const problems = checkSchedule(p, schedule)
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.join('\n')).toMatch(message)
  })

  it('names the resource a peer is over on', () => {
    const s: Schedule = { placements: [{ task: 'x', peer: 'a', startMs: 0, endMs: 1000 }, { task: 'y', peer: 'a', startMs: 0, endMs: 1000 }, { task: 'z', peer: 'a', startMs: 1000, endMs: 2000 }], makespanMs: 2000 }
    expect(checkSchedule(p, s)).toEqual([])
    const over: PlanProblem = { ...p, tasks: p.tasks.map(t => t.id === 'y' ? { ...t, demand: res(1, 600) } : t) }
    expect(checkSchedule(over, s)).toEqual(['peer a at 0 ms: over capacity (memoryMB 1112 > 1024)'])
  })
})

function benchProblem (unitMs: number): PlanProblem {
  return {
    peers: PLACEMENT_PEERS.map(p => peer(p.name, res(p.cpu, p.memoryMB, p.gpu))),
    tasks: PLACEMENT_TASKS.map(t => task(t.name, t.units * unitMs, res(t.cpu, t.memoryMB, t.gpu), t.after))
  }
}

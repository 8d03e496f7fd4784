import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import type { OpenTask } from '../../protocols/auction.ts'
import type { Resources } from '../../protocols/resources.ts'
import { createHighsSolver, type LpProblem, type LpSolver } from '../../src/auction/lp.ts'
import { decideBids, etaMs, taskValue, LAMBDA, type BidderView } from '../../src/auction/bidder.ts'
import type { PeerAbility } from '../../src/auction/feasibility.ts'
import { toUnits, type Units } from '../../src/resources/ledger.ts'

/** The real HiGHS solver, loaded once for the whole file. */
const highs = await createHighsSolver()

/** HiGHS, counting how often it is asked (to tell the exact shortcut from a real solve). */
function countingSolver (): LpSolver & { calls: number } {
  const s = { calls: 0, solve: (p: LpProblem) => { s.calls++; return highs.solve(p) } }
  return s
}

const LIC = 'licence:matlab'

function openTask (over: Partial<OpenTask> = {}): OpenTask {
  return {
    id: 't',
    attempt: 1,
    demand: { cpu: 1, memoryMB: 0, gpu: 0, custom: {} },
    workMs: 1000,
    inputBytes: 0,
    kind: 'handler',
    handler: 'h1',
    tags: [],
    priority: 0,
    ageMs: 0,
    exclude: [],
    ...over
  }
}

function ability (capacity: Resources, over: Partial<PeerAbility['caps']> = {}): PeerAbility {
  return { id: 'me', capacity, caps: { kinds: ['handler'], handlers: ['h1', 'h2'], commands: [], tags: ['site=lab1'], ...over } }
}

function view (capacity: Resources, over: Partial<BidderView> = {}): BidderView {
  return { self: ability(capacity), speed: 1, freeNow: toUnits(capacity), queueRoom: toUnits(capacity), queueWaitMs: 0, ...over }
}

function sum (demands: Units[]): Units {
  const out: Units = new Map()
  for (const d of demands) for (const [k, v] of d) out.set(k, (out.get(k) ?? 0) + v)
  return out
}

/** Every resource of `used` is within `room` (absent from room = none). */
function within (used: Units, room: Units): boolean {
  for (const [k, v] of used) if (v > 0 && v > (room.get(k) ?? 0)) return false
  return true
}

// ── generators ──────────────────────────────────────────────────────────────

/** `n` licences as a custom resource (none when 0). */
const licence = (n: number): Record<string, number> => n > 0 ? { [LIC]: n } : {}

/** Mostly 0, sometimes 1..max: GPUs and licences are rare in real demands. */
const rare = (max: number): fc.Arbitrary<number> => fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max }) })

const resourcesArb = (cpuTenths: [number, number], mem: [number, number], gpu: fc.Arbitrary<number>, lic: fc.Arbitrary<number>): fc.Arbitrary<Resources> =>
  fc.record({
    cpu: fc.integer({ min: cpuTenths[0], max: cpuTenths[1] }).map(n => n / 10),
    memoryMB: fc.integer({ min: mem[0], max: mem[1] }),
    gpu,
    lic
  }).map(r => ({ cpu: r.cpu, memoryMB: r.memoryMB, gpu: r.gpu, custom: licence(r.lic) }))

/** Random tasks: cpu 0.1–4, memory 0–4096 MB, gpu 0–2, a licence 0–2; some the peer cannot run (unknown handler, excluded, untagged, too big). */
const taskArb: fc.Arbitrary<OpenTask> = fc.record({
  demand: resourcesArb([1, 40], [0, 4096], rare(2), rare(2)),
  workMs: fc.integer({ min: 0, max: 5000 }),
  inputBytes: fc.integer({ min: 0, max: 5_000_000 }),
  handler: fc.constantFrom('h1', 'h1', 'h1', 'h2', 'h2', 'h2', 'h2', 'h2', 'h2', 'missing'),
  tags: fc.constantFrom<string[]>([], [], [], [], [], [], [], ['site=lab1'], ['site=lab1'], ['site=lab2']),
  priority: fc.integer({ min: -100, max: 200 }),
  ageMs: fc.integer({ min: 0, max: 10_000 }),
  exclude: fc.constantFrom<string[]>([], [], [], [], [], [], [], ['other'], ['other'], ['me'])
}).map(r => openTask(r))

/** A share from 0 to max %, in whole percent (fc.double crowds near 0). */
const percent = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max }).map(n => n / 100)

const scenarioArb = fc.record({
  tasks: fc.array(taskArb, { minLength: 0, maxLength: 30 }).map(ts => ts.map((t, i) => ({ ...t, id: `t${i}`, attempt: 1 + (i % 3) }))),
  capacity: fc.record({ cpu: fc.constantFrom(1, 2, 2.5, 4, 8, 16), memoryMB: fc.integer({ min: 2048, max: 16_384 }), gpu: fc.integer({ min: 0, max: 2 }), lic: fc.integer({ min: 0, max: 3 }) })
    .map(c => ({ cpu: c.cpu, memoryMB: c.memoryMB, gpu: c.gpu, custom: licence(c.lic) })),
  /** Share (0–1) of each resource that is free now / room in the queue. */
  freeShare: fc.record({ cpu: percent(100), mem: percent(100), gpu: fc.integer({ min: 0, max: 2 }), lic: fc.integer({ min: 0, max: 3 }) }),
  queueShare: fc.record({ cpu: percent(200), mem: percent(200), gpu: fc.integer({ min: 0, max: 2 }), lic: fc.integer({ min: 0, max: 3 }) }),
  speed: fc.constantFrom(0.3, 0.5, 0.8, 1, 1, 1.5, 2, 4),
  queueWaitMs: fc.integer({ min: 0, max: 5000 })
})

function roomOf (capacity: Resources, share: { cpu: number, mem: number, gpu: number, lic: number }): Units {
  return toUnits({
    cpu: Math.round(capacity.cpu * share.cpu * 1000) / 1000,
    memoryMB: Math.floor(capacity.memoryMB * share.mem),
    gpu: Math.min(share.gpu, capacity.gpu * 2),
    custom: { [LIC]: Math.min(share.lic, (capacity.custom[LIC] ?? 0) * 2) }
  })
}

/** The test's own statement of "this peer can never run t" (independent of feasibility.ts). */
function cannotRun (t: OpenTask, capacity: Resources): boolean {
  return t.exclude.includes('me') ||
    t.handler === 'missing' ||
    t.tags.some(tag => tag !== 'site=lab1') ||
    t.demand.cpu > capacity.cpu || t.demand.memoryMB > capacity.memoryMB || t.demand.gpu > capacity.gpu ||
    (t.demand.custom[LIC] ?? 0) > (capacity.custom[LIC] ?? 0)
}

describe('decideBids (real HiGHS)', () => {
  it('never bids beyond free capacity or queue room in any resource, never twice, never for a task it cannot run', () => {
    // in real life… a call for bids mixes tasks of every shape; over-bidding any one resource (say the only
    // GPU or the last matlab licence) would make the peer accept work it cannot start.
    const seen = { runs: 0, now: 0, queue: 0, skipped: 0 }
    const solver = countingSolver()
    fc.assert(fc.property(scenarioArb, s => {
      const freeNow = roomOf(s.capacity, s.freeShare)
      const queueRoom = roomOf(s.capacity, s.queueShare)
      const v: BidderView = { self: ability(s.capacity), speed: s.speed, freeNow, queueRoom, queueWaitMs: s.queueWaitMs }
      const d = decideBids(s.tasks, v, solver)

      const ids = d.bids.map(b => b.task.id)
      expect(new Set(ids).size).toBe(ids.length)
      expect(within(sum(d.bids.filter(b => b.slot === 'now').map(b => b.demand)), freeNow)).toBe(true)
      expect(within(sum(d.bids.filter(b => b.slot === 'queue').map(b => b.demand)), queueRoom)).toBe(true)

      const skipped = new Map(d.skipped.map(x => [x.taskId, x.reason]))
      for (const t of s.tasks) {
        if (cannotRun(t, s.capacity)) {
          expect(skipped.get(t.id), `${t.id} should be skipped`).toEqual(expect.any(String))
          expect(skipped.get(t.id)!.length).toBeGreaterThan(0)
          expect(ids).not.toContain(t.id)
        } else {
          expect(skipped.has(t.id)).toBe(false)
        }
      }
      let behind = 0
      for (const b of d.bids) {
        expect(b.demand).toEqual(toUnits(b.task.demand))
        const alone = etaMs(b.task, s.speed, b.slot === 'now' ? 0 : s.queueWaitMs)
        // A queued task also waits for the queued tasks bid before it, spread over the cores.
        expect(b.etaMs).toBeCloseTo(alone + (b.slot === 'queue' ? behind : 0), 6)
        if (b.slot === 'queue') behind += b.task.workMs * b.task.demand.cpu / (s.capacity.cpu * s.speed)
        // Only work worth doing is bid: its value exceeds λ·ETA (the ETA it would have alone in the queue).
        expect(taskValue(b.task) - LAMBDA * alone).toBeGreaterThan(0)
      }
      seen.runs++
      seen.now += d.bids.filter(b => b.slot === 'now').length
      seen.queue += d.bids.filter(b => b.slot === 'queue').length
      seen.skipped += d.skipped.length
    }), { seed: 20240611, numRuns: 400 })
    expect(seen.runs).toBe(400)
    // The generator reaches every path: bids now, bids in the queue, skips.
    expect(seen.now).toBeGreaterThan(100)
    expect(seen.queue).toBeGreaterThan(100)
    expect(seen.skipped).toBeGreaterThan(100)
    expect(solver.calls).toBeGreaterThan(50) // the LP itself was exercised, not just the shortcut
  })

  it('names why each incapable task is skipped', () => {
    // in real life… `mesh status` shows the user why their task is not running anywhere.
    const cap: Resources = { cpu: 4, memoryMB: 8192, gpu: 0, custom: { [LIC]: 1 } }
    const tasks = [
      openTask({ id: 'no-handler', handler: 'render' }),
      openTask({ id: 'excluded', exclude: ['me'] }),
      openTask({ id: 'too-big', demand: { cpu: 8, memoryMB: 0, gpu: 0, custom: {} } }),
      openTask({ id: 'gpu', demand: { cpu: 1, memoryMB: 0, gpu: 1, custom: {} } }),
      openTask({ id: 'licence', demand: { cpu: 1, memoryMB: 0, gpu: 0, custom: { [LIC]: 2 } } }),
      openTask({ id: 'untagged', tags: ['site=lab2'] }),
      openTask({ id: 'exec', kind: 'exec', handler: undefined, command: 'ffmpeg' }),
      openTask({ id: 'ok' })
    ]
    const d = decideBids(tasks, view(cap), highs)
    // The wording is the UI's call; each reason must name what is missing.
    expect(Object.fromEntries(d.skipped.map(s => [s.taskId, s.reason]))).toEqual({
      'no-handler': expect.stringMatching(/handler.*render/),
      excluded: expect.stringMatching(/excluded/),
      'too-big': expect.stringMatching(/cpu\b.*8/),
      gpu: expect.stringMatching(/gpu\b.*1/),
      licence: expect.stringMatching(/licence:matlab.*2/),
      untagged: expect.stringMatching(/tag site=lab2/),
      exec: expect.stringMatching(/exec/)
    })
    expect(d.bids.map(b => b.task.id)).toEqual(['ok'])
  })

  it('with ample room bids for every positive-value task, without calling the solver', () => {
    // in real life… an idle 64-core server sees a call for 10 small tasks: it simply takes them all.
    const cap: Resources = { cpu: 64, memoryMB: 65_536, gpu: 2, custom: { [LIC]: 4 } }
    const tasks = Array.from({ length: 10 }, (_, i) => openTask({
      id: `t${i}`,
      demand: { cpu: 0.5 + i / 10, memoryMB: 1000, gpu: i === 3 ? 1 : 0, custom: i === 5 ? { [LIC]: 1 } : {} },
      workMs: 100 * i
    }))
    const solver = countingSolver()
    const d = decideBids(tasks, view(cap), solver)
    expect(solver.calls).toBe(0)
    expect(d.bids.map(b => b.task.id).sort()).toEqual(tasks.map(t => t.id).sort())
    expect(d.bids.every(b => b.slot === 'now')).toBe(true)
    expect(d.skipped).toEqual([])
  })

  it('when not everything fits, solves the LP and still never over-commits', () => {
    // in real life… a 4-core desktop is offered 8 one-core tasks: it bids for 4 now and queues what its queue allows.
    const cap: Resources = { cpu: 4, memoryMB: 8192, gpu: 0, custom: {} }
    const tasks = Array.from({ length: 8 }, (_, i) => openTask({ id: `t${i}`, workMs: 2000 + i * 100 }))
    const solver = countingSolver()
    const d = decideBids(tasks, view(cap, { queueRoom: toUnits({ cpu: 2, memoryMB: 8192, gpu: 0, custom: {} }), queueWaitMs: 500 }), solver)
    // One demand for all (a fan-out): the exact shortcut takes the best that fit, without HiGHS.
    expect(solver.calls).toBe(0)
    // Mixed demands need the LP.
    const mixed = decideBids([...tasks, openTask({ id: 'big', workMs: 2500, demand: { cpu: 3, memoryMB: 0, gpu: 0, custom: {} } })], view(cap, { queueRoom: toUnits({ cpu: 2, memoryMB: 8192, gpu: 0, custom: {} }), queueWaitMs: 500 }), solver)
    expect(solver.calls).toBeGreaterThan(0)
    expect(sum(mixed.bids.filter(b => b.slot === 'now').map(b => b.demand)).get('cpu')).toBeLessThanOrEqual(4000)
    expect(d.bids.filter(b => b.slot === 'now')).toHaveLength(4)
    expect(d.bids.filter(b => b.slot === 'queue')).toHaveLength(2)
    // The LP prefers the most valuable work for the slots it has (longer work = more value here).
    expect(d.bids.filter(b => b.slot === 'now').map(b => b.task.id).sort()).toEqual(['t4', 't5', 't6', 't7'])
  })

  it('a slower peer gives larger ETAs for the same task', () => {
    // in real life… a 5-year-old laptop bids against a new server; the origin must see it would finish later.
    const cap: Resources = { cpu: 4, memoryMB: 8192, gpu: 0, custom: {} }
    const tasks = [openTask({ id: 'a', workMs: 1000 }), openTask({ id: 'b', workMs: 300, inputBytes: 1_000_000 })]
    const fast = decideBids(tasks, view(cap, { speed: 2 }), highs)
    const slow = decideBids(tasks, view(cap, { speed: 0.6 }), highs)
    const eta = (d: typeof fast, id: string) => d.bids.find(b => b.task.id === id)!.etaMs
    for (const id of ['a', 'b']) expect(eta(slow, id)).toBeGreaterThan(eta(fast, id))
    expect(eta(fast, 'a')).toBeCloseTo(500, 9)
    expect(eta(slow, 'a')).toBeCloseTo(1000 / 0.6, 9)
    expect(eta(fast, 'b')).toBeCloseTo(150 + 10, 9) // 1 MB of input at ~100 MB/s
  })

  it("a queued bid's ETA includes the queue wait", () => {
    // in real life… the peer is busy for another 2 s; it offers to run the task right after, and says so.
    const cap: Resources = { cpu: 2, memoryMB: 8192, gpu: 0, custom: {} }
    const busy = toUnits({ cpu: 0, memoryMB: 8192, gpu: 0, custom: {} })
    const d = decideBids([openTask({ id: 'q', workMs: 5000 })], view(cap, { freeNow: busy, queueWaitMs: 2000, speed: 1.25 }), highs)
    expect(d.bids).toEqual([expect.objectContaining({ slot: 'queue', etaMs: 2000 + 5000 / 1.25 })])
  })

  it('does not bid at all when there is no room now and no queue', () => {
    // in real life… a full peer with queueDepth 0 stays out of the auction rather than promise what it lacks.
    const cap: Resources = { cpu: 2, memoryMB: 8192, gpu: 0, custom: {} }
    const none = toUnits({ cpu: 0, memoryMB: 0, gpu: 0, custom: {} })
    const d = decideBids([openTask({ id: 'x' })], view(cap, { freeNow: none, queueRoom: none }), highs)
    expect(d).toEqual({ bids: [], skipped: [] })
  })
})

describe('the bid LP (HiGHS)', () => {
  it('finds the known optimum of a fractional knapsack', () => {
    // in real life… three tasks compete for 4 cores; the LP relaxation takes the best value per core first.
    // values 3, 2, 4 for 2, 1, 3 cores: take t1 (2/core) and t0 (1.5/core) whole, then 1/3 of t2.
    const x = highs.solve({ values: [3, 2, 4], demands: [[2], [1], [3]], capacity: [4] })
    expect(x[0]).toBeCloseTo(1, 6)
    expect(x[1]).toBeCloseTo(1, 6)
    expect(x[2]).toBeCloseTo(1 / 3, 6)
  })

  it('respects every resource row, and leaves out negative-value tasks', () => {
    // in real life… cpu is plentiful but the single GPU is the binding constraint; a task not worth its ETA is dropped.
    // rows: cpu (cap 8), gpu (cap 1). t0: 1 cpu + 1 gpu, value 10; t1: 1 cpu + 1 gpu, value 6; t2: 2 cpu, value 5; t3: 1 cpu, value −1.
    const x = highs.solve({ values: [10, 6, 5, -1], demands: [[1, 1], [1, 1], [2, 0], [1, 0]], capacity: [8, 1] })
    expect(x.map(v => Math.round(v * 1e6) / 1e6 + 0)).toEqual([1, 0, 1, 0])
  })

  it('handles an empty problem and zero capacity', () => {
    // in real life… a call for bids with nothing this peer can run, or a peer with nothing free.
    expect(highs.solve({ values: [], demands: [], capacity: [1] })).toEqual([])
    const x = highs.solve({ values: [5, 7], demands: [[1], [2]], capacity: [0] })
    expect(x.map(v => Math.abs(Math.round(v * 1e6) / 1e6))).toEqual([0, 0])
  })
})

describe('task value: the whole job and scarcity', () => {
  it('a task with work waiting on it downstream is worth more than its own length says', () => {
    expect(taskValue(openTask({ workMs: 1000, rankMs: 5000 }))).toBeGreaterThan(taskValue(openTask({ workMs: 1000 })))
  })

  it('a GPU box with one free core takes the task only it can run before one twice as long that any peer could do', () => {
    // in real life… the lab's only GPU machine has one spare core; a long preprocessing step could run anywhere.
    const cap = { cpu: 1, memoryMB: 4096, gpu: 1, custom: {} }
    const gpuTask = openTask({ id: 'train', workMs: 2000, demand: { cpu: 1, memoryMB: 1024, gpu: 1, custom: {} }, alternatives: 1 })
    const plain = openTask({ id: 'long', workMs: 4000, alternatives: 6 })
    const d = decideBids([plain, gpuTask], view(cap, { queueRoom: new Map() }), highs)
    expect(d.bids.map(b => b.task.id)).toEqual(['train'])
    // Without the scarcity it sees, the longer task would have won the core.
    const blind = decideBids([{ ...plain, alternatives: undefined }, { ...gpuTask, alternatives: undefined }], view(cap, { queueRoom: new Map() }), highs)
    expect(blind.bids.map(b => b.task.id)).toEqual(['long'])
  })
})

describe('setup time in the ETA', () => {
  const cap: Resources = { cpu: 4, memoryMB: 8192, gpu: 0, custom: {} }
  const big = openTask({ id: 'big', artifacts: [{ id: '0123456789abcdef', size: 2e9 }] })

  it('adds what the peer must do before the task can start (fetch an artifact it lacks) to its bid', () => {
    const lacks = decideBids([big], view(cap, { setupMs: t => (t.artifacts ?? []).reduce((ms, a) => ms + a.size / 100_000, 0) }), highs)
    const holds = decideBids([big], view(cap, { setupMs: () => 0 }), highs)
    expect(holds.bids[0]!.etaMs).toBe(etaMs(big, 1, 0))
    expect(lacks.bids[0]!.etaMs).toBe(holds.bids[0]!.etaMs + 20_000)
  })

  it('counts it for queued bids too, and leaves the choice of tasks as it was', () => {
    const tasks = [openTask({ id: 'a' }), { ...big, id: 'b' }, openTask({ id: 'c' })]
    const oneCore: Resources = { cpu: 1, memoryMB: 8192, gpu: 0, custom: {} }
    const without = decideBids(tasks, view(oneCore, { queueWaitMs: 1000 }), highs)
    const withSetup = decideBids(tasks, view(oneCore, { setupMs: t => t.id === 'b' ? 500 : 0, queueWaitMs: 1000 }), highs)
    expect(withSetup.bids.map(b => [b.task.id, b.slot])).toEqual(without.bids.map(b => [b.task.id, b.slot]))
    expect(withSetup.bids.some(b => b.slot === 'queue')).toBe(true)
    for (const b of withSetup.bids) {
      const before = without.bids.find(x => x.task.id === b.task.id)!
      expect(b.etaMs - before.etaMs).toBe(b.task.id === 'b' ? 500 : 0)
    }
  })
})

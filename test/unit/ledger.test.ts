import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import type { Bid, CallForBids, OpenTask } from '../../protocols/auction.ts'
import { AUCTION_VERSION } from '../../protocols/auction.ts'
import type { Resources } from '../../protocols/resources.ts'
import { TASK_VERSION, taskMsg, type TaskMessage } from '../../protocols/task.ts'
import { Ledger, fromUnits, toUnits } from '../../src/resources/ledger.ts'
import { MemoryOutboxStore } from '../../src/execution/outbox.ts'
import { Executor, type BlobStore } from '../../src/execution/executor.ts'
import { attemptKey } from '../../src/keys.ts'
import { createHighsSolver } from '../../src/auction/lp.ts'
import { ManualClock } from '../../src/testing/manual-clock.ts'
import { FunctionRunner, sleep } from '../../src/testing/function-runner.ts'
import { silentLogger } from '../../src/logger.ts'

const solver = await createHighsSolver()

const cpu = (n: number, memoryMB = 0): Resources => ({ cpu: n, memoryMB, gpu: 0, custom: {} })
const u = (n: number, memoryMB = 0) => toUnits(cpu(n, memoryMB))

// ── the ledger on its own ───────────────────────────────────────────────────

describe('Ledger: holds', () => {
  it('refuses a hold that does not fit, in any resource', () => {
    // in real life… a peer with 2 cores and 4 GB is asked for a task needing 1 core and 6 GB: it must not hold it.
    const l = new Ledger(cpu(2, 4096), 1)
    expect(l.hold('a', u(1, 6000), 'now', 100)).toBe(false)
    expect(l.hold('b', u(1, 3000), 'now', 100)).toBe(true)
    expect(l.hold('c', u(1, 2000), 'now', 100)).toBe(false) // cpu fits, memory does not
    expect(l.hold('d', u(1, 1000), 'now', 100)).toBe(true)
    expect(l.hold('e', u(0.001), 'now', 100)).toBe(false) // not even a milli-core left
    expect(fromUnits(l.freeNow())).toEqual({ cpu: 0, memoryMB: 96, gpu: 0, custom: {} })
  })

  it('holds for the queue are bounded by queueDepth × capacity, separately from free capacity', () => {
    // in real life… a busy 2-core peer with queueDepth 2 may line up 4 cores' worth of work, no more.
    const l = new Ledger(cpu(2), 2)
    expect(l.hold('n1', u(2), 'now', 100)).toBe(true)
    for (let i = 0; i < 4; i++) expect(l.hold(`q${i}`, u(1), 'queue', 100)).toBe(true)
    expect(l.hold('q4', u(1), 'queue', 100)).toBe(false)
    expect(l.queueRoom().get('cpu')).toBe(0)
    expect(l.usedNow().get('cpu')).toBe(2000)
  })

  it('a key is held once', () => {
    // in real life… gossip delivers the same call for bids twice; the second must not double the hold.
    const l = new Ledger(cpu(4), 1)
    expect(l.hold('k', u(1), 'now', 100)).toBe(true)
    expect(l.hold('k', u(1), 'now', 100)).toBe(false)
    expect(l.usedNow().get('cpu')).toBe(1000)
  })

  it('holds expire at their deadline and free the capacity', () => {
    // in real life… the origin never awarded our bid (someone else won, or it died): the capacity comes back.
    const l = new Ledger(cpu(2), 1)
    expect(l.hold('a', u(1), 'now', 1_000)).toBe(true)
    expect(l.hold('b', u(1), 'queue', 1_500)).toBe(true)
    expect(l.nextExpiry()).toBe(1_000)
    expect(l.expireHolds(999)).toBe(0)
    expect(l.has('a')).toBe(true)
    expect(l.expireHolds(1_000)).toBe(1)
    expect(l.has('a')).toBe(false)
    expect(l.freeNow().get('cpu')).toBe(2000)
    expect(l.nextExpiry()).toBe(1_500)
    expect(l.expireHolds(5_000)).toBe(1)
    expect(l.queueRoom().get('cpu')).toBe(2000)
    expect(l.nextExpiry()).toBeUndefined()
  })

  it('reservations never expire', () => {
    // in real life… an accepted task runs for an hour; the bid's deadline long passed, its capacity stays taken.
    const l = new Ledger(cpu(2), 1)
    l.hold('a', u(1), 'now', 1_000)
    expect(l.reserve('a', u(1))).toBe('now')
    expect(l.expireHolds(1e15)).toBe(0)
    expect(l.kindOf('a')).toBe('reserved')
    expect(l.nextExpiry()).toBeUndefined()
  })
})

describe('Ledger: reserve and promote', () => {
  it('reserve turns a hold into a reservation in place', () => {
    // in real life… we won the auction for the task we bid on: the award is accepted with the capacity we held.
    const l = new Ledger(cpu(2), 1)
    expect(l.hold('a', u(2), 'now', 100)).toBe(true)
    expect(l.reserve('a', u(2))).toBe('now')
    expect(l.kindOf('a')).toBe('reserved')
    expect(l.usedNow().get('cpu')).toBe(2000)
  })

  it('reserve without a hold takes free capacity, then falls back to queue room', () => {
    // in real life… an award arrives for a bid whose hold already expired: take what is free, else queue it.
    const l = new Ledger(cpu(2), 1)
    expect(l.reserve('a', u(1.5))).toBe('now')
    expect(l.reserve('b', u(1))).toBe('queue')
    expect(l.slotOf('b')).toBe('queue')
    expect(l.reserve('c', u(1))).toBe('queue')
    expect(l.reserve('d', u(0.5))).toBe('now') // still fits beside a
    expect(l.reserve('e', u(0.001))).toBeUndefined()
    expect(l.has('e')).toBe(false)
  })

  it('a queued hold is reserved now if room has opened up meanwhile', () => {
    // in real life… we bid to queue the task, but by the award our running task had finished.
    const l = new Ledger(cpu(1), 1)
    l.reserve('running', u(1))
    l.hold('q', u(1), 'queue', 100)
    l.release('running')
    expect(l.reserve('q', u(1))).toBe('now')
    expect(l.queueRoom().get('cpu')).toBe(1000)
  })

  it('returns undefined and keeps the hold when nothing fits', () => {
    // in real life… the award asks for more than we held (a changed spec) and we are full: reject, keep the bid's hold.
    const l = new Ledger(cpu(2), 1)
    l.reserve('busy', u(1))
    l.reserve('busy-q', u(2)) // fills the queue
    expect(l.slotOf('busy-q')).toBe('queue')
    expect(l.hold('a', u(1), 'now', 5_000)).toBe(true)
    expect(l.reserve('a', u(1.5))).toBeUndefined()
    expect(l.kindOf('a')).toBe('hold')
    expect(l.slotOf('a')).toBe('now')
    expect(l.usedNow().get('cpu')).toBe(2000) // busy + the hold, unchanged
    expect(l.nextExpiry()).toBe(5_000)
    expect(l.expireHolds(5_000)).toBe(1)
    expect(l.usedNow().get('cpu')).toBe(1000)
  })

  it('promote moves queued work to running only when it fits', () => {
    // in real life… a queued task starts when a running one finishes, not before.
    const l = new Ledger(cpu(2), 2)
    l.reserve('r1', u(1))
    l.reserve('r2', u(1))
    expect(l.reserve('q', u(1.5))).toBe('queue')
    expect(l.promote('q')).toBe(false)
    expect(l.slotOf('q')).toBe('queue')
    l.release('r1')
    expect(l.promote('q')).toBe(false) // 1 core free, 1.5 needed
    expect(l.queueRoom().get('cpu')).toBe(4000 - 1500)
    l.release('r2')
    expect(l.promote('q')).toBe(true)
    expect(l.slotOf('q')).toBe('now')
    expect(l.usedNow().get('cpu')).toBe(1500)
    expect(l.queueRoom().get('cpu')).toBe(4000)
    expect(l.promote('q')).toBe(false) // already running
  })

  it('promote does nothing for holds and unknown keys', () => {
    // in real life… a stale queue entry (already cancelled) or a mere bid must not start anything.
    const l = new Ledger(cpu(2), 1)
    l.hold('h', u(1), 'queue', 100)
    expect(l.promote('h')).toBe(false)
    expect(l.promote('nope')).toBe(false)
    expect(l.slotOf('h')).toBe('queue')
    expect(l.usedNow().get('cpu') ?? 0).toBe(0)
  })

  it('release is idempotent', () => {
    // in real life… a task is cancelled and its result arrives at the same moment: both paths release it.
    const l = new Ledger(cpu(2), 1)
    l.reserve('a', u(1))
    l.release('a')
    l.release('a')
    expect(l.freeNow().get('cpu')).toBe(2000)
  })
})

describe('Ledger: fixed-point amounts', () => {
  it('ten holds of 0.1 core fill exactly 1 core, and releasing them gives back exactly 1 core', () => {
    // in real life… ten tiny tasks of a tenth of a core each on a 1-core edge box: in floats 0.1 × 10 ≠ 1.
    let float = 0
    for (let i = 0; i < 10; i++) float += 0.1
    expect(float).not.toBe(1) // the drift the ledger must avoid
    const l = new Ledger(cpu(1), 1)
    for (let i = 0; i < 10; i++) expect(l.hold(`t${i}`, u(0.1), 'now', 100)).toBe(true)
    expect(l.freeNow().get('cpu')).toBe(0)
    expect(l.hold('t10', u(0.1), 'now', 100)).toBe(false)
    for (let i = 0; i < 10; i++) l.release(`t${i}`)
    expect(l.freeNow().get('cpu')).toBe(1000)
    expect(fromUnits(l.freeNow()).cpu).toBe(1)
  })

  it('any sequence of fractional holds, reservations and releases returns to exactly the capacity', () => {
    // in real life… a long-lived peer accepts and finishes millions of fractional tasks; free capacity must not creep.
    const op = fc.record({
      kind: fc.constantFrom('hold-now', 'hold-queue', 'reserve', 'promote', 'release', 'expire'),
      key: fc.integer({ min: 0, max: 15 }),
      cpuTenths: fc.integer({ min: 1, max: 30 }),
      gpu: fc.constantFrom(0, 0, 1),
      at: fc.integer({ min: 0, max: 2_000 })
    })
    fc.assert(fc.property(fc.constantFrom(1, 2.5, 3.3, 8), fc.integer({ min: 0, max: 3 }), fc.array(op, { maxLength: 80 }), (cores, depth, ops) => {
      const capacity: Resources = { cpu: cores, memoryMB: 0, gpu: 1, custom: { 'licence:x': 0.7 } }
      const l = new Ledger(capacity, depth)
      const keys = new Set<string>()
      for (const o of ops) {
        const key = `k${o.key}`
        const demand = toUnits({ cpu: o.cpuTenths / 10, memoryMB: 0, gpu: o.gpu, custom: { 'licence:x': o.gpu === 0 ? 0.1 : 0 } })
        if (o.kind === 'hold-now') l.hold(key, demand, 'now', o.at)
        else if (o.kind === 'hold-queue') l.hold(key, demand, 'queue', o.at)
        else if (o.kind === 'reserve') l.reserve(key, demand)
        else if (o.kind === 'promote') l.promote(key)
        else if (o.kind === 'release') l.release(key)
        else l.expireHolds(o.at)
        keys.add(key)
        // The invariant: what is promised now (held + reserved) never exceeds capacity; the queue never exceeds its bound.
        for (const [k, cap] of l.capacity) {
          expect(l.freeNow().get(k)!).toBeGreaterThanOrEqual(0)
          expect(l.queueRoom().get(k)!).toBeGreaterThanOrEqual(0)
          expect(l.usedNow().get(k) ?? 0).toBeLessThanOrEqual(cap)
          expect(Number.isInteger(l.freeNow().get(k))).toBe(true)
        }
      }
      for (const k of keys) l.release(k)
      expect(l.freeNow()).toEqual(l.capacity)
      expect(l.queueRoom()).toEqual(l.queueCapacity)
      expect(fromUnits(l.freeNow())).toEqual(fromUnits(l.capacity))
    }), { seed: 7, numRuns: 300 })
  })
})

// ── holds through the executor ──────────────────────────────────────────────

/** An executor on a manual clock, capturing the bids and task messages it sends. */
function makeExecutor (capacity: Resources, opts: { queueDepth?: number, runner?: FunctionRunner } = {}) {
  const clock = new ManualClock()
  const bids: Array<{ to: string, bid: Bid }> = []
  const sent: Array<{ to: string, msg: TaskMessage }> = []
  let capacityChanges = 0
  const runner = opts.runner ?? new FunctionRunner().register('work', async (_input, ctx) => { await sleep(clock, 1_000); return ctx.index })
  const blobs: BlobStore = {
    put: () => { throw new Error('no blobs in this test') },
    drop: () => {},
    fetch: async () => { throw new Error('no blobs in this test') }
  }
  const executor = new Executor({
    clock,
    logger: silentLogger,
    runner,
    solver,
    blobs,
    send: async (to, msg) => { sent.push({ to, msg }); return true },
    sendBid: async (to, bid) => { bids.push({ to, bid }); return true },
    onCapacityChange: () => { capacityChanges++ },
    ability: () => ({ id: 'x', capacity, caps: { kinds: ['handler'], handlers: runner.names(), commands: [], tags: [] } }),
    outbox: new MemoryOutboxStore()
  }, { capacity, speed: 1, queueDepth: opts.queueDepth ?? 1, heartbeatMs: 500, bidWindowMs: 50, resultTtlMs: 24 * 3600_000 })
  void executor.start()
  return { clock, executor, bids, sent, runner, capacityChanges: () => capacityChanges }
}

function cfb (origin: string, jobId: string, n: number, over: Partial<OpenTask> = {}): CallForBids {
  return {
    v: AUCTION_VERSION,
    type: 'cfb',
    jobId,
    round: 0,
    origin,
    windowMs: 50,
    tasks: Array.from({ length: n }, (_, i) => ({
      id: `t[${i}]`, attempt: 1, demand: cpu(1), workMs: 2_000, inputBytes: 0, kind: 'handler' as const, handler: 'work',
      tags: [], priority: 0, ageMs: 0, exclude: [], ...over
    }))
  }
}

/** CPU (cores) of the tasks a set of bids covers, for calls whose tasks are 1 core each. */
const bidCount = (bids: Array<{ bid: Bid }>) => bids.reduce((n, b) => n + b.bid.bids.length, 0)

describe('Executor: what one caller can hold is bounded', () => {
  it('a call claiming a 60 s window holds capacity for the widest real window and a grace, not four minutes', async () => {
    // in real life… one signed call with a 60 s window made every bidder hold everything for 240 s.
    const ex = makeExecutor(cpu(2), { queueDepth: 0 })
    ex.executor.onCallForBids({ ...cfb('rogue', 'j1', 2), windowMs: 60_000 })
    expect(ex.bids[0]!.bid.validMs).toBe(2000 + 1000)
    expect(ex.executor.free().cpu).toBe(0)
    await ex.clock.advanceAsync(3000)
    expect(ex.executor.free().cpu).toBe(2)
  })

  it('a caller that let its holds expire unclaimed gets bids that hold nothing, until it closes a round', async () => {
    const ex = makeExecutor(cpu(2), { queueDepth: 0 })
    ex.executor.onCallForBids(cfb('rogue', 'j1', 2))
    await ex.clock.advanceAsync(ex.bids[0]!.bid.validMs)
    // Never awarded, never closed: the next call is answered, but holds nothing.
    ex.executor.onCallForBids({ ...cfb('rogue', 'j2', 2) })
    expect(ex.bids.at(-1)!.bid.bids).toHaveLength(2)
    expect(ex.executor.free().cpu).toBe(2)
    // Closing a round (as honest origins always do) makes its calls hold again.
    ex.executor.onTaskMessage('rogue', taskMsg.closed('j2', 0))
    ex.executor.onCallForBids(cfb('rogue', 'j3', 2))
    expect(ex.executor.free().cpu).toBe(0)
  })

  it('an origin that leaves has its holds released at once', () => {
    const ex = makeExecutor(cpu(2), { queueDepth: 0 })
    ex.executor.onCallForBids(cfb('o1', 'j1', 2))
    expect(ex.executor.free().cpu).toBe(0)
    ex.executor.originGone('o1')
    expect(ex.executor.free().cpu).toBe(2)
  })
})

describe('Executor: holds prevent over-commit across auctions', () => {
  it('two calls for bids from different origins never hold more than capacity', async () => {
    // in real life… two users submit jobs on two different machines at the same moment; both auctions reach this peer.
    const ex = makeExecutor(cpu(2), { queueDepth: 1 })
    ex.executor.onCallForBids(cfb('o1', 'j1', 4))
    ex.executor.onCallForBids(cfb('o2', 'j2', 4))
    const toO1 = ex.bids.filter(b => b.to === 'o1')
    const toO2 = ex.bids.filter(b => b.to === 'o2')
    expect(toO1).toHaveLength(1)
    // What is held never exceeds capacity now + queue room: 2 + 2 one-core tasks.
    expect(ex.executor.ledger.usedNow().get('cpu')).toBeLessThanOrEqual(2000)
    expect(ex.executor.ledger.queueRoom().get('cpu')).toBeGreaterThanOrEqual(0)
    // The first call took everything; the second finds o1 holding more than an equal share of the
    // cores, so o1 keeps one and o2 gets the other (its award could start now, not after o1's round).
    expect(bidCount(toO1)).toBe(4)
    expect(toO2).toHaveLength(1)
    expect(toO2[0]!.bid.bids).toHaveLength(1)
    expect(toO2[0]!.bid.bids[0]!.queued).toBeUndefined()
  })

  it('many interleaved calls of random shapes never hold more than capacity in any resource', () => {
    // in real life… a busy mesh: a dozen origins auction mixed work at this peer within one bid window.
    fc.assert(fc.property(fc.array(fc.record({
      n: fc.integer({ min: 1, max: 6 }),
      cpuTenths: fc.integer({ min: 1, max: 30 }),
      memoryMB: fc.integer({ min: 0, max: 3000 })
    }), { minLength: 2, maxLength: 12 }), calls => {
      const capacity = cpu(3, 6000)
      const ex = makeExecutor(capacity, { queueDepth: 1 })
      calls.forEach((c, i) => {
        ex.executor.onCallForBids(cfb(`o${i % 3}`, `j${i}`, c.n, { demand: cpu(c.cpuTenths / 10, c.memoryMB) }))
        const used = ex.executor.ledger.usedNow()
        expect(used.get('cpu') ?? 0).toBeLessThanOrEqual(3000)
        expect(used.get('memoryMB') ?? 0).toBeLessThanOrEqual(6000 * 1000)
        for (const v of ex.executor.ledger.queueRoom().values()) expect(v).toBeGreaterThanOrEqual(0)
      })
    }), { seed: 99, numRuns: 100 })
  })

  it('holds expire at the bid deadline, free the capacity, and the peer bids again', async () => {
    // in real life… the origin that got our bid crashed before awarding: 500 ms later the cores are offered again.
    const ex = makeExecutor(cpu(2), { queueDepth: 0 })
    ex.executor.onCallForBids(cfb('o1', 'j1', 2))
    const validMs = ex.bids[0]!.bid.validMs
    expect(validMs).toBeGreaterThan(0)
    expect(ex.executor.free().cpu).toBe(0)
    // o2 gets an equal share: one core, which o1 gives up.
    ex.executor.onCallForBids(cfb('o2', 'j2', 2))
    expect(ex.bids.at(-1)!.bid.bids).toHaveLength(1)
    expect(ex.executor.free().cpu).toBe(0)

    const changesBefore = ex.capacityChanges()
    await ex.clock.advanceAsync(validMs - 1)
    expect(ex.executor.free().cpu).toBe(0)
    await ex.clock.advanceAsync(1)
    expect(ex.executor.free().cpu).toBe(2)
    expect(ex.capacityChanges()).toBeGreaterThan(changesBefore) // the peer re-advertises at once

    ex.executor.onCallForBids(cfb('o2', 'j2', 2))
    expect(ex.bids.at(-1)!.bid.bids.map(b => b.taskId).sort()).toEqual(['t[0]', 't[1]'])
  })

  it('a short-lived hold placed after a long-lived one still expires on time', async () => {
    // in real life… two origins with different bid windows (config auction.bidWindowMs) bid at this peer; the
    // short bid's capacity must come back when it expires, not when the long one does.
    const ex = makeExecutor(cpu(2), { queueDepth: 0 })
    ex.executor.onCallForBids({ ...cfb('slow-origin', 'j1', 1), windowMs: 1_000 })
    ex.executor.onCallForBids({ ...cfb('fast-origin', 'j2', 1), windowMs: 50 })
    const [long, short] = ex.bids.map(b => b.bid.validMs)
    expect(long).toBeGreaterThan(short!)
    expect(ex.executor.free().cpu).toBe(0)
    const changesBefore = ex.capacityChanges()
    await ex.clock.advanceAsync(short!)
    expect(ex.executor.free().cpu).toBe(1)
    expect(ex.capacityChanges()).toBeGreaterThan(changesBefore)
    await ex.clock.advanceAsync(long! - short!)
    expect(ex.executor.free().cpu).toBe(2)
  })

  it('an award turns the hold into a running attempt; an award it has no room for is rejected', async () => {
    // in real life… we won o1's auction (held) and, unasked, o2 awards us work too while we are full.
    const ex = makeExecutor(cpu(1), { queueDepth: 0 })
    ex.executor.onCallForBids(cfb('o1', 'j1', 1))
    const task = { taskId: 't[0]', attempt: 1, index: 0, count: 1, kind: 'handler' as const, handler: 'work', input: null, demand: cpu(1), upstream: {} }
    ex.executor.onTaskMessage('o1', { v: TASK_VERSION, type: 'award', jobId: 'j1', round: 0, tasks: [task] })
    ex.executor.onTaskMessage('o2', { v: TASK_VERSION, type: 'award', jobId: 'j2', round: 0, tasks: [task] })
    await ex.clock.advanceAsync(1)
    const accepts = ex.sent.filter(s => s.msg.type === 'accept').map(s => ({ to: s.to, msg: s.msg }))
    expect(accepts).toEqual([
      { to: 'o1', msg: expect.objectContaining({ accepted: [{ taskId: 't[0]', attempt: 1 }], rejected: [] }) },
      { to: 'o2', msg: expect.objectContaining({ accepted: [], rejected: [expect.objectContaining({ taskId: 't[0]', reason: expect.stringMatching(/capacity/) })] }) }
    ])
    expect(ex.executor.counts()).toEqual({ running: 1, queued: 0 })
    expect(ex.executor.ledger.kindOf(attemptKey('o1', 'j1', 't[0]', 1))).toBe('reserved')
    expect(ex.executor.ledger.usedNow().get('cpu')).toBe(1000)
    // The hold's deadline passing does not free a running attempt's capacity.
    await ex.clock.advanceAsync(600)
    expect(ex.executor.ledger.usedNow().get('cpu')).toBe(1000)
    // When it finishes, the capacity is released and the result goes to o1.
    await ex.clock.advanceAsync(500)
    expect(ex.executor.ledger.usedNow().get('cpu') ?? 0).toBe(0)
    expect(ex.sent.filter(s => s.msg.type === 'result').map(s => s.to)).toEqual(['o1'])
  })

  it('queued attempts start, in order, as running ones finish, never beyond capacity', async () => {
    // in real life… a 2-core peer accepted 4 one-core tasks: two run, two wait their turn.
    const conc: { running: number, max: number } = { running: 0, max: 0 }
    const runner = new FunctionRunner()
    const ex = makeExecutor(cpu(2), { queueDepth: 1, runner })
    runner.register('work', async (_i, ctx) => {
      conc.running++
      conc.max = Math.max(conc.max, conc.running)
      expect(ex.executor.ledger.usedNow().get('cpu')).toBeLessThanOrEqual(2000)
      await sleep(ex.clock, 1_000)
      conc.running--
      return ctx.index
    })
    ex.executor.onCallForBids(cfb('o1', 'j1', 4))
    expect(bidCount(ex.bids)).toBe(4)
    // Which two it holds to run at once is the LP's choice; those start first, the others queue in award order.
    const heldNow = [0, 1, 2, 3].filter(i => ex.executor.ledger.slotOf(attemptKey('o1', 'j1', `t[${i}]`, 1)) === 'now')
    const heldQueue = [0, 1, 2, 3].filter(i => !heldNow.includes(i))
    expect(heldNow).toHaveLength(2)
    const tasks = [0, 1, 2, 3].map(i => ({ taskId: `t[${i}]`, attempt: 1, index: i, count: 4, kind: 'handler' as const, handler: 'work', input: null, demand: cpu(1), upstream: {} }))
    ex.executor.onTaskMessage('o1', { v: TASK_VERSION, type: 'award', jobId: 'j1', round: 0, tasks })
    await ex.clock.advanceAsync(1)
    expect(ex.executor.counts()).toEqual({ running: 2, queued: 2 })
    expect(ex.runner.started.map(r => r.index)).toEqual(heldNow)
    await ex.clock.advanceAsync(5_000)
    expect(ex.executor.counts()).toEqual({ running: 0, queued: 0 })
    expect(ex.runner.started.map(r => r.index)).toEqual([...heldNow, ...heldQueue])
    // Every result went out (and, unacknowledged, keeps being resent from the outbox).
    expect(new Set(ex.sent.flatMap(s => s.msg.type === 'result' ? s.msg.results.map(r => r.taskId) : []))).toEqual(new Set(['t[0]', 't[1]', 't[2]', 't[3]']))
    expect(ex.executor.outboxSize()).toBe(4)
    expect(conc.max).toBe(2)
  })
})

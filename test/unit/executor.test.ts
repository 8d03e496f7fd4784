/**
 * The executor's modules, driven message by message on a manual clock with no
 * network: admission (the one requirement rule, trust, shell), the bid desk's
 * reasons for not bidding, and the result outbox (durable, resent until acked).
 */
import { describe, it, expect } from 'vitest'
import { auctionMsg, type CallForBids } from '../../protocols/auction.ts'
import type { ResourceAd, Resources } from '../../protocols/resources.ts'
import { taskMsg, type AwardedTask, type TaskMessage } from '../../protocols/task.ts'
import type { ArtifactStore } from '../../src/execution/artifact-store.ts'
import { GpuDevices } from '../../src/execution/gpu-devices.ts'
import { ManualClock } from '../../src/testing/manual-clock.ts'
import { sleep } from '../../src/testing/function-runner.ts'
import { testExecutor } from '../helpers/executor.ts'

const cpu = (n: number): Resources => ({ cpu: n, memoryMB: 0, gpu: 0, custom: {} })

function makeExecutor (caps: Partial<ResourceAd['caps']> = {}, capacity = cpu(2), artifacts?: (clock: ManualClock) => ArtifactStore) {
  return testExecutor({ capacity, caps, ...(artifacts !== undefined ? { artifacts } : {}) })
}

/** Advance `ms`, then a few single milliseconds: the attempt's end, its durable write and the 1 ms flush happen in turn. */
async function settle (clock: ManualClock, ms: number): Promise<void> {
  await clock.advanceAsync(ms + 5, 1)
}

const handlerTask = (taskId: string): AwardedTask => ({ taskId, attempt: 1, index: 0, kind: 'handler', handler: 'work', demand: cpu(1), upstream: {} })
const shellTask = (taskId: string): AwardedTask => ({
  taskId, attempt: 1, index: 0, kind: 'exec', demand: cpu(1), upstream: {},
  exec: { command: ['echo ok'], env: {}, inputs: {}, outputs: [], shell: true }
})

describe('Executor admission: one requirement rule', () => {
  it('rejects an award from an origin this peer does not run jobs for, and accepts one from a trusted origin', () => {
    const ex = makeExecutor({ origins: ['x', 'friend'] })
    ex.executor.onTaskMessage('stranger', taskMsg.award('j1', 0, [handlerTask('a')]))
    ex.executor.onTaskMessage('friend', taskMsg.award('j2', 0, [handlerTask('b')]))
    const [fromStranger, fromFriend] = ex.accepts()
    expect(fromStranger!.rejected).toEqual([{ taskId: 'a', attempt: 1, reason: 'does not run jobs from stranger (trust.submitters)' }])
    expect(fromFriend!.accepted).toEqual([{ taskId: 'b', attempt: 1 }])
    expect(ex.executor.counts()).toEqual({ running: 1, queued: 0 })
  })

  it('a shell task is accepted where sh is allowed and rejected where only its first word is', () => {
    const withSh = makeExecutor({ commands: ['/bin/sh'] })
    withSh.executor.onTaskMessage('o', taskMsg.award('j', 0, [shellTask('s')]))
    expect(withSh.accepts()[0]!.accepted).toEqual([{ taskId: 's', attempt: 1 }])

    const withoutSh = makeExecutor({ commands: ['echo ok', 'echo'] })
    withoutSh.executor.onTaskMessage('o', taskMsg.award('j', 0, [shellTask('s')]))
    expect(withoutSh.accepts()[0]!.rejected[0]!.reason).toBe('lacks: program "sh" for a shell task (executor.exec.allow)')
  })
})

describe('Executor admission: an attempt belongs to its origin\'s job', () => {
  it('an award forged by another peer for the same job, task and attempt does not take the origin\'s place', async () => {
    // A rogue heard the call for o's job j1 and sent its own award for j1/a#1 first. Keyed without
    // the origin, o's real award then looked like a duplicate ("already ours") and its heartbeats went to the rogue.
    const ex = makeExecutor()
    ex.executor.onTaskMessage('rogue', taskMsg.award('j1', 0, [handlerTask('a')]))
    ex.executor.onTaskMessage('o', taskMsg.award('j1', 0, [handlerTask('a')]))
    expect(ex.accepts().map(a => a.accepted)).toEqual([[{ taskId: 'a', attempt: 1 }], [{ taskId: 'a', attempt: 1 }]])
    expect(ex.executor.attempts().map(a => [a.origin, a.jobId, a.taskId])).toEqual([['rogue', 'j1', 'a'], ['o', 'j1', 'a']])
    await ex.clock.advanceAsync(600)
    const heartbeatsTo = new Set(ex.sent.filter(s => s.msg.type === 'progress').map(s => s.to))
    expect(heartbeatsTo).toEqual(new Set(['rogue', 'o']))
    // The rogue's cancel stops its own attempt only.
    ex.executor.onTaskMessage('rogue', taskMsg.cancel('j1', 'stop', [{ taskId: 'a', attempt: 1 }]))
    expect(ex.executor.attempts().map(a => a.origin)).toEqual(['o'])
  })
})

describe('Executor bid desk: why it did not bid', () => {
  const call = (jobId: string, n: number, round = 0): CallForBids => auctionMsg.callForBids({
    jobId, round, origin: 'o', windowMs: 50,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t[${i}]`, attempt: 1, demand: cpu(1), workMs: 2000, inputBytes: 0, kind: 'handler' as const, handler: 'work', tags: [], priority: 0, ageMs: 0, exclude: [] }))
  })

  it('a full peer answers without bids and says it has no room, with what it runs and queues', () => {
    const ex = makeExecutor()
    ex.executor.onTaskMessage('o', taskMsg.award('busy', 0, [handlerTask('a'), handlerTask('b'), { ...handlerTask('c') }, { ...handlerTask('d') }]))
    expect(ex.executor.counts()).toEqual({ running: 2, queued: 2 })
    ex.executor.onCallForBids(call('j', 2))
    expect(ex.bids).toHaveLength(1)
    expect(ex.bids[0]!.bid.bids).toEqual([])
    expect(ex.bids[0]!.bid.declined).toBe('no room now or in its queue (2 running, 2 queued)')
  })

  it('a peer that bid for everything it was offered gives no reason', () => {
    const ex = makeExecutor()
    ex.executor.onCallForBids(call('j', 2))
    expect(ex.bids[0]!.bid.bids).toHaveLength(2)
    expect(ex.bids[0]!.bid.declined).toBeUndefined()
  })
})

describe('Executor result outbox', () => {
  it('keeps a result durable and resends it with backoff until its origin acknowledges it, then forgets it', async () => {
    const ex = makeExecutor()
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [handlerTask('a')]))
    await settle(ex.clock, 1_000)
    const results = () => ex.sent.filter(s => s.msg.type === 'result')
    expect(results()).toHaveLength(1)
    expect(ex.store.entries.size).toBe(1)
    await ex.clock.advanceAsync(1_500)
    expect(results().length).toBeGreaterThanOrEqual(2) // not acknowledged: sent again
    ex.executor.onTaskMessage('o', taskMsg.ack('j', [{ taskId: 'a', attempt: 1 }]))
    expect(ex.executor.outboxSize()).toBe(0)
    await ex.clock.advanceAsync(1)
    expect(ex.store.entries.size).toBe(0)
    const count = results().length
    await ex.clock.advanceAsync(40_000, 100)
    expect(results()).toHaveLength(count)
    ex.executor.stop()
  })

  it('a start notice waits for its result: a brief attempt costs its origin one message, a long one is told it started', async () => {
    const ex = makeExecutor()
    const sentOf = (type: string) => ex.sent.filter(s => s.msg.type === type).map(s => s.msg)
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [{ ...handlerTask('b'), handler: 'brief' }]))
    await settle(ex.clock, 5)
    expect(sentOf('result')).toHaveLength(1)
    await ex.clock.advanceAsync(100, 1)
    expect(sentOf('progress')).toEqual([])
    ex.executor.onTaskMessage('o', taskMsg.award('j', 1, [handlerTask('a')]))
    await ex.clock.advanceAsync(25, 1)
    expect(sentOf('progress')).toEqual([expect.objectContaining({ jobId: 'j', items: [expect.objectContaining({ taskId: 'a', attempt: 1, running: true })] })])
    ex.executor.stop()
  })

  it('an ack from a peer that is not the result\'s origin is ignored', async () => {
    const ex = makeExecutor()
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [handlerTask('a')]))
    await settle(ex.clock, 1_000)
    ex.executor.onTaskMessage('impostor', taskMsg.ack('j', [{ taskId: 'a', attempt: 1 }]))
    expect(ex.executor.outboxSize()).toBe(1)
    ex.executor.stop()
  })
})

describe('Executor bid desk: holds end with their round', () => {
  const call = (jobId: string, round: number, n: number, name = 't'): CallForBids => auctionMsg.callForBids({
    jobId, round, origin: 'o', windowMs: 50,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `${name}[${i}]`, attempt: 1, demand: cpu(1), workMs: 2000, inputBytes: 0, kind: 'handler' as const, handler: 'work', tags: [], priority: 0, ageMs: 0, exclude: [] }))
  })

  it('a `closed` message releases what a round held at once, not when the bids expire', () => {
    const ex = makeExecutor()
    ex.executor.onCallForBids(call('j1', 0, 2))
    expect(ex.bids[0]!.bid.bids).toHaveLength(2)
    // Both cores are held for j1's round 0: another job's call finds no room now.
    ex.executor.onCallForBids(call('j2', 0, 1))
    expect(ex.bids[1]!.bid.bids.every(b => b.queued === true)).toBe(true)
    ex.executor.onTaskMessage('o', taskMsg.closed('j1', 0))
    ex.executor.onCallForBids(call('j3', 0, 1))
    expect(ex.bids[2]!.bid.bids).toEqual([expect.objectContaining({ taskId: 't[0]' })])
    expect(ex.bids[2]!.bid.bids[0]!.queued).toBeUndefined()
  })

  it('an award releases the round\'s other holds, and a stale `closed` for an older round releases nothing', () => {
    const ex = makeExecutor()
    ex.executor.onCallForBids(call('j1', 3, 2))
    ex.executor.onTaskMessage('o', taskMsg.award('j1', 3, [handlerTask('t[0]')]))
    // t[0] runs on one core; the hold for t[1] went with the award, so one core is free now.
    expect(ex.executor.counts()).toEqual({ running: 1, queued: 0 })
    expect(ex.executor.free().cpu).toBe(1)
    ex.executor.onCallForBids(call('j1', 4, 1, 'u'))
    ex.executor.onTaskMessage('o', taskMsg.closed('j1', 3))
    expect(ex.executor.free().cpu).toBe(0) // round 4's hold stays
  })
})

describe('Executor bid desk: the queue wait', () => {
  it('a queued bid waits until the running attempt should end (its start plus its work), not a guess', async () => {
    // in real life… a one-core box is 600 ms into a 1 s task: a new 1 s task queued here finishes in about 1.4 s.
    const ex = makeExecutor({}, cpu(1))
    ex.executor.onTaskMessage('o', taskMsg.award('j1', 0, [{ ...handlerTask('long'), workMs: 1000 }]))
    await ex.clock.advanceAsync(600, 10)
    ex.executor.onCallForBids(auctionMsg.callForBids({
      jobId: 'j2', round: 0, origin: 'o', windowMs: 50,
      tasks: [{ id: 'next', attempt: 1, demand: cpu(1), workMs: 1000, inputBytes: 0, kind: 'handler', handler: 'work', tags: [], priority: 0, ageMs: 0, exclude: [] }]
    }))
    const bid = ex.bids.at(-1)!.bid.bids[0]!
    expect(bid.queued).toBe(true)
    // 400 ms left of the running task, then its own 1000 ms (before, the wait was guessed as the task's own length: 2000).
    expect(bid.etaMs).toBeCloseTo(1400, 0)
    ex.executor.stop()
  })
})

describe('Executor GPUs', () => {
  it('hands each GPU task its own devices, none to a CPU task, and a freed device to the next', async () => {
    // in real life… two training runs on a 2-GPU box used to share card 0, since nothing said which card was whose.
    const ex = makeExecutor({}, { cpu: 4, memoryMB: 0, gpu: 2, custom: {} })
    const gpuTask = (taskId: string): AwardedTask => ({ ...handlerTask(taskId), demand: { cpu: 1, memoryMB: 0, gpu: 1, custom: {} } })
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [gpuTask('a'), gpuTask('b'), gpuTask('c'), handlerTask('plain')]))
    expect(ex.executor.counts()).toEqual({ running: 3, queued: 1 })
    await ex.clock.advanceAsync(1, 1)
    const gpusOf = (taskId: string) => ex.runner.started.find(r => r.taskId === taskId)?.gpus
    expect([gpusOf('a'), gpusOf('b'), gpusOf('plain')]).toEqual([[0], [1], []])
    expect(gpusOf('c')).toBeUndefined()
    await settle(ex.clock, 1_000)
    expect(gpusOf('c')).toEqual([0])
    ex.executor.stop()
  })
})

describe('GpuDevices', () => {
  it('takes the lowest free devices, all or none, and takes back what is given', () => {
    const d = new GpuDevices(3)
    expect(d.take(2)).toEqual([0, 1])
    expect(d.take(2)).toBeUndefined()
    expect(d.held).toBe(2)
    d.give([0])
    expect(d.take(2)).toEqual([0, 2])
    expect(new GpuDevices(0).take(1)).toBeUndefined()
  })
})

describe('Executor artifacts', () => {
  const ref = { name: 'model.onnx', sha256: 'ab'.repeat(32), size: 7 }
  const withArtifact: AwardedTask = { ...handlerTask('a'), artifacts: [ref] }
  const resultOf = (ex: ReturnType<typeof makeExecutor>) => ex.sent.filter(s => s.msg.type === 'result').flatMap(s => (s.msg as Extract<TaskMessage, { type: 'result' }>).results)

  it('gets the artifacts before the attempt runs, reports where they came from, and times the work without the fetch', async () => {
    const released: string[] = []
    const ex = makeExecutor({}, cpu(2), clock => ({
      acquire: async (refs, origin) => {
        expect(origin).toBe('o')
        await sleep(clock, 500) // the fetch
        return { paths: Object.fromEntries(refs.map(r => [r.name, `/cache/${r.sha256}`])), bytes: { network: 7, cache: 0 }, release: () => { released.push('a') } }
      }
    }))
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [withArtifact]))
    await settle(ex.clock, 1_500)
    const [r] = resultOf(ex)
    expect(r).toMatchObject({ taskId: 'a', ok: true, artifactBytes: { network: 7, cache: 0 } })
    // 500 ms fetching, then the 1,000 ms the handler works: bids price the fetch separately.
    expect(r!.durationMs).toBe(1_000)
    expect(released).toEqual(['a'])
  })

  it('fails the attempt, retryably, when no peer can supply an artifact, or when this peer keeps none', async () => {
    const ex = makeExecutor({}, cpu(2), () => ({ acquire: async () => { throw new Error('no peer could supply artifact abababababab') } }))
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [withArtifact]))
    await settle(ex.clock, 10)
    expect(resultOf(ex)[0]).toMatchObject({ ok: false, retryable: true, error: 'artifacts: no peer could supply artifact abababababab' })

    const none = makeExecutor()
    none.executor.onTaskMessage('o', taskMsg.award('j', 0, [withArtifact]))
    await settle(none.clock, 10)
    expect(resultOf(none)[0]).toMatchObject({ ok: false, retryable: true, error: 'this peer keeps no artifacts' })
  })
})

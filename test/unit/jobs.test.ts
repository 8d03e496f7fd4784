import { describe, it, expect } from 'vitest'
import { fakeProbe, TestMesh } from '../helpers/mesh.ts'
import { advanceUntil, auctionSent, recordEvents, runUntilEnd, seeded, spec } from '../helpers/jobs.ts'
import { sleep, type TestHandler } from '../../src/testing/function-runner.ts'
import { parseConfig } from '../../src/config.ts'
import type { JobView } from '../../src/jobs/job-view.ts'

const IDS = ['a', 'b', 'c']

/** Three 2-core peers a–b–c in a line, gossiping for 2 s so everyone knows everyone. */
async function threePeers (opts: { cores?: number } = {}): Promise<TestMesh> {
  const mesh = new TestMesh()
  for (const id of IDS) mesh.add(id, fakeProbe({ cpuCores: opts.cores ?? 2 }))
  mesh.network.link('a', 'b')
  mesh.network.link('b', 'c')
  await mesh.advance(2_000)
  return mesh
}

/** Register `fn` as handler `name` on the listed peers. */
function register (mesh: TestMesh, name: string, fn: (peer: string) => TestHandler, peers = IDS): void {
  for (const id of peers) mesh.runners.get(id)!.register(name, fn(id))
}

/** Let one gossip interval pass, so every peer's ad lists the handlers registered since. */
async function settle (mesh: TestMesh): Promise<void> {
  await mesh.advance(mesh.config.gossip.intervalMs + 50)
}

/** The task's accepted value, as the origin holds it. */
const resultOf = (job: JobView, taskId: string): unknown => job.tasks.get(taskId)?.result

describe('Jobs on a 3-peer mesh: fan-out and reduce', () => {
  it('runs 64 tasks plus a reduce across all peers, never over any peer\'s CPU, in DAG order', async () => {
    // in real life… a parameter sweep of 64 one-core runs over three 2-core machines, then one step that combines them.
    const mesh = await threePeers()
    const rand = seeded(64)
    const durations = Array.from({ length: 64 }, () => 100 + Math.floor(rand() * 201)) // 100–300 ms each
    const running = new Map(IDS.map(id => [id, 0]))
    const maxRunning = new Map<string, number>()
    const overCapacity: string[] = []
    const ranOn = new Map<number, string>()
    const sqTimes: Array<{ index: number, start: number, end: number }> = []
    let reduceStart = -1

    register(mesh, 'sq', id => async (_input, ctx) => {
      const start = mesh.clock.now()
      const peer = mesh.peer(id)
      const now = (running.get(id) ?? 0) + 1
      running.set(id, now)
      maxRunning.set(id, Math.max(maxRunning.get(id) ?? 0, now))
      // The executor's own accounting, read at the start of every attempt.
      const counted = peer.executor.counts().running
      const usedCpu = (peer.executor.ledger.usedNow().get('cpu') ?? 0) / 1000
      if (now > peer.capacity.cpu || counted > peer.capacity.cpu || usedCpu > peer.capacity.cpu) {
        overCapacity.push(`${id} at ${start}: ${now} handlers running, executor counts ${counted}, ledger ${usedCpu} cpu`)
      }
      ranOn.set(ctx.index, id)
      await sleep(mesh.clock, durations[ctx.index]!)
      running.set(id, running.get(id)! - 1)
      sqTimes.push({ index: ctx.index, start, end: mesh.clock.now() })
      return ctx.index * ctx.index + 1
    })
    register(mesh, 'sum', () => async (_input, ctx) => {
      reduceStart = mesh.clock.now()
      const values = ctx.upstream.sq as number[]
      return { values, total: values.reduce((a, b) => a + b, 0) }
    })

    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({
      sq: { kind: 'handler', handler: 'sq', count: 64, resources: { cpu: 1 } },
      total: { kind: 'handler', handler: 'sum', after: ['sq'], resources: { cpu: 1 } }
    }))
    const events = recordEvents(job)
    expect(await runUntilEnd(mesh, job, 60_000)).toBe('done')

    expect(overCapacity).toEqual([])
    expect([...maxRunning.values()]).toContain(2) // the check was not vacuous: peers did run two at once
    for (let i = 0; i < 64; i++) expect(resultOf(job, `sq[${i}]`)).toBe(i * i + 1)
    const expected = Array.from({ length: 64 }, (_, i) => i * i + 1)
    expect(resultOf(job, 'total')).toEqual({ values: expected, total: expected.reduce((a, b) => a + b, 0) })
    expect(new Set(ranOn.values())).toEqual(new Set(IDS))
    // DAG order: the reduce started only after every sq attempt had finished.
    expect(sqTimes).toHaveLength(64)
    expect(reduceStart).toBeGreaterThanOrEqual(Math.max(...sqTimes.map(t => t.end)))
    expect(events.filter(e => e.type === 'task-done')).toHaveLength(65)
    expect(events.at(-1)).toEqual(expect.objectContaining({ type: 'job-done' }))
  })
})

describe('Jobs: a task no live peer can run', () => {
  it('waits with a reason naming the gpu, publishes nothing while nothing changes, and runs once a GPU peer joins', async () => {
    // in real life… a training step needs a GPU and the only GPU box is switched off; the user sees why, and it runs when the box comes up.
    const mesh = await threePeers()
    register(mesh, 'train', id => async () => { await sleep(mesh.clock, 200); return `trained on ${id}` })
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ train: { kind: 'handler', handler: 'train', resources: { cpu: 1, gpu: 1 } } }))
    const events = recordEvents(job)
    await mesh.advance(100)

    const task = job.snapshot(true).tasks!.find(t => t.id === 'train')!
    expect(task.status).toBe('pending')
    expect(task.waiting).toMatch(/gpu/)
    expect(events.filter(e => e.type === 'task-waiting')).toEqual([expect.objectContaining({ taskId: 'train', reason: task.waiting })])

    // No spinning: 10 s of simulated time with nothing changed brings no call for bids and no new events.
    const cfbsBefore = IDS.map(id => auctionSent(mesh, id).length)
    const eventsBefore = events.length
    await mesh.advance(10_000)
    expect(IDS.map(id => auctionSent(mesh, id).length)).toEqual(cfbsBefore)
    expect(auctionSent(mesh, 'b').filter(m => m.type === 'cfb')).toEqual([])
    expect(events.length).toBe(eventsBefore)
    expect(job.state).toBe('running')

    // A GPU machine joins the mesh.
    mesh.add('g', fakeProbe({ cpuCores: 2, gpus: [{ model: 'x', memoryMB: 8000 }] }))
    mesh.runners.get('g')!.register('train', async () => { await sleep(mesh.clock, 200); return 'trained on g' })
    mesh.network.link('g', 'c')
    expect(await runUntilEnd(mesh, job, 10_000)).toBe('done')
    expect(resultOf(job, 'train')).toBe('trained on g')
    expect(job.snapshot(true).tasks![0]!.waiting).toBeUndefined()
    expect(auctionSent(mesh, 'b').filter(m => m.type === 'cfb').length).toBeGreaterThanOrEqual(1)
  })
})

describe('Jobs: retries', () => {
  it('retries a task that fails on its first attempt, on another peer, and completes', async () => {
    // in real life… a flaky network mount makes one run fail; the mesh runs it again elsewhere and the job succeeds.
    const mesh = await threePeers()
    const attempts: Array<{ peer: string, attempt: number }> = []
    register(mesh, 'flaky', id => async (_input, ctx) => {
      attempts.push({ peer: id, attempt: ctx.attempt })
      await sleep(mesh.clock, 100)
      if (ctx.attempt === 1) throw new Error('mount not ready')
      return `ok from ${id}`
    })
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ step: { kind: 'handler', handler: 'flaky', retries: 2 } }))
    const events = recordEvents(job)
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('done')

    expect(attempts).toHaveLength(2)
    expect(attempts[1]!.attempt).toBe(2)
    expect(attempts[1]!.peer).not.toBe(attempts[0]!.peer)
    expect(resultOf(job, 'step')).toBe(`ok from ${attempts[1]!.peer}`)
    expect(events.filter(e => e.type === 'task-failed')).toEqual([
      expect.objectContaining({ taskId: 'step', attempt: 1, peer: attempts[0]!.peer, willRetry: true, error: expect.stringMatching(/mount not ready/) })
    ])
    const snap = job.snapshot(true).tasks![0]!
    expect(snap.attempts).toEqual([
      expect.objectContaining({ attempt: 1, peer: attempts[0]!.peer, state: 'failed', reason: expect.stringMatching(/mount not ready/) }),
      expect.objectContaining({ attempt: 2, peer: attempts[1]!.peer, state: 'done' })
    ])
  })

  it('retries on the same peer when it is the only one able to run the task', async () => {
    // in real life… only one machine has the licensed tool; a transient failure there must not strand the task.
    const mesh = await threePeers()
    const attempts: Array<{ peer: string, attempt: number }> = []
    register(mesh, 'licensed', id => async (_input, ctx) => {
      attempts.push({ peer: id, attempt: ctx.attempt })
      await sleep(mesh.clock, 100)
      if (ctx.attempt === 1) throw new Error('licence server hiccup')
      return 'ok'
    }, ['c'])
    await settle(mesh)
    const job = await mesh.peer('a').submit(spec({ step: { kind: 'handler', handler: 'licensed', retries: 1 } }))
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('done')
    expect(attempts).toEqual([{ peer: 'c', attempt: 1 }, { peer: 'c', attempt: 2 }])
  })

  it('waits longer before each retry (backoff), even while capacity keeps appearing', async () => {
    // in real life… a task fails because a licence server is down; hammering it every second would not help.
    const mesh = await threePeers()
    const runs: Array<{ attempt: number, start: number, end: number }> = []
    register(mesh, 'down', () => async (_input, ctx) => {
      const start = mesh.clock.now()
      await sleep(mesh.clock, 50)
      runs.push({ attempt: ctx.attempt, start, end: mesh.clock.now() })
      throw new Error('licence server down')
    })
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ step: { kind: 'handler', handler: 'down', retries: 3 } }))
    expect(await runUntilEnd(mesh, job, 60_000)).toBe('failed')
    expect(runs.map(r => r.attempt)).toEqual([1, 2, 3, 4])
    // Each retry waits at least as long as the one before (the origin's backoff starts at 1 s and doubles).
    const gaps = runs.slice(1).map((r, i) => r.start - runs[i]!.end)
    expect(gaps[0]).toBeGreaterThanOrEqual(1_000)
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(2 * gaps[i - 1]! - 200)
  })

  it('fails the job when a task runs out of retries, with the error in the snapshot, and cancels other running attempts', async () => {
    // in real life… a bug in one step of a pipeline: the job stops and says why, and the long sibling tasks stop burning CPU.
    const mesh = await threePeers()
    const aborted: string[] = []
    let badAttempts = 0
    register(mesh, 'bad', () => async () => {
      badAttempts++
      await sleep(mesh.clock, 50)
      throw new TypeError('x is undefined')
    })
    register(mesh, 'long', id => async (_input, ctx) => {
      await new Promise<void>(resolve => {
        const h = mesh.clock.setTimeout(resolve, 60_000)
        ctx.signal.addEventListener('abort', () => { aborted.push(`${id}:${ctx.taskId}`); mesh.clock.clearTimeout(h); resolve() })
      })
      return 'finished'
    })
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({
      bad: { kind: 'handler', handler: 'bad', retries: 1 },
      long: { kind: 'handler', handler: 'long', count: 2 }
    }))
    const events = recordEvents(job)
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('failed')
    await mesh.advance(100) // let the cancels reach the executors

    expect(badAttempts).toBe(2)
    expect(job.error).toMatch(/bad.*x is undefined/)
    const snap = job.snapshot(true)
    expect(snap.state).toBe('failed')
    expect(snap.error).toMatch(/x is undefined/)
    expect(snap.tasks!.find(t => t.id === 'bad')).toEqual(expect.objectContaining({ status: 'failed', error: expect.stringMatching(/TypeError: x is undefined/) }))
    expect(events.filter(e => e.type === 'task-failed').map(e => e.type === 'task-failed' && e.willRetry)).toEqual([true, false])
    expect(events.at(-1)).toEqual(expect.objectContaining({ type: 'job-failed', error: expect.stringMatching(/x is undefined/) }))
    expect(aborted.map(s => s.split(':')[1]).sort()).toEqual(['long[0]', 'long[1]'])
    for (const id of IDS) expect(mesh.peer(id).executor.counts()).toEqual({ running: 0, queued: 0 })
  })
})

/** A handler that runs until its attempt is cancelled (or `ms` pass), recording cancellations. */
function untilCancelled (mesh: TestMesh, aborted: string[], ms = 600_000): (peer: string) => TestHandler {
  return id => async (_input, ctx) => {
    await new Promise<void>(resolve => {
      const h = mesh.clock.setTimeout(resolve, ms)
      ctx.signal.addEventListener('abort', () => { aborted.push(`${id}:${ctx.taskId}:${ctx.attempt}`); mesh.clock.clearTimeout(h); resolve() })
    })
    return 'finished'
  }
}

describe('Jobs: fencing', () => {
  it('ignores the late result of an attempt that lost its lease; the retry\'s value is the one kept', async () => {
    // in real life… a laptop's lid closes mid-task (SIGSTOP-like); the task is re-run elsewhere, then the laptop wakes and delivers its stale result.
    const mesh = await threePeers()
    const starts: Array<{ peer: string, attempt: number }> = []
    register(mesh, 'slow', id => async (_input, ctx) => {
      starts.push({ peer: id, attempt: ctx.attempt })
      await sleep(mesh.clock, ctx.attempt === 1 ? 3_000 : 5_000)
      return `attempt ${ctx.attempt} on ${id}`
    }, ['a', 'c']) // not on the origin b, so both attempts run remotely
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ step: { kind: 'handler', handler: 'slow' } }))
    const events = recordEvents(job)
    await advanceUntil(mesh, 'attempt 1 started', () => starts.length === 1)
    const first = starts[0]!.peer
    const frozenAt = mesh.clock.now()
    mesh.network.freeze(first)

    // The lease expires and attempt 2 starts on the other capable peer.
    await advanceUntil(mesh, 'attempt 2 started', () => starts.length === 2, 10_000)
    const second = starts[1]!
    expect(second).toEqual({ peer: first === 'a' ? 'c' : 'a', attempt: 2 })
    expect(mesh.clock.now() - frozenAt).toBeGreaterThanOrEqual(mesh.config.failure.leaseMs)
    expect(events).toContainEqual(expect.objectContaining({ type: 'task-migrated', taskId: 'step', attempt: 1, peer: first }))

    // Attempt 1 finishes on the frozen peer, which keeps its result in the outbox; then the peer thaws.
    await advanceUntil(mesh, 'attempt 1 finished into the outbox', () => mesh.peer(first).executor.outboxSize() === 1, 10_000)
    expect(job.tasks.get('step')!.status).toBe('running')
    mesh.network.thaw(first)
    // The stale result reaches the origin while attempt 2 still runs: it is acknowledged (the outbox empties) and dropped.
    await advanceUntil(mesh, 'stale result acknowledged', () => mesh.peer(first).executor.outboxSize() === 0, 10_000)
    expect(job.state).toBe('running')
    expect(job.tasks.get('step')).toEqual(expect.objectContaining({ status: 'running', attempt: 2 }))
    expect(job.tasks.get('step')!.result).toBeUndefined()

    expect(await runUntilEnd(mesh, job, 20_000)).toBe('done')
    expect(resultOf(job, 'step')).toBe(`attempt 2 on ${second.peer}`)
    expect(events.filter(e => e.type === 'task-done')).toEqual([expect.objectContaining({ taskId: 'step', attempt: 2, peer: second.peer })])
    const attempts = job.snapshot(true).tasks![0]!.attempts
    expect(attempts.map(a => [a.attempt, a.peer, a.state])).toEqual([[1, first, 'lost'], [2, second.peer, 'done']])
    expect(starts).toHaveLength(2) // no third attempt
  })
})

describe('Jobs: a given-up attempt', () => {
  it('is stopped as soon as its peer is heard from again, so it does not hold that peer\'s capacity', async () => {
    // in real life… a frozen desktop (SIGSTOP) wakes up still running a task that has moved elsewhere; its core should be free for new work now, not in an hour.
    const mesh = await threePeers({ cores: 1 })
    const starts: Array<{ peer: string, attempt: number }> = []
    const aborted: string[] = []
    register(mesh, 'long', id => async (_input, ctx) => {
      starts.push({ peer: id, attempt: ctx.attempt })
      ctx.signal.addEventListener('abort', () => { aborted.push(`${id}#${ctx.attempt}`) })
      await sleep(mesh.clock, 60_000)
      return id
    }, ['a', 'c'])
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ t: { kind: 'handler', handler: 'long' } }))
    await advanceUntil(mesh, 'attempt 1 started', () => starts.length === 1)
    const first = starts[0]!.peer
    mesh.network.freeze(first)
    await advanceUntil(mesh, 'attempt 2 started', () => starts.length === 2, 10_000)
    expect(aborted).toEqual([])
    mesh.network.thaw(first)
    // Its next heartbeat tells the origin that attempt 1 still runs; the origin stops it.
    await advanceUntil(mesh, 'attempt 1 stopped', () => aborted.includes(`${first}#1`), 5_000)
    expect(mesh.peer(first).executor.counts().running).toBe(0)
    expect(job.tasks.get('t')).toEqual(expect.objectContaining({ status: 'running', attempt: 2 }))
  })

  it('is stopped when the job was cancelled while its peer was frozen', async () => {
    // in real life… the user cancels a job while one machine is asleep; when it wakes, its task must not run on for an hour.
    const mesh = await threePeers({ cores: 1 })
    const starts: string[] = []
    const aborted: string[] = []
    register(mesh, 'long', id => async (_input, ctx) => {
      starts.push(id)
      ctx.signal.addEventListener('abort', () => { aborted.push(id) })
      await sleep(mesh.clock, 60_000)
      return id
    }, ['a', 'c'])
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ t: { kind: 'handler', handler: 'long' } }))
    await advanceUntil(mesh, 'attempt 1 started', () => starts.length === 1)
    const first = starts[0]!
    mesh.network.freeze(first)
    await mesh.advance(100)
    expect(mesh.peer('b').origin.cancel(job.id)).toBe(true)
    await mesh.advance(3_000)
    mesh.network.thaw(first)
    await advanceUntil(mesh, 'the frozen peer\'s attempt stopped', () => aborted.includes(first), 5_000)
    expect(mesh.peer(first).executor.counts().running).toBe(0)
  })
})

describe('Jobs: cancel', () => {
  it('cancel stops the running attempts on every peer and ends the job cancelled', async () => {
    // in real life… the user notices a wrong parameter and hits Ctrl-C / `mesh cancel` on a job spread over the mesh.
    const mesh = await threePeers()
    const aborted: string[] = []
    register(mesh, 'long', untilCancelled(mesh, aborted))
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ work: { kind: 'handler', handler: 'long', count: 6 } }))
    const events = recordEvents(job)
    const startedOn = () => IDS.flatMap(id => mesh.runners.get(id)!.started.filter(r => r.jobId === job.id).map(() => id))
    await advanceUntil(mesh, 'all six running', () => startedOn().length === 6, 20_000)
    expect(new Set(startedOn())).toEqual(new Set(IDS))

    expect(mesh.peer('b').origin.cancel(job.id)).toBe(true)
    expect(job.state).toBe('cancelled')
    await mesh.advance(100)
    expect(aborted).toHaveLength(6)
    expect(new Set(aborted.map(s => s.split(':')[0]))).toEqual(new Set(IDS))
    for (const id of IDS) expect(mesh.peer(id).executor.counts()).toEqual({ running: 0, queued: 0 })
    expect(events.at(-1)).toEqual(expect.objectContaining({ type: 'job-cancelled' }))
    expect(events.filter(e => e.type === 'task-done')).toEqual([])
    expect(job.snapshot(false).counts.cancelled).toBe(6)
    // Cancelling twice is a no-op.
    expect(mesh.peer('b').origin.cancel(job.id)).toBe(false)
  })
})

describe('Jobs: who runs what', () => {
  it('runs a job whose origin is the only capable peer: the origin bids on its own tasks', async () => {
    // in real life… the app that submits the job is also the only machine with its handler installed.
    const mesh = await threePeers()
    register(mesh, 'local', id => async (_input, ctx) => { await sleep(mesh.clock, 150); return `${ctx.index}@${id}` }, ['b'])
    await settle(mesh)
    const job = await mesh.peer('b').submit(spec({ local: { kind: 'handler', handler: 'local', count: 5 } }))
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('done')
    for (let i = 0; i < 5; i++) expect(resultOf(job, `local[${i}]`)).toBe(`${i}@b`)
    for (const id of ['a', 'c']) expect(mesh.runners.get(id)!.started).toEqual([])
  })

  it('runs a job on a peer that is alone in its mesh', async () => {
    // in real life… `mesh start` on one laptop with no other machines around: `mesh run` still works.
    const mesh = new TestMesh()
    const solo = mesh.add('solo', fakeProbe({ cpuCores: 2 }))
    mesh.runners.get('solo')!.register('sq', async (_input, ctx) => { await sleep(mesh.clock, 100); return ctx.index * ctx.index })
    await mesh.advance(2_000)
    const job = await solo.submit(spec({ sq: { kind: 'handler', handler: 'sq', count: 7 } }))
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('done')
    expect(Array.from({ length: 7 }, (_, i) => resultOf(job, `sq[${i}]`))).toEqual([0, 1, 4, 9, 16, 25, 36])
  })

  it('a peer that trusts only itself never runs another origin\'s tasks, but runs its own', async () => {
    // in real life… a desktop joins the lab mesh to submit work, but its owner does not lend it out.
    const mesh = new TestMesh()
    mesh.add('a', fakeProbe({ cpuCores: 2 }))
    mesh.add('b', fakeProbe({ cpuCores: 2 }))
    mesh.add('c', fakeProbe({ cpuCores: 2 }), parseConfig({ mdns: false, trust: { submitters: 'self' } }))
    const ran: Array<{ peer: string, jobId: string }> = []
    register(mesh, 'w', id => async (_input, ctx) => { ran.push({ peer: id, jobId: ctx.jobId }); await sleep(mesh.clock, 200); return id })
    mesh.network.link('a', 'b')
    mesh.network.link('b', 'c')
    await mesh.advance(2_000)

    const fromB = await mesh.peer('b').submit(spec({ w: { kind: 'handler', handler: 'w', count: 12 } }))
    const fromA = await mesh.peer('a').submit(spec({ w: { kind: 'handler', handler: 'w', count: 12 } }))
    expect(await runUntilEnd(mesh, fromB, 30_000)).toBe('done')
    expect(await runUntilEnd(mesh, fromA, 30_000)).toBe('done')
    expect(ran.filter(r => r.peer === 'c')).toEqual([])
    expect(ran).toHaveLength(24)
    expect(mesh.peer('c').executor.ledger.usedNow().get('cpu') ?? 0).toBe(0)

    const fromC = await mesh.peer('c').submit(spec({ w: { kind: 'handler', handler: 'w', count: 4, resources: { cpu: 2 } } }))
    expect(await runUntilEnd(mesh, fromC, 30_000)).toBe('done')
    expect(ran.filter(r => r.jobId === fromC.id).map(r => r.peer)).toContain('c')
  })
})

describe('Jobs: a round closes once its outcome is known', () => {
  /** Origin `o` and two peers 20 ms away; `speeds` as each advertises. */
  async function farPeers (speeds: Record<string, number>): Promise<TestMesh> {
    const mesh = new TestMesh({ network: { latency: (from, to) => (from === 'o' || to === 'o') ? 20 : 1 } })
    for (const id of ['o', 'p', 'q']) mesh.add(id, { ...fakeProbe({ cpuCores: 2 }), speed: speeds[id]! })
    mesh.network.link('o', 'p')
    mesh.network.link('o', 'q')
    mesh.network.link('p', 'q')
    await mesh.advance(2_000)
    for (const id of ['o', 'p', 'q']) mesh.runners.get(id)!.register('t', async () => { await sleep(mesh.clock, 100); return id })
    await settle(mesh)
    return mesh
  }

  it('awards at once when the origin is the fastest capable peer: no other bid could win', async () => {
    // in real life… a one-task job submitted on the fastest idle machine should not wait a round trip for bids that cannot win.
    const mesh = await farPeers({ o: 2, p: 1, q: 1 })
    const job = await mesh.peer('o').submit(spec({ t: { kind: 'handler', handler: 't', estimateMs: 100 } }))
    const events = recordEvents(job)
    const submitted = mesh.clock.now()
    expect(await runUntilEnd(mesh, job, 10_000, 1)).toBe('done')
    expect(resultOf(job, 't')).toBe('o')
    const started = events.find(e => e.type === 'task-started')!
    // The remote bids would take 40 ms to come back (20 ms each way).
    expect(started.at - submitted).toBeLessThan(40)
  })

  it('waits for a faster peer\'s bid, and awards to it', async () => {
    // in real life… the submitting desktop is slower than the lab server: the server's bid must be heard.
    const mesh = await farPeers({ o: 1, p: 2, q: 1 })
    const job = await mesh.peer('o').submit(spec({ t: { kind: 'handler', handler: 't', estimateMs: 100 } }))
    expect(await runUntilEnd(mesh, job, 10_000, 1)).toBe('done')
    expect(resultOf(job, 't')).toBe('p')
  })

  it('on equal speeds the origin keeps a start-now task: its result needs no network hop', async () => {
    // in real life… identical machines: running it where it was submitted gets the result back soonest.
    const mesh = await farPeers({ o: 1, p: 1, q: 1 })
    const job = await mesh.peer('q').submit(spec({ t: { kind: 'handler', handler: 't', estimateMs: 100 } }))
    expect(await runUntilEnd(mesh, job, 10_000, 1)).toBe('done')
    expect(resultOf(job, 't')).toBe('q')
  })

  it('between equally fast peers the nearer one wins, whichever id is lower: its result is back sooner', async () => {
    // in real life… two identical servers, one in the same rack as the submitting machine and one across a slower link.
    for (const first of ['o', 'p']) {
      const mesh = new TestMesh({ network: { latency: (from, to) => (from === first || to === first) ? 1 : 3 } })
      for (const id of ['o', 'p', 'q']) mesh.add(id, { ...fakeProbe({ cpuCores: 2 }), speed: 1 })
      mesh.network.link('o', 'p')
      mesh.network.link('o', 'q')
      mesh.network.link('p', 'q')
      await mesh.advance(2_000)
      for (const id of ['o', 'p']) mesh.runners.get(id)!.register('t', async () => { await sleep(mesh.clock, 100); return id })
      await settle(mesh)
      const job = await mesh.peer('q').submit(spec({ t: { kind: 'handler', handler: 't', estimateMs: 100 } }))
      expect(await runUntilEnd(mesh, job, 10_000, 1)).toBe('done')
      // The nearer peer's result comes back sooner: it wins.
      expect(resultOf(job, 't')).toBe(first)
    }
  })
})

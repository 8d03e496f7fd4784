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

/** The task's accepted value, as the origin holds it. */
const resultOf = (job: JobView, taskId: string): unknown => job.tasks.get(taskId)?.result

describe('Jobs on a 3-peer mesh: fan-out and reduce', () => {
  it('runs 64 tasks plus a reduce across all peers, never over any peer\'s CPU, in DAG order', async () => {
    // in real life… a parameter sweep of 64 one-core runs over three 2-core machines, then one step that combines them.
    const mesh = await threePeers()
    const rand = seeded(64)
    const durations = Array.from({ length: 64 }, () => 100 + Math.floor(rand() * 201)) // 100–300 ms each
    const running = new Map(IDS.map(id => [id, 0]))
    const overCapacity: string[] = []
    const ranOn = new Map<number, string>()
    const sqTimes: Array<{ index: number, start: number, end: number }> = []
    let reduceStart = -1

    register(mesh, 'sq', id => async (_input, ctx) => {
      const start = mesh.clock.now()
      const peer = mesh.peer(id)
      const now = (running.get(id) ?? 0) + 1
      running.set(id, now)
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

    const job = await mesh.peer('b').submit(spec({
      sq: { kind: 'handler', handler: 'sq', count: 64, resources: { cpu: 1 } },
      total: { kind: 'handler', handler: 'sum', after: ['sq'], resources: { cpu: 1 } }
    }))
    const events = recordEvents(job)
    expect(await runUntilEnd(mesh, job, 60_000)).toBe('done')

    expect(overCapacity).toEqual([])
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
    await mesh.advance(1_100) // c's handler reaches the others in its next ad
    const job = await mesh.peer('a').submit(spec({ step: { kind: 'handler', handler: 'licensed', retries: 1 } }))
    expect(await runUntilEnd(mesh, job, 30_000)).toBe('done')
    expect(attempts).toEqual([{ peer: 'c', attempt: 1 }, { peer: 'c', attempt: 2 }])
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
    expect(aborted.sort().map(s => s.split(':')[1])).toEqual(['long[0]', 'long[1]'])
    for (const id of IDS) expect(mesh.peer(id).executor.counts()).toEqual({ running: 0, queued: 0 })
  })
})

/**
 * Jobs on three real libp2p peers in one process (127.0.0.1): a 64-task
 * fan-out plus a reduce, submitted on peer 2, runs on all three; no peer ever
 * runs more than its CPU capacity; every result is right; the reduce starts only
 * after every upstream task finished. A task nobody can run says why, and the
 * origin does not spin on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createPeer, type Peer } from '../../node/index.ts'
import { waitFor } from '../helpers/wait.ts'

const peers: Peer[] = []
/** Per peer: the most CPU its own ledger had in use at any task start, and the most tasks running at once. */
const peak = new Map<string, { cpu: number, running: number }>()
const spans = new Map<string, { start: number, end: number, peer: string }>()

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const p = await createPeer({
      config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: peers[0]?.addresses() ?? [], resources: { cpu: 2 } },
      ephemeral: true,
      logger: pino({ level: 'silent' })
    })
    p.handle('square', async (_input, ctx) => {
      const start = Date.now()
      // What this peer's own accounting says is in use right now, this task included.
      const cpuUsed = (p.core.executor.ledger.usedNow().get('cpu') ?? 0) / 1000
      const { running } = p.core.executor.counts()
      const prev = peak.get(p.id) ?? { cpu: 0, running: 0 }
      peak.set(p.id, { cpu: Math.max(prev.cpu, cpuUsed), running: Math.max(prev.running, running) })
      await new Promise(resolve => setTimeout(resolve, 20 + (ctx.index % 5) * 10))
      spans.set(ctx.taskId, { start, end: Date.now(), peer: p.id })
      return ctx.index * ctx.index
    })
    p.handle('sum', async (_input, ctx) => {
      spans.set(ctx.taskId, { start: Date.now(), end: Date.now(), peer: p.id })
      return (ctx.upstream.square as number[]).reduce((a, b) => a + b, 0)
    })
    await p.start()
    peers.push(p)
  }
  await waitFor('the mesh to form', () => peers.every(p => p.peers().filter(v => v.state === 'alive').length === 3), { timeoutMs: 5000 })
})

afterAll(async () => { await Promise.all(peers.map(async p => { await p.stop() })) })

describe('jobs over libp2p', () => {
  it('a 64-task job submitted on peer 2 runs on all three within capacity, with correct results in DAG order', async () => {
    const origin = peers[1]!
    const job = await origin.submit({
      name: 'squares',
      tasks: {
        square: { kind: 'handler', handler: 'square', count: 64, resources: { cpu: 1 } },
        sum: { kind: 'handler', handler: 'sum', after: ['square'], resources: { cpu: 1 } }
      }
    })
    await waitFor('the job to end', () => job.state !== 'running', { timeoutMs: 30_000 })
    expect(job.state).toBe('done')

    const results = new Map([...job.tasks.values()].map(t => [t.id, t.result]))
    for (let i = 0; i < 64; i++) expect(results.get(`square[${i}]`)).toBe(i * i)
    expect(results.get('sum')).toBe(Array.from({ length: 64 }, (_, i) => i * i).reduce((a, b) => a + b, 0))

    // Every peer ran some of it, and none ran more than its 2 cores at once.
    const byPeer = new Set([...spans.values()].map(s => s.peer))
    expect(byPeer.size).toBe(3)
    for (const p of peers) {
      expect(peak.get(p.id)?.cpu).toBeLessThanOrEqual(2)
      expect(peak.get(p.id)?.running).toBeLessThanOrEqual(2)
    }
    // DAG order: the reduce started after every square had finished.
    const sumStart = spans.get('sum')!.start
    for (let i = 0; i < 64; i++) expect(spans.get(`square[${i}]`)!.end).toBeLessThanOrEqual(sumStart)
    // Exactly one result event per task.
    const done: string[] = []
    for await (const e of job.events()) if (e.type === 'task-done') done.push(e.taskId)
    expect(done).toHaveLength(65)
    expect(new Set(done).size).toBe(65)
  })

  it('a task needing a GPU nobody has waits with the reason and does not spin', async () => {
    const origin = peers[0]!
    const job = await origin.submit({ name: 'gpu', tasks: { train: { kind: 'handler', handler: 'square', resources: { cpu: 1, gpu: 1 } } } })
    const waiting = await waitFor('the task to report why it waits', () => job.tasks.get('train')?.waiting)
    expect(waiting).toBe('no live peer offers gpu ≥ 1')
    const rounds = job.rounds
    await new Promise(resolve => setTimeout(resolve, 2500))
    // Ads kept arriving meanwhile; none offered a GPU, so no call for bids went out.
    expect(job.rounds).toBe(rounds)
    expect(job.state).toBe('running')
    expect(origin.cancel(job.id)).toBe(true)
  })
})

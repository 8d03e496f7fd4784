/**
 * `ctx.warm` against real worker threads (node/execution/warm-cache.ts,
 * handler-worker.ts, handler-runner.ts): an object is loaded once per thread
 * and found warm by the next task, the runner knows which keys are warm and
 * how long they took to load, least recently used objects are evicted and
 * disposed, and a failed load is not kept.
 */
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunContext, RunOutcome, RunRequest } from '../../src/execution/runner.ts'
import { HandlerRunner } from '../../node/execution/handler-runner.ts'
import { WarmCache } from '../../node/execution/warm-cache.ts'

const fixture = fileURLToPath(new URL('../fixtures/handlers/warm.ts', import.meta.url))
const ctx: RunContext = { signal: new AbortController().signal, progress: () => {} }
const req = (handler: string, input: unknown): RunRequest =>
  ({ jobId: 'j', taskId: 't', attempt: 1, index: 0, kind: 'handler', handler, input, memoryMB: 0, upstream: {} })

interface Seen { threadId: number, key: string, loads: number, disposed: string[] }
const value = (out: RunOutcome): Seen => {
  if (!out.ok) throw new Error(out.error)
  return out.value as Seen
}

let runner: HandlerRunner | undefined
afterEach(async () => { await runner?.close() })

describe('ctx.warm in module handlers', () => {
  it('loads once per thread: a second task with the same key finds it warm, and warmKeys reports its load time', async () => {
    runner = new HandlerRunner({ threads: 1, warmMax: 2 })
    runner.registerModule('model', `${fixture}#model`)
    expect(runner.warmKeys()).toEqual([])
    const first = value(await runner.run(req('model', { key: 'm1', loadMs: 50 }), ctx))
    expect(first.loads).toBe(1)
    const second = value(await runner.run(req('model', { key: 'm1' }), ctx))
    expect(second.threadId).toBe(first.threadId)
    expect(second.loads).toBe(1) // not loaded again
    const keys = runner.warmKeys()
    expect(keys.map(k => k.key)).toEqual(['m1'])
    expect(keys[0]!.loadMs).toBeGreaterThanOrEqual(45) // the load slept 50 ms
  })

  it('evicts the least recently used object beyond warmMax and calls its dispose()', async () => {
    runner = new HandlerRunner({ threads: 1, warmMax: 2 })
    runner.registerModule('model', `${fixture}#model`)
    await runner.run(req('model', { key: 'a' }), ctx)
    await runner.run(req('model', { key: 'b' }), ctx)
    await runner.run(req('model', { key: 'a' }), ctx) // a is now the most recent
    const c = value(await runner.run(req('model', { key: 'c' }), ctx)) // b goes, after this task
    expect(c.loads).toBe(3)
    expect(runner.warmKeys().map(k => k.key)).toEqual(['a', 'c'])
    const again = value(await runner.run(req('model', { key: 'a' }), ctx))
    expect(again.loads).toBe(3) // a stayed warm
    expect(again.disposed).toEqual(['b'])
  })

  it('does not keep a failed load', async () => {
    runner = new HandlerRunner({ threads: 1 })
    runner.registerModule('failing', `${fixture}#failing`)
    const out = await runner.run(req('failing', { key: 'x' }), ctx)
    expect(out.ok).toBe(false)
    expect(out.ok ? '' : out.error).toContain('cannot load')
    expect(runner.warmKeys()).toEqual([])
  })

  it('sends a handler\'s task to the idle thread that holds its key', async () => {
    runner = new HandlerRunner({ threads: 2 })
    runner.registerModule('model', `${fixture}#model`)
    runner.registerModule('another', `${fixture}#model`)
    // Two at once start both threads; only one of them warms a key of handler "model".
    const [a, b] = await Promise.all([
      runner.run(req('model', { key: 'k', loadMs: 30 }), ctx),
      runner.run(req('another', { key: 'other', loadMs: 30 }), ctx)
    ])
    const holder = value(a).threadId
    expect(value(b).threadId).not.toBe(holder)
    for (let i = 0; i < 4; i++) {
      // Alternating with the other handler's tasks, which go to the other thread.
      expect(value(await runner.run(req('another', { key: 'other' }), ctx)).threadId).toBe(value(b).threadId)
      const next = value(await runner.run(req('model', { key: 'k' }), ctx))
      expect(next.threadId).toBe(holder)
      expect(next.loads).toBe(1)
    }
  })

  it('sends a task naming its warm key to the idle thread that holds exactly that key', async () => {
    runner = new HandlerRunner({ threads: 2 })
    runner.registerModule('model', `${fixture}#model`)
    const [a, b] = await Promise.all([
      runner.run(req('model', { key: 'k1', loadMs: 30 }), ctx),
      runner.run(req('model', { key: 'k2', loadMs: 30 }), ctx)
    ])
    const holder = { k1: value(a).threadId, k2: value(b).threadId }
    expect(holder.k1).not.toBe(holder.k2)
    // Alternating keys: a balancer that ignored them would send both to the same first idle thread.
    for (const key of ['k2', 'k1', 'k2', 'k1'] as const) {
      const next = value(await runner.run({ ...req('model', { key }), warm: key }, ctx))
      expect(next.threadId).toBe(holder[key])
      expect(next.loads).toBe(1)
    }
  })

  it('gives embedded handlers the same cache on the main thread', async () => {
    runner = new HandlerRunner({ threads: 1, warmMax: 1 })
    let loads = 0
    runner.register('emb', async (input, hctx) => await hctx.warm(String(input), () => ++loads))
    expect((await runner.run(req('emb', 'k'), ctx)).ok).toBe(true)
    expect(await runner.run(req('emb', 'k'), ctx)).toEqual({ ok: true, value: 1 })
    expect(runner.warmKeys().map(k => k.key)).toEqual(['k'])
  })
})

describe('WarmCache', () => {
  it('shares one load between concurrent callers and calls release() when no dispose()', async () => {
    const released: string[] = []
    const cache = new WarmCache(0, { loaded: () => {}, dropped: () => {} })
    let loads = 0
    const load = async (): Promise<{ release: () => void }> => { loads++; return { release: () => { released.push('x') } } }
    const [a, b] = await Promise.all([cache.get('x', load), cache.get('x', load)])
    expect(a).toBe(b)
    expect(loads).toBe(1)
    cache.trim()
    await new Promise(resolve => setImmediate(resolve))
    expect(released).toEqual(['x'])
    expect(cache.keys()).toEqual([])
  })
})

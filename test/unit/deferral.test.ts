/**
 * A task whose best bid is a queue slot on a fast, busy peer, while a slow
 * peer has room now, is deferred: it waits at its origin rather than queue.
 * The wait must not poll: the same bids would come back and lose the same
 * way until the fast peer's slot frees, so the job's rounds back off and
 * wake on capacity (a result, an ad with room) instead of coming one after
 * another.
 */
import { describe, expect, it } from 'vitest'
import { sleep } from '../../src/testing/function-runner.ts'
import { TestMesh, fakeProbe } from '../helpers/mesh.ts'
import { advanceUntil, runUntilEnd, spec } from '../helpers/jobs.ts'

describe('a deferred task', () => {
  it('waits for the fast peer\'s slot without a round every few milliseconds', async () => {
    const mesh = new TestMesh()
    mesh.add('origin', { ...fakeProbe({ cpuCores: 1 }), speed: 1 })
    mesh.add('fast', { ...fakeProbe({ cpuCores: 1 }), speed: 4 })
    mesh.network.link('origin', 'fast')
    for (const r of mesh.runners.values()) r.register('work', async input => { await sleep(mesh.clock, (input as { ms: number }).ms); return 'ok' })
    await mesh.advance(2000)

    // The long task takes the fast peer (ETA 1 s there, 4 s on the origin) and holds it for 4 s.
    const long = await mesh.peer('origin').submit(spec({ long: { kind: 'handler', handler: 'work', input: { ms: 4000 }, estimateMs: 4000 } }, 'long'))
    await advanceUntil(mesh, 'the long task to run on the fast peer', () => long.tasks.get('long')?.status === 'running')
    expect(long.tasks.get('long')!.attempts.at(-1)!.peer).toBe('fast')

    // The short one's best bid is a queue slot behind it on the fast peer, while the origin has room now.
    const short = await mesh.peer('origin').submit(spec({ short: { kind: 'handler', handler: 'work', input: { ms: 100 }, estimateMs: 2000 } }, 'short'))
    expect(await runUntilEnd(mesh, short, 20_000)).toBe('done')
    // It waited ~3 simulated seconds. Polling took a round every few ms (hundreds); backing off
    // and waking on ads (one a second from each peer) and results takes a handful.
    expect(short.rounds).toBeLessThan(30)
    expect(await runUntilEnd(mesh, long, 20_000)).toBe('done')
  })
})

/**
 * Verified results (src/jobs/replicas.ts, verification.ts): a task with
 * `verify` runs on several peers and its origin accepts the digest a majority
 * agrees on; a liar is out-voted and charged; a split asks for one replica
 * more, up to `max`; adaptive replication trusts a peer with a long record
 * alone, except at random.
 */
import { describe, expect, it } from 'vitest'
import type { CallForBids } from '../../protocols/auction.ts'
import type { AwardMsg, TaskResult } from '../../protocols/task.ts'
import { decide, majority, replicaState, resultDigest, type ReplicaState } from '../../src/jobs/replicas.ts'
import type { OriginEffect } from '../../src/jobs/origin-context.ts'
import type { JobSpecInput } from '../../src/jobs/spec.ts'
import { CPU2, of, peer, setup } from '../helpers/origin.ts'

const ok = (value: unknown, attempt = 1): Extract<TaskResult, { ok: true }> => ({ taskId: 'a', attempt, ok: true, value, durationMs: 5 })

describe('replica rules', () => {
  it('digests equal values equally, whether a value came inline or as a blob, and outputs by content', () => {
    expect(resultDigest(ok({ pi: 3.14 }))).toBe(resultDigest(ok({ pi: 3.14 }, 2)))
    expect(resultDigest(ok({ pi: 3.14 }))).not.toBe(resultDigest(ok({ pi: 3.356 })))
    const withFile = (bytes: number[]): Extract<TaskResult, { ok: true }> => ({ ...ok(null), outputs: { 'o.bin': { inline: Uint8Array.from(bytes) } } })
    expect(resultDigest(withFile([1, 2]))).toBe(resultDigest(withFile([1, 2])))
    expect(resultDigest(withFile([1, 2]))).not.toBe(resultDigest(withFile([1, 3])))
  })

  it('a strict majority decides; a split asks for one more; past max it fails', () => {
    const s = (of: number, digests: string[], max = 4): ReplicaState => ({ of, max, results: digests.map((digest, i) => ({ attempt: i + 1, peer: `p${i}`, digest, result: ok(null, i + 1) })) })
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3])
    expect(decide(s(2, ['x']), 1).kind).toBe('wait')
    expect(decide(s(2, ['x', 'x']), 0)).toMatchObject({ kind: 'accept', agreeing: ['p0', 'p1'], disagreeing: [] })
    expect(decide(s(2, ['x', 'y']), 0).kind).toBe('more')
    expect(decide(s(3, ['x', 'y', 'x']), 0)).toMatchObject({ kind: 'accept', agreeing: ['p0', 'p2'], disagreeing: ['p1'] })
    expect(decide(s(3, ['x', 'y']), 1).kind).toBe('wait')
    expect(decide(s(4, ['x', 'y', 'z', 'x']), 0)).toMatchObject({ kind: 'fail' })
    expect(decide({ ...replicaState({ replicas: 2, max: 4 }, 'p0'), results: [{ attempt: 1, peer: 'p0', digest: 'x', result: ok(null) }] }, 0)).toMatchObject({ kind: 'accept', verdict: 'trusted' })
  })
})

/** Awards in the effects, as [peer, attempt] pairs. */
const awards = (fx: OriginEffect[]): Array<[string, number]> => of(fx, 'send').filter(s => s.msg.type === 'award').flatMap(s => (s.msg as AwardMsg).tasks.map(t => [s.peer, t.attempt] as [string, number]))

const verified = (verify: NonNullable<JobSpecInput['tasks'][string]['verify']>): JobSpecInput => ({ name: 'v', tasks: { a: { kind: 'handler', handler: 'sq', estimateMs: 100, verify } } })

/** Bids from each peer (ETA by order) for the task in the last call, then the round's close; returns every award made. */
function runRound (t: ReturnType<typeof setup>, bidders: string[], fx: OriginEffect[]): Array<[string, number]> {
  const cfb = of(fx, 'publish').map(e => e.msg as CallForBids).at(-1)!
  for (const [i, p] of bidders.entries()) t.feed({ type: 'bid', from: p, bid: { v: 1, jobId: 'j1', round: cfb.round, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: cfb.tasks[0]!.attempt, etaMs: 100 + i }] } })
  const closed = t.feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
  return awards([...closed, ...t.feed({ type: 'awards-journaled', jobId: 'j1' })])
}

function result (t: ReturnType<typeof setup>, from: string, attempt: number, value: unknown): OriginEffect[] {
  const fx = t.feed({ type: 'report', from, msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a', attempt, ok: true, value, durationMs: 100 }] } })
  const journal = of(fx, 'journal-result')[0]
  return journal === undefined ? fx : [...fx, ...t.feed({ type: 'result-journaled', fetched: journal.fetched })]
}

describe('verified tasks at the origin', () => {
  const busyOrigin = peer('o', {}, { free: { ...CPU2, cpu: 0 } })

  it('replicas: 2 runs the task on the two best bidders and accepts the value both report', () => {
    const t = setup([busyOrigin, peer('p'), peer('q'), peer('r')])
    t.feed({ type: 'start' })
    const fx = t.submit(verified({ replicas: 2 }))
    expect(runRound(t, ['p', 'q', 'r'], fx)).toEqual([['p', 1], ['q', 2]])
    const task = t.m.record('j1')!.tasks.get('a')!
    // Held, not journaled nor acknowledged, until the verdict.
    expect(of(result(t, 'p', 1, 16), 'journal-result')).toEqual([])
    expect(task.attempts[0]!.state).toBe('reported')
    const done = result(t, 'q', 2, 16)
    expect(task.status).toBe('done')
    expect(task.result).toBe(16)
    expect(of(done, 'emit').map(e => e.event)).toContainEqual(expect.objectContaining({ type: 'task-verified', verdict: 'agreed', agreeing: ['p', 'q'], disagreeing: [] }))
    expect(task.attempts.map(a => a.state)).toEqual(['done', 'done'])
    const acks = of(t.feed({ type: 'timer', timer: { kind: 'acks' } }), 'send').map(s => s.peer).sort()
    expect(acks).toEqual(['p', 'q'])
  })

  it('a liar is out-voted: a third replica breaks the tie, the majority\'s value is accepted, and the liar is charged', () => {
    const t = setup([busyOrigin, peer('liar'), peer('q'), peer('r')])
    t.feed({ type: 'start' })
    const fx = t.submit(verified({ replicas: 2 }))
    expect(runRound(t, ['liar', 'q', 'r'], fx)).toEqual([['liar', 1], ['q', 2]])
    result(t, 'liar', 1, 3.356)
    const split = result(t, 'q', 2, 3.14)
    const task = t.m.record('j1')!.tasks.get('a')!
    expect(task.status).not.toBe('done')
    // One replica more, on a peer that ran none: r.
    const third = runRound(t, ['r'], [...split, ...t.feed({ type: 'timer', timer: { kind: 'retry' } })])
    expect(third).toEqual([['r', 3]])
    const done = result(t, 'r', 3, 3.14)
    expect(task.result).toBe(3.14)
    expect(of(done, 'emit').map(e => e.event)).toContainEqual(expect.objectContaining({ type: 'task-verified', verdict: 'agreed', agreeing: ['q', 'r'], disagreeing: ['liar'] }))
    expect(task.attempts.find(a => a.peer === 'liar')).toMatchObject({ state: 'failed', reason: expect.stringMatching(/disagreed with the majority/) })
    expect(t.m.reputation.view(t.now()).find(v => v.peer === 'liar')?.byKind).toEqual({ 'wrong-result': 1 })
  })

  it('with no majority by verify.max the task fails, naming who reported what', () => {
    const t = setup([busyOrigin, peer('p'), peer('q')])
    t.feed({ type: 'start' })
    const fx = t.submit(verified({ replicas: 2, max: 2 }))
    runRound(t, ['p', 'q'], fx)
    result(t, 'p', 1, 1)
    const end = result(t, 'q', 2, 2)
    const job = t.m.record('j1')!
    expect(job.state).toBe('failed')
    expect(job.error).toMatch(/replicas disagree after 2 results \(verify.max 2\): \w{12} from p; \w{12} from q/)
    expect(of(end, 'emit').map(e => e.event.type)).toContain('task-verified')
  })

  it('adaptive: a peer whose last checked results all agreed runs alone, except when the origin\'s draw says check', () => {
    const draws = [0.5, 0.05]
    const t = setup([busyOrigin, peer('p'), peer('q')], { random: () => draws.shift() ?? 0.5 })
    for (let i = 0; i < 3; i++) { t.m.reputation.delivered('p', 0); t.m.reputation.agreed('p', 0) }
    t.feed({ type: 'start' })
    const spec = verified({ replicas: 2, adaptive: { after: 3, rate: 0.1 } })
    // Draw 0.5 ≥ rate: p is trusted alone.
    expect(runRound(t, ['p', 'q'], t.submit(spec))).toEqual([['p', 1]])
    const trusted = result(t, 'p', 1, 9)
    expect(of(trusted, 'emit').map(e => e.event)).toContainEqual(expect.objectContaining({ type: 'task-verified', verdict: 'trusted' }))
    // Draw 0.05 < rate: checked, on two peers.
    const again = t.submit(spec, 'j2')
    const cfb = of(again, 'publish').map(e => e.msg as CallForBids).at(-1)!
    for (const [i, p] of ['p', 'q'].entries()) t.feed({ type: 'bid', from: p, bid: { v: 1, jobId: 'j2', round: cfb.round, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 100 + i }] } })
    const closed = t.feed({ type: 'timer', timer: { kind: 'round', jobId: 'j2' } })
    expect(awards([...closed, ...t.feed({ type: 'awards-journaled', jobId: 'j2' })])).toEqual([['p', 1], ['q', 2]])
  })

  it('when no other live peer could run one replica more, the split is the verdict: the task fails', () => {
    const t = setup([peer('o', { handlers: [] }), peer('p'), peer('q')])
    t.feed({ type: 'start' })
    runRound(t, ['p', 'q'], t.submit(verified({ replicas: 2, max: 4 })))
    result(t, 'p', 1, 1)
    result(t, 'q', 2, 2)
    expect(t.m.record('j1')!.state).toBe('failed')
    expect(t.m.record('j1')!.error).toMatch(/no other live peer can run another replica/)
  })

  it('a task needing more distinct peers than can run it waits, saying so', () => {
    const t = setup([peer('o', { handlers: [] }), peer('p'), peer('q')])
    t.feed({ type: 'start' })
    expect(runRound(t, ['p', 'q'], t.submit(verified({ replicas: 3 })))).toEqual([['p', 1], ['q', 2]])
    t.advance(6000)
    const fx = t.feed({ type: 'timer', timer: { kind: 'retry' } })
    const task = t.m.record('j1')!.tasks.get('a')!
    expect(task.waiting).toMatch(/verify needs 3 replicas on distinct peers/)
    // Not announced in vain: nobody could bid.
    expect(of(fx, 'publish')).toEqual([])
  })
})

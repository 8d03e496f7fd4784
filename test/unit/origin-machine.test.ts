/**
 * The origin's state machine, driven event by event with no network, no
 * clock and no journal: each test feeds events and asserts the effects and
 * the tasks' states (and the cause of each change).
 */
import { describe, it, expect } from 'vitest'
import type { OriginEffect } from '../../src/jobs/origin-context.ts'
import { parseJobSpec, type JobSpecInput } from '../../src/jobs/spec.ts'
import { CPU2, of, peer, setup } from '../helpers/origin.ts'
import { setStatus, TransitionError } from '../../src/jobs/task-transitions.ts'
import { JobRecord } from '../../src/jobs/job-record.ts'
import { expandJob } from '../../src/jobs/expand.ts'
import type { CallForBids } from '../../protocols/auction.ts'
import type { AwardMsg } from '../../protocols/task.ts'

const twoTasks: JobSpecInput = { name: 'two', tasks: { a: { kind: 'handler', handler: 'sq', count: 2, estimateMs: 100 } } }

describe('OriginMachine, event by event', () => {
  it('a submitted job opens a round: the call goes to gossip and to our own bidder, its tasks are announced', () => {
    // The origin has no room now, so the mesh is asked at once.
    const { m, submit, feed } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p')])
    feed({ type: 'start' })
    const fx = submit(twoTasks)
    expect(of(fx, 'emit').map(e => e.event.type)).toEqual(['job-submitted'])
    const cfb = of(fx, 'publish')[0]!.msg as CallForBids
    expect(cfb).toMatchObject({ type: 'cfb', jobId: 'j1', round: 0, origin: 'o', windowMs: 50 })
    expect(cfb.tasks.map(t => t.id)).toEqual(['a[0]', 'a[1]'])
    expect(of(fx, 'bid-locally')).toHaveLength(1)
    expect(of(fx, 'set-timer').map(e => e.timer)).toContainEqual({ kind: 'round', jobId: 'j1' })
    const t = m.record('j1')!.tasks.get('a[0]')!
    expect(t.status).toBe('announced')
    expect(t.cause?.kind).toBe('announced')
  })

  it('closes the round once every capable peer answered; a remote award leaves only after the journal has it, our own at once', () => {
    const { m, submit, feed } = setup([peer('o'), peer('p')])
    feed({ type: 'start' })
    submit(twoTasks)
    expect(feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a[0]', attempt: 1, etaMs: 100 }] } })).toEqual([])
    const fx = feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a[1]', attempt: 1, etaMs: 100 }] } })
    expect(of(fx, 'clear-timer').map(e => e.timer)).toContainEqual({ kind: 'round', jobId: 'j1' })
    const journal = of(fx, 'journal-attempts')[0]!
    expect(journal.attempts.map(a => [a.taskId, a.peer])).toEqual([['a[0]', 'p']])
    // Our own award needs no journal (the attempt dies with this process); p's waits for it.
    const awardsOf = (effects: OriginEffect[]) => of(effects, 'send').filter(s => s.msg.type === 'award').map(s => [s.peer, (s.msg as AwardMsg).tasks.map(t => t.taskId)])
    expect(awardsOf(fx)).toEqual([['o', ['a[1]']]])
    const job = m.record('j1')!
    expect(job.tasks.get('a[0]')!.status).toBe('awarded')
    expect(job.tasks.get('a[0]')!.cause).toMatchObject({ kind: 'won', peer: 'p' })
    expect(awardsOf(feed({ type: 'awards-journaled', jobId: 'j1' }))).toEqual([['p', ['a[0]']]])
  })

  it('accept → progress → result → journal → done, acknowledged once, and the job ends', () => {
    const { m, submit, feed } = setup([peer('o')])
    feed({ type: 'start' })
    submit({ name: 'one', tasks: { a: { kind: 'handler', handler: 'sq' } } })
    feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 10 }] } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    const t = m.record('j1')!.tasks.get('a')!
    feed({ type: 'report', from: 'o', msg: { v: 1, type: 'accept', jobId: 'j1', accepted: [{ taskId: 'a', attempt: 1 }], rejected: [] } })
    expect(t.status).toBe('queued')
    const started = feed({ type: 'report', from: 'o', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: true }] } })
    expect(t.status).toBe('running')
    expect(of(started, 'emit').map(e => e.event.type)).toEqual(['task-started'])

    const result = { taskId: 'a', attempt: 1, ok: true as const, value: 42, durationMs: 5 }
    const fx = feed({ type: 'report', from: 'o', msg: { v: 1, type: 'result', jobId: 'j1', results: [result] } })
    const journal = of(fx, 'journal-result')[0]!
    expect(journal.record).toMatchObject({ taskId: 'a', attempt: 1, peer: 'o', value: 42 })
    expect(t.status).toBe('running') // not done before the journal has it
    // A duplicate of the same result while the first is being journaled is journaled again, but accepted once.
    const done = feed({ type: 'result-journaled', fetched: journal.fetched })
    expect(t.status).toBe('done')
    expect(t.result).toBe(42)
    expect(of(done, 'emit').map(e => e.event.type)).toEqual(['task-done', 'job-done'])
    expect(of(done, 'journal-job-state')[0]!.state.state).toBe('done')
    expect(of(feed({ type: 'result-journaled', fetched: journal.fetched }), 'emit')).toEqual([])
    const acks = of(feed({ type: 'timer', timer: { kind: 'acks' } }), 'send')
    expect(acks).toEqual([{ type: 'send', peer: 'o', msg: { v: 1, type: 'ack', jobId: 'j1', acks: [{ taskId: 'a', attempt: 1 }, { taskId: 'a', attempt: 1 }] } }])
  })

  it('a failed attempt with retries left goes back to pending, later, kept off that peer; without retries the job fails and every attempt is stopped', () => {
    const { m, submit, feed, now } = setup([peer('o'), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'f', tasks: { a: { kind: 'handler', handler: 'sq', retries: 1 }, b: { kind: 'handler', handler: 'sq' } } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 10 }, { taskId: 'b', attempt: 1, etaMs: 10 }] } })
    feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [] } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    const job = m.record('j1')!
    const a = job.tasks.get('a')!
    const fail = (attempt: number) => feed({ type: 'report', from: 'p', msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a', attempt, ok: false, error: 'boom', reason: 'error', retryable: true, durationMs: 1 }] } })
    const first = fail(1)
    expect(a.status).toBe('pending')
    expect(a.cause).toMatchObject({ kind: 'failed', peer: 'p', detail: 'boom' })
    expect(a.attempt).toBe(2)
    expect(a.exclude).toEqual(['p'])
    expect(a.nextTryAt).toBeGreaterThan(a.cause!.at)
    // No start notice came: the result says the attempt ran, and since when (its duration ago).
    expect(of(first, 'emit').map(e => e.event)).toEqual([
      expect.objectContaining({ type: 'task-started', taskId: 'a', attempt: 1, peer: 'p', at: now() - 1 }),
      expect.objectContaining({ type: 'task-failed', willRetry: true })
    ])

    // Attempt 2 runs on o and fails for good.
    a.nextTryAt = 0
    feed({ type: 'timer', timer: { kind: 'retry' } })
    feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 1, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 2, etaMs: 10 }] } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    const last = feed({ type: 'report', from: 'o', msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a', attempt: 2, ok: false, error: 'boom again', reason: 'error', retryable: true, durationMs: 1 }] } })
    expect(a.status).toBe('failed')
    expect(job.state).toBe('failed')
    expect(job.tasks.get('b')!.status).toBe('cancelled')
    expect(job.tasks.get('b')!.attempts[0]!.state).toBe('cancelled')
    expect(of(last, 'send').some(s => s.peer === 'p' && s.msg.type === 'cancel')).toBe(true)
    expect(of(last, 'publish')[0]!.msg).toMatchObject({ type: 'cancel', jobId: 'j1' })
  })

  it('on a full mesh, a result wakes the job half a bid window after its last round closed, not at once', () => {
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'many', tasks: { a: { kind: 'handler', handler: 'sq', count: 3, estimateMs: 100 } } })
    // p has room for one; o is full.
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 1, validMs: 500, bids: [{ taskId: 'a[0]', attempt: 1, etaMs: 100 }], declined: 'no room now or in its queue' } })
    feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 0, load: 1, validMs: 500, bids: [], declined: 'no room now or in its queue' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    expect(m.job('j1')!.rounds).toBe(1)
    // 5 ms later p's result frees its slot: the next round waits until 25 ms after the close.
    advance(5)
    const fx = feed({ type: 'report', from: 'p', msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a[0]', attempt: 1, ok: true, value: 1, durationMs: 5 }] } })
    fx.push(...feed({ type: 'result-journaled', fetched: of(fx, 'journal-result')[0]!.fetched }))
    expect(m.record('j1')!.tasks.get('a[0]')!.status).toBe('done')
    expect(of(fx, 'publish')).toEqual([])
    expect(of(fx, 'set-timer').map(e => e.timer)).toContainEqual({ kind: 'retry' })
    advance(20)
    const later = feed({ type: 'timer', timer: { kind: 'retry' } })
    expect(of(later, 'publish').map(e => (e.msg as CallForBids).tasks.map(t => t.id))).toEqual([['a[1]', 'a[2]']])
    expect(m.job('j1')!.rounds).toBe(2)
  })

  it('a silent attempt past its lease is lost: stopped, reported as migrated, and announced again elsewhere', () => {
    const { m, submit, feed, advance } = setup([peer('o'), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'l', tasks: { a: { kind: 'handler', handler: 'sq' } } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 10 }] } })
    feed({ type: 'bid', from: 'o', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [] } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    advance(2500)
    const fx = feed({ type: 'timer', timer: { kind: 'lease' } })
    const t = m.record('j1')!.tasks.get('a')!
    expect(t.attempts[0]).toMatchObject({ state: 'lost', reason: 'no heartbeat for 2500 ms' })
    expect(of(fx, 'emit').map(e => e.event.type)).toContain('task-migrated')
    expect(of(fx, 'send')[0]).toMatchObject({ peer: 'p', msg: { type: 'cancel', tasks: [{ taskId: 'a', attempt: 1 }] } })
    // Announced again at once, as attempt 2, kept off p.
    const cfb = of(fx, 'bid-locally')[0]!.cfb
    expect(cfb.tasks[0]).toMatchObject({ id: 'a', attempt: 2, exclude: ['p'] })
    expect(of(fx, 'set-timer').map(e => e.timer.kind)).toContain('lease')
  })

  it('a task no live peer can run waits with the reason, and why-not names every live peer', () => {
    const { m, submit, feed } = setup([
      peer('o'),
      peer('p', { kinds: ['handler', 'exec'], commands: ['python3'] }),
      peer('q', { origins: ['q'] })
    ])
    feed({ type: 'start' })
    const fx = submit({ name: 'gpu', tasks: { train: { kind: 'handler', handler: 'sq', resources: { cpu: 1, gpu: 1 } } } })
    expect(of(fx, 'publish')).toEqual([])
    expect(of(fx, 'emit').map(e => e.event)).toContainEqual(expect.objectContaining({ type: 'task-waiting', reason: 'no live peer offers gpu ≥ 1' }))
    const snap = m.job('j1')!.snapshot(true)
    expect(snap.tasks![0]!.why).toEqual([
      { peer: 'o', reason: 'lacks: gpu ≥ 1' },
      { peer: 'p', reason: 'lacks: gpu ≥ 1' },
      { peer: 'q', reason: 'does not run jobs from o (trust.submitters)' }
    ])
  })

  it('after a round without a winner, why-not gives each peer\'s answer: its declined reason, or its silence', () => {
    const { m, submit, feed } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p'), peer('q', {}, { busy: 'the owner is compiling (cpu 97 %)' })])
    feed({ type: 'start' })
    submit({ name: 'full', tasks: { a: { kind: 'handler', handler: 'sq' } } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 1, validMs: 500, bids: [], declined: 'no room now or in its queue (2 running, 2 queued)' } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    const t = m.record('j1')!.tasks.get('a')!
    expect(t.status).toBe('pending')
    expect(t.cause).toMatchObject({ kind: 'no-bid' })
    expect(m.job('j1')!.why('a')).toEqual([
      { peer: 'o', reason: 'did not answer round 0 within its 50 ms bid window' },
      { peer: 'p', reason: 'no room now or in its queue (2 running, 2 queued)' },
      { peer: 'q', reason: 'yielding: the owner is compiling (cpu 97 %)' }
    ])
  })

  it('local first: with room for the whole round, the origin asks itself alone; the mesh is asked only when its bid does not settle the round', () => {
    const { m, submit, feed, advance } = setup([peer('o'), peer('p')])
    feed({ type: 'start' })
    const bid = (from: string, jobId: string, etaMs: number) => ({ type: 'bid' as const, from, bid: { v: 1 as const, jobId, round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs }] } })
    const one = (name: string): JobSpecInput => ({ name, tasks: { a: { kind: 'handler', handler: 'sq', estimateMs: 100 } } })
    // Nothing is known yet of what using p costs: the local bid cannot rule p out, so the call goes out after it.
    let fx = submit(one('first'), 'j1')
    expect(of(fx, 'publish')).toEqual([])
    expect(of(fx, 'bid-locally')).toHaveLength(1)
    advance(1)
    fx = feed(bid('o', 'j1', 100))
    expect(of(fx, 'publish').map(e => (e.msg as CallForBids).jobId)).toEqual(['j1'])
    expect(of(fx, 'set-timer').map(e => e.timer)).toContainEqual({ kind: 'round', jobId: 'j1' })
    // p answers 3 ms after the call went out: what using p costs is learned from that.
    advance(3)
    fx = feed(bid('p', 'j1', 100))
    expect(of(fx, 'send').map(e => [e.peer, e.msg.type])).toContainEqual(['o', 'award'])
    expect(m.record('j1')!.tasks.get('a')!.attempts.at(-1)!.peer).toBe('o')
    // Now p's best possible answer (100 ms of work + 3 ms) cannot beat the local 100 ms: the round
    // closes on the local bid, and the mesh never hears of it.
    fx = submit(one('second'), 'j2')
    fx.push(...feed(bid('o', 'j2', 100)))
    expect(of(fx, 'publish')).toEqual([])
    expect(of(fx, 'send').map(e => [e.peer, e.msg.type])).toEqual([['o', 'award']])
    // A local bidder that never answers: when the window passes, the mesh is asked after all.
    fx = submit(one('third'), 'j3')
    expect(of(fx, 'publish')).toEqual([])
    fx = feed({ type: 'timer', timer: { kind: 'round', jobId: 'j3' } })
    expect(of(fx, 'publish').map(e => (e.msg as CallForBids).jobId)).toEqual(['j3'])
    expect(m.record('j3')!.tasks.get('a')!.status).toBe('announced')
  })

  it('a shell task needs sh: it is announced to a peer that allows sh, and waits where only its first word is allowed', () => {
    const shellJob: JobSpecInput = { name: 'sh', tasks: { s: { kind: 'exec', command: ['echo ok'], shell: true } } }
    const withSh = setup([peer('o', { kinds: ['handler', 'exec'], commands: ['sh'] })])
    withSh.feed({ type: 'start' })
    const cfb = of(withSh.submit(shellJob), 'bid-locally')[0]!.cfb
    expect(cfb.tasks[0]).toMatchObject({ command: 'sh', shell: true })

    const withoutSh = setup([peer('o', { kinds: ['handler', 'exec'], commands: ['echo ok', 'echo'] })])
    withoutSh.feed({ type: 'start' })
    const fx = withoutSh.submit(shellJob)
    expect(of(fx, 'bid-locally')).toEqual([])
    expect(withoutSh.m.record('j1')!.tasks.get('s')!.waiting).toBe('no live peer offers program "sh" for a shell task (executor.exec.allow)')
  })

  it('restore replays the journal through the same transitions: results done, handed-out attempts awarded again', () => {
    const { m, feed, now } = setup([peer('o')])
    const spec = parseJobSpec({ name: 'r', tasks: { a: { kind: 'handler', handler: 'sq', count: 3 } } })
    const fx = feed({
      type: 'restore',
      snapshot: {
        jobs: [{
          job: { id: 'j9', spec, origin: 'o', submittedAt: now() - 10_000, files: {} },
          results: [{ taskId: 'a[0]', attempt: 1, peer: 'p', value: 7, outputs: {}, durationMs: 20, at: now() - 5000 }],
          attempts: [{ taskId: 'a[0]', attempt: 1, peer: 'p', at: now() - 6000 }, { taskId: 'a[1]', attempt: 2, peer: 'q', at: now() - 4000 }]
        }]
      }
    })
    const job = m.record('j9')!
    expect(job.tasks.get('a[0]')).toMatchObject({ status: 'done', result: 7, cause: { kind: 'restored' } })
    expect(job.tasks.get('a[1]')).toMatchObject({ status: 'awarded', attempt: 2, cause: { kind: 'restored', peer: 'q' } })
    expect(job.tasks.get('a[1]')!.attempts[0]!.lastHeartbeat).toBe(now())
    expect(job.tasks.get('a[2]')!.status).toBe('pending')
    expect(of(fx, 'emit').map(e => e.event.type)).toEqual(['task-done'])
  })

  it('an illegal transition throws TransitionError naming the task, both states and the cause', () => {
    const job = new JobRecord({ id: 'j', spec: parseJobSpec({ name: 'x', tasks: { a: { kind: 'handler', handler: 'sq' } } }), origin: 'o', submittedAt: 0, files: {} }, expandJob(parseJobSpec({ name: 'x', tasks: { a: { kind: 'handler', handler: 'sq' } } })), 0)
    const t = job.tasks.get('a')!
    expect(() => { setStatus(job, t, 'running', { kind: 'started', at: 1, peer: 'p' }) }).toThrow(TransitionError)
    expect(() => { setStatus(job, t, 'running', { kind: 'started', at: 1, peer: 'p' }) }).toThrow('task j/a: blocked → running (cause: started)')
    expect(t.status).toBe('blocked')
  })

  it('a round gives each kind of task the places its capable peers have room for: a busy GPU box\'s task does not crowd out work idle peers can start', () => {
    const gpuBox = peer('g', {}, { capacity: { cpu: 1, memoryMB: 4096, gpu: 1, custom: {} }, free: { cpu: 0, memoryMB: 4096, gpu: 0, custom: {} } })
    const { submit, feed } = setup([peer('o'), gpuBox])
    feed({ type: 'start' })
    const fx = submit({ name: 'mixed', tasks: { train: { kind: 'handler', handler: 'sq', resources: { cpu: 1, gpu: 1 }, count: 3 }, prep: { kind: 'handler', handler: 'sq', count: 3 } } })
    const cfb = of(fx, 'publish')[0]!.msg as CallForBids
    const ids = cfb.tasks.map(t => t.id)
    // One GPU task fits the busy box's queue; the plain tasks fill what o and g have room for.
    expect(ids.filter(id => id.startsWith('train'))).toEqual(['train[0]'])
    expect(ids.filter(id => id.startsWith('prep'))).toEqual(['prep[0]', 'prep[1]', 'prep[2]'])
    // The origin tells bidders how scarce each task is: the GPU task has one capable peer.
    expect(cfb.tasks.find(t => t.id === 'train[0]')!.alternatives).toBe(1)
    expect(cfb.tasks.find(t => t.id === 'prep[0]')!.alternatives).toBe(2)
  })

  it('a peer that cannot fetch a task\'s inputs loses the attempt without spending a retry; after 3 such peers it counts as the task\'s failure', () => {
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p'), peer('q'), peer('r'), peer('s')])
    feed({ type: 'start' })
    submit({ name: 't', tasks: { a: { kind: 'handler', handler: 'sq', retries: 0 } } })
    const a = m.record('j1')!.tasks.get('a')!
    const events: string[] = []
    for (const [i, p] of ['p', 'q', 'r', 's'].entries()) {
      const round = m.record('j1')!.nextRound - 1
      for (const bidder of ['o', 'p', 'q', 'r', 's']) feed({ type: 'bid', from: bidder, bid: { v: 1, jobId: 'j1', round, load: 0, validMs: 500, bids: bidder === p ? [{ taskId: 'a', attempt: i + 1, etaMs: 10 }] : [] } })
      feed({ type: 'awards-journaled', jobId: 'j1' })
      expect(a.attempts.at(-1)).toMatchObject({ peer: p, attempt: i + 1 })
      const fx = feed({ type: 'report', from: p, msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a', attempt: i + 1, ok: false, error: 'input x could not be fetched: reset', reason: 'transfer', retryable: true, durationMs: 0 }] } })
      events.push(...of(fx, 'emit').map(e => e.event.type))
      advance(10)
      feed({ type: 'timer', timer: { kind: 'retry' } })
    }
    // Three peers lost it (migrated, excluded, no retry spent); the fourth failure is the task's, and with no retries left the job fails.
    expect(a.attempts.map(x => x.state)).toEqual(['lost', 'lost', 'lost', 'failed'])
    expect(a.attempts[0]!.reason).toMatch(/could not be fetched/)
    expect(events.filter(e => e === 'task-migrated')).toHaveLength(3)
    expect(a.status).toBe('failed')
    expect(m.record('j1')!.state).toBe('failed')
  })

  it('a task kept off every peer that would bid is offered to them again when the one peer left never bids', () => {
    // The rogue: a live, capable peer that answers nothing. p and q lost the task (excluded); only
    // the rogue was left to ask, and before, the task waited for it forever.
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p'), peer('q'), peer('rogue')])
    feed({ type: 'start' })
    submit({ name: 'x', tasks: { a: { kind: 'handler', handler: 'sq' } } })
    const t = m.record('j1')!.tasks.get('a')!
    t.exclude = ['p', 'q']
    const calls: CallForBids[] = []
    for (let i = 0; i < 6 && t.status !== 'awarded'; i++) {
      // The round's window ends without a bid (the rogue is silent); after the backoff, the next round.
      feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
      advance(6000)
      const cfb = of(feed({ type: 'timer', timer: { kind: 'retry' } }), 'publish')[0]?.msg as CallForBids | undefined
      if (cfb === undefined) continue
      calls.push(cfb)
      // Whoever is not excluded bids; the rogue never does.
      for (const bidder of ['o', 'p', 'q']) if (!cfb.tasks[0]!.exclude.includes(bidder)) feed({ type: 'bid', from: bidder, bid: { v: 1, jobId: 'j1', round: cfb.round, load: 0, validMs: 500, bids: bidder === 'o' ? [] : [{ taskId: 'a', attempt: 1, etaMs: 10 }] } })
    }
    expect(calls.length).toBeGreaterThan(0)
    expect(calls.at(-1)!.tasks[0]!.exclude).toEqual([])
    expect(t.status).toBe('awarded')
    expect(['p', 'q']).toContain(t.attempts.at(-1)!.peer)
  })

  it('an attempt that heartbeats but never finishes, far past its promise, gets a backup; losing to it counts against its peer', () => {
    // in real life… a peer bids ETA 0, takes the task and reports "running" forever: its lease never lapses.
    const { m, submit, feed, advance, now } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('r'), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'h', tasks: { a: { kind: 'handler', handler: 'sq', estimateMs: 100 } } })
    feed({ type: 'bid', from: 'r', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 0 }] } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 300 }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    const t = m.record('j1')!.tasks.get('a')!
    // ETA 0 from a speed-1 peer is read as the work at that speed: 100 ms.
    expect(t.attempts[0]).toMatchObject({ peer: 'r', promisedMs: 100 })
    feed({ type: 'report', from: 'r', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: true }] } })
    let backup: CallForBids | undefined
    for (let i = 0; i < 8 && backup === undefined; i++) {
      advance(500)
      feed({ type: 'report', from: 'r', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: true }] } })
      backup = of(feed({ type: 'timer', timer: { kind: 'lease' } }), 'publish').map(e => e.msg as CallForBids).find(c => c.tasks.some(x => x.id === 'a'))
    }
    // Past 3 × its 100 ms promise and a second: a backup, kept off r, at any point of the job.
    expect(backup?.tasks[0]).toMatchObject({ id: 'a', attempt: 2, exclude: ['r'] })
    expect(now() - t.attempts[0]!.awardedAt).toBeLessThanOrEqual(2000)
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: backup!.round, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 2, etaMs: 100 }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    const fx = feed({ type: 'report', from: 'p', msg: { v: 1, type: 'result', jobId: 'j1', results: [{ taskId: 'a', attempt: 2, ok: true, value: 4, durationMs: 100 }] } })
    const done = feed({ type: 'result-journaled', fetched: of(fx, 'journal-result')[0]!.fetched })
    expect(t.status).toBe('done')
    expect(of(done, 'send')).toContainEqual(expect.objectContaining({ peer: 'r', msg: expect.objectContaining({ type: 'cancel' }) }))
    expect(m.reputation.view(now()).find(v => v.peer === 'r')).toMatchObject({ byKind: { deadline: 1 } })
  })

  it('an attempt still running past its task\'s timeout and a grace is given up by the origin itself', () => {
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('r')])
    feed({ type: 'start' })
    submit({ name: 'to', tasks: { a: { kind: 'handler', handler: 'sq', timeoutMs: 1000 } } })
    feed({ type: 'bid', from: 'r', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 10 }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    feed({ type: 'report', from: 'r', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: true }] } })
    const t = m.record('j1')!.tasks.get('a')!
    for (let i = 0; i < 14; i++) {
      advance(500)
      feed({ type: 'report', from: 'r', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: true }] } })
      feed({ type: 'timer', timer: { kind: 'lease' } })
    }
    expect(t.attempts[0]).toMatchObject({ state: 'lost', reason: expect.stringMatching(/past its 1000 ms timeout/) })
    // Announced again at once, as attempt 2, and it counted against r.
    expect(t.attempt).toBe(2)
    expect(m.reputation.view(0).find(v => v.peer === 'r')?.byKind).toEqual({ deadline: 1 })
  })

  it('a peer that lost the attempts it won in one job is priced out of the next one', () => {
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('hole'), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'one', tasks: { a: { kind: 'handler', handler: 'sq', count: 2, estimateMs: 100 } } })
    feed({ type: 'bid', from: 'hole', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a[0]', attempt: 1, etaMs: 0 }, { taskId: 'a[1]', attempt: 1, etaMs: 0 }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    advance(2500)
    feed({ type: 'timer', timer: { kind: 'lease' } })
    expect(m.record('j1')!.tasks.get('a[0]')!.attempts[0]!.state).toBe('lost')
    expect(m.record('j1')!.faultsOf('hole')).toBe(2)
    // The next job: the black hole bids 0 again; p bids a full second. p wins.
    const fx = submit({ name: 'two', tasks: { b: { kind: 'handler', handler: 'sq', estimateMs: 100 } } }, 'j2')
    const cfb = of(fx, 'publish')[0]!.msg as CallForBids
    feed({ type: 'bid', from: 'hole', bid: { v: 1, jobId: 'j2', round: cfb.round, load: 0, validMs: 500, bids: [{ taskId: 'b', attempt: 1, etaMs: 0 }] } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j2', round: cfb.round, load: 0, validMs: 500, bids: [{ taskId: 'b', attempt: 1, etaMs: 1000 }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j2' } })
    expect(m.record('j2')!.tasks.get('b')!.attempts[0]!.peer).toBe('p')
  })

  it('a queued attempt waits well past its promise before it counts as stalled: queue waits are where estimates err', () => {
    // in real life… a loaded peer's queue drains slower than it estimated: the trivial-task bench
    // saw honest queued attempts migrated by the hundred at 3× their promise.
    const { m, submit, feed, advance } = setup([peer('o', {}, { free: { ...CPU2, cpu: 0 } }), peer('p')])
    feed({ type: 'start' })
    submit({ name: 'q', tasks: { a: { kind: 'handler', handler: 'sq', estimateMs: 100 } } })
    feed({ type: 'bid', from: 'p', bid: { v: 1, jobId: 'j1', round: 0, load: 0, validMs: 500, bids: [{ taskId: 'a', attempt: 1, etaMs: 100, queued: true }] } })
    feed({ type: 'timer', timer: { kind: 'round', jobId: 'j1' } })
    feed({ type: 'awards-journaled', jobId: 'j1' })
    feed({ type: 'report', from: 'p', msg: { v: 1, type: 'accept', jobId: 'j1', accepted: [{ taskId: 'a', attempt: 1 }], rejected: [] } })
    const t = m.record('j1')!.tasks.get('a')!
    const tick = (): void => {
      advance(500)
      feed({ type: 'report', from: 'p', msg: { v: 1, type: 'progress', jobId: 'j1', items: [{ taskId: 'a', attempt: 1, running: false }] } })
      feed({ type: 'timer', timer: { kind: 'lease' } })
    }
    for (let i = 0; i < 20; i++) tick()
    expect(t.attempts[0]!.state).toBe('queued')
    for (let i = 0; i < 45 && t.attempts[0]!.state === 'queued'; i++) tick()
    expect(t.attempts[0]).toMatchObject({ state: 'lost', reason: expect.stringMatching(/^not started \d+ ms after its award/) })
    expect(m.reputation.view(0).find(v => v.peer === 'p')?.byKind).toEqual({ stalled: 1 })
  })
})

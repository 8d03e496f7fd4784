/**
 * Stragglers: when a job is nearly done and one attempt runs far past its
 * task's typical duration, a backup attempt starts on another peer; the first
 * result wins, the other attempt is cancelled, and the task has one result.
 */
import { describe, expect, it } from 'vitest'
import { sleep } from '../../src/testing/function-runner.ts'
import { TestMesh, fakeProbe } from '../helpers/mesh.ts'
import { recordEvents, runUntilEnd, spec } from '../helpers/jobs.ts'

describe('stragglers', () => {
  it('starts a backup for a task stuck on a slow peer; the backup wins and the straggler is cancelled', async () => {
    // in real life… one machine in the mesh is thrashing: its task takes 100× longer than on the others.
    const mesh = new TestMesh()
    for (const id of ['a', 'b', 'c']) mesh.add(id, fakeProbe({ cpuCores: 2 }))
    mesh.network.link('a', 'b')
    mesh.network.link('b', 'c')
    for (const [id, r] of mesh.runners) {
      r.register('work', async (_input, ctx) => {
        // On peer c, task 7's first attempt hangs (a sick machine); everything else takes 200 ms.
        const ms = id === 'c' && ctx.index === 7 && ctx.attempt === 1 ? 60_000 : 200
        await sleep(mesh.clock, ms)
        if (ctx.signal.aborted) throw new Error('cancelled')
        return `${ctx.taskId}@${id}`
      })
    }
    await mesh.advance(2000)
    const job = await mesh.peer('a').submit(spec({ w: { kind: 'handler', handler: 'work', count: 12 } }))
    const events = recordEvents(job)
    expect(await runUntilEnd(mesh, job, 20_000)).toBe('done')

    // Placement is deterministic on the manual clock: task 7's first attempt went to the sick peer c.
    const seven = job.tasks.get('w[7]')!
    expect(seven.attempts[0]?.peer).toBe('c')
    // A backup started long before the straggler's 60 s, won, and the straggler was cancelled.
    expect(events.filter(e => e.type === 'backup-started' && e.taskId === 'w[7]')).toHaveLength(1)
    expect(seven.attempts.map(a => a.state)).toEqual(['cancelled', 'done'])
    expect(seven.result).toMatch(/^w\[7\]@[ab]$/)
    expect(job.endedAt! - job.submittedAt).toBeLessThan(10_000)
    // Peer c was told to stop: it holds no attempt of the job any more.
    await mesh.advance(500)
    expect(mesh.peer('c').executor.attempts().filter(a => a.jobId === job.id)).toEqual([])
    // Every task has exactly one accepted result.
    const done = events.flatMap(e => e.type === 'task-done' ? [e.taskId] : [])
    expect(done.sort()).toEqual([...job.tasks.keys()].sort())
  })
})

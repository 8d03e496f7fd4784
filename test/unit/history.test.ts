/**
 * Job history: ended jobs stay listable, with their tasks' outcomes, for
 * `history.keepDays`, then leave the origin's memory and its journal, so an
 * origin that runs for weeks keeps a bounded store. Simulated time.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import { sleep } from '../../src/testing/function-runner.ts'
import { fakeProbe, TestMesh } from '../helpers/mesh.ts'
import { runUntilEnd, spec } from '../helpers/jobs.ts'

const HOUR = 3600_000

describe('job history', () => {
  it('keeps ended jobs for keepDays, then drops them from memory and the journal, running jobs never', async () => {
    const mesh = new TestMesh({ config: parseConfig({ mdns: false, history: { keepDays: 1 / 24 } }) })
    const a = mesh.add('a', fakeProbe({ cpuCores: 4 }))
    mesh.runners.get('a')!.register('work', async () => { await sleep(mesh.clock, 100); return 1 })
      .register('long', async () => { await sleep(mesh.clock, 3 * HOUR); return 2 })
    await mesh.advance(2_000)
    const submit = async (name: string, handler = 'work') => await a.submit(spec({ t: { kind: 'handler', handler } }, name))

    const old = await Promise.all([submit('old-1'), submit('old-2'), submit('old-3')])
    for (const j of old) expect(await runUntilEnd(mesh, j)).toBe('done')
    const long = await submit('long', 'long')
    await mesh.advance(HOUR / 2)
    const recent = await submit('recent')
    expect(await runUntilEnd(mesh, recent)).toBe('done')
    // Half an hour on: every job is still there, with what its task did.
    expect(a.origin.jobs().map(j => j.spec.name).sort()).toEqual(['long', 'old-1', 'old-2', 'old-3', 'recent'])
    expect(a.origin.job(old[0]!.id)!.snapshot(true).tasks![0]).toMatchObject({ status: 'done', peer: 'a', attempts: [{ state: 'done', durationMs: expect.any(Number) }] })

    // An hour and a bit after the old jobs ended, the next compaction (every 15 min here) drops them.
    await mesh.advance(HOUR / 2 + HOUR / 4 + 1000)
    expect(a.origin.jobs().map(j => j.spec.name).sort()).toEqual(['long', 'recent'])
    expect((await mesh.journals.get('a')!.load()).jobs.map(j => j.job.spec.name).sort()).toEqual(['long', 'recent'])
    expect(a.origin.job(old[0]!.id)).toBeUndefined()

    // A job that runs longer than the retention is never dropped while it runs.
    await mesh.advance(HOUR)
    expect(a.origin.jobs().map(j => j.spec.name)).toEqual(['long'])
    expect(long.state).toBe('running')
  })

  it('stays bounded under a steady stream of jobs', async () => {
    const mesh = new TestMesh({ config: parseConfig({ mdns: false, history: { keepDays: 1 / 24 } }) })
    const a = mesh.add('a', fakeProbe({ cpuCores: 4 }))
    mesh.runners.get('a')!.register('work', async () => { await sleep(mesh.clock, 100); return 1 })
    await mesh.advance(2_000)
    const sizes: number[] = []
    // A job every 5 simulated minutes for 12 hours: 144 jobs; an hour holds 12 of them, plus up to one compaction period.
    for (let i = 0; i < 144; i++) {
      const j = await a.submit(spec({ t: { kind: 'handler', handler: 'work' } }, `j${i}`))
      expect(await runUntilEnd(mesh, j)).toBe('done')
      await mesh.advance(5 * 60_000 - 200)
      sizes.push((await mesh.journals.get('a')!.load()).jobs.length)
    }
    expect(Math.max(...sizes.slice(24))).toBeLessThanOrEqual(12 + 3 + 1)
    expect(a.origin.jobs().length).toBe(sizes.at(-1))
  })
})

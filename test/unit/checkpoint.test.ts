/**
 * Checkpoints: a task that saves its progress and then loses its peer resumes
 * on another peer from its last checkpoint instead of starting over; with the
 * `checkpointed` yield policy, a busy peer gives back such running tasks too.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import type { LoadSample } from '../../src/resources/capacity.ts'
import { sleep, type TestHandler } from '../../src/testing/function-runner.ts'
import { TestMesh, fakeProbe } from '../helpers/mesh.ts'
import { advanceUntil, recordEvents, runUntilEnd, spec } from '../helpers/jobs.ts'

/** Counts to `steps`, one step per 100 simulated ms, saving each step; reports where it started. */
function counter (mesh: TestMesh, startedFrom: number[], steps = 10): TestHandler {
  return async (_input, ctx) => {
    const from = typeof ctx.restored === 'number' ? ctx.restored : 0
    startedFrom.push(from)
    for (let i = from; i < steps; i++) {
      await sleep(mesh.clock, 100)
      if (ctx.signal.aborted) throw new Error('stopped')
      ctx.checkpoint?.(i + 1)
    }
    return { from, attempt: ctx.attempt }
  }
}

describe('checkpoints', () => {
  it('a task that loses its peer resumes elsewhere from its last checkpoint', async () => {
    // in real life… a laptop running a long simulation step is closed; another machine continues from the last saved state.
    const mesh = new TestMesh()
    mesh.add('origin', fakeProbe({ cpuCores: 1 }))
    mesh.add('fast', { ...fakeProbe({ cpuCores: 1 }), speed: 4 })
    mesh.network.link('origin', 'fast')
    const startedFrom: number[] = []
    for (const r of mesh.runners.values()) r.register('count', counter(mesh, startedFrom))
    await mesh.advance(2000)

    const job = await mesh.peer('origin').submit(spec({ c: { kind: 'handler', handler: 'count', estimateMs: 1000 } }))
    await advanceUntil(mesh, 'the task to run on the fast peer and save a few steps', () =>
      job.tasks.get('c')?.attempts.at(-1)?.peer === 'fast' && typeof job.tasks.get('c')?.checkpoint === 'number' && (job.tasks.get('c')!.checkpoint as number) >= 4, 5000)
    mesh.network.crash('fast')
    await mesh.peer('fast').stop({ goodbye: false })

    expect(await runUntilEnd(mesh, job, 20_000)).toBe('done')
    const result = job.tasks.get('c')!.result as { from: number, attempt: number }
    expect(result.attempt).toBe(2)
    expect(result.from).toBeGreaterThanOrEqual(4)
    expect(startedFrom).toEqual([0, result.from])
    // The origin noted when each attempt saved (the dashboard's timeline marks them).
    const [lost, resumed] = job.tasks.get('c')!.attempts
    expect(lost!.state).toBe('lost')
    expect(lost!.checkpoints!.length).toBeGreaterThanOrEqual(4)
    expect([...lost!.checkpoints!].sort((a, b) => a - b)).toEqual(lost!.checkpoints)
    expect(resumed!.checkpoints!.length).toBe(10 - result.from)
  })

  it('with the checkpointed policy, a busy peer gives back a running task that has saved a checkpoint', async () => {
    // in real life… the owner starts a build; the mesh's long task steps aside without losing its work.
    const calm: LoadSample = { avg1: 0, cpuBusy: 5, eventLoopDelayMs: 0, memoryAvailableMB: 8000, meshCpuBusy: 0 }
    let load = calm
    const config = parseConfig({ mdns: false, yield: { policy: 'checkpointed', cpuBusyPercent: 85, sustainMs: 300 } })
    const mesh = new TestMesh({ config })
    mesh.add('origin', fakeProbe({ cpuCores: 1 }))
    mesh.add('desktop', { ...fakeProbe({ cpuCores: 1 }), speed: 4, load: () => load })
    mesh.network.link('origin', 'desktop')
    const startedFrom: number[] = []
    // Long enough (4 s) to still be running when the smoothed load crosses the threshold and stays there.
    for (const r of mesh.runners.values()) r.register('count', counter(mesh, startedFrom, 40))
    await mesh.advance(2000)

    const job = await mesh.peer('origin').submit(spec({ c: { kind: 'handler', handler: 'count', estimateMs: 4000 } }))
    const events = recordEvents(job)
    await advanceUntil(mesh, 'the desktop to save a few steps', () =>
      job.tasks.get('c')?.attempts.at(-1)?.peer === 'desktop' && ((job.tasks.get('c')?.checkpoint as number | undefined) ?? 0) >= 3, 5000)
    load = { ...calm, cpuBusy: 99 }

    expect(await runUntilEnd(mesh, job, 20_000)).toBe('done')
    expect(events.some(e => e.type === 'task-migrated' && e.peer === 'desktop')).toBe(true)
    const result = job.tasks.get('c')!.result as { from: number, attempt: number }
    expect(result.from).toBeGreaterThanOrEqual(3)
    expect(job.tasks.get('c')!.attempts.at(-1)?.peer).toBe('origin')
  })
})

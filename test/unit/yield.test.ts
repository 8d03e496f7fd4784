/**
 * Load shift: a peer whose machine gets busy with work that is not the mesh's
 * stops taking work and gives its queued tasks back; their origin runs them
 * elsewhere at once, and the job finishes.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import { YieldWatcher } from '../../src/execution/yield.ts'
import type { LoadSample } from '../../src/resources/capacity.ts'
import { sleep } from '../../src/testing/function-runner.ts'
import { TestMesh, fakeProbe } from '../helpers/mesh.ts'
import { advanceUntil, recordEvents, runUntilEnd, spec } from '../helpers/jobs.ts'

const calm: LoadSample = { avg1: 0, cpuBusy: 10, eventLoopDelayMs: 0, memoryAvailableMB: 8000, meshCpuBusy: 5 }
const busy: LoadSample = { ...calm, cpuBusy: 97, meshCpuBusy: 2 }

describe('YieldWatcher', () => {
  const cfg = { cpuBusyPercent: 85, sustainMs: 5000 }

  it('yields only after outside load lasts sustainMs, once, and recovers when it drops', () => {
    // in real life… the owner starts a build: a short spike is ignored, a sustained one makes the peer step aside.
    const w = new YieldWatcher(cfg, 512)
    expect(w.sample(busy, 0)).toEqual(expect.objectContaining({ busy: false, started: false }))
    expect(w.sample(busy, 4999)).toEqual(expect.objectContaining({ busy: false, started: false }))
    expect(w.sample(busy, 5000)).toEqual(expect.objectContaining({ busy: true, started: true, reason: expect.stringMatching(/busy with other work/) }))
    expect(w.sample(busy, 6000)).toEqual(expect.objectContaining({ busy: true, started: false }))
    expect(w.sample(calm, 7000)).toEqual(expect.objectContaining({ busy: false }))
  })

  it('yields on a saturated machine when outside load is at least the mesh’s own, though below the threshold', () => {
    // in real life… the owner's build and the mesh's tasks share a busy machine: 60 % theirs, 40 % ours.
    const w = new YieldWatcher(cfg, 512)
    const shared = { ...calm, cpuBusy: 100, meshCpuBusy: 40 }
    w.sample(shared, 0)
    expect(w.sample(shared, 5000)).toEqual(expect.objectContaining({ busy: true, started: true }))
  })

  it('does not count the mesh’s own CPU as outside load', () => {
    // in real life… the peer's own tasks keep the machine at 100 %: that is the mesh working, not the owner.
    const w = new YieldWatcher(cfg, 512)
    expect(w.sample({ ...calm, cpuBusy: 100, meshCpuBusy: 95 }, 0).busy).toBe(false)
    expect(w.sample({ ...calm, cpuBusy: 100, meshCpuBusy: 95 }, 10_000).busy).toBe(false)
  })

  it('treats short memory as busy', () => {
    // in real life… the owner's browser eats the RAM; taking more work would swap the machine.
    const w = new YieldWatcher(cfg, 512)
    w.sample({ ...calm, memoryAvailableMB: 100 }, 0)
    expect(w.sample({ ...calm, memoryAvailableMB: 100 }, 5000)).toEqual(expect.objectContaining({ busy: true, reason: expect.stringMatching(/memory short/) }))
  })
})

describe('load shift in a mesh', () => {
  it('a peer whose machine gets busy gives back its queued tasks; they run elsewhere and the job finishes', async () => {
    // in real life… a desktop in the mesh: its owner starts a heavy build while it holds a queue of the mesh's tasks.
    const config = parseConfig({ mdns: false, yield: { policy: 'queued', cpuBusyPercent: 85, sustainMs: 1000 }, auction: { queueDepth: 4 } })
    const mesh = new TestMesh({ config })
    let load = calm
    const desktop = { ...fakeProbe({ cpuCores: 2 }), load: () => load, speed: 4 }
    mesh.add('desktop', desktop)
    mesh.add('server', fakeProbe({ cpuCores: 1 }))
    mesh.network.link('desktop', 'server')
    for (const r of mesh.runners.values()) r.register('work', async (_input, ctx) => { await sleep(mesh.clock, 5000); return ctx.index })
    await mesh.advance(2000)

    // The desktop is 4× faster than the one-core server, so once both are full it wins the queue slots.
    const job = await mesh.peer('server').submit(spec({ w: { kind: 'handler', handler: 'work', count: 8 } }))
    const events = recordEvents(job)
    await advanceUntil(mesh, 'the desktop to queue some tasks', () => mesh.peer('desktop').executor.counts().queued > 0, 10_000)

    load = busy
    const queued = mesh.peer('desktop').executor.counts().queued
    // Within sustainMs + 1 s (plus two heartbeats: load is sampled, and smoothed, on heartbeats), the queue goes back.
    await advanceUntil(mesh, 'the desktop to give its queue back', () => events.filter(e => e.type === 'task-migrated' && e.peer === 'desktop').length >= queued, 1000 + 1000 + 1000)
    expect(mesh.peer('desktop').executor.counts().queued).toBe(0)
    expect(mesh.peer('desktop').executor.ledger.blocked).toBe(true)
    expect(mesh.peer('desktop').peers()[0]!.free.cpu).toBe(0) // its ads show no room
    // …and say why, so `mesh peers` on any peer shows it.
    await mesh.advance(1100)
    expect(mesh.peer('server').peers().find(p => p.id === 'desktop')).toEqual(expect.objectContaining({ busy: expect.stringMatching(/busy with other work/) }))
    expect(events.some(e => e.type === 'task-migrated' && e.peer === 'desktop' && /busy with other work/.test(e.reason))).toBe(true)

    expect(await runUntilEnd(mesh, job, 60_000)).toBe('done')
    expect([...job.tasks.values()].map(t => t.result)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    // Nothing new went to the busy desktop after it yielded.
    const yieldedAt = events.find(e => e.type === 'task-migrated')!.at
    expect(events.filter(e => e.type === 'task-started' && e.peer === 'desktop' && e.at > yieldedAt)).toEqual([])
  })
})

describe('YieldWatcher hysteresis', () => {
  it('a dip just under the threshold neither resets the sustained count nor ends a yield', () => {
    // in real life… a build's CPU use wobbles between 83 % and 99 %; the peer still steps aside, and stays aside.
    const w = new YieldWatcher({ cpuBusyPercent: 85, sustainMs: 1000 }, 512)
    const at = (cpu: number, t: number): ReturnType<YieldWatcher['sample']> => w.sample({ ...calm, cpuBusy: cpu, meshCpuBusy: 0 }, t)
    expect(at(90, 0).busy).toBe(false)
    expect(at(80, 500).busy).toBe(false) // dip, within the band
    expect(at(90, 1000)).toEqual(expect.objectContaining({ busy: true, started: true }))
    expect(at(78, 1500).busy).toBe(true) // still within the band
    expect(at(60, 2000).busy).toBe(false) // clearly calm
  })
})

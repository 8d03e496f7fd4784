/**
 * GPUs with per-device memory, and GPU-memory shares (docs/ARCHITECTURE.md §8):
 * GpuDevices hands out whole devices and shares of one and never over-commits
 * a device's memory; the ledger carries the total; feasibility and `why` name
 * a task no device can hold; the executor queues a share that fits the totals
 * but no single device; the spec and the config check their new fields.
 */
import { describe, expect, it } from 'vitest'
import type { OpenTask } from '../../protocols/auction.ts'
import { resourceAdSchema, type Resources } from '../../protocols/resources.ts'
import { taskMsg, type AwardedTask, type TaskMessage } from '../../protocols/task.ts'
import { whyNobody, whyNot, type PeerAbility } from '../../src/auction/feasibility.ts'
import { decideBids } from '../../src/auction/bidder.ts'
import { createHighsSolver } from '../../src/auction/lp.ts'
import { ConfigError } from '../../src/errors.ts'
import { parseConfig } from '../../src/config.ts'
import { GpuDevices } from '../../src/execution/gpu-devices.ts'
import { JobSpecError, parseJobSpec } from '../../src/jobs/spec.ts'
import { computeCapacity, gpuDevices, type MachineInfo } from '../../src/resources/capacity.ts'
import { Ledger, fromUnits, toUnits } from '../../src/resources/ledger.ts'
import { testExecutor } from '../helpers/executor.ts'
import { makeAd } from '../helpers/ads.ts'

const solver = await createHighsSolver()
const caps = { kinds: ['handler'], handlers: ['work'], commands: [], tags: [] }

describe('GpuDevices: whole devices and memory shares', () => {
  it('packs shares onto one device up to its memory, never beyond', () => {
    // in real life… four 10 GB inference workers on a 40 GB card: all four fit, a fifth waits.
    const d = new GpuDevices([40_000, 40_000])
    for (let i = 0; i < 4; i++) expect(d.take(0, 10_000)).toEqual([0])
    // Device 0 is full: the next share goes to device 1; one that fits nowhere is refused.
    expect(d.take(0, 30_000)).toEqual([1])
    expect(d.take(0, 20_000)).toBeUndefined()
    expect(d.state().map(s => s.freeMemoryMB)).toEqual([0, 10_000])
    d.give([0], 10_000)
    expect(d.state()[0]).toEqual({ memoryMB: 40_000, freeMemoryMB: 10_000, whole: false, shares: 3 })
    expect(d.fits(0, 10_000)).toBe(true)
    // Each device has 10 000 MB free: a share of 10 001 fits on neither, though together they have 20 000.
    expect(d.fits(0, 10_001)).toBe(false)
  })

  it('a whole-device holder excludes sharers, and a shared device is not handed out whole', () => {
    const d = new GpuDevices([24_000, 24_000])
    expect(d.take(1)).toEqual([0])
    expect(d.take(0, 1_000)).toEqual([1])
    // Both devices are in use (one whole, one shared): no whole device is left.
    expect(d.take(1)).toBeUndefined()
    expect(d.state()).toEqual([
      { memoryMB: 24_000, freeMemoryMB: 0, whole: true, shares: 0 },
      { memoryMB: 24_000, freeMemoryMB: 23_000, whole: false, shares: 1 }
    ])
    d.give([1], 1_000)
    expect(d.take(1)).toEqual([1])
    expect(d.take(0, 1)).toBeUndefined()
  })

  it('whole devices with a memory floor skip smaller cards; devices of unknown memory take no shares', () => {
    const mixed = new GpuDevices([8_000, 80_000, 80_000])
    expect(mixed.take(2, 40_000)).toEqual([1, 2])
    expect(mixed.take(1, 40_000)).toBeUndefined()
    const unknown = new GpuDevices(2)
    expect(unknown.take(0, 1)).toBeUndefined()
    expect(unknown.take(2)).toEqual([0, 1])
  })

  it('random takes and gives never hold more memory than a device has (property)', () => {
    let seed = 7
    const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const mem = [16_000, 40_000, 24_000]
    const d = new GpuDevices(mem)
    const held: Array<{ ids: number[], share: number }> = []
    for (let step = 0; step < 2000; step++) {
      if (held.length > 0 && rand() < 0.4) {
        const [h] = held.splice(Math.floor(rand() * held.length), 1)
        d.give(h!.ids, h!.share)
      } else if (rand() < 0.2) {
        const ids = d.take(1 + Math.floor(rand() * 2), rand() < 0.5 ? 0 : 20_000)
        if (ids !== undefined) held.push({ ids, share: 0 })
      } else {
        const share = 1_000 + Math.floor(rand() * 15_000)
        const ids = d.take(0, share)
        if (ids !== undefined) held.push({ ids, share })
      }
      // Check against what the holders hold, not against the class's own view.
      for (let i = 0; i < mem.length; i++) {
        const on = held.filter(h => h.ids.includes(i))
        const whole = on.filter(h => h.share === 0).length
        const shared = on.reduce((s, h) => s + h.share, 0)
        expect(whole <= 1 && (whole === 0 || shared === 0) && shared <= mem[i]!).toBe(true)
      }
    }
  })
})

describe('the ledger and capacity with GPU memory', () => {
  const machine = (gpus: MachineInfo['gpus']): MachineInfo => ({ cpuCores: 8, cpuModel: 'x', memoryMB: 16_384, gpus })
  const resources = (over: Record<string, unknown> = {}) => parseConfig({ resources: over }).resources

  it('devices come from the probe, a declared count, and resources.gpuMemoryMB (one for all or one each)', () => {
    const probed = machine([{ model: 'A100', memoryMB: 40_960 }, { model: 'A100', memoryMB: 40_960 }])
    expect(gpuDevices(probed, resources())).toEqual(probed.gpus)
    expect(computeCapacity(probed, resources()).gpuMemoryMB).toBe(81_920)
    expect(gpuDevices(machine([]), resources({ gpu: 2 }))).toEqual([{ model: 'GPU', memoryMB: 0 }, { model: 'GPU', memoryMB: 0 }])
    expect(computeCapacity(machine([]), resources({ gpu: 2 })).gpuMemoryMB).toBeUndefined()
    expect(gpuDevices(machine([]), resources({ gpu: 2, gpuMemoryMB: 24_000 })).map(g => g.memoryMB)).toEqual([24_000, 24_000])
    expect(gpuDevices(machine([]), resources({ gpu: 2, gpuMemoryMB: [8_000, 24_000] })).map(g => g.memoryMB)).toEqual([8_000, 24_000])
    expect(computeCapacity(machine([]), resources({ gpu: 2, gpuMemoryMB: [8_000, 24_000] })).gpuMemoryMB).toBe(32_000)
  })

  it('carries the GPU-memory total as a unit, and puts a demoted attempt back in the queue', () => {
    const capacity: Resources = { cpu: 4, memoryMB: 0, gpu: 2, gpuMemoryMB: 48_000, custom: {} }
    const ledger = new Ledger(capacity, 1)
    const share = toUnits({ cpu: 1, memoryMB: 0, gpu: 0, gpuMemoryMB: 20_000, custom: {} })
    expect(ledger.reserve('a', share)).toBe('now')
    expect(ledger.reserve('b', share)).toBe('now')
    expect(ledger.reserve('c', share)).toBe('queue') // 60 000 MB > 48 000: the third waits
    expect(fromUnits(ledger.freeNow()).gpuMemoryMB).toBe(8_000)
    expect(ledger.demote('b')).toBe(true)
    expect(fromUnits(ledger.freeNow()).gpuMemoryMB).toBe(28_000)
    expect(ledger.promote('b')).toBe(true)
    // A peer whose GPU memory is unknown has no room for a share at all.
    expect(new Ledger({ cpu: 4, memoryMB: 0, gpu: 2, custom: {} }, 1).reserve('x', share)).toBeUndefined()
  })
})

describe('feasibility: a task no device can hold', () => {
  const peer = (id: string, gpus: number[]): PeerAbility => ({
    id, caps, gpus: gpus.map(memoryMB => ({ memoryMB })),
    capacity: { cpu: 8, memoryMB: 64_000, gpu: gpus.length, gpuMemoryMB: gpus.reduce((a, b) => a + b, 0), custom: {} }
  })
  const open = (gpu: number, gpuMemoryMB: number): OpenTask => ({
    id: 't', attempt: 1, demand: { cpu: 1, memoryMB: 0, gpu, gpuMemoryMB, custom: {} }, workMs: 1000, inputBytes: 0,
    kind: 'handler', handler: 'work', tags: [], priority: 0, ageMs: 0, exclude: []
  })

  it('a share needs one device with the memory, whole devices each need it, whatever the total', () => {
    // Two 24 GB cards hold 48 GB together, but a 40 GB model fits on neither.
    expect(whyNot(peer('p', [24_000, 24_000]), open(0, 40_000))).toBe('lacks: a GPU with ≥ 40000 MB memory')
    expect(whyNot(peer('p', [24_000, 80_000]), open(0, 40_000))).toBeUndefined()
    expect(whyNot(peer('p', [24_000, 80_000]), open(2, 40_000))).toBe('lacks: 2 GPUs with ≥ 40000 MB memory each')
    expect(whyNot(peer('p', [0, 0]), open(0, 1_000))).toBe('lacks: a GPU with ≥ 1000 MB memory')
    expect(whyNot(peer('p', [0, 0]), open(1, 0))).toBeUndefined()
  })

  it('why a task waits: no live peer offers a GPU with that much memory', () => {
    const peers = [peer('a', [24_000]), peer('b', [16_000, 16_000])]
    expect(whyNobody(peers, open(0, 40_000))).toBe('no live peer offers a GPU with ≥ 40000 MB memory')
    expect(whyNobody([...peers, peer('c', [40_960])], open(0, 40_000))).toBeUndefined()
  })
})

describe('the bidder starts a share now only where a device has room', () => {
  it('bids now for the shares a device can hold and queues the rest, though the totals fit them all', () => {
    // Two cards with 10 GB free each hold 20 GB in total: two 8 GB shares fit, but not a 12 GB one.
    const self: PeerAbility = { id: 'p', caps, gpus: [{ memoryMB: 16_000 }, { memoryMB: 16_000 }], capacity: { cpu: 8, memoryMB: 0, gpu: 2, gpuMemoryMB: 32_000, custom: {} } }
    const gpus = new GpuDevices([16_000, 16_000])
    gpus.take(0, 6_000)
    gpus.take(0, 6_000) // best fit: both on device 0, 4 GB left there, 16 GB on device 1
    const t = (id: string, gpuMemoryMB: number): OpenTask => ({
      id, attempt: 1, demand: { cpu: 1, memoryMB: 0, gpu: 0, gpuMemoryMB, custom: {} }, workMs: 1000, inputBytes: 0,
      kind: 'handler', handler: 'work', tags: [], priority: 0, ageMs: 0, exclude: []
    })
    const room = toUnits({ cpu: 6, memoryMB: 0, gpu: 2, gpuMemoryMB: 20_000, custom: {} })
    const decision = decideBids([t('big', 12_000), t('small', 5_000)], {
      self, speed: 1, freeNow: room, queueRoom: toUnits(self.capacity), queueWaitMs: 1000, gpus
    }, solver)
    const slots = Object.fromEntries(decision.bids.map(b => [b.task.id, b.slot]))
    // Both fit the 20 GB total; on the devices, 12 GB goes to device 1 and 5 GB finds 4 GB + 4 GB nowhere.
    expect(slots).toEqual({ big: 'now', small: 'queue' })
  })
})

describe('the executor: shares of one device run together, and wait for a device with room', () => {
  function makeExecutor (gpuMemoryMB: number[]) {
    const capacity: Resources = { cpu: 8, memoryMB: 0, gpu: gpuMemoryMB.length, gpuMemoryMB: gpuMemoryMB.reduce((a, b) => a + b, 0), custom: {} }
    return testExecutor({ capacity, caps, gpuMemoryMB })
  }
  const task = (taskId: string, gpu: number, gpuMemoryMB?: number): AwardedTask => ({
    taskId, attempt: 1, index: 0, kind: 'handler', handler: 'work', upstream: {},
    demand: { cpu: 1, memoryMB: 0, gpu, ...(gpuMemoryMB !== undefined ? { gpuMemoryMB } : {}), custom: {} }
  })

  it('three shares share card 0 while a whole-GPU task holds card 1; a share that fits the total but no card waits', async () => {
    const ex = makeExecutor([24_000, 24_000])
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [task('s1', 0, 8_000), task('s2', 0, 8_000), task('s3', 0, 8_000), task('w', 1), task('s4', 0, 8_000)]))
    // s4 fits the ledger's 48 GB total (32 GB asked) but neither card: card 0 is full, card 1 held whole.
    expect(ex.executor.counts()).toEqual({ running: 4, queued: 1 })
    await ex.clock.advanceAsync(1, 1)
    const started = (id: string) => ex.runner.started.find(r => r.taskId === id)
    expect(['s1', 's2', 's3', 'w'].map(id => started(id)?.gpus)).toEqual([[0], [0], [0], [1]])
    expect(started('s1')?.gpuMemoryMB).toBe(8_000)
    expect(started('w')?.gpuMemoryMB).toBe(24_000)
    expect(started('s4')).toBeUndefined()
    expect(ex.executor.gpuState()).toEqual([
      { memoryMB: 24_000, freeMemoryMB: 0, whole: false, shares: 3 },
      { memoryMB: 24_000, freeMemoryMB: 0, whole: true, shares: 0 }
    ])
    await ex.clock.advanceAsync(1_010, 1)
    expect(started('s4')?.gpus).toBeDefined()
    ex.executor.stop()
  })

  it('refuses an award for more GPU memory than any of its cards has', () => {
    const ex = makeExecutor([24_000, 24_000])
    ex.executor.onTaskMessage('o', taskMsg.award('j', 0, [task('big', 0, 40_000)]))
    const accept = ex.sent.find(s => s.msg.type === 'accept')!.msg as Extract<TaskMessage, { type: 'accept' }>
    expect(accept.rejected).toEqual([{ taskId: 'big', attempt: 1, reason: 'lacks: a GPU with ≥ 40000 MB memory' }])
    ex.executor.stop()
  })
})

describe('the spec, the config and the ad check the new fields', () => {
  it('a task may ask for gpuMemoryMB, a whole number ≥ 0', () => {
    const spec = parseJobSpec({ name: 'j', tasks: { a: { kind: 'handler', handler: 'h', resources: { gpuMemoryMB: 8_000 } } } })
    expect(spec.tasks.a!.resources).toEqual({ cpu: 1, memoryMB: 0, gpu: 0, gpuMemoryMB: 8_000, custom: {} })
    for (const [bad, problem] of [[-1, 'must be ≥ 0'], [1.5, 'must be a whole number of MB'], ['8G', 'must be a whole number of MB']] as const) {
      let err: unknown
      try { parseJobSpec({ name: 'j', tasks: { a: { kind: 'handler', handler: 'h', resources: { gpuMemoryMB: bad } } } }) } catch (e) { err = e }
      expect(err).toBeInstanceOf(JobSpecError)
      expect((err as JobSpecError).problems).toEqual([{ path: 'tasks.a.resources.gpuMemoryMB', problem }])
    }
  })

  it('resources.gpuMemoryMB is one number or one per declared GPU, with an error naming it otherwise', () => {
    expect(parseConfig({ resources: { gpu: 2, gpuMemoryMB: [16_000, 24_000] } }).resources.gpuMemoryMB).toEqual([16_000, 24_000])
    expect(parseConfig({ resources: { gpuMemoryMB: 24_000 } }).resources.gpuMemoryMB).toBe(24_000)
    const problems = (raw: unknown): unknown => { try { parseConfig(raw); return [] } catch (e) { return (e as ConfigError).problems } }
    expect(problems({ resources: { gpu: 2, gpuMemoryMB: [16_000] } })).toEqual([{ field: 'resources.gpuMemoryMB', problem: expect.stringContaining('lists 1 GPUs but resources.gpu is 2') }])
    expect(problems({ resources: { gpuMemoryMB: [16_000] } })).toEqual([{ field: 'resources.gpuMemoryMB', problem: expect.stringContaining('needs resources.gpu set') }])
    expect(problems({ resources: { gpu: 1, gpuMemoryMB: 0 } })).toEqual([{ field: 'resources.gpuMemoryMB', problem: expect.stringContaining('whole number of MB > 0') }])
  })

  it('an ad shows each device with its free memory, and never more free than it has', () => {
    const gpus = [{ model: 'A100', memoryMB: 40_960, freeMemoryMB: 31_948 }, { model: 'A100', memoryMB: 40_960, freeMemoryMB: 0, whole: true }]
    expect(resourceAdSchema.safeParse(makeAd({ gpus })).success).toBe(true)
    expect(resourceAdSchema.safeParse(makeAd({ gpus: [{ model: 'A100', memoryMB: 1_000, freeMemoryMB: 2_000 }] })).success).toBe(false)
    const capacity = { cpu: 4, memoryMB: 0, gpu: 1, gpuMemoryMB: 1_000, custom: {} }
    expect(resourceAdSchema.safeParse(makeAd({ capacity, free: { ...capacity, gpuMemoryMB: 2_000 } })).success).toBe(false)
  })
})

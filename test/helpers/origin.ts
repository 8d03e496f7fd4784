/**
 * One OriginMachine driven by hand for unit tests: no network, no clock, no
 * journal. Tests feed it events and look at the effects it returns.
 */
import { OriginMachine } from '../../src/jobs/origin-machine.ts'
import type { OriginEffect, OriginEvent } from '../../src/jobs/origin-context.ts'
import type { LivePeer } from '../../src/jobs/why.ts'
import { parseJobSpec, type JobSpecInput } from '../../src/jobs/spec.ts'

export const CPU2 = { cpu: 2, memoryMB: 4096, gpu: 0, custom: {} }

/** A live peer with two cores that runs the handler `sq`. */
export function peer (id: string, caps: Partial<LivePeer['caps']> = {}, extra: Partial<LivePeer> = {}): LivePeer {
  return { id, capacity: CPU2, free: CPU2, speed: 1, caps: { kinds: ['handler'], handlers: ['sq'], commands: [], tags: [], ...caps }, ...extra }
}

/** A machine for origin `o` with the given live peers, and a hand-set time. */
export function setup (peers: LivePeer[], opts: { random?: () => number } = {}) {
  let now = 1_000_000
  const live = { peers }
  const m = new OriginMachine({ self: 'o', init: { bidWindowMs: 50, queueDepth: 1, heartbeatMs: 500, leaseMs: 2000 }, now: () => now, livePeers: () => live.peers, ...(opts.random !== undefined ? { random: opts.random } : {}) })
  const feed = (e: OriginEvent): OriginEffect[] => m.handle(e)
  const submit = (spec: JobSpecInput, id = 'j1'): OriginEffect[] => feed({ type: 'submitted', job: { id, spec: parseJobSpec(spec), origin: 'o', submittedAt: now, files: {} } })
  return { m, feed, submit, live, advance: (ms: number) => { now += ms }, now: () => now }
}

/** The effects of one type, in order. */
export const of = <T extends OriginEffect['type']>(effects: OriginEffect[], type: T): Array<Extract<OriginEffect, { type: T }>> =>
  effects.filter((e): e is Extract<OriginEffect, { type: T }> => e.type === type)

/**
 * A task that requires confinement (`isolation`, `network`) runs only where a
 * peer's ad says it is given (docs/ARCHITECTURE.md §8): the one rule, from the
 * spec through the call for bids to the executor's re-check of an award.
 */
import { describe, expect, it } from 'vitest'
import { callForBidsSchema } from '../../protocols/auction.ts'
import { awardedTaskSchema } from '../../protocols/task.ts'
import type { ResourceAd } from '../../protocols/resources.ts'
import { shortfall, whyNobody, describeShortfall, type PeerAbility } from '../../src/auction/feasibility.ts'
import { openFields, requirementsOf, requirementsOfAward, requirementsOfOpen } from '../../src/auction/requirements.ts'
import { JobSpecError, parseJobSpec } from '../../src/jobs/spec.ts'

const capacity = { cpu: 4, memoryMB: 8192, gpu: 0, custom: {} }
const peer = (id: string, confine: Pick<ResourceAd['caps'], 'limits' | 'sandbox' | 'network'>): PeerAbility => ({
  id, capacity, caps: { kinds: ['handler', 'exec'], handlers: [], commands: ['python3'], tags: [], ...confine }
})
const rlimitOnly = peer('rlimit', { limits: 'rlimit', sandbox: 'none' })
const cgroupsOnly = peer('cgroups', { limits: 'cgroup-v1', sandbox: 'none' })
const sandboxed = peer('sandboxed', { limits: 'cgroup-v2', sandbox: 'bwrap' })
const sandboxedNoCgroup = peer('bwrap-rlimit', { limits: 'rlimit', sandbox: 'bwrap' })
const withNetwork = peer('network', { limits: 'cgroup-v1', sandbox: 'bwrap', network: true })
const silent = peer('old', {})

function task (extra: Record<string, unknown>): ReturnType<typeof requirementsOf> {
  const spec = parseJobSpec({ name: 'j', tasks: { t: { kind: 'exec', command: ['python3', 'x.py'], ...extra } } })
  return requirementsOf(spec.tasks.t!)
}

const runsOn = (req: ReturnType<typeof requirementsOf>): string[] =>
  [rlimitOnly, cgroupsOnly, sandboxed, sandboxedNoCgroup, withNetwork, silent].filter(p => shortfall(p, req) === undefined).map(p => p.id)

describe('isolation and network requirements', () => {
  it('a task that asks nothing runs on any peer that allows its program', () => {
    expect(runsOn(task({}))).toEqual(['rlimit', 'cgroups', 'sandboxed', 'bwrap-rlimit', 'network', 'old'])
  })

  it('"limits" needs cgroups; "sandbox" needs cgroups and bubblewrap; a peer that says nothing gives neither', () => {
    expect(runsOn(task({ isolation: 'limits' }))).toEqual(['cgroups', 'sandboxed', 'network'])
    expect(runsOn(task({ isolation: 'sandbox' }))).toEqual(['sandboxed', 'network'])
    expect(describeShortfall(shortfall(rlimitOnly, task({ isolation: 'limits' }))!)).toBe('lacks: cgroup limits (it enforces with rlimit)')
    expect(describeShortfall(shortfall(cgroupsOnly, task({ isolation: 'sandbox' }))!)).toBe('lacks: a sandbox (executor.exec.sandbox)')
  })

  it('"network" needs a peer that gives tasks the network', () => {
    expect(runsOn(task({ network: true }))).toEqual(['network'])
    expect(describeShortfall(shortfall(sandboxed, task({ network: true }))!)).toBe('lacks: network for tasks (executor.exec.network)')
  })

  it('travels in the call for bids and in the award, and reads back the same', () => {
    const req = task({ isolation: 'sandbox', network: true })
    const open = callForBidsSchema.parse({
      v: 1, type: 'cfb', jobId: 'j', round: 0, origin: 'o', windowMs: 50,
      tasks: [{ id: 't', attempt: 1, workMs: 1, inputBytes: 0, priority: 0, ageMs: 0, exclude: [], ...openFields(req) }]
    }).tasks[0]!
    expect(requirementsOfOpen(open)).toEqual(req)
    expect(whyNobody([rlimitOnly, cgroupsOnly], open)).toBe('no live peer offers a sandbox (executor.exec.sandbox)')
    const award = awardedTaskSchema.parse({
      taskId: 't', attempt: 1, index: 0, kind: 'exec', demand: req.demand, upstream: {},
      exec: { command: ['python3', 'x.py'], env: {}, inputs: {}, outputs: [], shell: false, network: true, isolation: 'sandbox' }
    })
    expect(requirementsOfAward(award)).toMatchObject({ isolation: 'sandbox', network: true })
  })

  it('an isolation this peer does not know is judged as the strictest', () => {
    const open = { ...openFields(task({})), isolation: 'enclave' }
    expect(requirementsOfOpen({ id: 't', attempt: 1, workMs: 1, inputBytes: 0, priority: 0, ageMs: 0, exclude: [], ...open })).toMatchObject({ isolation: 'sandbox' })
  })

  it('refuses an unknown isolation in a job file with one sentence', () => {
    expect(() => parseJobSpec({ name: 'j', tasks: { t: { kind: 'exec', command: ['x'], isolation: 'vm' } } })).toThrow(JobSpecError)
    expect(() => parseJobSpec({ name: 'j', tasks: { t: { kind: 'exec', command: ['x'], isolation: 'vm' } } })).toThrow(/tasks\.t\.isolation: must be "any", "limits" \(cgroup-enforced limits\) or "sandbox"/)
  })
})

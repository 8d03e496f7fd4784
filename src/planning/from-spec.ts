/**
 * A job spec and the peers of a mesh as a placement problem: one task per
 * instance (fan-out expanded, `after` on every instance of each upstream task),
 * each task's work its `estimateMs`, each peer able to run a task when it
 * could bid for it (the auction's own feasibility rule: kind, handler, program,
 * tags; capacity is checked by the planner).
 */
import type { ResourceAd, Resources } from '../../protocols/resources.ts'
import { shortfall } from '../auction/feasibility.ts'
import { requirementsOf } from '../auction/requirements.ts'
import { MeshError } from '../errors.ts'
import { expandJob, taskId } from '../jobs/expand.ts'
import type { JobSpec } from '../jobs/spec.ts'
import type { DryRunPeer } from './dry-run.ts'
import type { PlanProblem } from './problem.ts'

/** A peer as an ad (or `mesh peers`) shows it. */
export interface MeshPeerInfo {
  id: string
  capacity: Resources
  speed?: number
  /** What it can run besides resources; absent: anything. */
  caps?: ResourceAd['caps']
}

/**
 * The problem for `spec` on `peers`. Every task needs `estimateMs` (a plan from
 * made-up durations would mislead): a `MeshError` names the tasks without one.
 * `origin`, the peer the job would be submitted to, rules out peers that do
 * not run its jobs.
 */
export function problemFromSpec (spec: JobSpec, peers: MeshPeerInfo[], origin?: string): PlanProblem {
  const missing = Object.entries(spec.tasks).filter(([, t]) => t.estimateMs === undefined).map(([name]) => name)
  if (missing.length > 0) {
    throw new MeshError('MESH_ERR_JOB_SPEC', `planning needs "estimateMs" (ms at speed 1.0) on every task; missing on ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`)
  }
  const instanceIds = (name: string): string[] => {
    const t = spec.tasks[name]!
    return t.count === undefined ? [name] : Array.from({ length: t.count }, (_, i) => taskId(name, i, t.count))
  }
  return {
    peers: peers.map(p => ({ id: p.id, capacity: p.capacity, speed: p.speed ?? 1 })),
    tasks: expandJob(spec).map(inst => {
      const s = inst.spec
      const req = requirementsOf(s)
      // Capacity is the planner's to check (it names the resource); here only the abilities and trust.
      const unlimited: Resources = { cpu: Infinity, memoryMB: Infinity, gpu: Infinity, custom: Object.fromEntries(Object.keys(s.resources.custom).map(k => [k, Infinity])) }
      const able = peers.filter(p => p.caps === undefined || shortfall({ id: p.id, capacity: unlimited, caps: p.caps }, req, { origin }) === undefined)
      return { id: inst.id, demand: s.resources, workMs: s.estimateMs!, after: inst.after.flatMap(instanceIds), peers: able.map(p => p.id) }
    })
  }
}

/** The same peers for `dryRunAuction`: capacity, speed, and what they can run. */
export function dryRunPeers (peers: MeshPeerInfo[]): DryRunPeer[] {
  return peers.map(p => ({
    id: p.id,
    capacity: p.capacity,
    speed: p.speed ?? 1,
    ...(p.caps === undefined ? {} : { handlers: p.caps.handlers, commands: p.caps.kinds.includes('exec') ? p.caps.commands : [], tags: p.caps.tags })
  }))
}

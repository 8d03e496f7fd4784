/**
 * Can a peer ever run a task? One rule over the task's requirements
 * (`requirements.ts`), used by bidders (skip what they cannot run), origins
 * (expect answers only from capable peers; say why a task waits, per peer) and
 * executors (re-check an award). A shortfall is structured — what kind of
 * thing is missing, and the requirement phrased for a user ("gpu ≥ 1") — so
 * callers choose by kind, never by matching text.
 */
import type { OpenTask } from '../../protocols/auction.ts'
import type { ResourceAd, Resources } from '../../protocols/resources.ts'
import { acceptsOrigin, givesIsolation, programAllowed, requirementsOfOpen, type Requirements } from './requirements.ts'

export interface PeerAbility {
  id: string
  capacity: Resources
  caps: ResourceAd['caps']
  /** Its GPUs one by one (memory 0 = unknown, so no shares); absent: per-device memory is not judged (the planner's capacity-free view). */
  gpus?: ReadonlyArray<{ memoryMB: number }>
}

export type ShortfallKind = 'excluded' | 'untrusted' | 'kind' | 'handler' | 'program' | 'isolation' | 'tag' | 'resource'
export interface Shortfall { kind: ShortfallKind, detail: string }

export interface FeasibilityContext {
  /** Peers the task is kept off (it failed or was lost there). */
  exclude?: readonly string[]
  /** The task's origin, checked against the peer's `caps.origins` (trust.submitters). */
  origin?: string
}

/** What `peer` lacks to run a task with requirements `req`, or undefined when it can. */
export function shortfall (peer: PeerAbility, req: Requirements, ctx: FeasibilityContext = {}): Shortfall | undefined {
  if (ctx.exclude?.includes(peer.id) === true) return { kind: 'excluded', detail: 'it failed or was lost there' }
  if (ctx.origin !== undefined && !acceptsOrigin(peer.caps.origins, ctx.origin)) return { kind: 'untrusted', detail: `jobs from ${ctx.origin}` }
  if (!peer.caps.kinds.includes(req.kind)) return { kind: 'kind', detail: req.kind === 'exec' ? 'exec tasks (executor.exec.allow is empty)' : `${req.kind} tasks` }
  if (req.kind === 'handler' && req.handler !== undefined && !peer.caps.handlers.includes(req.handler)) return { kind: 'handler', detail: `handler "${req.handler}"` }
  if (req.kind === 'exec' && req.program !== undefined && !programAllowed(peer.caps.commands, req.program, req.shell === true)) {
    return { kind: 'program', detail: req.shell === true ? 'program "sh" for a shell task (executor.exec.allow)' : `program "${req.program}" (executor.exec.allow)` }
  }
  if (req.kind === 'exec') {
    const lack = isolationShortfall(peer.caps, req)
    if (lack !== undefined) return { kind: 'isolation', detail: lack }
  }
  for (const tag of req.tags) if (!peer.caps.tags.includes(tag)) return { kind: 'tag', detail: `tag ${tag}` }
  const d = req.demand
  if (d.cpu > peer.capacity.cpu) return { kind: 'resource', detail: `cpu ≥ ${d.cpu}` }
  if (d.memoryMB > peer.capacity.memoryMB) return { kind: 'resource', detail: `memoryMB ≥ ${d.memoryMB}` }
  if (d.gpu > peer.capacity.gpu) return { kind: 'resource', detail: `gpu ≥ ${d.gpu}` }
  const gpuMemory = d.gpuMemoryMB ?? 0
  if (gpuMemory > 0 && peer.gpus !== undefined) {
    // Per device: a share needs one device with that much memory, whole devices each need it.
    const need = Math.max(1, Math.ceil(d.gpu))
    const big = (peer.gpus ?? []).filter(g => g.memoryMB >= gpuMemory).length
    if (big < need) return { kind: 'resource', detail: need === 1 ? `a GPU with ≥ ${gpuMemory} MB memory` : `${need} GPUs with ≥ ${gpuMemory} MB memory each` }
  }
  for (const [k, v] of Object.entries(d.custom)) if (v > (peer.capacity.custom[k] ?? 0)) return { kind: 'resource', detail: `${k} ≥ ${v}` }
  return undefined
}

/** What an exec task's `isolation` or `network` asks that the peer's ad does not give. */
function isolationShortfall (caps: ResourceAd['caps'], req: Requirements): string | undefined {
  if (!givesIsolation(caps, req.isolation)) {
    return req.isolation === 'limits' || caps.sandbox === 'bwrap'
      ? `cgroup limits (it enforces with ${caps.limits ?? 'nothing said'})`
      : 'a sandbox (executor.exec.sandbox)'
  }
  if (req.network === true && caps.network !== true) return 'network for tasks (executor.exec.network)'
  return undefined
}

/** A shortfall as one peer's reason ("lacks: gpu ≥ 1"). */
export function describeShortfall (s: Shortfall): string {
  switch (s.kind) {
    case 'excluded': return `excluded for this task (${s.detail})`
    case 'untrusted': return `does not run ${s.detail} (trust.submitters)`
    default: return `lacks: ${s.detail}`
  }
}

/** Why `peer` can never run open task `task`, for a user, or undefined when it can. */
export function whyNot (peer: PeerAbility, task: OpenTask, origin?: string): string | undefined {
  const s = shortfall(peer, requirementsOfOpen(task), { exclude: task.exclude, origin })
  return s === undefined ? undefined : describeShortfall(s)
}

/**
 * Why no peer in `peers` can run `task`, as a sentence for `mesh status`
 * ("no live peer offers gpu ≥ 1"), or undefined when some peer can. With
 * `ignoreExclusions`, judged as if the task had failed nowhere.
 */
export function whyNobody (peers: PeerAbility[], task: OpenTask, origin?: string, ignoreExclusions = false): string | undefined {
  if (peers.length === 0) return 'no live peer'
  const req = requirementsOfOpen(task)
  const ctx = { exclude: ignoreExclusions ? [] : task.exclude, origin }
  const missing: Shortfall[] = []
  for (const p of peers) {
    const s = shortfall(p, req, ctx)
    if (s === undefined) return undefined
    missing.push(s)
  }
  if (missing.every(m => m.kind === 'excluded')) return 'every live peer is excluded for this task (it failed or was lost there)'
  if (missing.every(m => m.kind === 'excluded' || m.kind === 'untrusted')) return 'no live peer that runs jobs from this peer can run it (trust.submitters)'
  // Prefer resource shortfalls (add a machine) over capability gaps, and either over trust or exclusions.
  const rank = (k: ShortfallKind): number => k === 'resource' ? 0 : k === 'untrusted' ? 2 : k === 'excluded' ? 3 : 1
  const best = missing.reduce((a, b) => rank(b.kind) < rank(a.kind) ? b : a)
  return `no live peer offers ${best.detail}`
}

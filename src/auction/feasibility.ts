/**
 * Can a peer ever run a task? One rule, used by bidders (skip what they cannot
 * run) and origins (expect answers only from capable peers, and say exactly why
 * a task waits when no live peer is capable). Returns a reason phrased for a
 * user ("no gpu ≥ 1"), or undefined when the peer is capable.
 */
import type { OpenTask } from '../../protocols/auction.ts'
import type { ResourceAd, Resources } from '../../protocols/resources.ts'

export interface PeerAbility {
  id: string
  capacity: Resources
  caps: ResourceAd['caps']
}

export function whyNot (peer: PeerAbility, task: OpenTask): string | undefined {
  const missing = missingRequirement(peer, task)
  return missing === undefined ? undefined : missing === EXCLUDED ? 'excluded for this task' : `lacks: ${missing}`
}

const EXCLUDED = 'not excluded'

/**
 * What `peer` lacks to run `task`, phrased as the requirement ("gpu ≥ 1",
 * "handler \"resize\"", "program \"python3\""), or undefined when it can.
 */
export function missingRequirement (peer: PeerAbility, task: OpenTask): string | undefined {
  if (task.exclude.includes(peer.id)) return EXCLUDED
  if (!peer.caps.kinds.includes(task.kind)) return task.kind === 'exec' ? 'exec tasks (executor.exec.allow is empty)' : `${task.kind} tasks`
  if (task.kind === 'handler' && task.handler !== undefined && !peer.caps.handlers.includes(task.handler)) return `handler "${task.handler}"`
  if (task.kind === 'exec' && task.command !== undefined && !allowsCommand(peer.caps.commands, task.command)) return `program "${task.command}" (executor.exec.allow)`
  for (const tag of task.tags) if (!peer.caps.tags.includes(tag)) return `tag ${tag}`
  const d = task.demand
  if (d.cpu > peer.capacity.cpu) return `cpu ≥ ${d.cpu}`
  if (d.memoryMB > peer.capacity.memoryMB) return `memoryMB ≥ ${d.memoryMB}`
  if (d.gpu > peer.capacity.gpu) return `gpu ≥ ${d.gpu}`
  for (const [k, v] of Object.entries(d.custom)) if (v > (peer.capacity.custom[k] ?? 0)) return `${k} ≥ ${v}`
  return undefined
}

/** The allow-list rule shared with the exec runner: exact match, or equal bare names. */
export function allowsCommand (allow: string[], command: string): boolean {
  if (allow.includes(command)) return true
  if (command.includes('/')) return false
  return allow.some(a => !a.includes('/') && a === command)
}

/**
 * Why no peer in `peers` can run `task`, as a sentence for `mesh status`
 * ("no live peer offers gpu ≥ 1"), or undefined when some peer can.
 */
export function whyNobody (peers: PeerAbility[], task: OpenTask): string | undefined {
  if (peers.length === 0) return 'no live peer'
  const missing = peers.map(p => missingRequirement(p, task))
  if (missing.some(m => m === undefined)) return undefined
  if (missing.every(m => m === EXCLUDED)) return 'every live peer is excluded for this task (it failed or was lost there)'
  // Prefer resource shortfalls (add a machine) over capability gaps, and anything over exclusions.
  const real = missing.filter(m => m !== EXCLUDED) as string[]
  const r = real.find(m => m.includes('≥')) ?? real[0]!
  return `no live peer offers ${r}`
}

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
  if (task.exclude.includes(peer.id)) return 'excluded for this task'
  if (!peer.caps.kinds.includes(task.kind)) return `runs no ${task.kind} tasks`
  if (task.kind === 'handler' && task.handler !== undefined && !peer.caps.handlers.includes(task.handler)) return `has no handler "${task.handler}"`
  if (task.kind === 'exec' && task.command !== undefined && !allowsCommand(peer.caps.commands, task.command)) return `does not allow program "${task.command}"`
  for (const tag of task.tags) if (!peer.caps.tags.includes(tag)) return `has no tag ${tag}`
  const d = task.demand
  if (d.cpu > peer.capacity.cpu) return `offers cpu < ${d.cpu}`
  if (d.memoryMB > peer.capacity.memoryMB) return `offers memoryMB < ${d.memoryMB}`
  if (d.gpu > peer.capacity.gpu) return `offers gpu < ${d.gpu}`
  for (const [k, v] of Object.entries(d.custom)) if (v > (peer.capacity.custom[k] ?? 0)) return `offers ${k} < ${v}`
  return undefined
}

/** The allow-list rule shared with the exec runner: exact match, or equal bare names. */
export function allowsCommand (allow: string[], command: string): boolean {
  if (allow.includes(command)) return true
  if (command.includes('/')) return false
  return allow.some(a => !a.includes('/') && a === command)
}

/**
 * Why no peer in `peers` can run `task`: the most specific reason across
 * peers, as a sentence for `mesh status` ("no live peer offers gpu ≥ 1").
 */
export function whyNobody (peers: PeerAbility[], task: OpenTask): string | undefined {
  if (peers.length === 0) return 'no live peer'
  const reasons = peers.map(p => whyNot(p, task))
  if (reasons.some(r => r === undefined)) return undefined
  // Prefer resource shortfalls (actionable: add a machine) over capability gaps.
  const r = reasons.find(x => x?.startsWith('offers')) ?? reasons[0]!
  return `no live peer ${r.replace(/^offers (\S+) < /, 'offers $1 ≥ ')}`
}

/**
 * Why-not, per peer: for a task that waits or is pending, one reason for each
 * live peer that did not bid for it or cannot run it (docs/ARCHITECTURE.md
 * §16). Capability reasons come from each peer's ad through the same rule the
 * bidder applies (`shortfall`); the rest from the last round the task was in:
 * the reason a bidder gave for not bidding (`declined`), or its silence.
 */
import type { OpenTask } from '../../protocols/auction.ts'
import { describeShortfall, shortfall, type PeerAbility } from '../auction/feasibility.ts'
import { requirementsOfOpen } from '../auction/requirements.ts'
import type { Resources } from '../../protocols/resources.ts'

/** A live peer as the origin sees it: what it can run, has free, how fast it is, and whether it yields. */
export type LivePeer = PeerAbility & { free: Resources, speed?: number, busy?: string }

/** How the peers answered the last round a task was announced in without finding a winner. */
export interface RoundOutcome {
  round: number
  at: number
  windowMs: number
  /** Each expected bidder: the reason it gave for bidding for none of some tasks ('' if none given), or null if silent. */
  answers: Map<string, string | null>
}

export interface WhyNot { peer: string, reason: string }

/** One reason per live peer why `task` (pending or waiting) is not running there. */
export function whyNotPerPeer (task: OpenTask, peers: readonly LivePeer[], origin: string, lastRound: RoundOutcome | undefined, nextTryAt: number, now: number): WhyNot[] {
  const req = requirementsOfOpen(task)
  const out: WhyNot[] = []
  for (const p of peers) {
    const s = shortfall(p, req, { exclude: task.exclude, origin })
    if (s !== undefined) { out.push({ peer: p.id, reason: describeShortfall(s) }); continue }
    if (p.busy !== undefined) { out.push({ peer: p.id, reason: `yielding: ${p.busy}` }); continue }
    const answer = lastRound?.answers.get(p.id)
    if (lastRound !== undefined && answer === null) {
      out.push({ peer: p.id, reason: `did not answer round ${lastRound.round} within its ${lastRound.windowMs} ms bid window` })
    } else if (lastRound !== undefined && typeof answer === 'string') {
      out.push({ peer: p.id, reason: answer !== '' ? answer : `answered round ${lastRound.round} without a bid for it` })
    } else if (nextTryAt > now) {
      out.push({ peer: p.id, reason: `can run it; not asked yet (the task is retried in ${nextTryAt - now} ms)` })
    } else {
      out.push({ peer: p.id, reason: 'can run it; not asked yet (the task waits for the next round)' })
    }
  }
  return out
}

/**
 * The award rule (docs/ARCHITECTURE.md §6): each task goes to the bid with the lowest ETA;
 * ties go to the less loaded bidder, then to the lower peer id, so every origin
 * decides the same way from the same bids.
 */
export interface ReceivedBid { peer: string, taskId: string, attempt: number, etaMs: number, load: number, queued?: boolean }

export function chooseWinners (bids: ReceivedBid[]): Map<string, ReceivedBid> {
  const best = new Map<string, ReceivedBid>()
  for (const b of bids) {
    const cur = best.get(b.taskId)
    if (cur === undefined || better(b, cur)) best.set(b.taskId, b)
  }
  return best
}

export function better (a: ReceivedBid, b: ReceivedBid): boolean {
  if (a.etaMs !== b.etaMs) return a.etaMs < b.etaMs
  if (a.load !== b.load) return a.load < b.load
  return a.peer < b.peer
}

/** RESULTS.md section on the placement study: the auction over random instances (bench/placement-study.ts). */
import { read, type Json, type Target } from './report-lib.ts'

export function placementStudySection (targets: Target[]): string[] {
  const r = read('placement-study')
  if (r === undefined) return []
  const row = (what: string, d: Json): string => d === undefined ? '' : `| ${what} | ${d.n} | ${d.mean} | ${d.p50} | ${d.p90} | ${d.worst} |`
  const rows = [
    row('auction ÷ lower bound', r.auctionToLowerBound),
    row('central list scheduler ÷ lower bound', r.greedyToLowerBound),
    row('auction ÷ central list scheduler', r.auctionToGreedy),
    row('auction ÷ proven optimum', r.auctionToOptimal)
  ].filter(l => l !== '')
  const out = [
    '### Placement over random instances', '',
    `${r.what.charAt(0).toUpperCase()}${r.what.slice(1)}. ${r.seeds} seeds; the worst is seed ${r.worst.seed} (${r.worst.peers} peers, ${r.worst.tasks} tasks): \`randomInstance(${r.worst.seed})\` rebuilds it.`, '',
    '| makespan ratio | instances | mean | p50 | p90 | worst |', '| --- | --- | --- | --- | --- | --- |',
    ...rows, ''
  ]
  const mean = r.auctionToOptimal?.mean ?? r.auctionToLowerBound.mean
  targets.push({
    what: `placement over random instances: auction ÷ ${r.auctionToOptimal !== undefined ? 'optimum' : 'lower bound (≥ ÷ optimum)'}, mean (worst)`,
    target: '≤ 1.10× on average',
    measured: `${mean}× (${r.auctionToOptimal?.worst ?? r.auctionToLowerBound.worst}×)`,
    met: mean <= 1.10 ? true : r.auctionToOptimal !== undefined ? false : undefined,
    note: r.auctionToOptimal === undefined ? 'a ratio to the bound overstates the ratio to the optimum' : undefined
  })
  return out
}

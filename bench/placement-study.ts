/**
 * The placement study (issue 11): the auction judged over many random
 * heterogeneous instances (src/planning/random-instance.ts), not tuned to
 * one. For each seed: the lower bound, the auction's makespan in the dry run
 * (the real core on a simulated mesh), a central list scheduler's (HEFT-like
 * `bestGreedyPlan`, what a planner with the whole picture does cheaply) and,
 * in the full run, the HiGHS optimum for the first seeds where it is proven.
 * Ratios to the bound are upper bounds on the ratios to the optimum.
 */
import { dryRunAuction } from '../src/planning/dry-run.ts'
import { dryRunPeers, problemFromSpec } from '../src/planning/from-spec.ts'
import { bestGreedyPlan } from '../src/planning/list-schedule.ts'
import { lowerBound } from '../src/planning/bounds.ts'
import { optimalPlan } from '../src/planning/optimal.ts'
import { indexProblem } from '../src/planning/problem.ts'
import { randomInstance } from '../src/planning/random-instance.ts'
import { machine, writeResult } from './lib.ts'

const log = (s: string): void => { process.stderr.write(`[study] ${s}\n`) }

interface Row { seed: number, peers: number, tasks: number, lowerBoundMs: number, auctionMs: number, greedyMs: number, optimalMs?: number }

export async function benchPlacementStudy ({ quick, smoke = false }: { quick: boolean, smoke?: boolean }): Promise<Record<string, unknown>> {
  const seeds = smoke ? 10 : quick ? 50 : 200
  const withOptimum = smoke || quick ? 0 : 20
  const rows: Row[] = []
  for (let seed = 1; seed <= seeds; seed++) {
    const inst = randomInstance(seed)
    const ix = indexProblem(problemFromSpec(inst.spec, inst.peers))
    // The origin varies with the seed: where a job is submitted changes what the auction does.
    const dry = await dryRunAuction(inst.spec, dryRunPeers(inst.peers), { origin: inst.peers[seed % inst.peers.length]!.id })
    if (dry.state !== 'done') throw new Error(`seed ${seed}: the dry run did not finish (${dry.error ?? dry.state})`)
    const greedy = bestGreedyPlan(ix)
    const row: Row = { seed, peers: inst.peers.length, tasks: ix.problem.tasks.length, lowerBoundMs: lowerBound(ix).ms, auctionMs: dry.makespanMs, greedyMs: Math.max(...greedy.end) }
    if (seed <= withOptimum) {
      const opt = await optimalPlan(ix, { timeLimitMs: 10_000 })
      if (opt.status === 'optimal') row.optimalMs = opt.makespanMs
    }
    rows.push(row)
  }
  const dist = (xs: number[]): Record<string, number> => {
    const a = [...xs].sort((x, y) => x - y)
    const at = (q: number): number => a[Math.min(a.length - 1, Math.floor(q * a.length))]!
    return { n: a.length, mean: round(a.reduce((s, x) => s + x, 0) / a.length), p50: round(at(0.5)), p90: round(at(0.9)), worst: round(a.at(-1)!) }
  }
  const proven = rows.filter(r => r.optimalMs !== undefined)
  const result = {
    what: 'the auction (dry run: the real core on a simulated mesh, 1 ms links) on random heterogeneous instances (src/planning/random-instance.ts: 4–8 peers, 12–40+ tasks: plain, memory-bound, GPU-bound, fan-out DAGs), against the lower bound, a central list scheduler and, where proven, the optimum',
    machine: machine(),
    seeds,
    auctionToLowerBound: dist(rows.map(r => r.auctionMs / r.lowerBoundMs)),
    greedyToLowerBound: dist(rows.map(r => r.greedyMs / r.lowerBoundMs)),
    auctionToGreedy: dist(rows.map(r => r.auctionMs / r.greedyMs)),
    ...(proven.length > 0 ? { auctionToOptimal: dist(proven.map(r => r.auctionMs / r.optimalMs!)) } : {}),
    worst: rows.reduce((w, r) => r.auctionMs / r.lowerBoundMs > w.auctionMs / w.lowerBoundMs ? r : w),
    rows
  }
  log(`${seeds} instances: auction ÷ bound mean ${result.auctionToLowerBound.mean}, p90 ${result.auctionToLowerBound.p90}, worst ${result.auctionToLowerBound.worst} (seed ${result.worst.seed}); central list scheduler ÷ bound mean ${result.greedyToLowerBound.mean}, worst ${result.greedyToLowerBound.worst}`)
  writeResult('placement-study', result)
  return result
}

function round (x: number): number { return Math.round(x * 1000) / 1000 }

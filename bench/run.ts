/**
 * `npm run bench [-- --quick | --smoke] [-- --only a,b]`: run the benchmarks on
 * real daemons (and real BullMQ + Redis and Dask for the comparison), write
 * bench/results/<name>.json and regenerate bench/RESULTS.md with its charts.
 *
 *   (none)    the full run (23 minutes on 2 cores on 2026-12-03; the 20 asked for is missed)
 *   --quick   smaller sizes, no 30–60 s stalled-job waits (170 s on 2026-12-03)
 *   --smoke   the smallest Meshwork-only runs, for CI: checks the bench still
 *             runs and writes its results (set MESHWORK_BENCH_DIR to write
 *             them elsewhere); no timing is asserted, no Redis or Dask needed
 *   --only footprint --baseline DIR
 *             the footprint of another checkout (with its node_modules), the
 *             "before" of a change, into results/footprint-baseline.json
 *   --only adversarial --baseline DIR
 *             the black hole's cost also on that checkout's daemons (the "before")
 *   --only confine --baseline DIR
 *             5 ms exec-task throughput also on that checkout's daemon (before confinement)
 *
 * Figures are measured here, never asserted in tests. Workloads run one after
 * the other, never concurrently, so each has the machine to itself.
 */
import { parseArgs } from 'node:util'
import { benchAdversarial } from './adversarial.ts'
import { benchArtifacts } from './artifacts.ts'
import { benchBullmq } from './bullmq.ts'
import { benchConfine } from './confine.ts'
import { benchDask } from './dask.ts'
import { benchGossip } from './gossip.ts'
import { benchMl } from './ml.ts'
import { benchJobs } from './jobs.ts'
import { benchFootprint } from './footprint.ts'
import { benchPlacement } from './placement.ts'
import { benchPlacementStudy } from './placement-study.ts'
import { benchRecovery } from './recovery.ts'
import { benchScale } from './scale.ts'
import { writeReport } from './report.ts'

export interface BenchOptions { quick: boolean, smoke: boolean }

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, smoke: { type: 'boolean', default: false }, only: { type: 'string' }, baseline: { type: 'string' } } })
const smoke = values.smoke === true
const opts: BenchOptions = { quick: values.quick === true || smoke, smoke }

/** In run order: each comparison right after Meshwork's side of the same workloads. */
/**
 * `smoke`: part of the CI smoke run (Meshwork only, and the smallest of those);
 * `full`: left out of --quick (which must stay under 3 minutes), unless named with --only.
 */
const benches: Array<{ name: string, run: (o: BenchOptions) => Promise<unknown>, smoke: boolean, full?: boolean }> = [
  { name: 'jobs', run: benchJobs, smoke: true },
  { name: 'bullmq', run: benchBullmq, smoke: false },
  { name: 'dask', run: benchDask, smoke: false },
  { name: 'placement', run: benchPlacement, smoke: true },
  { name: 'placement-study', run: benchPlacementStudy, smoke: true },
  { name: 'recovery', run: benchRecovery, smoke: true },
  { name: 'footprint', run: async o => await benchFootprint({ ...o, baseline: values.baseline }), smoke: true },
  { name: 'artifacts', run: benchArtifacts, smoke: true, full: true },
  { name: 'ml', run: benchMl, smoke: false, full: true },
  { name: 'gossip', run: benchGossip, smoke: false },
  { name: 'scale', run: benchScale, smoke: true },
  { name: 'adversarial', run: async o => await benchAdversarial({ ...o, baseline: values.baseline }), smoke: false },
  { name: 'confine', run: async o => await benchConfine({ ...o, baseline: values.baseline }), smoke: true }
]
const only = values.only?.split(',')
const t0 = Date.now()
for (const b of benches) {
  if (only !== undefined && !only.includes(b.name)) continue
  if (smoke && !b.smoke) continue
  if (opts.quick && !smoke && b.full === true && only === undefined) continue
  const started = Date.now()
  process.stderr.write(`== ${b.name}${smoke ? ' (smoke)' : opts.quick ? ' (quick)' : ''}\n`)
  await b.run(opts)
  process.stderr.write(`== ${b.name}: ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
}
const file = await writeReport()
process.stderr.write(`report: ${file} (bench ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`)
process.exit(0)

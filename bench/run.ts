/**
 * `npm run bench [-- --quick] [-- --only NAME]`: run the benchmarks on real
 * daemons, write bench/results/<name>.json and regenerate bench/RESULTS.md.
 * Figures are measured here, never asserted in tests.
 */
import { parseArgs } from 'node:util'
import { benchMembership } from './membership.ts'
import { benchJobs } from './jobs.ts'
import { benchRecovery } from './recovery.ts'
import { writeReport } from './report.ts'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } })
const quick = values.quick === true
const benches: Record<string, (o: { quick: boolean }) => Promise<unknown>> = {
  membership: benchMembership,
  jobs: benchJobs,
  recovery: benchRecovery
}
for (const [name, run] of Object.entries(benches)) {
  if (values.only !== undefined && values.only !== name) continue
  process.stderr.write(`== ${name}${quick ? ' (quick)' : ''}\n`)
  await run({ quick })
}
const file = writeReport()
process.stderr.write(`report: ${file}\n`)
process.exit(0)

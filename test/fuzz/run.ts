/**
 * `npm run fuzz -- [options]`: every decoder of hostile input (test/fuzz/targets.ts)
 * against many generated cases, with a printed seed so a run replays exactly.
 *
 *   --cases 100000       cases per decoder (default 100,000); a tenth as many round trips
 *   --seed 17            the seed (default: random, printed)
 *   --only ad,task       decoders whose name contains one of these
 *   --no-report          do not write bench/results/fuzz.json and its section of bench/RESULTS.md
 *
 * Prints, per decoder: cases, failures of the property (crashes: a throw
 * outside the decoder's contract, or a case over its time bound; must be 0),
 * failed round trips, the slowest case and what kind of input it was, and how
 * much the heap grew over the run. Exits 1 if any decoder failed.
 */
import fc from 'fast-check'
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { RESULTS_DIR, writeResult } from '../../bench/lib.ts'
import { fuzzSection, withFuzzSection } from '../../bench/report-fuzz.ts'
import { TARGETS, TIME_BOUND, casesFor, roundTripProblem, runCase, type FuzzTarget } from './targets.ts'

interface Row {
  decoder: string
  cases: number
  crashes: number
  roundTrips: number
  roundTripFailures: number
  slowestMs: number
  slowestInput: string
  meanMs: number
  heapGrowthMB: number
  /** Wall time of the decoder's whole run: generating the cases, decoding them, the round trips. */
  seconds: number
  firstFailure?: string
}

function args (argv: string[]): { cases: number, seed: number, only: string[], report: boolean } {
  const get = (flag: string): string | undefined => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : undefined }
  const cases = Number(get('--cases') ?? 100_000)
  const seed = Number(get('--seed') ?? Math.floor(Math.random() * 2 ** 31))
  if (!Number.isSafeInteger(cases) || cases < 1) throw new Error('--cases must be a whole number ≥ 1')
  if (!Number.isSafeInteger(seed)) throw new Error('--seed must be a whole number')
  return { cases, seed, only: (get('--only') ?? '').split(',').filter(s => s !== ''), report: !argv.includes('--no-report') }
}

const gc = (globalThis as { gc?: () => void }).gc
const heapMB = (): number => { gc?.(); return process.memoryUsage().heapUsed / 1024 / 1024 }

function fuzz (t: FuzzTarget, cases: number, seed: number): Row {
  const heapBefore = heapMB()
  const t0 = performance.now()
  const row: Row = { decoder: t.name, cases: 0, crashes: 0, roundTrips: 0, roundTripFailures: 0, slowestMs: 0, slowestInput: '', meanMs: 0, heapGrowthMB: 0, seconds: 0 }
  let totalMs = 0
  // The properties record failures instead of throwing, so every case runs and each is counted.
  fc.assert(fc.property(casesFor(t), c => {
    const r = runCase(t, c.bytes)
    row.cases++
    totalMs += r.ms
    if (r.ms > row.slowestMs) { row.slowestMs = r.ms; row.slowestInput = `${c.how} (${c.bytes.byteLength} bytes)` }
    if (r.failure !== undefined) {
      row.crashes++
      row.firstFailure ??= `${r.failure} on ${c.how}: ${Buffer.from(c.bytes.subarray(0, 256)).toString('base64')}`
    }
  }), { numRuns: cases, seed })
  fc.assert(fc.property(t.valid, v => {
    row.roundTrips++
    const problem = roundTripProblem(t, v)
    if (problem !== undefined) { row.roundTripFailures++; row.firstFailure ??= `round trip: ${problem}` }
  }), { numRuns: Math.max(1, Math.floor(cases / 10)), seed })
  row.meanMs = totalMs / Math.max(1, row.cases)
  row.seconds = (performance.now() - t0) / 1000
  row.heapGrowthMB = heapMB() - heapBefore
  return row
}

const { cases, seed, only, report } = args(process.argv.slice(2))
const targets = TARGETS.filter(t => only.length === 0 || only.some(o => t.name.includes(o)))
console.log(`fuzzing ${targets.length} decoders, ${cases} cases each, seed ${seed} (replay: npm run fuzz -- --seed ${seed} --cases ${cases}${only.length > 0 ? ` --only ${only.join(',')}` : ''})`)
if (gc === undefined) console.log('(run with node --expose-gc for heap figures)')
const started = performance.now()
const rows: Row[] = []
for (const [i, t] of targets.entries()) {
  const row = fuzz(t, cases, seed + i)
  rows.push(row)
  console.log(`${row.decoder.padEnd(36)} cases ${row.cases}  crashes ${row.crashes}  round trips ${row.roundTrips - row.roundTripFailures}/${row.roundTrips}  slowest ${row.slowestMs.toFixed(1)} ms (${row.slowestInput})  mean ${row.meanMs.toFixed(3)} ms  heap ${row.heapGrowthMB >= 0 ? '+' : ''}${row.heapGrowthMB.toFixed(1)} MB  ${row.seconds.toFixed(1)} s`)
  if (row.firstFailure !== undefined) console.log(`  first failure: ${row.firstFailure}`)
}
const seconds = (performance.now() - started) / 1000
console.log(`${seconds.toFixed(0)} s in all`)
if (report) {
  const file = writeResult('fuzz', {
    when: new Date().toISOString(),
    machine: { cpus: availableParallelism(), node: process.version },
    command: `npm run fuzz -- --seed ${seed} --cases ${cases}`,
    seed,
    timeBound: `${TIME_BOUND.ms} ms + ${TIME_BOUND.msPerMiB} ms per MiB of input`,
    seconds: Math.round(seconds),
    rows: rows.map(r => ({ ...r, slowestMs: Math.round(r.slowestMs * 10) / 10, meanMs: Math.round(r.meanMs * 1000) / 1000, heapGrowthMB: Math.round(r.heapGrowthMB * 10) / 10, seconds: Math.round(r.seconds) }))
  })
  // Only this section of RESULTS.md changes; `npm run bench` rebuilds the rest from its own results.
  const results = join(RESULTS_DIR, '..', 'RESULTS.md')
  writeFileSync(results, withFuzzSection(readFileSync(results, 'utf8'), fuzzSection()))
  console.log(`wrote ${file} and its section of ${results}`)
}
process.exitCode = rows.some(r => r.crashes > 0 || r.roundTripFailures > 0) ? 1 : 0

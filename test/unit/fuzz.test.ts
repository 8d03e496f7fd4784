/**
 * Every decoder of hostile input against generated cases (test/fuzz/targets.ts):
 * it returns (or throws only its documented error class) within
 * its time bound (1 s + 0.1 s per MiB) on random and mutated input, what it
 * accepts encodes again, and a valid input round-trips.
 * `npm run fuzz` runs the same targets with 100,000 cases each.
 * MESHWORK_FUZZ_RUNS sets the cases per decoder here (default 2000);
 * MESHWORK_FUZZ_SEED replays a failing run.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { TARGETS, casesFor, roundTripProblem, runCase } from '../fuzz/targets.ts'

const RUNS = Number(process.env.MESHWORK_FUZZ_RUNS ?? 2000)
const SEED = process.env.MESHWORK_FUZZ_SEED === undefined ? undefined : Number(process.env.MESHWORK_FUZZ_SEED)
const options = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED !== undefined ? { seed: SEED } : {}) })

describe.each(TARGETS.map(t => [t.name, t] as const))('fuzzing %s', (_name, t) => {
  it(`returns on ${RUNS} random and mutated inputs, each within the time bound`, () => {
    fc.assert(fc.property(casesFor(t), c => {
      const r = runCase(t, c.bytes)
      if (r.failure !== undefined) throw new Error(`${r.failure}, on ${c.how} (${c.bytes.byteLength} bytes)`)
    }), options(RUNS))
  })

  it('decodes every valid input to what was encoded', () => {
    fc.assert(fc.property(t.valid, v => {
      const problem = roundTripProblem(t, v)
      if (problem !== undefined) throw new Error(problem)
    }), options(Math.max(50, RUNS / 10)))
  })
})

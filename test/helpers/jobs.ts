/**
 * Helpers for job tests on a TestMesh: build specs, drive the manual clock
 * until a job ends, read results, and watch what the auction publishes.
 */
import { AUCTION_TOPIC, decodeAuctionMessage, type AuctionMessage } from '../../protocols/auction.ts'
import { parseJobSpec, type JobSpec, type JobSpecInput } from '../../src/jobs/spec.ts'
import type { JobEvent, JobState, JobView } from '../../src/jobs/job-view.ts'
import type { TestMesh } from './mesh.ts'

export function spec (tasks: JobSpecInput['tasks'], name = 'test-job'): JobSpec {
  return parseJobSpec({ name, tasks })
}

/**
 * Advance simulated time in `stepMs` steps until the job ends (or `maxMs` of
 * simulated time passes). Returns the final state; never waits on wall time.
 */
export async function runUntilEnd (mesh: TestMesh, job: JobView, maxMs = 60_000, stepMs = 50): Promise<JobState> {
  const until = mesh.clock.now() + maxMs
  while (job.state === 'running' && mesh.clock.now() < until) await mesh.advance(stepMs)
  return job.state
}

/** Advance until `cond` holds (checked every `stepMs` of simulated time); throws after `maxMs`. */
export async function advanceUntil (mesh: TestMesh, what: string, cond: () => boolean, maxMs = 30_000, stepMs = 10): Promise<void> {
  const until = mesh.clock.now() + maxMs
  while (!cond()) {
    if (mesh.clock.now() >= until) throw new Error(`not within ${maxMs} simulated ms: ${what}`)
    await mesh.advance(stepMs)
  }
}

/**
 * Subscribe to `job.events()` (history first, then live) and collect every
 * event into the returned array as it arrives, until the job ends.
 */
export function recordEvents (job: JobView): JobEvent[] {
  const out: JobEvent[] = []
  void (async () => { for await (const e of job.events()) out.push(e) })()
  return out
}

/** The auction messages (`cfb`, `cancel`) a peer has published so far. */
export function auctionSent (mesh: TestMesh, id: string): AuctionMessage[] {
  return mesh.transport(id).sent
    .filter(m => m.topic === AUCTION_TOPIC)
    .map(m => {
      const d = decodeAuctionMessage(m.data, id)
      if (!d.ok) throw new Error(`peer ${id} published a bad auction message: ${d.detail}`)
      return d.value
    })
}

/** A small seeded PRNG (mulberry32), for handler durations that vary but repeat run to run. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

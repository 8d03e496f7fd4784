/**
 * Random heterogeneous instances (the placement study's input): seeded and
 * reproducible, every task placeable, and the auction's dry run finishes each
 * one with a valid schedule no shorter than the lower bound. How close it gets
 * is measured by the bench (placement-study), not asserted here.
 */
import { describe, expect, it } from 'vitest'
import { lowerBound } from '../../src/planning/bounds.ts'
import { checkSchedule } from '../../src/planning/check.ts'
import { dryRunAuction } from '../../src/planning/dry-run.ts'
import { dryRunPeers, problemFromSpec } from '../../src/planning/from-spec.ts'
import { bestGreedyPlan } from '../../src/planning/list-schedule.ts'
import { indexProblem } from '../../src/planning/problem.ts'
import { randomInstance } from '../../src/planning/random-instance.ts'

describe('random placement instances', () => {
  it('are the same for the same seed and differ between seeds', () => {
    expect(randomInstance(5)).toEqual(randomInstance(5))
    expect(randomInstance(5).spec).not.toEqual(randomInstance(6).spec)
  })

  it('mix peer shapes and task kinds: a GPU box, a big-memory box, GPU, memory-bound and DAG tasks, all placeable', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const { peers, spec } = randomInstance(seed)
      expect(peers.length).toBeGreaterThanOrEqual(4)
      expect(peers.length).toBeLessThanOrEqual(8)
      expect(peers.some(p => p.capacity.gpu > 0)).toBe(true)
      expect(peers.some(p => p.capacity.memoryMB >= 16384)).toBe(true)
      // problemFromSpec throws for a task no peer could run.
      const ix = indexProblem(problemFromSpec(spec, peers))
      expect(ix.eligible.every(e => e.length > 0)).toBe(true)
    }
    const all = Array.from({ length: 40 }, (_, i) => Object.values(randomInstance(i + 1).spec.tasks)).flat()
    expect(all.some(t => t.resources.gpu > 0)).toBe(true)
    expect(all.some(t => t.resources.memoryMB > 4096)).toBe(true)
    expect(all.some(t => t.after.length > 1)).toBe(true)
  })

  it('the auction finishes each with a valid schedule, never below the lower bound', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { peers, spec } = randomInstance(seed)
      const ix = indexProblem(problemFromSpec(spec, peers))
      const dry = await dryRunAuction(spec, dryRunPeers(peers))
      expect(dry.state, `seed ${seed}`).toBe('done')
      expect(checkSchedule(ix, dry.schedule), `seed ${seed}`).toEqual([])
      expect(dry.makespanMs).toBeGreaterThanOrEqual(lowerBound(ix).ms)
      expect(Math.max(...bestGreedyPlan(ix).end)).toBeGreaterThanOrEqual(lowerBound(ix).ms)
    }
  })
})

import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { createHighsSolver, createLazyHighsSolver, solveGreedy, type LpProblem } from '../../src/auction/lp.ts'

/** Random bid LPs: 1–8 tasks over 1–3 resources, some demands zero. */
const problems = fc.integer({ min: 1, max: 3 }).chain(m => fc.record({
  values: fc.array(fc.integer({ min: -50, max: 500 }), { minLength: 1, maxLength: 8 }),
  capacity: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: m, maxLength: m })
}).chain(({ values, capacity }) => fc.record({
  values: fc.constant(values),
  capacity: fc.constant(capacity),
  demands: fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: m, maxLength: m }), { minLength: values.length, maxLength: values.length })
})))

function fits (p: LpProblem, x: number[]): boolean {
  return p.capacity.every((c, r) => x.reduce((sum, xt, t) => sum + xt * p.demands[t]![r]!, 0) <= c + 1e-9)
}

describe('lazy HiGHS solver', () => {
  it('answers like HiGHS once loaded, and loads once', async () => {
    const lazy = createLazyHighsSolver()
    expect(lazy.loaded).toBe(false)
    await Promise.all([lazy.load(), lazy.load()])
    expect(lazy.loaded).toBe(true)
    const highs = await createHighsSolver()
    const p: LpProblem = { values: [10, 9, 8], demands: [[2], [1], [1]], capacity: [2] }
    expect(lazy.solve(p)).toEqual(highs.solve(p))
  })

  it('before loading, answers a feasible 0/1 choice and starts the load', async () => {
    let fallbacks = 0
    const lazy = createLazyHighsSolver(() => { fallbacks++ })
    const x = lazy.solve({ values: [10, 9, 8], demands: [[2], [1], [1]], capacity: [2] })
    expect(x).toEqual([0, 1, 1])
    expect(fallbacks).toBe(1)
    await lazy.load()
    expect(lazy.loaded).toBe(true)
  })

  it('the greedy choice always fits and takes only tasks worth doing', () => {
    fc.assert(fc.property(problems, p => {
      const x = solveGreedy(p)
      expect(x.every(v => v === 0 || v === 1)).toBe(true)
      expect(fits(p, x)).toBe(true)
      x.forEach((v, t) => { if (v === 1) expect(p.values[t]).toBeGreaterThan(0) })
    }))
  })
})

/**
 * The bid LP (docs/ARCHITECTURE.md §5), solved with HiGHS compiled to WebAssembly:
 *
 *   maximize    Σ_t v_t · x_t
 *   subject to  Σ_t d_{t,r} · x_t ≤ c_r    for every resource r
 *               0 ≤ x_t ≤ 1
 *
 * HiGHS is pure computation (no IO), so the core may use it; it loads
 * asynchronously once, then every solve is synchronous and takes well under a
 * millisecond for the batches a call for bids carries.
 *
 * The module is imported only when a solver is first loaded: a peer that never
 * bids (an idle daemon) does not pay its memory (about 10 MB resident).
 */
import type { Highs } from 'highs'

export interface LpProblem {
  /** v_t: value of running task t here (may be negative). */
  values: number[]
  /** d[t][r]: task t's demand for resource r. */
  demands: number[][]
  /** c[r]: free capacity of resource r. */
  capacity: number[]
}

export interface LpSolver {
  /** x_t in [0, 1] for each task; all zeros when nothing is worth doing. */
  solve: (p: LpProblem) => number[]
}

let loading: Promise<Highs> | undefined

/** Import and instantiate HiGHS, once per process. */
async function loadHighs (): Promise<Highs> {
  loading ??= import('highs').then(async m => {
    // highs ships one types file inside a CommonJS package, so TypeScript sees the
    // ESM build's default export (the loader) as a namespace; the runtime value is the loader.
    const load = m.default as unknown as (options?: object) => Promise<Highs>
    return await load()
  })
  return await loading
}

/** The HiGHS-backed solver; the WASM module is loaded once per process. */
export async function createHighsSolver (): Promise<LpSolver> {
  const highs = await loadHighs()
  return { solve: p => solveWithHighs(highs, p) }
}

export interface LazyLpSolver extends LpSolver {
  /** Load HiGHS now (once); resolves when `solve` uses it. */
  load: () => Promise<void>
  readonly loaded: boolean
}

/**
 * A solver that loads HiGHS on demand. The peer calls `load()` before the
 * first thing that can lead to a bid (its first job, the first call for bids
 * it hears), so every bid is still decided by HiGHS. A `solve` that comes
 * before the load finished (which the peer's wiring avoids) starts it and
 * answers with a greedy choice by value per unit of demand: feasible and
 * integral, though not always the LP optimum.
 */
export function createLazyHighsSolver (onFallback?: () => void): LazyLpSolver {
  let highs: Highs | undefined
  let pending: Promise<void> | undefined
  const load = async (): Promise<void> => {
    pending ??= loadHighs().then(h => { highs = h })
    await pending
  }
  return {
    load,
    get loaded () { return highs !== undefined },
    solve: p => {
      if (highs !== undefined) return solveWithHighs(highs, p)
      load().catch(() => {})
      onFallback?.()
      return solveGreedy(p)
    }
  }
}

/** Take tasks by value per unit of (normalised) demand while they fit. */
export function solveGreedy (p: LpProblem): number[] {
  const x = new Array<number>(p.values.length).fill(0)
  const left = [...p.capacity]
  // A task's size: its demand as a share of each capacity, summed (a demand on a resource with none is infinite).
  const weight = (t: number): number => p.demands[t]!.reduce((w, d, r) => w + (d === 0 ? 0 : p.capacity[r]! > 0 ? d / p.capacity[r]! : Infinity), 0)
  const order = p.values.map((v, t) => ({ t, v, density: v / Math.max(weight(t), 1e-9) }))
    .filter(c => c.v > 0)
    .sort((a, b) => b.density - a.density)
  for (const { t } of order) {
    const d = p.demands[t]!
    if (d.every((need, r) => need <= left[r]!)) {
      x[t] = 1
      d.forEach((need, r) => { left[r] = left[r]! - need })
    }
  }
  return x
}

function solveWithHighs (highs: Highs, p: LpProblem): number[] {
  const n = p.values.length
  const m = p.capacity.length
  if (n === 0) return []
  // Column-wise sparse matrix: column t holds task t's non-zero demands.
  const starts: number[] = []
  const indices: number[] = []
  const values: number[] = []
  for (let t = 0; t < n; t++) {
    starts.push(indices.length)
    const row = p.demands[t]!
    for (let r = 0; r < m; r++) {
      const d = row[r]!
      if (d !== 0) { indices.push(r); values.push(d) }
    }
  }
  starts.push(indices.length)
  // The one-shot C entry point: no persistent native model to dispose.
  const res = highs.raw.lpCall({
    numCols: n,
    numRows: m,
    sense: highs.constants.objectiveSense.maximize,
    colCost: p.values,
    colLower: new Array<number>(n).fill(0),
    colUpper: new Array<number>(n).fill(1),
    rowLower: new Array<number>(m).fill(-highs.infinity),
    rowUpper: p.capacity,
    matrix: { format: 'csc', numRows: m, numCols: n, starts, indices, values }
  })
  // Infeasible cannot happen (x = 0 is always feasible for c ≥ 0); on any solver trouble, bid nothing.
  if (res.status === -1 || res.value === undefined) return new Array<number>(n).fill(0)
  return Array.from(res.value.solution.colValue)
}

/**
 * The bid LP (DESIGN.md §5), solved with HiGHS compiled to WebAssembly:
 *
 *   maximize    Σ_t v_t · x_t
 *   subject to  Σ_t d_{t,r} · x_t ≤ c_r    for every resource r
 *               0 ≤ x_t ≤ 1
 *
 * HiGHS is pure computation (no IO), so the core may use it; it loads
 * asynchronously once, then every solve is synchronous and takes well under a
 * millisecond for the batches a call for bids carries.
 */
import highsModule, { type Highs } from 'highs'

// highs ships one types file inside a CommonJS package, so TypeScript sees the
// ESM build's default export (the loader) as a namespace; the runtime value is the loader.
const loadHighs = highsModule as unknown as (options?: object) => Promise<Highs>

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

let loaded: Promise<Highs> | undefined

/** The HiGHS-backed solver; the WASM module is loaded once per process. */
export async function createHighsSolver (): Promise<LpSolver> {
  loaded ??= loadHighs()
  const highs: Highs = await loaded
  return { solve: p => solveWithHighs(highs, p) }
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

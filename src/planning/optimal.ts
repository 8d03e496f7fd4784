/**
 * The minimum-makespan schedule, as the global mixed-integer program a central
 * planner would solve (issue 5), solved by HiGHS (WebAssembly, like the bid LP).
 *
 * Time-indexed formulation over slots of `slotMs`; p[t,k] is task t's duration
 * on peer k in slots, H the horizon (the makespan of `greedyPlan`, so a
 * solution always exists):
 *
 *   y[t,k,s] ∈ {0,1}   task t starts on peer k at slot s
 *   C ∈ ℤ             the makespan, in slots
 *
 *   minimize C
 *   Σ_{k,s} y[t,k,s] = 1                                        each task once
 *   Σ_t d[t,r] · Σ_{s ∈ (u−p[t,k], u]} y[t,k,s] ≤ c[k,r]          each peer, resource, slot u
 *   S[t,τ] ≤ E[u,τ]                                             u before t, every τ
 *   Σ_{k,s} (s + p[t,k]) · y[t,k,s] ≤ C                          every task without successors
 *
 * where S[t,τ] = Σ_{k, s ≤ τ} y[t,k,s] ("t has started by τ") and E[u,τ] =
 * Σ_{k, s+p[u,k] ≤ τ} y[u,k,s] ("u has ended by τ") are kept as continuous
 * running sums, one row per step: the precedence rows then have two entries,
 * and are the strong (disaggregated) form. Start slots are limited to those
 * the DAG allows (after the longest chain before t, leaving room for the one
 * after it), and C ≥ the lower bound.
 *
 * Exact when every duration is a whole number of slots: with whole-slot
 * durations some optimal schedule starts everything on a slot boundary. The
 * slot is the gcd of the durations (in ms), made coarser, with durations
 * rounded up, only when the model would be too large; then the result is a
 * good schedule but not a proven optimum (`exact: false`).
 */
import highsModule, { type Highs } from 'highs'
import { chainTimes, lowerBound } from './bounds.ts'
import { checkSchedule } from './check.ts'
import { bestGreedyPlan, greedyPlan, serialSchedule, toSchedule } from './list-schedule.ts'
import { indexProblem, type IndexedProblem, type PlanProblem, type Schedule, type Unplaceable } from './problem.ts'

// See src/auction/lp.ts: the ESM build's default export is the loader.
const loadHighs = highsModule as unknown as (options?: object) => Promise<Highs>
let loaded: Promise<Highs> | undefined

export interface OptimalOptions {
  /** HiGHS's wall-clock budget, ms. @default 30000 */
  timeLimitMs?: number
  /** Most start variables (task × peer × slot) the model may have before a coarser slot is used. @default 60000 */
  maxVariables?: number
  /** Most capacity-row entries (about start variables × duration in slots × resources) likewise. @default 1000000 */
  maxNonzeros?: number
  /** Most slots in the horizon likewise: a finer time grid only slows the solver. @default 240 */
  maxSlots?: number
  /** Use this slot (ms) instead of choosing one. */
  slotMs?: number
  /** HiGHS's log lines go here (none when absent). */
  log?: (line: string) => void
}

export type OptimalStatus =
  /** Proven optimal (for the durations rounded to slots, when not `exact`). */
  | 'optimal'
  /** The time limit ended the search: `schedule` is the best found, `gap` how far from proven. */
  | 'time-limit'
  /** Even one slot per task gives a model above the size limits: `schedule` is `greedyPlan`'s. */
  | 'too-large'
  /** Some task cannot run on any peer (`unplaceable`). */
  | 'unplaceable'

export interface OptimalPlan {
  status: OptimalStatus
  /** Every duration is a whole number of slots, so `optimal` means optimal for the real durations. */
  exact: boolean
  slotMs: number
  horizonSlots: number
  /** The schedule in real durations, each task moved as early as its peer and the DAG allow. */
  schedule?: Schedule
  makespanMs: number
  /** A proven lower bound on the optimum (ms): the MIP's bound when exact, else `lowerBound`. */
  boundMs: number
  /** (makespan − bound) ÷ makespan. */
  gap: number
  /** HiGHS's own run time (ms). */
  solveMs: number
  model: { binaries: number, columns: number, rows: number, nonzeros: number }
  unplaceable: Unplaceable[]
}

export async function optimalPlan (problem: PlanProblem | IndexedProblem, options: OptimalOptions = {}): Promise<OptimalPlan> {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  const lb = lowerBound(ix)
  const empty = { binaries: 0, columns: 0, rows: 0, nonzeros: 0 }
  if (ix.unplaceable.length > 0) {
    return { status: 'unplaceable', exact: false, slotMs: 0, horizonSlots: 0, makespanMs: NaN, boundMs: lb.ms, gap: NaN, solveMs: 0, model: empty, unplaceable: ix.unplaceable }
  }
  if (ix.problem.tasks.length === 0) {
    return { status: 'optimal', exact: true, slotMs: 0, horizonSlots: 0, schedule: { placements: [], makespanMs: 0 }, makespanMs: 0, boundMs: 0, gap: 0, solveMs: 0, model: empty, unplaceable: [] }
  }
  const limits = { variables: options.maxVariables ?? 60_000, nonzeros: options.maxNonzeros ?? 1_000_000, slots: options.maxSlots ?? 240 }
  const slotting = chooseSlot(ix, limits, options.slotMs)
  if (slotting === undefined) {
    const greedy = toSchedule(ix, bestGreedyPlan(ix))
    return { status: 'too-large', exact: false, slotMs: 0, horizonSlots: 0, schedule: greedy, makespanMs: greedy.makespanMs, boundMs: lb.ms, gap: gapOf(greedy.makespanMs, lb.ms), solveMs: 0, model: empty, unplaceable: [] }
  }
  const model = buildModel(ix, slotting, lb.ms)
  loaded ??= loadHighs()
  const highs = await loaded
  const run = solve(highs, model, options.timeLimitMs ?? 30_000, options.log)

  // Starts in slot order, then each task as early as its peer and the DAG allow, in real durations.
  const chosen = run.starts ?? slotting.greedy
  const position = new Map(ix.order.map((t, i) => [t, i]))
  const sequence = ix.order.map(t => ({ t, k: chosen.peer[t]!, s: chosen.start[t]! }))
    .sort((a, b) => a.s - b.s || position.get(a.t)! - position.get(b.t)!)
  const schedule = toSchedule(ix, serialSchedule(ix, sequence))
  const problems = checkSchedule(ix, schedule)
  if (problems.length > 0) throw new Error(`internal error: the optimal plan is not a valid schedule: ${problems.slice(0, 5).join('; ')}`)

  const exact = slotting.exact
  const boundMs = exact && run.boundSlots !== undefined ? Math.max(lb.ms, run.boundSlots * slotting.slotMs) : lb.ms
  const optimal = run.status === 'optimal'
  return {
    status: optimal ? 'optimal' : 'time-limit',
    exact,
    slotMs: slotting.slotMs,
    horizonSlots: slotting.horizon,
    schedule,
    makespanMs: schedule.makespanMs,
    // Proven optimal and exact: the optimum is its own bound.
    boundMs: optimal && exact ? schedule.makespanMs : Math.min(boundMs, schedule.makespanMs),
    gap: optimal && exact ? 0 : gapOf(schedule.makespanMs, Math.min(boundMs, schedule.makespanMs)),
    solveMs: Math.round(run.seconds * 1000),
    model: { binaries: model.binaries, columns: model.numCols, rows: model.rowLower.length, nonzeros: model.values.length },
    unplaceable: []
  }
}

function gapOf (value: number, bound: number): number {
  return value <= 0 ? 0 : Math.max(0, (value - bound) / value)
}

// ───────────────────────────────────────────────────────── the slot

interface Slotting {
  slotMs: number
  exact: boolean
  /** p[t][k] in slots (0 where t cannot run on k). */
  p: number[][]
  horizon: number
  /** greedyPlan on the slotted durations: the horizon and the first incumbent. */
  greedy: { start: number[], end: number[], peer: number[] }
  /** Start window per task: [first, last] start slot over every peer (last depends on p[t,k]). */
  head: number[]
  tail: number[]
  variables: number
  /** About how many entries the capacity rows will have. */
  nonzeros: number
}

/**
 * The gcd of the durations (whole ms), coarsened (×2 each step) until the
 * model fits the size limits. Sizing uses one greedy run per candidate; the
 * chosen slot gets the best of several (a shorter horizon, a smaller model).
 */
function chooseSlot (ix: IndexedProblem, limits: { variables: number, nonzeros: number, slots: number }, forced?: number): Slotting | undefined {
  const durations = ix.duration.flatMap(row => row.filter(Number.isFinite))
  const whole = durations.every(d => Math.abs(d - Math.round(d)) < 1e-6)
  const g = forced ?? (whole ? durations.map(Math.round).reduce(gcd) : 1)
  const longest = Math.max(...durations)
  const exactFor = (slot: number): boolean => whole && durations.every(d => Math.round(d) % slot === 0)
  const fits = (s: Slotting): boolean => s.variables <= limits.variables && s.nonzeros <= limits.nonzeros && s.horizon <= limits.slots
  for (let slot = g; ; slot *= 2) {
    if (forced !== undefined || fits(slotted(ix, slot, false, (i, d) => greedyPlan(i, d)))) {
      const s = slotted(ix, slot, exactFor(slot), (i, d) => bestGreedyPlan(i, d))
      if (fits(s) || forced !== undefined) return s
    }
    // Every task is one slot already: a coarser slot changes nothing.
    if (slot >= longest) return undefined
  }
}

function gcd (a: number, b: number): number {
  while (b > 0) [a, b] = [b, a % b]
  return a
}

function slotted (ix: IndexedProblem, slotMs: number, exact: boolean, plan: (ix: IndexedProblem, dur: (t: number, k: number) => number) => Slotting['greedy']): Slotting {
  const p = ix.duration.map(row => row.map(d => Number.isFinite(d) ? Math.max(1, Math.ceil(d / slotMs - 1e-9)) : 0))
  const greedy = plan(ix, (t, k) => p[t]![k]!)
  const horizon = Math.max(...greedy.end)
  const { head, tail } = chainTimes(ix, t => Math.min(...ix.eligible[t]!.map(k => p[t]![k]!)))
  let variables = 0
  let nonzeros = 0
  ix.eligible.forEach((ks, t) => {
    const resources = [...ix.demand[t]!.values()].filter(v => v > 0).length
    for (const k of ks) {
      const starts = Math.max(0, horizon - tail[t]! - p[t]![k]! - head[t]! + 1)
      variables += starts
      nonzeros += starts * p[t]![k]! * resources
    }
  })
  return { slotMs, exact, p, horizon, greedy, head, tail, variables, nonzeros }
}

// ───────────────────────────────────────────────────────── the model

interface Model {
  numCols: number
  binaries: number
  colLower: number[]
  colUpper: number[]
  colCost: number[]
  integrality: number[]
  rowLower: number[]
  rowUpper: number[]
  starts: number[]
  indices: number[]
  values: number[]
  /** The y columns: task, peer, slot. */
  y: Array<{ t: number, k: number, s: number }>
  /** The makespan column. */
  c: number
  /** A feasible starting point (greedyPlan's schedule). */
  start: number[]
}

function buildModel (ix: IndexedProblem, sl: Slotting, lowerBoundMs: number): Model {
  const { p, horizon: H, head, tail } = sl
  const m: Model = { numCols: 0, binaries: 0, colLower: [], colUpper: [], colCost: [], integrality: [], rowLower: [], rowUpper: [], starts: [0], indices: [], values: [], y: [], c: 0, start: [] }
  const column = (lower: number, upper: number, cost: number, integer: boolean, start: number): number => {
    m.colLower.push(lower); m.colUpper.push(upper); m.colCost.push(cost); m.integrality.push(integer ? 1 : 0); m.start.push(start)
    return m.numCols++
  }
  const row = (entries: Array<[number, number]>, lower: number, upper: number): void => {
    for (const [col, v] of entries) { m.indices.push(col); m.values.push(v) }
    m.starts.push(m.indices.length)
    m.rowLower.push(lower); m.rowUpper.push(upper)
  }

  // y: each task's starts, within what the DAG allows.
  const ys: Array<Map<number, Array<{ col: number, s: number }>>> = ix.problem.tasks.map(() => new Map())
  ix.eligible.forEach((ks, t) => {
    for (const k of ks) {
      const list: Array<{ col: number, s: number }> = []
      for (let s = head[t]!; s + p[t]![k]! + tail[t]! <= H; s++) {
        const col = column(0, 1, 0, true, sl.greedy.peer[t] === k && sl.greedy.start[t] === s ? 1 : 0)
        m.y.push({ t, k, s })
        list.push({ col, s })
      }
      if (list.length > 0) ys[t]!.set(k, list)
    }
  })
  m.binaries = m.numCols
  // The lower bound holds for durations rounded up to slots too.
  m.c = column(Math.max(0, Math.ceil(lowerBoundMs / sl.slotMs - 1e-9)), H, 1, true, H)

  // Each task once.
  ys.forEach(byPeer => { row([...byPeer.values()].flat().map(({ col }) => [col, 1]), 1, 1) })

  // Capacity, normalised so each row reads "share of the peer's r ≤ 1".
  ix.problem.peers.forEach((_, k) => {
    for (const key of ix.keys) {
      const cap = ix.capacity[k]!.get(key) ?? 0
      for (let u = 0; u < H; u++) {
        const entries: Array<[number, number]> = []
        let most = 0
        ys.forEach((byPeer, t) => {
          const d = ix.demand[t]!.get(key) ?? 0
          if (d === 0) return
          let any = false
          for (const { col, s } of byPeer.get(k) ?? []) if (s <= u && u < s + p[t]![k]!) { entries.push([col, d / cap]); any = true }
          if (any) most += d
        })
        // A row that all its tasks together cannot break is left out.
        if (most > cap) row(entries, -Infinity, 1)
      }
    }
  })

  // Precedence through running sums: started[t][τ] and ended[u][τ] columns.
  const firstStart = (t: number): number => head[t]!
  const lastStart = (t: number): number => Math.max(...[...ys[t]!.values()].map(l => l.at(-1)!.s))
  const startedBy = new Map<number, Map<number, number>>()
  const endedBy = new Map<number, Map<number, number>>()
  const startValue = (t: number, tau: number): number => sl.greedy.start[t]! <= tau ? 1 : 0
  const endValue = (t: number, tau: number): number => sl.greedy.end[t]! <= tau ? 1 : 0
  for (let t = 0; t < ix.problem.tasks.length; t++) {
    if (ix.preds[t]!.length > 0) {
      const cols = new Map<number, number>()
      let prev: number | undefined
      for (let tau = firstStart(t); tau <= lastStart(t); tau++) {
        const col = column(0, 1, 0, false, startValue(t, tau))
        const entries: Array<[number, number]> = [[col, 1]]
        if (prev !== undefined) entries.push([prev, -1])
        for (const list of ys[t]!.values()) for (const y of list) if (y.s === tau) entries.push([y.col, -1])
        row(entries, 0, 0)
        cols.set(tau, col)
        prev = col
      }
      startedBy.set(t, cols)
    }
    if (ix.succs[t]!.length > 0) {
      const cols = new Map<number, number>()
      let prev: number | undefined
      const from = firstStart(t) + Math.min(...[...ys[t]!.keys()].map(k => p[t]![k]!))
      const to = Math.max(...[...ys[t]!.entries()].map(([k, l]) => l.at(-1)!.s + p[t]![k]!))
      for (let tau = from; tau <= to; tau++) {
        const col = column(0, 1, 0, false, endValue(t, tau))
        const entries: Array<[number, number]> = [[col, 1]]
        if (prev !== undefined) entries.push([prev, -1])
        for (const [k, list] of ys[t]!) for (const y of list) if (y.s + p[t]![k]! === tau) entries.push([y.col, -1])
        row(entries, 0, 0)
        cols.set(tau, col)
        prev = col
      }
      endedBy.set(t, cols)
    }
  }
  for (let t = 0; t < ix.problem.tasks.length; t++) {
    for (const u of ix.preds[t]!) {
      const ended = endedBy.get(u)!
      const last = Math.max(...ended.keys())
      for (const [tau, started] of startedBy.get(t)!) {
        // By `last`, u has surely ended: nothing to say.
        if (tau >= last) continue
        const e = ended.get(tau)
        row(e === undefined ? [[started, 1]] : [[started, 1], [e, -1]], -Infinity, 0)
      }
    }
  }

  // The makespan: C ≥ the end of every task nothing waits for.
  ys.forEach((byPeer, t) => {
    if (ix.succs[t]!.length > 0) return
    const entries: Array<[number, number]> = [[m.c, -1]]
    for (const [k, list] of byPeer) for (const { col, s } of list) entries.push([col, s + p[t]![k]!])
    row(entries, -Infinity, 0)
  })
  return m
}

// ───────────────────────────────────────────────────────── solving

interface Run {
  status: 'optimal' | 'stopped'
  starts?: { start: number[], peer: number[] }
  /** The MIP's proven lower bound on C (slots), when it has one. */
  boundSlots?: number
  seconds: number
}

function solve (highs: Highs, m: Model, timeLimitMs: number, log?: (line: string) => void): Run {
  return highs.withModel((model): Run => {
    model.options.set({
      output_flag: log !== undefined,
      time_limit: Math.max(0.1, timeLimitMs / 1000),
      // C counts whole slots: a gap below one slot is a proof.
      mip_rel_gap: 0,
      mip_abs_gap: 0.999
    })
    model.passModel({
      numCols: m.numCols,
      numRows: m.rowLower.length,
      sense: highs.constants.objectiveSense.minimize,
      colCost: m.colCost,
      colLower: m.colLower,
      colUpper: m.colUpper,
      rowLower: m.rowLower.map(v => v === -Infinity ? -highs.infinity : v),
      rowUpper: m.rowUpper,
      matrix: { format: 'csr', numRows: m.rowLower.length, numCols: m.numCols, starts: m.starts, indices: m.indices, values: m.values },
      integrality: m.integrality as Array<0 | 1>
    })
    // A start HiGHS refuses only costs it the head start.
    try { model.setSolution({ colValue: m.start }) } catch { /* solve from scratch */ }
    const result = log === undefined ? model.run() : model.run({ 0: e => { log(e.message.trimEnd()) } })
    const seconds = model.getRunTime()
    const status: Run['status'] = result.modelStatus === highs.constants.modelStatus.optimal ? 'optimal' : 'stopped'
    const bound = Number(model.info.get('mip_dual_bound'))
    const boundSlots = Number.isFinite(bound) ? Math.ceil(bound - 1e-6) : undefined
    // primal_solution_status 2: a feasible solution is at hand.
    if (Number(model.info.get('primal_solution_status')) !== 2) return { status: 'stopped', boundSlots, seconds }
    const x = model.getSolution().colValue
    const start: number[] = []
    const peer: number[] = []
    for (let i = 0; i < m.y.length; i++) {
      if (x[i]! > 0.5) { const y = m.y[i]!; start[y.t] = y.s; peer[y.t] = y.k }
    }
    return { status, starts: { start, peer }, boundSlots, seconds }
  })
}

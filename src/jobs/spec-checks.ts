/**
 * Checks the job spec's schema relies on, kept apart so each file reads in one
 * sitting: the task graph (order, cycles), JSON-ness of inputs, and the
 * "did you mean" of unknown field names.
 */
import { MAX_MAP_ENTRIES } from '../../protocols/codec.ts'

/** The most cycles `sortTasks` reports; past that it stops looking (each look can walk the whole graph). */
const MAX_CYCLES = 100

/** `dependency cycle a → b → a`, arrows pointing downstream (a runs before b). */
export function describeCycle (cycle: readonly string[]): string {
  return `dependency cycle ${[...cycle, cycle[0]].join(' → ')}`
}

/**
 * Order task names so every name comes after all its upstream names (Kahn's
 * algorithm; ties keep the spec's order), and find the cycles that prevent
 * it. Unknown upstream names and self-edges are ignored: they are reported
 * separately. Each cycle lists its names downstream-wise, starting from the one
 * that appears first in `names`; one cycle is reported per tangle, so the list
 * stays short even for a badly knotted graph.
 */
export function sortTasks (names: readonly string[], upstreamOf: (name: string) => readonly string[]): { order: string[], cycles: string[][] } {
  const position = new Map(names.map((n, i) => [n, i]))
  const ups = new Map(names.map(n => [n, [...new Set(upstreamOf(n))].filter(u => u !== n && position.has(u))]))
  const downs = new Map<string, string[]>(names.map(n => [n, []]))
  const waiting = new Map<string, number>()
  for (const n of names) {
    for (const u of ups.get(n) ?? []) downs.get(u)?.push(n)
    waiting.set(n, ups.get(n)?.length ?? 0)
  }
  const order = names.filter(n => waiting.get(n) === 0)
  for (let i = 0; i < order.length; i++) {
    for (const d of downs.get(order[i] as string) ?? []) {
      const left = (waiting.get(d) ?? 0) - 1
      waiting.set(d, left)
      if (left === 0) order.push(d)
    }
  }

  // Every name left over has an upstream that is left over too, so walking
  // upstream from any of them must come back to a name already visited.
  // `waiting` now counts each left name's upstreams that are left.
  const left = new Set(names.filter(n => (waiting.get(n) ?? 0) > 0))
  const cycles: string[][] = []
  // Drop names once nothing upstream of them is left, as the order above
  // did: one step per edge in all. (Re-scanning every left name after each
  // cycle was quadratic: a 32,000-task chain behind a cycle took 43 s.)
  const drop = (dropped: string[]): void => {
    for (let i = 0; i < dropped.length; i++) {
      for (const d of downs.get(dropped[i] as string) ?? []) {
        if (!left.has(d)) continue
        const w = (waiting.get(d) ?? 0) - 1
        waiting.set(d, w)
        if (w === 0) { left.delete(d); dropped.push(d) }
      }
    }
  }
  // A graph this knotted is reported by its first cycles: the message shows 20 problems at most.
  while (left.size > 0 && cycles.length < MAX_CYCLES) {
    const path: string[] = []
    const seen = new Map<string, number>()
    let cur = left.values().next().value as string
    while (!seen.has(cur)) {
      seen.set(cur, path.length)
      path.push(cur)
      cur = (ups.get(cur) ?? []).find(u => left.has(u)) as string
    }
    const cycle = path.slice(seen.get(cur)).reverse()
    const first = cycle.reduce((best, n, i) => (position.get(n) ?? 0) < (position.get(cycle[best] as string) ?? 0) ? i : best, 0)
    cycles.push([...cycle.slice(first), ...cycle.slice(0, first)])
    for (const n of cycle) left.delete(n)
    drop([...cycle])
  }
  return { order, cycles }
}

// ---------------------------------------------------------------- helpers

export function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null)
}

/** The most problems reported inside one handler input. */
const MAX_INPUT_PROBLEMS = 10

/**
 * Where `value` is not plain JSON. A spec from a file always is; one from the
 * embedding API may hold a function, a bigint, a Date or a cycle, which would
 * be lost or mangled on the way to the executor. Iterative, so deep nesting
 * is reported rather than overflowing the stack.
 */
export function jsonProblems (value: unknown, maxDepth: number): Array<{ path: Array<string | number>, problem: string }> {
  // Each entry links to its parent instead of copying paths and ancestor
  // lists, so a million-element input costs a million small objects, no more.
  interface Entry { v: unknown, key: string | number, parent: Entry | undefined, depth: number }
  const pathOf = (e: Entry | undefined): Array<string | number> => {
    const path: Array<string | number> = []
    for (; e?.parent !== undefined; e = e.parent) path.unshift(e.key)
    return path
  }
  const problems: Array<{ path: Array<string | number>, problem: string }> = []
  const stack: Entry[] = [{ v: value, key: '', parent: undefined, depth: 0 }]
  const visited = new Set<object>()
  while (stack.length > 0 && problems.length < MAX_INPUT_PROBLEMS) {
    const e = stack.pop() as Entry
    const { v } = e
    const fail = (problem: string) => { problems.push({ path: pathOf(e), problem }) }
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue
    if (typeof v === 'number') { if (!Number.isFinite(v)) fail('must be a finite number (JSON has no NaN or Infinity)'); continue }
    if (typeof v !== 'object') { fail(`must be JSON: ${v === undefined ? 'undefined' : `a ${typeof v}`} is not`); continue }
    if (e.depth >= maxDepth) { problems.push({ path: [], problem: `must be nested at most ${maxDepth} levels deep` }); break }
    // Only an object met before can be its own ancestor: walking the ancestors of
    // every object cost depth × size (a 500-deep input with 400,000 leaves: 0.55 s).
    let cyclic = false
    if (visited.has(v)) for (let a = e.parent; a !== undefined && !cyclic; a = a.parent) cyclic = a.v === v
    visited.add(v)
    if (cyclic) { fail('must be JSON: the value contains itself (a cycle)'); continue }
    if (!Array.isArray(v) && !isPlainObject(v)) { fail(`must be JSON: a ${typeof v.constructor === 'function' ? v.constructor.name : 'non-plain object'} is not (use plain objects and arrays)`); continue }
    const keys: Array<string | number> = Array.isArray(v) ? Array.from(v.keys()) : Object.keys(v)
    // The wire decoder (msgpackr) renames a "__proto__" key to "__proto_" so that it cannot set a
    // prototype: the handler would get another value than the one sent (found by test/fuzz).
    if (!Array.isArray(v) && Object.hasOwn(v, '__proto__')) { fail('must not have a key named "__proto__" (it does not arrive as sent)'); continue }
    if (!Array.isArray(v) && keys.length > MAX_MAP_ENTRIES) { fail(`must have at most ${MAX_MAP_ENTRIES} keys in one object (the wire takes no larger map)`); continue }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string | number
      stack.push({ v: (v as Record<string | number, unknown>)[key], key, parent: e, depth: e.depth + 1 })
    }
  }
  return problems
}

/** The candidate within edit distance 2 of `word` (a likely typo), if any. */
export function closest (word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) >= bestDistance) continue
    let prev = Array.from({ length: c.length + 1 }, (_, j) => j)
    for (let i = 1; i <= word.length; i++) {
      const row = [i]
      for (let j = 1; j <= c.length; j++) row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (word[i - 1] === c[j - 1] ? 0 : 1)))
      prev = row
    }
    const d = prev[c.length] ?? Infinity
    if (d < bestDistance) { best = c; bestDistance = d }
  }
  return best
}

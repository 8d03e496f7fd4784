/** Handlers the benchmarks run on real daemons. */

/** Returns the wall-clock time it started (same machine, so comparable with the submitter's clock). */
export function stamp (): number {
  return Date.now()
}

/** Does nothing: measures the mesh's own cost per task. */
export function noop (): null {
  return null
}

/** Burns about `ms` of CPU. */
export function burn (input: unknown): number {
  const ms = (input as { ms?: number } | null)?.ms ?? 5
  const end = performance.now() + ms
  let x = 0
  while (performance.now() < end) x += Math.sqrt(x + 1)
  return x
}

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

/** Sleeps `input.ms`, after logging its start (`taskId attempt epochMs pid`) to `input.log`. */
export async function sleeper (input: unknown, ctx: { taskId: string, attempt: number }): Promise<number> {
  const { ms, log } = (input ?? {}) as { ms?: number, log?: string }
  if (log !== undefined) (await import('node:fs')).appendFileSync(log, `${ctx.taskId} ${ctx.attempt} ${Date.now()} ${process.pid}\n`)
  await new Promise(resolve => setTimeout(resolve, ms ?? 1000))
  return ctx.attempt
}

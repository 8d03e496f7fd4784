/** Handlers the benchmarks run on real daemons. */

/** Returns the wall-clock time it started (same machine, so comparable with the submitter's clock). */
export function stamp (): number {
  return Date.now()
}

/** Does nothing: measures the mesh's own cost per task. */
export function noop (): null {
  return null
}

/**
 * Burns `ms` of this thread's CPU time (not wall time: with more runnable
 * threads than cores, a wall-clock loop would finish having done less work,
 * and "5 ms of CPU per task" would not be what was measured). Returns the CPU
 * ms actually used.
 */
export function burn (input: unknown): number {
  const ms = (input as { ms?: number } | null)?.ms ?? 5
  const cpu = (): number => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000 }
  const start = cpu()
  let x = 0
  while (cpu() - start < ms) for (let i = 0; i < 200; i++) x += Math.sqrt(x + 1)
  return cpu() - start
}

/** `burn`, returning what a deterministic task would: a value that depends only on its input and index (verified results compare it). */
export function crunch (input: unknown, ctx: { index: number }): number {
  burn(input)
  return ctx.index * 7919
}

/** Sleeps `input.ms`, after logging its start (`taskId attempt epochMs pid`) to `input.log`. */
export async function sleeper (input: unknown, ctx: { taskId: string, attempt: number }): Promise<number> {
  const { ms, log } = (input ?? {}) as { ms?: number, log?: string }
  if (log !== undefined) (await import('node:fs')).appendFileSync(log, `${ctx.taskId} ${ctx.attempt} ${Date.now()} ${process.pid}\n`)
  await new Promise(resolve => setTimeout(resolve, ms ?? 1000))
  return ctx.attempt
}

/**
 * Reads its `model` artifact whole (what loading a model costs), then works
 * for `input.ms` (the inference). Returns the bytes read.
 */
export async function readArtifact (input: unknown, ctx: { artifacts: Record<string, string> }): Promise<number> {
  const { ms } = (input ?? {}) as { ms?: number }
  const bytes = await (await import('node:fs/promises')).readFile(ctx.artifacts.model!)
  await new Promise(resolve => setTimeout(resolve, ms ?? 0))
  return bytes.byteLength
}

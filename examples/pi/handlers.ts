/**
 * Handlers for the Monte Carlo π example. A peer's config names them:
 *   "executor": { "handlers": { "pi.sample": "examples/pi/handlers.ts#sample",
 *                               "pi.reduce": "examples/pi/handlers.ts#reduce" } }
 * They run in worker threads, so the CPU-heavy sampling never blocks the peer.
 */

interface Ctx { index: number, count?: number, upstream: Record<string, unknown>, progress: (f: number, m?: string) => void }
interface Sample { inside: number, samples: number }

/** Throw `samples` darts at the unit square (a PRNG seeded by the task index, so every run agrees) and count hits inside the quarter circle. */
export function sample (input: unknown, ctx: Ctx): Sample {
  const samples = Math.max(1, Math.floor((input as { samples?: number } | null)?.samples ?? 1_000_000))
  let s = (0x9e3779b9 ^ (ctx.index + 1) * 0x85ebca6b) >>> 0
  const next = (): number => {
    // xorshift32: fast, and the same sequence on every peer.
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s / 0x100000000
  }
  let inside = 0
  const step = Math.max(1, Math.floor(samples / 10))
  for (let i = 1; i <= samples; i++) {
    const x = next()
    const y = next()
    if (x * x + y * y <= 1) inside++
    if (i % step === 0) ctx.progress(i / samples)
  }
  return { inside, samples }
}

/** Combine every sample task's counts into the estimate. */
export function reduce (_input: unknown, ctx: Ctx): { pi: number, samples: number, tasks: number } {
  const parts = ctx.upstream.sample as Sample[]
  const inside = parts.reduce((a, p) => a + p.inside, 0)
  const samples = parts.reduce((a, p) => a + p.samples, 0)
  return { pi: 4 * inside / samples, samples, tasks: parts.length }
}

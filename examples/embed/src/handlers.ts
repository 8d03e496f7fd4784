/**
 * A handler module: it runs in the peers' worker threads (`peer.handleModule`),
 * so CPU-heavy work never blocks the app or the peer's own networking.
 */
import type { HandlerContext } from 'meshwork'

/** Counts the primes below `input.below`; a deliberately CPU-bound task. */
export function countPrimes (input: unknown, ctx: HandlerContext): { index: number, below: number, primes: number } {
  const below = (input as { below: number }).below + ctx.index * 1000
  let primes = 0
  for (let n = 2; n < below; n++) {
    let prime = true
    for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break }
    if (prime) primes++
    if (n % 10_000 === 0) ctx.progress(n / below)
  }
  return { index: ctx.index, below, primes }
}

/** The handler the gossip benchmark runs on its source peer (bench/gossip.ts). */

/**
 * Holds the peer's capacity for `input.ms`, then returns the wall-clock time it
 * ended: the moment just before the executor releases the capacity, so a
 * latency measured from it is never shorter than the real one.
 */
export async function hold (input: unknown): Promise<number> {
  const ms = (input as { ms?: number } | null)?.ms ?? 300
  await new Promise(resolve => setTimeout(resolve, ms))
  return Date.now()
}

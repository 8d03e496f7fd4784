/**
 * Wait for a condition with a deadline. Tests assert that something happens
 * within a bound, never how long it took (timings belong in bench/).
 */
export async function waitFor<T> (
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 5000, intervalMs = 50 }: { timeoutMs?: number, intervalMs?: number } = {}
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`)
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

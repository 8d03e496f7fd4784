/**
 * A runner for tests and the simulator: handlers are plain functions run on
 * the caller's event loop; a handler that needs (simulated) time awaits
 * `sleep` on the injected clock.
 */
import type { Clock } from '../clock.ts'
import type { RunContext, RunOutcome, RunRequest, TaskRunner } from '../execution/runner.ts'

export type TestHandler = (input: unknown, ctx: RunRequest & RunContext) => unknown

export class FunctionRunner implements TaskRunner {
  readonly #handlers = new Map<string, TestHandler>()
  /** Every attempt started, in order (for assertions). */
  readonly started: RunRequest[] = []

  register (name: string, fn: TestHandler): this {
    this.#handlers.set(name, fn)
    return this
  }

  names (): string[] { return [...this.#handlers.keys()] }

  async run (req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    this.started.push(req)
    const fn = req.handler === undefined ? undefined : this.#handlers.get(req.handler)
    if (fn === undefined) return { ok: false, reason: 'unknown-handler', error: `no handler "${req.handler ?? ''}" on this peer`, retryable: false }
    try {
      const value = await fn(req.input, { ...req, ...ctx })
      if (ctx.signal.aborted) return { ok: false, reason: 'cancelled', error: 'cancelled', retryable: false }
      return { ok: true, value }
    } catch (err) {
      return { ok: false, reason: 'error', error: `${(err as Error).name}: ${(err as Error).message}`, retryable: true }
    }
  }
}

/** Resolve after `ms` on `clock` (for handlers that take simulated time). */
export async function sleep (clock: Clock, ms: number): Promise<void> {
  await new Promise<void>(resolve => clock.setTimeout(resolve, ms))
}

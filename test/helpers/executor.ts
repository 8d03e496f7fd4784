/**
 * One Executor on a ManualClock with no network, for unit tests: what it sends
 * is recorded, its outbox is in memory, its runner is a FunctionRunner with a
 * `work` handler (1 s on the clock, returns the index) and `brief` (5 ms).
 */
import type { Bid } from '../../protocols/auction.ts'
import type { ResourceAd, Resources } from '../../protocols/resources.ts'
import type { TaskMessage } from '../../protocols/task.ts'
import { createHighsSolver } from '../../src/auction/lp.ts'
import type { ArtifactStore } from '../../src/execution/artifact-store.ts'
import { Executor } from '../../src/execution/executor.ts'
import { MemoryOutboxStore } from '../../src/execution/outbox.ts'
import { silentLogger } from '../../src/logger.ts'
import { FunctionRunner, sleep } from '../../src/testing/function-runner.ts'
import { ManualClock } from '../../src/testing/manual-clock.ts'

const solver = await createHighsSolver()

export interface TestExecutorOptions {
  capacity: Resources
  caps?: Partial<ResourceAd['caps']>
  /** Each GPU's memory, device 0 first (the executor's `gpuMemoryMB`). */
  gpuMemoryMB?: number[]
  artifacts?: (clock: ManualClock) => ArtifactStore
}

export function testExecutor (opts: TestExecutorOptions) {
  const { capacity, gpuMemoryMB } = opts
  const clock = new ManualClock()
  const sent: Array<{ to: string, msg: TaskMessage }> = []
  const bids: Array<{ to: string, bid: Bid }> = []
  const store = new MemoryOutboxStore()
  const runner = new FunctionRunner()
    .register('work', async (_input, ctx) => { await sleep(clock, 1_000); return ctx.index })
    .register('brief', async () => { await sleep(clock, 5); return null })
  const executor = new Executor({
    clock,
    logger: silentLogger,
    runner,
    solver,
    blobs: { put: () => { throw new Error('no blobs') }, drop: () => {}, fetch: async () => { throw new Error('no blobs') } },
    send: async (to, msg) => { sent.push({ to, msg }); return true },
    sendBid: async (to, bid) => { bids.push({ to, bid }); return true },
    onCapacityChange: () => {},
    ability: () => ({
      id: 'x',
      capacity,
      caps: { kinds: ['handler', 'exec'], handlers: ['work', 'brief'], commands: [], tags: [], ...opts.caps },
      ...(gpuMemoryMB !== undefined ? { gpus: gpuMemoryMB.map(memoryMB => ({ memoryMB })) } : {})
    }),
    outbox: store,
    ...(opts.artifacts !== undefined ? { artifacts: opts.artifacts(clock) } : {})
  }, { capacity, ...(gpuMemoryMB !== undefined ? { gpuMemoryMB } : {}), speed: 1, queueDepth: 1, heartbeatMs: 500, bidWindowMs: 50, resultTtlMs: 60_000 })
  void executor.start()
  const accepts = () => sent.filter(s => s.msg.type === 'accept').map(s => s.msg as Extract<TaskMessage, { type: 'accept' }>)
  return { clock, executor, sent, bids, store, accepts, runner }
}

/**
 * Load shift at the executor (docs/ARCHITECTURE.md §7): on each heartbeat the
 * machine's load is sampled; while its owner's work keeps it busy the ledger
 * is blocked (no new work) and, when that starts, work is given back to its
 * origins by policy: queued attempts always, then checkpointed or all running
 * ones. The busy/calm rule itself is `yield.ts`.
 */
import type { Logger } from '../logger.ts'
import type { LoadSample } from '../resources/capacity.ts'
import type { Ledger } from '../resources/ledger.ts'
import type { Attempt } from './admission.ts'
import { YieldWatcher, type YieldPolicy } from './yield.ts'

export interface LoadShiftInit { policy: YieldPolicy, cpuBusyPercent: number, sustainMs: number, memoryReserveMB: number }

export interface LoadShiftDeps {
  ledger: Ledger
  logger: Logger
  /** The machine's latest load sample. */
  load: () => LoadSample
  /** The ledger's block changed: capacity appeared or vanished. */
  released: () => void
  /** Give these attempts back to their origins with this reason. */
  giveBack: (attempts: Attempt[], reason: string) => void
  attempts: () => Iterable<Attempt>
}

export class LoadShift {
  readonly #init: LoadShiftInit
  readonly #d: LoadShiftDeps
  readonly #watcher: YieldWatcher
  /** Why this peer is not taking work now, for ads and status displays. */
  reason: string | undefined

  constructor (init: LoadShiftInit, deps: LoadShiftDeps) {
    this.#init = init
    this.#d = deps
    this.#watcher = new YieldWatcher(init, init.memoryReserveMB)
  }

  /** Sample the machine's load at `now`; block or unblock the ledger, and give work back when busy begins. */
  check (now: number): void {
    const { ledger } = this.#d
    const d = this.#watcher.sample(this.#d.load(), now)
    if (d.busy !== ledger.blocked) {
      ledger.blocked = d.busy
      this.reason = d.busy ? d.reason : undefined
      this.#d.logger.info({ busy: d.busy, reason: d.reason }, d.busy ? 'yielding: the machine is busy with other work' : 'taking work again')
      this.#d.released()
    }
    if (!d.started) return
    const policy = this.#init.policy
    const back = [...this.#d.attempts()].filter(a => a.state === 'queued' || policy === 'all' || (policy === 'checkpointed' && a.checkpointed === true))
    if (back.length > 0) this.#d.giveBack(back, `given back: ${d.reason ?? 'machine busy'}`)
  }
}

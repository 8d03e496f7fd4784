/**
 * Runs `handler` tasks (docs/ARCHITECTURE.md §8). Two kinds of handler:
 *
 * - embedded (`register`): a function of the app's own process, e.g.
 *   `peer.handle(name, fn)`. It runs on the main thread because it may close
 *   over the app's state, which cannot cross a thread boundary. A timeout or
 *   cancel ends the attempt at once and aborts `ctx.signal`, but the function
 *   itself cannot be stopped: it is left to settle and its result is dropped.
 * - module (`registerModule`): a function exported by a module file, e.g. from
 *   `executor.handlers` in the config. It runs in a piscina worker pool, so
 *   CPU-heavy work stays off the event loop that keeps the peer's leases and
 *   gossip alive, and so a timeout or cancel can stop it for real: piscina
 *   terminates the thread running an aborted task. A thread that dies (out of
 *   memory, `process.exit`, an uncaught error) fails the attempt, never the peer.
 *
 * A module task's `timeoutMs` counts from `run()`, so time spent queued for a
 * free thread (more tasks than `threads`) counts too.
 *
 * Memory: a module task's JavaScript heap is capped from its `memoryMB`
 * (rounded up to a power of two, at least 64 MB), or at `maxMemoryMB` when it
 * reserved none. A thread's limits are fixed when it starts, so there is one
 * pool per heap size; a task that passes its cap fails with reason `limit`.
 * The cap is V8's old generation: buffers outside the heap are not counted,
 * and handlers are not sandboxed (they are code the peer's owner installed).
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { BroadcastChannel } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { siblingModule } from '../package.ts'
import type { RunContext, RunOutcome, RunRequest, TaskRunner } from '../../src/execution/runner.ts'
import { describeError, findUncloneable, type AttemptMessage, type WarmMessage, type WorkerReply, type WorkerTask } from './handler-worker.ts'
import { WarmCache } from './warm-cache.ts'

/** What a handler gets besides its input. */
export interface HandlerContext {
  jobId: string
  taskId: string
  attempt: number
  index: number
  count?: number
  /** Results of the upstream tasks by task name (see RunRequest.upstream). */
  upstream: Record<string, unknown>
  /**
   * Aborted when the attempt is cancelled or times out. In a worker this is
   * best effort: the thread is terminated right after, which is the hard stop.
   */
  signal: AbortSignal
  /** Report progress (0–1) and an optional short message. */
  progress: (fraction: number, message?: string) => void
  /**
   * Save a checkpoint (a structured-cloneable, msgpack-able value). If the task
   * moves to another peer, its next attempt starts with the last one as `restored`.
   */
  checkpoint: (state: unknown) => void
  /** The last checkpoint of an earlier attempt, when this attempt resumes one. */
  restored?: unknown
  /**
   * The GPUs this attempt holds, as device numbers on this peer (empty when it
   * asked for none). Worker threads share their process's devices, so a
   * handler picks these itself (e.g. onnxruntime's `deviceId`); exec tasks get
   * them in `CUDA_VISIBLE_DEVICES` instead.
   */
  gpus: number[]
  /** GPU memory (MB) it may use on each of `gpus`: its share of a device, or its whole devices' memory; absent when unknown. */
  gpuMemoryMB?: number
  /**
   * The task's artifacts (spec `artifacts`): name → a local, read-only file
   * with its bytes, from this peer's cache or fetched just before the task
   * started. Empty when the task names none.
   */
  artifacts: Record<string, string>
  /**
   * The object kept under `key` in this worker thread, or `load()`'s, which is
   * then kept for later tasks (e.g. a model session:
   * `await ctx.warm('model:' + sha, () => InferenceSession.create(path))`).
   * At most `executor.warm.max` objects per thread, least recently used out;
   * an evicted object's `dispose()` or `release()` is called, never while a
   * task of that thread is running. A failed load is not kept.
   */
  warm: <T>(key: string, load: () => T | Promise<T>) => Promise<T>
}

/** A task handler. Its value must be structured-cloneable (it travels as msgpack). */
export type HandlerFn = (input: unknown, ctx: HandlerContext) => unknown | Promise<unknown>

export interface HandlerRunnerOptions {
  /** Worker threads for module handlers (default: `os.availableParallelism()`). */
  threads?: number
  /** Old-generation heap cap of a thread running a task that reserved no memory, in MB (default 1024). */
  maxMemoryMB?: number
  /** A worker idle this long exits (default 30 s); the pool starts threads on demand. */
  idleTimeoutMs?: number
  /** `ctx.warm` objects each thread keeps (default 4). */
  warmMax?: number
}

/** A key held warm in at least one thread, with how long its load took (the longest over threads). */
export interface WarmKey { key: string, loadMs: number }

type Entry = { kind: 'embedded', fn: HandlerFn } | { kind: 'module', module: string, exportName: string }
type Stop = 'timeout' | 'cancelled'

/** Piscina's view of a thread, as its load balancer sees it (the type is not exported by name). */
type PiscinaLoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>
type PiscinaWorker = Parameters<PiscinaLoadBalancer>[1][number]

const WORKER_MODULE = siblingModule(import.meta.url, './handler-worker')

/** How long to wait, after a module task ends, for its last progress messages (its `end`). */
const PORT_DRAIN_MS = 1000
const MAX_MESSAGE = 200

export class HandlerRunner implements TaskRunner {
  readonly #handlers = new Map<string, Entry>()
  readonly #threads: number
  readonly #maxMemoryMB: number
  readonly #idleTimeoutMs: number
  /** One pool per heap cap (MB): a thread's resource limits are fixed when it starts. */
  readonly #pools = new Map<number, Piscina<WorkerTask, WorkerReply>>()
  #closed = false
  /** Where module attempts' progress, checkpoints and ends are dispatched, by attempt id. */
  readonly #attemptListeners = new Map<string, (msg: AttemptMessage) => void>()
  #attemptSeq = 0
  #embeddedRunning = 0
  /** Aborts go to every worker on one channel, named per runner (several peers may share a process). */
  readonly #abortChannelName = `meshwork-abort-${randomUUID()}`
  #aborts: BroadcastChannel | undefined
  readonly #warmMax: number
  /** What each thread holds warm (thread id → key → load time); the main thread is id 0. */
  readonly #warm = new Map<number, Map<string, number>>()
  /** Keys each handler's tasks have warmed, to send its next task to a thread holding one. */
  readonly #handlerKeys = new Map<string, Set<string>>()
  /** Embedded handlers' cache (main thread). */
  readonly #mainWarm: WarmCache

  constructor (options: HandlerRunnerOptions = {}) {
    this.#threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()))
    this.#maxMemoryMB = options.maxMemoryMB ?? 1024
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000
    this.#warmMax = Math.max(0, Math.floor(options.warmMax ?? 4))
    this.#mainWarm = new WarmCache(this.#warmMax, {
      loaded: (key, loadMs) => { this.#onWarm({ warm: 'loaded', threadId: 0, key, loadMs, handler: '' }) },
      dropped: key => { this.#onWarm({ warm: 'dropped', threadId: 0, key }) }
    })
    // Piscina leaves a task pending forever when its worker module cannot
    // load, so a broken install would hold awarded attempts with no end:
    // refuse to start instead.
    if (!existsSync(WORKER_MODULE)) throw new Error(`the handler worker module ${fileURLToPath(WORKER_MODULE)} is missing: reinstall meshwork (or run npm run build)`)
  }

  /** Adds an embedded handler, run on the main thread. */
  register (name: string, fn: HandlerFn): void {
    if (typeof fn !== 'function') throw new TypeError(`handler "${name}": not a function`)
    this.#add(name, { kind: 'embedded', fn })
  }

  /**
   * Adds a module handler, run in the worker pool. `spec` is
   * `/abs/path/module.ts` (the default export) or `/abs/path/module.ts#name`.
   * Throws when the path is not absolute or the file does not exist, so a bad
   * config fails at start rather than at the first task.
   */
  registerModule (name: string, spec: string): void {
    const hash = spec.lastIndexOf('#')
    const module = hash === -1 ? spec : spec.slice(0, hash)
    const exportName = hash === -1 ? 'default' : spec.slice(hash + 1)
    if (!isAbsolute(module)) throw new TypeError(`handler "${name}": module path must be absolute, got "${module}"`)
    if (exportName === '') throw new TypeError(`handler "${name}": empty export name after "#" in "${spec}"`)
    if (!existsSync(module)) throw new TypeError(`handler "${name}": module ${module} does not exist`)
    this.#add(name, { kind: 'module', module, exportName })
  }

  /** Every registered handler name, for the peer's capability ads. */
  names (): string[] {
    return [...this.#handlers.keys()].sort()
  }

  /** Keys warm in at least one thread (`ctx.warm`), each with the longest of its threads' load times, for the peer's ads. */
  warmKeys (): WarmKey[] {
    const keys = new Map<string, number>()
    for (const held of this.#warm.values()) for (const [key, loadMs] of held) keys.set(key, Math.max(keys.get(key) ?? 0, loadMs))
    return [...keys].map(([key, loadMs]) => ({ key, loadMs })).sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }

  async run (req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    const name = req.handler ?? ''
    const entry = this.#handlers.get(name)
    if (entry === undefined) {
      return { ok: false, reason: 'unknown-handler', error: `no handler "${name}" on this peer`, retryable: false }
    }
    if (ctx.signal.aborted) return cancelled()
    if (this.#closed) return { ok: false, reason: 'error', error: 'the handler runner is closed (peer stopping)', retryable: true }
    return entry.kind === 'embedded'
      ? await this.#runEmbedded(name, entry.fn, req, ctx)
      : await this.#runModule(name, entry, req, ctx)
  }

  /** Stops the worker pool; running module tasks fail. */
  async close (): Promise<void> {
    this.#closed = true
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    this.#aborts?.close()
    this.#aborts = undefined
    await Promise.all(pools.map(async pool => { await pool.destroy() }))
  }

  #add (name: string, entry: Entry): void {
    if (name === '') throw new TypeError('handler name must not be empty')
    if (this.#handlers.has(name)) throw new TypeError(`handler "${name}" is already registered`)
    this.#handlers.set(name, entry)
  }

  async #runEmbedded (name: string, fn: HandlerFn, req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    const controller = new AbortController()
    let done = false
    const hctx: HandlerContext = {
      ...contextOf(req),
      signal: controller.signal,
      progress: (fraction, message) => { if (!done) report(ctx, fraction, message) },
      checkpoint: state => { if (!done) ctx.checkpoint?.(state) },
      warm: async (key, load) => await this.#mainWarm.get(key, load)
    }
    let unwatch = (): void => {}
    const stopped = new Promise<Stop>(resolve => {
      unwatch = attemptWatch(req, ctx, why => { controller.abort(new Error(`attempt ${why}`)); resolve(why) })
    })
    this.#embeddedRunning++
    const running = (async () => await fn(req.input, hctx))()
    running.catch(() => {}) // settled below, or dropped after a stop
    try {
      const first = await Promise.race([running.then(value => ({ value })), stopped])
      if (first === 'timeout') return timedOut(req)
      if (first === 'cancelled') return cancelled()
      const bad = findUncloneable(first.value)
      if (bad !== undefined) return { ok: false, reason: 'error', error: `handler "${name}" returned ${bad}`, retryable: true }
      return { ok: true, value: first.value }
    } catch (err) {
      return { ok: false, reason: 'error', error: describeError(err), retryable: true }
    } finally {
      done = true
      unwatch()
      this.#embeddedRunning--
      if (this.#embeddedRunning === 0) this.#mainWarm.trim()
    }
  }

  async #runModule (name: string, entry: Entry & { kind: 'module' }, req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    const heapMB = this.#heapOf(req)
    const pool = this.#ensurePool(heapMB)
    const attemptId = String(++this.#attemptSeq)
    let ended = (): void => {}
    const endSeen = new Promise<void>(resolve => { ended = resolve })
    this.#attemptListeners.set(attemptId, msg => {
      if (msg.type === 'progress') report(ctx, msg.fraction, msg.message)
      else if (msg.type === 'checkpoint') ctx.checkpoint?.(msg.state)
      else if (msg.type === 'end') ended()
    })
    const controller = new AbortController()
    let stop: Stop | undefined
    const unwatch = attemptWatch(req, ctx, why => {
      stop = why
      this.#aborts?.postMessage({ abort: attemptId }) // the handler's signal, best effort
      controller.abort(new Error(`attempt ${why}`)) // piscina terminates the thread
    })
    const task: WorkerTask = {
      handler: name,
      module: entry.module,
      exportName: entry.exportName,
      input: req.input,
      context: contextOf(req),
      attemptId,
      abortChannel: this.#abortChannelName,
      warmMax: this.#warmMax
    }
    // Read by the load balancer below; a symbol-keyed property is not cloned to the worker.
    Object.assign(task, { [Piscina.queueOptionsSymbol]: { handler: name, warm: req.warm } })
    try {
      const reply = await pool.run(task, { signal: controller.signal })
      if (reply.ok) return { ok: true, value: reply.value }
      return { ok: false, reason: 'error', error: reply.error, retryable: true }
    } catch (err) {
      if (stop === 'timeout') return timedOut(req)
      if (stop === 'cancelled') return cancelled()
      if ((err as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const from = req.memoryMB > 0 ? `, from the task's memoryMB ${req.memoryMB}` : ''
        return { ok: false, reason: 'limit', error: `handler "${name}" ran out of memory (worker heap cap ${heapMB} MB${from})`, retryable: true }
      }
      return { ok: false, reason: 'error', error: this.#describeDeath(name, err), retryable: true }
    } finally {
      unwatch()
      // Progress sent just before the reply may still be on its way (it travels on the
      // worker's channel, the reply on piscina's): the worker's `end` comes after it. After a
      // stop there is nothing worth waiting for (and a task aborted while still queued
      // never reached a worker).
      if (stop === undefined) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([endSeen, new Promise(resolve => { timer = setTimeout(resolve, PORT_DRAIN_MS) })])
        clearTimeout(timer)
      }
      this.#attemptListeners.delete(attemptId)
    }
  }

  #onWarm (msg: WarmMessage): void {
    let held = this.#warm.get(msg.threadId)
    if (msg.warm === 'dropped') {
      held?.delete(msg.key)
      if (held?.size === 0) this.#warm.delete(msg.threadId)
      return
    }
    if (held === undefined) this.#warm.set(msg.threadId, held = new Map())
    held.set(msg.key, msg.loadMs)
    if (msg.handler !== '') {
      const keys = this.#handlerKeys.get(msg.handler) ?? new Set()
      keys.add(msg.key)
      this.#handlerKeys.set(msg.handler, keys)
    }
  }

  /**
   * Piscina's load balancer: an idle thread, preferring one that holds the
   * task's key: the spec's `warm` key when it has one, else any key this
   * task's handler warmed before (the key is chosen inside the handler, so
   * its past keys are the best guess). null makes piscina start a thread (up
   * to `threads`) or wait for one to be free.
   */
  #pickWorker (task: object, workers: PiscinaWorker[]): PiscinaWorker | null {
    const hint = (task as Record<symbol, { handler?: string, warm?: string } | null | undefined>)[Piscina.queueOptionsSymbol]
    const keys = hint?.warm !== undefined ? new Set([hint.warm]) : hint?.handler === undefined ? undefined : this.#handlerKeys.get(hint.handler)
    let idle: PiscinaWorker | null = null
    for (const w of workers) {
      if (w.currentUsage !== 0 || w.terminating || w.destroyed) continue
      const held = this.#warm.get(w.id)
      if (keys !== undefined && held !== undefined && [...keys].some(k => held.has(k))) return w
      idle ??= w
    }
    return idle
  }

  #describeDeath (name: string, err: unknown): string {
    const exit = /worker exited with code: (-?\d+)/.exec(err instanceof Error ? err.message : '')
    if (exit !== null) return `handler "${name}" ended its worker thread (exit code ${exit[1]})`
    return `handler "${name}": worker thread failed: ${describeError(err)}`
  }

  /** The heap cap of a task's thread: its memoryMB rounded up to a power of two (≥ 64 MB), else the runner's default. */
  #heapOf (req: RunRequest): number {
    if (req.memoryMB <= 0) return this.#maxMemoryMB
    return Math.max(64, 2 ** Math.ceil(Math.log2(req.memoryMB)))
  }

  #ensurePool (heapMB: number): Piscina<WorkerTask, WorkerReply> {
    const existing = this.#pools.get(heapMB)
    if (existing !== undefined) return existing
    const pool = new Piscina<WorkerTask, WorkerReply>({
      filename: WORKER_MODULE.href,
      name: 'default',
      minThreads: 0,
      // 'sync' would park an idle worker in Atomics.wait, where it would not
      // see an abort on its BroadcastChannel; 'async' keeps the worker's event
      // loop turning.
      atomics: 'async',
      maxThreads: this.#threads,
      idleTimeout: this.#idleTimeoutMs,
      resourceLimits: { maxOldGenerationSizeMb: heapMB },
      loadBalancer: (task, workers) => this.#pickWorker(task, workers)
    })
    // A worker that dies with no task on it (a stray timer throwing after the
    // handler returned) is reported as a pool 'error'; unhandled, that event
    // would crash the peer. The thread is replaced on demand, nothing to do.
    pool.on('error', () => {})
    pool.on('message', (msg: unknown) => {
      const id = (msg as { attemptId?: unknown } | null)?.attemptId
      if (typeof id === 'string') this.#attemptListeners.get(id)?.(msg as AttemptMessage)
      else if (typeof (msg as { warm?: unknown } | null)?.warm === 'string') this.#onWarm(msg as WarmMessage)
    })
    // A thread that ends (idle timeout, terminated after a stop, died) takes its warm objects with it.
    pool.on('workerDestroy', (worker: PiscinaWorker) => { this.#warm.delete(worker.id) })
    if (this.#aborts === undefined) {
      this.#aborts = new BroadcastChannel(this.#abortChannelName)
      this.#aborts.unref()
    }
    this.#pools.set(heapMB, pool)
    return pool
  }
}

function contextOf (req: RunRequest): WorkerTask['context'] {
  const ctx: WorkerTask['context'] = {
    jobId: req.jobId, taskId: req.taskId, attempt: req.attempt, index: req.index, upstream: req.upstream, gpus: req.gpus ?? [], artifacts: req.artifacts ?? {}
  }
  if (req.count !== undefined) ctx.count = req.count
  if (req.restored !== undefined) ctx.restored = req.restored
  if (req.gpuMemoryMB !== undefined) ctx.gpuMemoryMB = req.gpuMemoryMB
  return ctx
}

/**
 * Calls `stop` once, on the first of: ctx.signal aborted ('cancelled') or
 * req.timeoutMs elapsed ('timeout'). Returns a function that disarms both.
 */
function attemptWatch (req: RunRequest, ctx: RunContext, stop: (why: Stop) => void): () => void {
  let fired = false
  const fire = (why: Stop): void => { if (!fired) { fired = true; disarm(); stop(why) } }
  const onAbort = (): void => { fire('cancelled') }
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  const timer = req.timeoutMs !== undefined && req.timeoutMs > 0
    ? setTimeout(() => { fire('timeout') }, req.timeoutMs)
    : undefined
  const disarm = (): void => {
    ctx.signal.removeEventListener('abort', onAbort)
    clearTimeout(timer)
  }
  if (ctx.signal.aborted) fire('cancelled')
  return disarm
}

/** Forwards progress, clamped to 0–1, with a short message; ignores junk. */
function report (ctx: RunContext, fraction: unknown, message: unknown): void {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return
  const f = Math.min(1, Math.max(0, fraction))
  if (typeof message === 'string') ctx.progress(f, message.slice(0, MAX_MESSAGE))
  else ctx.progress(f)
}

const cancelled = (): RunOutcome => ({ ok: false, reason: 'cancelled', error: 'cancelled', retryable: false })
const timedOut = (req: RunRequest): RunOutcome =>
  ({ ok: false, reason: 'timeout', error: `timed out after ${req.timeoutMs ?? 0} ms`, retryable: true })

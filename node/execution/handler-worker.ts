/**
 * The piscina worker entry for module handlers (see handler-runner.ts). Each
 * task names a module and an export; the module is imported once per worker
 * thread and the handler called with the task's input and a context whose
 * `progress` and `checkpoint` reach the main thread on the worker's own
 * channel (`parentPort`, which piscina passes on as pool 'message' events),
 * tagged with the attempt, and whose `signal` is aborted by a message on a
 * BroadcastChannel the runner names. No channel is made per attempt: creating
 * and transferring a MessagePort for each task was the largest cost of a
 * trivial task on the main thread (bench profile, issue 11).
 *
 * The worker never throws for a handler's failure: it replies with an
 * envelope, so the error's name survives (structured clone keeps only the
 * standard Error names) and any rejection of the pool's promise means the
 * thread itself died or was stopped.
 *
 * This module has no top-level side effects, so the main thread can import
 * `describeError` and `findUncloneable` from it too.
 */
import { pathToFileURL } from 'node:url'
import { BroadcastChannel, parentPort, threadId } from 'node:worker_threads'
import type { HandlerContext, HandlerFn } from './handler-runner.ts'
import { WarmCache } from './warm-cache.ts'

/** What the main thread sends for one attempt. */
export interface WorkerTask {
  /** Registered handler name, for error messages. */
  handler: string
  /** Absolute path of the module. */
  module: string
  /** Export to call; `default` when the spec had no `#name`. */
  exportName: string
  input: unknown
  context: Pick<HandlerContext, 'jobId' | 'taskId' | 'attempt' | 'index' | 'count' | 'upstream' | 'restored' | 'gpus' | 'gpuMemoryMB' | 'artifacts'>
  /** Tags this attempt's messages to the main thread, and names it in an abort. */
  attemptId: string
  /** The BroadcastChannel on which the runner posts `{ abort: attemptId }`. */
  abortChannel: string
  /** How many `ctx.warm` objects this thread keeps (the runner's `warmMax`). */
  warmMax: number
}

export type WorkerReply = { ok: true, value: unknown } | { ok: false, error: string }

/**
 * Worker → main messages about an attempt, on the worker's channel. `end` is
 * the attempt's last: everything it sent before has arrived.
 */
export type AttemptEvent =
  | { type: 'progress', fraction: number, message?: string }
  | { type: 'checkpoint', state: unknown }
  | { type: 'end' }
export type AttemptMessage = { attemptId: string } & AttemptEvent

/**
 * Worker → main: what this thread holds warm, so the runner can report warm
 * keys (for the peer's ads) and route a handler's tasks to a thread that has
 * its keys. `handler` is the handler whose task loaded the key.
 */
export type WarmMessage =
  | { warm: 'loaded', threadId: number, key: string, loadMs: number, handler: string }
  | { warm: 'dropped', threadId: number, key: string }

/** Running attempts of this worker, by id, and the abort channels it listens on. */
const running = new Map<string, AbortController>()
const abortChannels = new Map<string, BroadcastChannel>()

function listenForAborts (name: string): void {
  if (abortChannels.has(name)) return
  const channel = new BroadcastChannel(name)
  channel.unref()
  channel.onmessage = (e: unknown) => {
    const id = (e as { data?: { abort?: unknown } }).data?.abort
    if (typeof id === 'string') running.get(id)?.abort(new Error('attempt cancelled'))
  }
  abortChannels.set(name, channel)
}

/** The handler of the task running now (one task per thread at a time), named in warm messages. */
let currentHandler = ''
const warm = new WarmCache(4, {
  loaded: (key, loadMs) => { parentPort?.postMessage({ warm: 'loaded', threadId, key, loadMs, handler: currentHandler } satisfies WarmMessage) },
  dropped: key => { parentPort?.postMessage({ warm: 'dropped', threadId, key } satisfies WarmMessage) }
})

/**
 * Imported modules by path. A failed import is forgotten so that fixing the
 * file on disk helps the next task (Node may still cache the failure itself).
 */
const modules = new Map<string, Promise<Record<string, unknown>>>()

async function loadHandler (task: WorkerTask): Promise<HandlerFn> {
  let loading = modules.get(task.module)
  if (loading === undefined) {
    loading = import(pathToFileURL(task.module).href) as Promise<Record<string, unknown>>
    modules.set(task.module, loading)
    loading.catch(() => { modules.delete(task.module) })
  }
  const mod = await loading
  const fn = mod[task.exportName]
  if (typeof fn !== 'function') {
    const what = task.exportName === 'default' ? 'a default export' : `an export "${task.exportName}"`
    throw new TypeError(`handler "${task.handler}": ${task.module} has no function as ${what}`)
  }
  return fn as HandlerFn
}

/** Runs one attempt; the default export is what piscina calls. */
export default async function runTask (task: WorkerTask): Promise<WorkerReply> {
  const controller = new AbortController()
  const post = (msg: AttemptEvent): void => { parentPort?.postMessage({ attemptId: task.attemptId, ...msg }) }
  listenForAborts(task.abortChannel)
  running.set(task.attemptId, controller)
  currentHandler = task.handler
  warm.max = task.warmMax
  try {
    const fn = await loadHandler(task)
    const ctx: HandlerContext = {
      ...task.context,
      signal: controller.signal,
      progress: (fraction, message) => {
        post(message === undefined
          ? { type: 'progress', fraction: Number(fraction) }
          : { type: 'progress', fraction: Number(fraction), message: String(message) })
      },
      checkpoint: state => { post({ type: 'checkpoint', state }) },
      warm: async (key, load) => await warm.get(key, load)
    }
    const value = await fn(task.input, ctx)
    const bad = findUncloneable(value)
    if (bad !== undefined) return { ok: false, error: `handler "${task.handler}" returned ${bad}` }
    return { ok: true, value }
  } catch (err) {
    return { ok: false, error: describeError(err) }
  } finally {
    running.delete(task.attemptId)
    if (running.size === 0) warm.trim()
    // The last message on this channel: the main thread knows every progress message before it has arrived.
    post({ type: 'end' })
  }
}

/** `'<Error name>: <message>'` on one line (RunOutcome.error is one line). */
export function describeError (err: unknown): string {
  let text: string
  if (err instanceof Error) text = `${err.name}: ${err.message}`
  else if (typeof err === 'object' && err !== null && 'message' in err) text = `Error: ${String(err.message)}`
  else text = `Error: non-Error value thrown: ${String(err)}`
  text = text.replace(/\s*\n\s*/g, ' ').trim()
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text
}

/**
 * Looks for what cannot travel as a result: functions and symbols (structured
 * clone throws on the first and msgpack cannot encode either), promises (a
 * forgotten `await`), weak collections. Returns a description with the path
 * of the first offender, or undefined when the value is fine.
 */
export function findUncloneable (value: unknown): string | undefined {
  const seen = new Set<object>()
  const visit = (v: unknown, at: string): string | undefined => {
    if (typeof v === 'function') return `a function at ${at}, which cannot be sent as a result`
    if (typeof v === 'symbol') return `a symbol at ${at}, which cannot be sent as a result`
    if (typeof v !== 'object' || v === null) return undefined
    if (seen.has(v)) return undefined
    seen.add(v)
    if (v instanceof Promise) return `a Promise at ${at} (a missing await?), which cannot be sent as a result`
    if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) {
      return `a weak reference at ${at}, which cannot be sent as a result`
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp || v instanceof Error) return undefined
    if (v instanceof Map) {
      for (const [k, item] of v) {
        const bad = visit(k, `${at}<key>`) ?? visit(item, `${at}.get(${String(k)})`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    if (v instanceof Set) {
      for (const item of v) {
        const bad = visit(item, `${at}<item>`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const bad = visit(v[i], `${at}[${i}]`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    for (const [k, item] of Object.entries(v)) {
      const bad = visit(item, `${at}.${k}`)
      if (bad !== undefined) return bad
    }
    return undefined
  }
  return visit(value, 'result')
}

/**
 * Handlers for the ML examples (examples/ml/inference.json, sweep.json; `mesh
 * demo inference`, `mesh demo sweep`). A peer's config names them:
 *   "executor": { "handlers": {
 *     "ml.infer": "/abs/examples/ml/handlers.ts#infer", "ml.score": "/abs/examples/ml/handlers.ts#score",
 *     "ml.train": "/abs/examples/ml/handlers.ts#train", "ml.best": "/abs/examples/ml/handlers.ts#best" } }
 *
 * ml.infer runs an ONNX model with onnxruntime-node, which is not a
 * dependency of the meshwork package: it is imported when a task needs it,
 * and a peer without it fails the task saying what to install.
 */
import { stat } from 'node:fs/promises'
import { CLASSES, FEATURES, SEEDS, samples } from './data.ts'
import { evaluate, initAdam, initMlp, trainEpoch, argmax, type AdamState, type Mlp } from './mlp.ts'

/** What these handlers use of the handler context (HandlerContext in the meshwork package). */
interface Ctx {
  index: number
  count?: number
  attempt: number
  gpus?: number[]
  artifacts?: Record<string, string>
  upstream: Record<string, unknown>
  restored?: unknown
  progress: (fraction: number, message?: string) => void
  checkpoint: (state: unknown) => void
  warm: <T>(key: string, load: () => T | Promise<T>) => Promise<T>
}

// ---- inference ---------------------------------------------------------------

export interface InferInput {
  /** The artifact holding the model (default "model.onnx"). */
  artifact?: string
  /** A model file on the peer, used when the task has no such artifact. */
  modelPath?: string
  /**
   * The `ctx.warm` key of the model session: give the task's spec the same
   * string as `warm`, so that the auction prefers peers where it is loaded.
   * Default: one made of the model file's path, size and inode.
   */
  warmKey?: string
  /** Size of the whole held-out set, split over the tasks (default 4000). */
  samples?: number
  seed?: number
  batch?: number
}

export interface InferResult {
  from: number, to: number, n: number, correct: number
  /** Which execution provider ran it. */
  provider: string
  /** True when the model session was already warm in this worker thread. */
  warm: boolean
  /** Time to load the session (0 when warm), and the whole task's time, in ms. */
  loadMs: number
  ms: number
}

type Ort = typeof import('onnxruntime-node')
interface Session { session: import('onnxruntime-node').InferenceSession, provider: string, file?: string }

/** Classifies this task's shard (by ctx.index and ctx.count) of the held-out set with the model. */
export async function infer (input: InferInput | null, ctx: Ctx): Promise<InferResult> {
  const t0 = performance.now()
  const name = input?.artifact ?? 'model.onnx'
  const path = ctx.artifacts?.[name] ?? input?.modelPath
  if (path === undefined) throw new Error(`ml.infer: no artifact "${name}" on this task and no modelPath in the input`)
  const ort = await loadOrt()
  const gpu = ctx.gpus?.[0]
  // The file as far as cheaply known (not its mtime: an artifact cache touches that on use).
  const st = await stat(path)
  const file = `${path}:${st.size}:${st.ino}`
  const key = input?.warmKey ?? `ml.infer:${file}:${gpu ?? 'cpu'}`
  let loadMs = 0
  const load = async (): Promise<Session> => {
    const t = performance.now()
    const s = await createSession(ort, path, gpu)
    loadMs = performance.now() - t
    return { ...s, file }
  }
  const warm = await ctx.warm<Session>(key, async () => {
    const s = await load()
    return { ...s, dispose: async () => { await s.session.release() } }
  })
  // A key kept warm for another model file (a named warmKey whose model changed): this task loads its own.
  const own = warm.file === file ? undefined : await load()
  const { session, provider } = own ?? warm
  const total = input?.samples ?? 4000
  const count = ctx.count ?? 1
  const from = Math.floor(ctx.index * total / count)
  const to = Math.floor((ctx.index + 1) * total / count)
  const data = samples(input?.seed ?? SEEDS.test, from, to)
  const batch = Math.max(1, input?.batch ?? 256)
  let correct = 0
  for (let start = 0; start < data.n; start += batch) {
    const n = Math.min(batch, data.n - start)
    const x = data.x.subarray(start * FEATURES, (start + n) * FEATURES)
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, FEATURES]) })
    const probs = out.probs!.data as Float32Array
    for (let r = 0; r < n; r++) if (argmax(probs, r * CLASSES, CLASSES) === data.y[start + r]) correct++
    ctx.progress((start + n) / data.n)
  }
  await own?.session.release()
  return { from, to, n: data.n, correct, provider, warm: loadMs === 0, loadMs, ms: performance.now() - t0 }
}

/** Accuracy over every inference task's shard, and what the warm sessions saved. */
export function score (_input: unknown, ctx: Ctx): unknown {
  const parts = Object.values(ctx.upstream).flat() as InferResult[]
  const n = parts.reduce((a, p) => a + p.n, 0)
  const correct = parts.reduce((a, p) => a + p.correct, 0)
  const loaded = parts.filter(p => !p.warm)
  const warm = parts.filter(p => p.warm)
  const mean = (xs: number[]): number => xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length
  return {
    accuracy: n === 0 ? 0 : correct / n,
    samples: n,
    tasks: parts.length,
    providers: [...new Set(parts.map(p => p.provider))],
    loaded: loaded.length,
    warm: warm.length,
    meanLoadMs: mean(loaded.map(p => p.loadMs)),
    meanTaskMsLoading: mean(loaded.map(p => p.ms)),
    meanTaskMsWarm: mean(warm.map(p => p.ms))
  }
}

async function loadOrt (): Promise<Ort> {
  try {
    const mod = await import('onnxruntime-node') as Ort & { default?: Ort }
    return mod.InferenceSession === undefined && mod.default !== undefined ? mod.default : mod
  } catch (err) {
    throw new Error('ml.infer needs onnxruntime-node on this peer: npm install onnxruntime-node ' +
      '(with ONNXRUNTIME_NODE_INSTALL=skip where its GPU download cannot be reached; the CPU build ships in the package). ' +
      `Import failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/** CUDA on the task's first GPU when it has one and the CUDA provider is installed, else the CPU. */
async function createSession (ort: Ort, path: string, gpu: number | undefined): Promise<Session> {
  if (gpu !== undefined) {
    try {
      return { session: await ort.InferenceSession.create(path, { executionProviders: [{ name: 'cuda', deviceId: gpu }] }), provider: `cuda:${gpu}` }
    } catch {
      // No CUDA provider in this install (npm skips its download here): the CPU still works.
    }
  }
  return { session: await ort.InferenceSession.create(path, { executionProviders: ['cpu'] }), provider: 'cpu' }
}

// ---- training (the hyperparameter sweep) -------------------------------------------

export interface TrialParams { hidden: number, lr: number, epochs?: number, batch?: number, seed?: number }

export interface TrainInput {
  /** The trials; task i trains grid[i mod length]. */
  grid: TrialParams[]
  epochs?: number
  batch?: number
  trainSamples?: number
  validationSamples?: number
}

/** A checkpoint: everything needed to go on exactly where the last epoch ended. */
interface TrainState { trial: number, epoch: number, sizes: number[], W: unknown[], b: unknown[], adam: Omit<AdamState, 'mW' | 'vW' | 'mb' | 'vb'> & Record<'mW' | 'vW' | 'mb' | 'vb', unknown[]>, history: Epoch[] }
interface Epoch { epoch: number, loss: number, accuracy: number }

export interface TrainResult {
  trial: number
  params: Required<TrialParams>
  accuracy: number
  loss: number
  history: Epoch[]
  /** The epoch this attempt resumed after (a checkpoint of an earlier attempt), absent when it started fresh. */
  resumedFrom?: number
  attempt: number
}

/** Trains one trial of the grid, checkpointing every epoch and resuming from `ctx.restored`. */
export function train (input: TrainInput, ctx: Ctx): TrainResult {
  if (!Array.isArray(input?.grid) || input.grid.length === 0) throw new Error('ml.train: the input needs a non-empty "grid" of {hidden, lr, …}')
  const trial = ctx.index % input.grid.length
  const g = input.grid[trial]!
  const params = { hidden: g.hidden, lr: g.lr, epochs: g.epochs ?? input.epochs ?? 8, batch: g.batch ?? input.batch ?? 32, seed: g.seed ?? trial + 1 }
  const data = samples(SEEDS.train, 0, input.trainSamples ?? 2000)
  const validation = samples(SEEDS.validation, 0, input.validationSamples ?? 500)
  let model: Mlp = initMlp([FEATURES, params.hidden, CLASSES], params.seed)
  let adam = initAdam(model)
  let history: Epoch[] = []
  let start = 0
  let resumedFrom: number | undefined
  const saved = ctx.restored as TrainState | undefined
  if (saved !== undefined && saved.trial === trial) {
    model = { sizes: saved.sizes, W: saved.W.map(f32), b: saved.b.map(f32) }
    adam = { t: saved.adam.t, mW: saved.adam.mW.map(f32), vW: saved.adam.vW.map(f32), mb: saved.adam.mb.map(f32), vb: saved.adam.vb.map(f32) }
    history = saved.history
    start = resumedFrom = saved.epoch
  }
  for (let epoch = start; epoch < params.epochs; epoch++) {
    // The shuffle depends only on the trial and the epoch, so a resumed run trains exactly as an unbroken one.
    const loss = trainEpoch(model, adam, data, { lr: params.lr, batch: params.batch }, params.seed * 1000 + epoch)
    const v = evaluate(model, validation)
    history.push({ epoch: epoch + 1, loss, accuracy: v.accuracy })
    const state: TrainState = {
      trial,
      epoch: epoch + 1,
      sizes: model.sizes,
      W: model.W.map(bytes),
      b: model.b.map(bytes),
      adam: { t: adam.t, mW: adam.mW.map(bytes), vW: adam.vW.map(bytes), mb: adam.mb.map(bytes), vb: adam.vb.map(bytes) },
      history: [...history]
    }
    ctx.checkpoint(state)
    ctx.progress((epoch + 1) / params.epochs, `epoch ${epoch + 1}: validation accuracy ${(v.accuracy * 100).toFixed(1)} %`)
  }
  const final = evaluate(model, validation)
  const result: TrainResult = { trial, params, accuracy: final.accuracy, loss: final.loss, history, attempt: ctx.attempt }
  if (resumedFrom !== undefined) result.resumedFrom = resumedFrom
  return result
}

/** The best trial by validation accuracy (then loss), and every trial. */
export function best (_input: unknown, ctx: Ctx): { best: TrainResult, trials: TrainResult[] } {
  const trials = (Object.values(ctx.upstream).flat() as TrainResult[]).sort((a, b) => a.trial - b.trial)
  if (trials.length === 0) throw new Error('ml.best: no training results upstream')
  const top = trials.reduce((a, t) => t.accuracy > a.accuracy || (t.accuracy === a.accuracy && t.loss < a.loss) ? t : a)
  return { best: top, trials }
}

/**
 * A float array as a checkpoint keeps it: a copy of its bytes. Bytes travel
 * unchanged through structured clone and the mesh's msgpack, while a
 * Float32Array does not survive msgpack as one (it comes back as a Buffer).
 */
function bytes (a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))
}

/** A checkpoint's array as it comes back: a Float32Array through structured clone, possibly plain numbers or bytes through msgpack. */
function f32 (v: unknown): Float32Array {
  if (v instanceof Float32Array) return new Float32Array(v)
  if (ArrayBuffer.isView(v) && v.byteLength % 4 !== 0) throw new Error('ml.train: a checkpoint array is not whole 4-byte floats')
  if (ArrayBuffer.isView(v)) return new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
  if (Array.isArray(v)) return Float32Array.from(v as number[])
  throw new Error('ml.train: a checkpoint array is neither numbers nor bytes')
}

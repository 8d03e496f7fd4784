/**
 * The ML examples (examples/ml) for real: the hand-encoded ONNX export loads
 * in onnxruntime-node and computes what the TypeScript forward pass does; the
 * shipped model classifies the held-out digits well above chance; ml.infer
 * keeps its session warm in a worker thread; ml.train resumed from a
 * checkpoint (through msgpack, as checkpoints travel) ends exactly where an
 * unbroken run does; ml.best picks the best trial.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { FEATURES, CLASSES, SEEDS, samples } from '../../examples/ml/data.ts'
import { initMlp, predict } from '../../examples/ml/mlp.ts'
import { exportOnnx } from '../../examples/ml/onnx.ts'
import { best, infer, train, type InferResult, type TrainInput, type TrainResult } from '../../examples/ml/handlers.ts'
import { HandlerRunner } from '../../node/execution/handler-runner.ts'
import { WarmCache } from '../../node/execution/warm-cache.ts'
import { decodeValue, encodeMessage } from '../../protocols/codec.ts'
import type { RunContext, RunRequest } from '../../src/execution/runner.ts'

const handlers = fileURLToPath(new URL('../../examples/ml/handlers.ts', import.meta.url))
const shipped = fileURLToPath(new URL('../../examples/ml/model.onnx', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'meshwork-ml-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** A handler context for calling the handlers directly. */
function context (index: number, count: number, extra: Record<string, unknown> = {}) {
  const cache = new WarmCache(4, { loaded: () => {}, dropped: () => {} })
  const checkpoints: unknown[] = []
  return {
    ctx: { index, count, attempt: 1, upstream: {}, gpus: [], progress: () => {}, checkpoint: (s: unknown) => { checkpoints.push(structuredClone(s)) }, warm: async <T>(k: string, load: () => T | Promise<T>) => await cache.get(k, load), ...extra },
    checkpoints
  }
}

describe('ONNX export', () => {
  it('writes a model onnxruntime-node runs with the same outputs as the TypeScript forward pass', async () => {
    const m = initMlp([FEATURES, 24, 12, CLASSES], 5)
    const file = join(dir, 'small.onnx')
    writeFileSync(file, exportOnnx(m))
    const session = await ort.InferenceSession.create(file)
    expect(session.inputNames).toEqual(['input'])
    expect(session.outputNames).toEqual(['probs'])
    const data = samples(SEEDS.test, 0, 64)
    const out = await session.run({ input: new ort.Tensor('float32', data.x, [data.n, FEATURES]) })
    const got = out.probs!.data as Float32Array
    const want = predict(m, data.x, data.n)
    expect(got.length).toBe(want.length)
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5)
    await session.release()
  })
})

describe('ml.infer and ml.score', () => {
  it('classifies its shard of the held-out set with the shipped model, well above chance', async () => {
    const { ctx } = context(1, 4, { artifacts: { 'model.onnx': shipped } })
    const r = await infer({ samples: 2000 }, ctx)
    expect([r.from, r.to, r.n]).toEqual([500, 1000, 500])
    expect(r.provider).toBe('cpu')
    expect(r.correct / r.n).toBeGreaterThan(0.75) // chance is 0.1
  })

  it('given a GPU, uses the CUDA provider where installed and falls back to the CPU where not', async () => {
    const { ctx } = context(0, 8, { artifacts: { 'model.onnx': shipped }, gpus: [0] })
    const r = await infer({ samples: 800 }, ctx)
    expect(r.provider).toMatch(/^(cuda:0|cpu)$/)
    expect(r.correct / r.n).toBeGreaterThan(0.75)
  })

  it('loads the session once per worker thread: the second task finds it warm', async () => {
    const runner = new HandlerRunner({ threads: 1 })
    runner.registerModule('ml.infer', `${handlers}#infer`)
    const rc: RunContext = { signal: new AbortController().signal, progress: () => {} }
    const req = (index: number): RunRequest => ({ jobId: 'j', taskId: `infer[${index}]`, attempt: 1, index, count: 8, kind: 'handler', handler: 'ml.infer', input: { modelPath: shipped, samples: 800 }, memoryMB: 0, upstream: {} })
    try {
      const first = await runner.run(req(0), rc)
      const second = await runner.run(req(1), rc)
      if (!first.ok || !second.ok) throw new Error(JSON.stringify([first, second]))
      const [a, b] = [first.value as InferResult, second.value as InferResult]
      expect(a.warm).toBe(false)
      expect(a.loadMs).toBeGreaterThan(0)
      expect(b.warm).toBe(true)
      expect(b.loadMs).toBe(0)
      const keys = runner.warmKeys()
      expect(keys).toHaveLength(1)
      expect(keys[0]!.key).toContain(shipped)
    } finally {
      await runner.close()
    }
  })

  it('says what to install when the model is missing from the task', async () => {
    const { ctx } = context(0, 1)
    await expect(infer({}, ctx)).rejects.toThrow(/no artifact "model.onnx"/)
  })
})

describe('ml.train and ml.best', () => {
  const input: TrainInput = { grid: [{ hidden: 16, lr: 0.01 }, { hidden: 8, lr: 0.001 }], epochs: 3, trainSamples: 300, validationSamples: 100 }

  it('resumed from a checkpoint (through msgpack), ends exactly where an unbroken run does', () => {
    const whole = context(0, 2)
    const unbroken = train(input, whole.ctx)
    expect(unbroken.history).toHaveLength(3)
    expect(whole.checkpoints).toHaveLength(3)
    // As if the peer died after epoch 1: the next attempt gets that checkpoint, encoded and decoded as it travels.
    const decoded = decodeValue(encodeMessage(whole.checkpoints[0]))
    if (!decoded.ok) throw new Error(decoded.detail)
    const again = context(0, 2, { restored: decoded.value, attempt: 2 })
    const resumed = train(input, again.ctx)
    expect(resumed.resumedFrom).toBe(1)
    expect(again.checkpoints).toHaveLength(2)
    expect(resumed.accuracy).toBe(unbroken.accuracy)
    expect(resumed.loss).toBe(unbroken.loss)
    expect(resumed.history).toEqual(unbroken.history)
  })

  it('picks the trial with the best validation accuracy', () => {
    const trials = [0, 1].map(i => train(input, context(i, 2).ctx))
    const { ctx } = context(0, 1)
    ctx.upstream = { train: trials }
    const out = best(null, ctx)
    expect(out.trials.map(t => t.trial)).toEqual([0, 1])
    expect(out.best.accuracy).toBe(Math.max(...trials.map((t: TrainResult) => t.accuracy)))
    expect(out.best.accuracy).toBeGreaterThan(0.2)
  })
})

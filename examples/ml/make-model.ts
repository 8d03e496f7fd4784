/**
 * Regenerates examples/ml/model.onnx, the model the inference example runs:
 * an MLP (256 → 3072 → 10) trained on the generated digits (data.ts) with
 * fixed seeds, so the same Node version writes the same file. The wide hidden
 * layer is there for size (about 3 MB), so that where the model is cached
 * matters; it takes a minute or two on one core.
 *
 *   node examples/ml/make-model.ts [out.onnx]
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FEATURES, CLASSES, SEEDS, samples } from './data.ts'
import { evaluate, initAdam, initMlp, trainEpoch } from './mlp.ts'
import { exportOnnx } from './onnx.ts'

const out = process.argv[2] ?? join(import.meta.dirname, 'model.onnx')
const train = samples(SEEDS.train, 0, 10000)
const validation = samples(SEEDS.validation, 0, 1000)
const model = initMlp([FEATURES, 3072, CLASSES], 42)
const adam = initAdam(model)
for (let epoch = 0; epoch < 6; epoch++) {
  const t0 = performance.now()
  const loss = trainEpoch(model, adam, train, { lr: 0.0005, batch: 64 }, 1000 + epoch)
  const v = evaluate(model, validation)
  console.log(`epoch ${epoch + 1}: train loss ${loss.toFixed(3)}, validation accuracy ${(v.accuracy * 100).toFixed(1)} % (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
}
const bytes = exportOnnx(model)
writeFileSync(out, bytes)
console.log(`wrote ${out}: ${(bytes.length / 1e6).toFixed(2)} MB`)

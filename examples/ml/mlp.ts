/**
 * A multilayer perceptron in plain TypeScript: ReLU hidden layers, a softmax
 * output, cross-entropy loss, mini-batch Adam. Small and dependency-free so
 * that a training run is a real computation any peer can do, and so that its
 * whole state (weights and optimizer moments) is a few typed arrays that fit
 * in a checkpoint.
 *
 * Layer l maps `sizes[l]` inputs to `sizes[l + 1]` outputs; its weights are
 * row-major `in × out` (the layout of ONNX's Gemm with transB = 0).
 */
import { rng, type Dataset } from './data.ts'

export interface Mlp { sizes: number[], W: Float32Array[], b: Float32Array[] }

/** Adam's moments for every parameter, and its step count. */
export interface AdamState { t: number, mW: Float32Array[], vW: Float32Array[], mb: Float32Array[], vb: Float32Array[] }

export interface TrainOptions { lr: number, batch: number, beta1?: number, beta2?: number }

/** He-initialised weights (ReLU layers), zero biases; the same seed gives the same model. */
export function initMlp (sizes: number[], seed: number): Mlp {
  const next = rng(seed)
  const W: Float32Array[] = []
  const b: Float32Array[] = []
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!
    const w = new Float32Array(fanIn * sizes[l + 1]!)
    const scale = Math.sqrt(2 / fanIn)
    for (let i = 0; i < w.length; i++) w[i] = (Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())) * scale
    W.push(w)
    b.push(new Float32Array(sizes[l + 1]!))
  }
  return { sizes: [...sizes], W, b }
}

export function initAdam (m: Mlp): AdamState {
  const zeros = (a: Float32Array[]): Float32Array[] => a.map(x => new Float32Array(x.length))
  return { t: 0, mW: zeros(m.W), vW: zeros(m.W), mb: zeros(m.b), vb: zeros(m.b) }
}

/** Every layer's activations for `n` rows of `x`: [x, hidden…, softmax probabilities]. */
export function forward (m: Mlp, x: Float32Array, n: number): Float32Array[] {
  const acts = [x]
  for (let l = 0; l < m.W.length; l++) {
    const inSize = m.sizes[l]!
    const out = m.sizes[l + 1]!
    const a = acts[l]!
    const z = new Float32Array(n * out)
    const w = m.W[l]!
    const bias = m.b[l]!
    for (let r = 0; r < n; r++) {
      const row = r * out
      z.set(bias, row)
      for (let i = 0; i < inSize; i++) {
        const v = a[r * inSize + i]!
        if (v === 0) continue // ReLU zeros and blank pixels cost nothing
        const wi = i * out
        for (let o = 0; o < out; o++) z[row + o]! += v * w[wi + o]!
      }
    }
    if (l + 1 < m.W.length) {
      for (let k = 0; k < z.length; k++) if (z[k]! < 0) z[k] = 0
    } else {
      softmaxRows(z, n, out)
    }
    acts.push(z)
  }
  return acts
}

/** Class probabilities, `n × classes`. */
export function predict (m: Mlp, x: Float32Array, n: number): Float32Array {
  return forward(m, x, n).at(-1)!
}

/** One pass over `data` in shuffled mini-batches (the order from `shuffleSeed`); returns the mean training loss. */
export function trainEpoch (m: Mlp, adam: AdamState, data: Dataset, opts: TrainOptions, shuffleSeed: number): number {
  const order = Array.from({ length: data.n }, (_, i) => i)
  const next = rng(shuffleSeed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const features = m.sizes[0]!
  let loss = 0
  for (let start = 0; start < data.n; start += opts.batch) {
    const rows = order.slice(start, start + opts.batch)
    const x = new Float32Array(rows.length * features)
    const y = new Uint8Array(rows.length)
    rows.forEach((r, k) => { x.set(data.x.subarray(r * features, (r + 1) * features), k * features); y[k] = data.y[r]! })
    loss += step(m, adam, x, y, rows.length, opts) * rows.length
  }
  return loss / data.n
}

/** Accuracy and mean cross-entropy on `data`. */
export function evaluate (m: Mlp, data: Dataset): { accuracy: number, loss: number } {
  const classes = m.sizes.at(-1)!
  const p = predict(m, data.x, data.n)
  let correct = 0
  let loss = 0
  for (let r = 0; r < data.n; r++) {
    if (argmax(p, r * classes, classes) === data.y[r]) correct++
    loss -= Math.log(Math.max(1e-12, p[r * classes + data.y[r]!]!))
  }
  return { accuracy: correct / data.n, loss: loss / data.n }
}

export function argmax (a: Float32Array, offset: number, length: number): number {
  let best = 0
  for (let k = 1; k < length; k++) if (a[offset + k]! > a[offset + best]!) best = k
  return best
}

/** One Adam step on a mini-batch; returns its mean loss. */
function step (m: Mlp, adam: AdamState, x: Float32Array, y: Uint8Array, n: number, opts: TrainOptions): number {
  const acts = forward(m, x, n)
  const L = m.W.length
  const classes = m.sizes[L]!
  // Softmax with cross-entropy: dLoss/dz = p - onehot(y), averaged over the batch.
  const probs = acts[L]!
  let delta = new Float32Array(probs.length)
  let loss = 0
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < classes; k++) delta[r * classes + k] = probs[r * classes + k]! / n
    delta[r * classes + y[r]!]! -= 1 / n
    loss -= Math.log(Math.max(1e-12, probs[r * classes + y[r]!]!))
  }
  adam.t++
  for (let l = L - 1; l >= 0; l--) {
    const inSize = m.sizes[l]!
    const out = m.sizes[l + 1]!
    const a = acts[l]!
    const w = m.W[l]!
    const gW = new Float32Array(w.length)
    const gb = new Float32Array(out)
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < out; o++) gb[o]! += delta[r * out + o]!
      for (let i = 0; i < inSize; i++) {
        const v = a[r * inSize + i]!
        if (v === 0) continue
        const wi = i * out
        const dr = r * out
        for (let o = 0; o < out; o++) gW[wi + o]! += v * delta[dr + o]!
      }
    }
    // The gradient for the layer below, through its ReLU (not needed below the first layer).
    if (l > 0) {
      const below = new Float32Array(n * inSize)
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < inSize; i++) {
          if (a[r * inSize + i] === 0) continue
          let s = 0
          const wi = i * out
          const dr = r * out
          for (let o = 0; o < out; o++) s += w[wi + o]! * delta[dr + o]!
          below[r * inSize + i] = s
        }
      }
      delta = below
    }
    adamUpdate(w, gW, adam.mW[l]!, adam.vW[l]!, adam.t, opts)
    adamUpdate(m.b[l]!, gb, adam.mb[l]!, adam.vb[l]!, adam.t, opts)
  }
  return loss / n
}

function adamUpdate (p: Float32Array, g: Float32Array, mom: Float32Array, vel: Float32Array, t: number, opts: TrainOptions): void {
  const b1 = opts.beta1 ?? 0.9
  const b2 = opts.beta2 ?? 0.999
  const lr = opts.lr * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
  for (let k = 0; k < p.length; k++) {
    const gk = g[k]!
    mom[k] = b1 * mom[k]! + (1 - b1) * gk
    vel[k] = b2 * vel[k]! + (1 - b2) * gk * gk
    p[k]! -= lr * mom[k]! / (Math.sqrt(vel[k]!) + 1e-8)
  }
}

function softmaxRows (z: Float32Array, n: number, k: number): void {
  for (let r = 0; r < n; r++) {
    const o = r * k
    let max = -Infinity
    for (let j = 0; j < k; j++) max = Math.max(max, z[o + j]!)
    let sum = 0
    for (let j = 0; j < k; j++) { const e = Math.exp(z[o + j]! - max); z[o + j] = e; sum += e }
    for (let j = 0; j < k; j++) z[o + j]! /= sum
  }
}

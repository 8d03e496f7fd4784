/**
 * The ML examples' data, generated, never downloaded: noisy 16×16 images of
 * the digits 0–9 drawn as seven-segment strokes, each with its own size,
 * position, slant, stroke width, wobble of every stroke end, lost strokes'
 * ink and pixel noise. Real enough that a linear model does poorly and an MLP
 * does well; cheap enough to make on the fly in every task.
 *
 * Every sample is a pure function of (seed, index), so a task can make just
 * its own shard of a dataset (`samples(seed, from, to)`) and every peer makes
 * the same bytes.
 */

export const SIDE = 16
export const FEATURES = SIDE * SIDE
export const CLASSES = 10

/** A batch: `x` is row-major `n × FEATURES`, `y` the labels. */
export interface Dataset { n: number, x: Float32Array, y: Uint8Array }

/** mulberry32: a small seeded PRNG, the same sequence on every machine. */
export function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A standard normal draw (Box–Muller). */
export function gauss (next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
}

// Seven segments between the corners of a unit box (x right, y down).
const SEGMENTS = {
  a: [0, 0, 1, 0], b: [1, 0, 1, 0.5], c: [1, 0.5, 1, 1], d: [0, 1, 1, 1], e: [0, 0.5, 0, 1], f: [0, 0, 0, 0.5], g: [0, 0.5, 1, 0.5]
} as const
const DIGITS = ['abcdef', 'bc', 'abged', 'abgcd', 'fgbc', 'afgcd', 'afgedc', 'abc', 'abcdefg', 'abcdfg']

/** Sample `index` of the dataset `seed`: its label and 16×16 pixels (0–1) written into `out`. */
export function sample (seed: number, index: number, out: Float32Array, offset = 0): number {
  const next = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0)
  const label = Math.floor(next() * CLASSES)
  const w = 5 + next() * 4 // glyph width and height in pixels
  const h = 9 + next() * 4
  const x0 = 1.5 + next() * (SIDE - 3 - w)
  const y0 = 1.5 + next() * (SIDE - 3 - h)
  const slant = (next() - 0.5) * 0.6
  const half = 0.45 + next() * 0.5 // half the stroke width
  const lines: number[][] = []
  for (const s of DIGITS[label]!) {
    const [ax, ay, bx, by] = SEGMENTS[s as keyof typeof SEGMENTS]
    const end = (x: number, y: number): number[] => {
      const px = x0 + (x + (next() - 0.5) * 0.15) * w
      const py = y0 + (y + (next() - 0.5) * 0.1) * h
      return [px + slant * (py - y0 - h / 2), py]
    }
    lines.push([...end(ax, ay), ...end(bx, by), next() < 0.07 ? 0.35 : 1]) // now and then a stroke is faint
  }
  for (let py = 0; py < SIDE; py++) {
    for (let px = 0; px < SIDE; px++) {
      let ink = 0
      for (const [ax, ay, bx, by, strength] of lines as Array<[number, number, number, number, number]>) {
        const d = distToSegment(px + 0.5, py + 0.5, ax, ay, bx, by)
        ink = Math.max(ink, strength * Math.min(1, Math.max(0, half + 0.5 - d)))
      }
      const v = ink + gauss(next) * 0.2
      out[offset + py * SIDE + px] = Math.min(1, Math.max(0, v))
    }
  }
  return label
}

/** Samples `from` … `to - 1` of the dataset `seed`. */
export function samples (seed: number, from: number, to: number): Dataset {
  const n = Math.max(0, to - from)
  const x = new Float32Array(n * FEATURES)
  const y = new Uint8Array(n)
  for (let i = 0; i < n; i++) y[i] = sample(seed, from + i, x, i * FEATURES)
  return { n, x, y }
}

/** The datasets the examples share: training, validation (the sweep's score) and the held-out test set (inference). */
export const SEEDS = { train: 1, validation: 2, test: 3 } as const

function distToSegment (px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax
  const dy = by - ay
  const len2 = dx * dx + dy * dy
  const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / len2))
  return Math.hypot(px - ax - t * dx, py - ay - t * dy)
}

// Axis ticks on round values of time, so a reader sees 0, 1 s, 2 s, 3 s and not 0, 821 ms, 1.6 s.

const STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500,
  1000, 2000, 5000, 10_000, 15_000, 30_000,
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000
]
const DAY = 86_400_000

/** Tick offsets (ms from the axis' start) for an axis `span` ms long: one round step apart, at most `most` steps. */
export function timeTicks (span, most = 6) {
  if (!(span > 0)) return [0]
  const step = STEPS_MS.find(s => span / s <= most) ?? Math.ceil(span / most / DAY) * DAY
  const ticks = []
  for (let i = 0; i * step <= span; i++) ticks.push(i * step)
  return ticks
}

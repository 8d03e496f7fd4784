/**
 * Speed calibration: how fast this machine runs a fixed, typical piece of
 * single-threaded JavaScript (float maths, array writes, string hashing), as a
 * ratio to the reference machine (a 2-vCPU AMD EPYC VM: 1.0). Bids divide a
 * task's estimated work by this score; it is refined later by measured task times.
 *
 * Best of five ~5 ms runs, so a start-up hiccup does not make a fast machine look slow.
 */
import { performance } from 'node:perf_hooks'

/** Work units per run, and how long the reference machine takes for them (best of 5, ms). */
const UNITS = 250_000
const REFERENCE_MS = 4.9

export function calibrateSpeed (runs = 5): number {
  let best = Infinity
  let sink = 0
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    sink += workload(UNITS)
    best = Math.min(best, performance.now() - t0)
  }
  // `sink` keeps the optimiser from discarding the loop.
  if (sink === 42) best += 1e-9
  return Math.round((REFERENCE_MS / Math.max(best, 1e-3)) * 100) / 100
}

function workload (units: number): number {
  const arr = new Float64Array(1024)
  let h = 2166136261
  let acc = 0
  for (let i = 0; i < units; i++) {
    const x = Math.sqrt(i + 1) * Math.sin(i)
    arr[i & 1023] = x
    acc += arr[(i * 7) & 1023]!
    h = Math.imul(h ^ (i & 0xff), 16777619)
  }
  return acc + h
}

/**
 * Random heterogeneous placement instances, seeded: the auction is judged over
 * many of these, not tuned to one (bench's placement study, planning tests).
 * Each has 4–8 peers of mixed shapes (plain desktops, a wide box, a big-memory
 * box, GPU boxes with few cores, small edge boxes) and 12–40 tasks of four
 * kinds — plain, memory-bound (fit only big-memory peers), GPU-bound, and
 * chains/fan-outs of a DAG — with whole-unit durations, so every task fits
 * some peer and the optimum is well defined.
 */
import { parseJobSpec, type JobSpec } from '../jobs/spec.ts'
import { mulberry32 } from './baselines.ts'
import type { MeshPeerInfo } from './from-spec.ts'

export interface RandomInstance {
  seed: number
  peers: MeshPeerInfo[]
  /** A job spec of handler tasks named `sleeper`, each with `estimateMs` = units × unitMs. */
  spec: JobSpec
}

const ALL = { kinds: ['handler' as const], handlers: ['sleeper'], commands: [], tags: [] }

export function randomInstance (seed: number, unitMs = 1000): RandomInstance {
  const rand = mulberry32(seed * 7919 + 17)
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!

  // Peers: at least one GPU box and one big-memory box, the rest drawn from common shapes.
  const shapes = [
    { name: 'desk', cpu: 2, memoryMB: 4096, gpu: 0 },
    { name: 'wide', cpu: 4, memoryMB: 8192, gpu: 0 },
    { name: 'edge', cpu: 1, memoryMB: 2048, gpu: 0 },
    { name: 'desk', cpu: 4, memoryMB: 4096, gpu: 0 }
  ]
  const n = int(4, 8)
  const peers: MeshPeerInfo[] = []
  const add = (name: string, cpu: number, memoryMB: number, gpu: number): void => {
    peers.push({ id: `${name}-${peers.length}`, capacity: { cpu, memoryMB, gpu, custom: {} }, speed: 1, caps: ALL })
  }
  add('gpu', int(1, 2), 4096, int(1, 2))
  add('bigmem', 2, 16384, 0)
  while (peers.length < n) {
    const s = pick(shapes)
    add(s.name, s.cpu, s.memoryMB, s.gpu)
  }

  const tasks: Record<string, unknown> = {}
  let i = 0
  const task = (units: number, cpu: number, memoryMB: number, gpu: number, after: string[] = []): string => {
    const name = `t${i++}`
    tasks[name] = {
      kind: 'handler', handler: 'sleeper', input: { ms: units * unitMs },
      resources: { cpu, memoryMB, gpu }, estimateMs: units * unitMs,
      ...(after.length > 0 ? { after } : {})
    }
    return name
  }
  const total = int(12, 40)
  while (i < total) {
    const kind = rand()
    if (kind < 0.35) {
      task(int(1, 4), 1, pick([512, 1024, 2048]), 0)
    } else if (kind < 0.5) {
      task(int(2, 4), 2, pick([6144, 8192, 12288]), 0) // memory-bound: only big-memory peers (and wide ones for 6 GiB)
    } else if (kind < 0.65) {
      task(int(1, 3), 1, 1024, 1) // GPU-bound
    } else {
      // A small DAG: a head, a fan-out of 2–6, and a tail after all of them.
      const head = task(int(1, 2), 1, 512, 0)
      const mids = Array.from({ length: int(2, 6) }, () => task(int(1, 3), 1, 1024, 0, [head]))
      task(int(1, 2), 1, 1024, 0, mids)
    }
  }
  return { seed, peers, spec: parseJobSpec({ name: `random-${seed}`, tasks }) }
}

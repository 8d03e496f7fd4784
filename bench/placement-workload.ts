/**
 * The placement-quality workload (issue 5, workload 3): a heterogeneous mesh
 * and a mixed job of sleep-based tasks, so that makespan measures scheduling
 * rather than this machine's two cores. Every strategy (the auction on real
 * daemons, the HiGHS optimum, round-robin, random, BullMQ workers) gets exactly
 * this instance.
 *
 * Durations are whole `units`; a run picks the length of a unit (`unitMs`), so
 * the MIP can use one time slot per unit and stay exact.
 */

export interface PlacementPeer {
  name: string
  cpu: number
  memoryMB: number
  gpu: number
}

export interface PlacementTask {
  name: string
  units: number
  cpu: number
  memoryMB: number
  gpu: number
  after: string[]
}

/** Six peers, 12 cores in all; only `big-mem` and `wide` fit the 6 GiB tasks, only `gpu-box` the GPU ones. */
export const PLACEMENT_PEERS: PlacementPeer[] = [
  { name: 'wide', cpu: 4, memoryMB: 8192, gpu: 0 },
  { name: 'desk-a', cpu: 2, memoryMB: 4096, gpu: 0 },
  { name: 'big-mem', cpu: 2, memoryMB: 16384, gpu: 0 },
  { name: 'edge-a', cpu: 1, memoryMB: 2048, gpu: 0 },
  { name: 'gpu-box', cpu: 1, memoryMB: 4096, gpu: 1 },
  { name: 'desk-b', cpu: 2, memoryMB: 4096, gpu: 0 }
]

/** Map durations: deterministic, mixed 1–3 units. */
const MAP_UNITS = [1, 1, 2, 3, 1, 2, 2, 1, 2, 1, 3, 1, 2, 1, 1, 2, 2, 3, 1, 2]

/**
 * 30 tasks: a prep step, 20 maps after it, a reduce after all maps; 4 big-memory
 * tasks of 2 cores (they fit on 2 peers only); 3 GPU tasks (one GPU in the mesh,
 * so they serialise); one long independent task. The lower bound is 8 units
 * (the long task; the DAG chain is 7, CPU work ÷ capacity 6.3), and HiGHS proves
 * an 8-unit schedule exists: the optimum equals the bound, so the distance to
 * the bound is all scheduling.
 */
export const PLACEMENT_TASKS: PlacementTask[] = [
  { name: 'prep', units: 2, cpu: 1, memoryMB: 512, gpu: 0, after: [] },
  ...MAP_UNITS.map((units, i) => ({ name: `map_${i}`, units, cpu: 1, memoryMB: 1024, gpu: 0, after: ['prep'] })),
  { name: 'reduce', units: 2, cpu: 1, memoryMB: 2048, gpu: 0, after: MAP_UNITS.map((_, i) => `map_${i}`) },
  ...[0, 1, 2, 3].map(i => ({ name: `big_${i}`, units: 3, cpu: 2, memoryMB: 6144, gpu: 0, after: [] })),
  ...[0, 1, 2].map(i => ({ name: `train_${i}`, units: 2, cpu: 1, memoryMB: 1024, gpu: 1, after: [] })),
  { name: 'long', units: 8, cpu: 1, memoryMB: 512, gpu: 0, after: [] }
]

/**
 * The instance as a Meshwork job spec: one handler task per instance, sleeping
 * `units × unitMs`, with its duration as `estimateMs` (what a user who knows
 * their tasks would give the auction).
 */
export function placementJobSpec (unitMs: number, handler = 'sleeper'): Record<string, unknown> {
  const tasks: Record<string, unknown> = {}
  for (const t of PLACEMENT_TASKS) {
    tasks[t.name] = {
      kind: 'handler',
      handler,
      input: { ms: t.units * unitMs },
      resources: { cpu: t.cpu, memoryMB: t.memoryMB, gpu: t.gpu },
      estimateMs: t.units * unitMs,
      ...(t.after.length > 0 ? { after: t.after } : {})
    }
  }
  return { name: 'placement', tasks }
}

/**
 * The lower bound on makespan, in units: the largest of total work ÷ total
 * capacity for each resource (cpu, memory, gpu), and the longest chain of the DAG.
 */
export function placementLowerBound (tasks = PLACEMENT_TASKS, peers = PLACEMENT_PEERS): { units: number, byWork: Record<string, number>, chain: number } {
  const total = (f: (p: PlacementPeer) => number): number => peers.reduce((s, p) => s + f(p), 0)
  const work = (f: (t: PlacementTask) => number): number => tasks.reduce((s, t) => s + f(t) * t.units, 0)
  const byWork = {
    cpu: work(t => t.cpu) / total(p => p.cpu),
    memoryMB: work(t => t.memoryMB) / total(p => p.memoryMB),
    gpu: total(p => p.gpu) === 0 ? 0 : work(t => t.gpu) / total(p => p.gpu)
  }
  const byName = new Map(tasks.map(t => [t.name, t]))
  const finish = new Map<string, number>()
  const chainEnd = (t: PlacementTask): number => {
    const known = finish.get(t.name)
    if (known !== undefined) return known
    const f = Math.max(0, ...t.after.map(a => chainEnd(byName.get(a)!))) + t.units
    finish.set(t.name, f)
    return f
  }
  const chain = Math.max(...tasks.map(chainEnd))
  return { units: Math.max(chain, ...Object.values(byWork)), byWork, chain }
}

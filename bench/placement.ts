/**
 * Placement quality (issue 5, workload 3): the heterogeneous instance of
 * placement-workload.ts (6 peers, 30 sleeping tasks with a DAG), placed by
 *  - the auction on 6 real daemons (127.0.0.1, each declaring its peer's
 *    resources, speed 1, nothing reserved, yield off): POST /v1/jobs → the
 *    job-done event, and which peer ran each task;
 *  - the exact optimum (HiGHS MIP, src/planning/optimal.ts);
 *  - the auction's dry run (the real core on a simulated mesh, src/planning/dry-run.ts);
 *  - round-robin and random placement (list scheduling, src/planning/list-schedule.ts);
 * each in units (one unit = `unitMs` of sleep), ms, and as a ratio to the
 * lower bound (max of work ÷ capacity per resource and the longest chain).
 * The tasks sleep, so the makespan measures scheduling, not this machine's cores.
 */
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseJobSpec, type JobSpec } from '../src/jobs/spec.ts'
import { randomAssignment, roundRobinAssignment } from '../src/planning/baselines.ts'
import { lowerBound } from '../src/planning/bounds.ts'
import { checkSchedule } from '../src/planning/check.ts'
import { dryRunAuction } from '../src/planning/dry-run.ts'
import { dryRunPeers, problemFromSpec, type MeshPeerInfo } from '../src/planning/from-spec.ts'
import { simulatePlacement } from '../src/planning/list-schedule.ts'
import { optimalPlan } from '../src/planning/optimal.ts'
import { indexProblem, type Placement } from '../src/planning/problem.ts'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT, type LocalMesh } from '../node/local-mesh.ts'
import { machine, poll, quantile, runToDone, writeResult } from './lib.ts'
import { PLACEMENT_PEERS, PLACEMENT_TASKS, placementJobSpec } from './placement-workload.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')
/** The daemon the job is submitted to (and the dry run's origin): `wide`. */
const ORIGIN = 0
const RANDOM_SEEDS = 100

const log = (s: string): void => { process.stderr.write(`[placement] ${s}\n`) }

/** The instance's peers as the planner sees them (by name; speed 1, as the daemons are configured). */
const PEERS: MeshPeerInfo[] = PLACEMENT_PEERS.map(p => ({ id: p.name, capacity: { cpu: p.cpu, memoryMB: p.memoryMB, gpu: p.gpu, custom: {} }, speed: 1 }))

export async function benchPlacement ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const unitMs = quick ? 250 : 1000
  const runs = quick ? 1 : 3
  const spec = parseJobSpec(placementJobSpec(unitMs))
  const ix = indexProblem(problemFromSpec(spec, PEERS))

  const lb = lowerBound(ix)
  const opt = await optimalPlan(ix, { timeLimitMs: 120_000 })
  log(`lower bound ${lb.ms / unitMs} units; optimum ${opt.makespanMs / unitMs} units (${opt.status}, HiGHS ${opt.solveMs} ms)`)
  const fig = (ms: number): { ms: number, units: number, toLowerBound: number, toOptimal: number } =>
    ({ ms: Math.round(ms), units: round(ms / unitMs, 3), toLowerBound: round(ms / lb.ms, 3), toOptimal: round(ms / opt.makespanMs, 3) })

  const rr = simulatePlacement(ix, roundRobinAssignment(ix))
  const random = Array.from({ length: RANDOM_SEEDS }, (_, seed) => simulatePlacement(ix, randomAssignment(ix, seed)).makespanMs)
  for (const s of [rr, opt.schedule!]) assertValid(ix, s)
  const dry = await dryRunAuction(spec, dryRunPeers(PEERS), { origin: PEERS[ORIGIN]!.id })
  if (dry.state !== 'done') throw new Error(`the dry run did not finish: ${dry.error ?? dry.state}`)
  assertValid(ix, dry.schedule)
  log(`dry-run auction ${round(dry.makespanMs / unitMs, 2)} units; round-robin ${rr.makespanMs / unitMs}; random mean ${round(mean(random) / unitMs, 2)} (${Math.min(...random) / unitMs}–${Math.max(...random) / unitMs})`)

  const loadBefore = loadavg()[0]!
  const real = await runOnDaemons([spec, execSleepSpec(spec)], unitMs, runs)
  const loadAfter = loadavg()[0]!
  const summarise = (rs: RealRun[]): Record<string, unknown> => {
    const out = rs.map(r => {
      // The same assignment, list-scheduled with exact durations: how much of the gap is placement, how much running cost.
      const replayed = r.assignment.size === ix.problem.tasks.length ? fig(simulatePlacement(ix, r.assignment).makespanMs) : undefined
      return { ...fig(r.makespanMs), attempts: r.attempts, migrated: r.migrated, overrunMs: r.overrunMs, placements: byTask(r.placements, unitMs), sameAssignmentListScheduled: replayed }
    })
    const ms = out.map(r => r.ms)
    return {
      runs: out,
      meanUnits: round(mean(ms) / unitMs, 3),
      minUnits: round(Math.min(...ms) / unitMs, 3),
      maxUnits: round(Math.max(...ms) / unitMs, 3),
      meanToLowerBound: round(mean(ms) / lb.ms, 3),
      meanToOptimal: round(mean(ms) / opt.makespanMs, 3)
    }
  }
  const howReal = `the real auction on 6 daemons (127.0.0.1), job submitted to ${PLACEMENT_PEERS[ORIGIN]!.name}: Date.now() before POST /v1/jobs → the job-done event's time (same clock); ${runs} run(s) one after another on one mesh after a warm-up job; placements are as the origin saw them (task-started and task-done events, relative to the POST); migrated counts task-migrated events (a peer seen gone or silent mid-task); overrunMs is, over all tasks, how much longer started → done took than the task's sleep (p50, max); sameAssignmentListScheduled replays each run's task → peer assignment with exact durations`

  const result = {
    what: `placement quality: ${PLACEMENT_TASKS.length} sleeping tasks (a prep → ${PLACEMENT_TASKS.filter(t => t.name.startsWith('map_')).length} maps → reduce DAG, 4 big-memory tasks, 3 GPU tasks, one long task) on ${PLACEMENT_PEERS.length} heterogeneous peers; every strategy on the same instance`,
    machine: machine(),
    loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2), how: '1-minute load average of this machine (os.loadavg) before and after the runs on daemons: other work on the machine delays the daemons\' timers and messages' },
    unitMs,
    instance: { peers: PLACEMENT_PEERS, tasks: PLACEMENT_TASKS.length, how: 'bench/placement-workload.ts; durations are whole units; demands as declared, capacities as each daemon declares them (reserve 0, speed 1)' },
    lowerBound: {
      ...fig(lb.ms),
      byWorkUnits: Object.fromEntries(Object.entries(lb.byWork).map(([k, v]) => [k, round(v / unitMs, 3)])),
      chainUnits: lb.chainMs / unitMs,
      chain: lb.chain,
      how: 'max over cpu, memoryMB, gpu of Σ demand × duration ÷ Σ capacity, and the longest chain of the DAG'
    },
    optimal: {
      ...fig(opt.makespanMs),
      status: opt.status,
      exact: opt.exact,
      gap: opt.gap,
      solveMs: opt.solveMs,
      slotMs: opt.slotMs,
      horizonSlots: opt.horizonSlots,
      model: opt.model,
      placements: byTask(opt.schedule!.placements, unitMs),
      how: 'time-indexed MIP (one slot per unit: exact) solved by HiGHS (WebAssembly, one thread) in this process; solveMs is HiGHS\'s own run time; the schedule is checked by checkSchedule'
    },
    auction: { ...summarise(real[0]!), how: `handler tasks (bench/handlers.ts sleeper, in each daemon's worker-thread pool): ${howReal}` },
    auctionExec: { ...summarise(real[1]!), how: `the same job as exec tasks running \`sleep\` (one child process each, so no worker-thread pool limits how many run at once): ${howReal}` },
    dryRun: {
      ...fig(dry.makespanMs),
      rounds: dry.rounds,
      scheduleUnits: round(dry.schedule.makespanMs / unitMs, 3),
      placements: byTask(dry.schedule.placements, unitMs),
      how: 'the real core (one MeshPeer per peer, default auction settings) on a MemoryNetwork with 1 ms latency and a ManualClock, tasks waiting their duration: submission → job-done, simulated'
    },
    roundRobin: {
      ...fig(rr.makespanMs),
      how: 'tasks in spec order, each to the next peer in turn able to run it; list scheduling: each peer starts its tasks in order as soon as inputs are done and they fit (later ones may overtake a blocked one)'
    },
    random: {
      seeds: RANDOM_SEEDS,
      meanUnits: round(mean(random) / unitMs, 3),
      minUnits: Math.min(...random) / unitMs,
      maxUnits: Math.max(...random) / unitMs,
      meanToLowerBound: round(mean(random) / lb.ms, 3),
      meanToOptimal: round(mean(random) / opt.makespanMs, 3),
      how: `each task to a peer drawn uniformly among those able to run it (mulberry32, seeds 0–${RANDOM_SEEDS - 1}); list scheduled as round-robin`
    }
  }
  writeResult('placement', result)
  return result
}

interface RealRun { makespanMs: number, assignment: Map<string, string>, placements: Placement[], attempts: number, migrated: number, overrunMs: { p50: number, max: number } }

/** Each spec `runs` times on one mesh of 6 daemons; the results per spec. */
async function runOnDaemons (specs: JobSpec[], unitMs: number, runs: number): Promise<RealRun[][]> {
  const mesh = await createLocalMesh(PLACEMENT_PEERS.length, i => {
    const p = PLACEMENT_PEERS[i]!
    return {
      resources: { cpu: p.cpu, memoryMB: p.memoryMB, gpu: p.gpu, reserve: { cpu: 0, memoryMB: 0 }, speed: 1 },
      yield: { policy: 'off' },
      executor: { handlers: { sleeper: `${HANDLERS}#sleeper` }, exec: { allow: ['sleep'] } }
    }
  })
  try {
    const origin = await startMesh(mesh)
    const nameOf = new Map(mesh.daemons.map((d, i) => [d.peerId, PLACEMENT_PEERS[i]!.name]))
    // Worker threads and the handler module load on first use: one small job touches every kind of peer first.
    await runToDone(origin, { name: 'warm-up', tasks: { w: { kind: 'handler', handler: 'sleeper', input: { ms: 300 }, count: 12 }, g: { kind: 'handler', handler: 'sleeper', input: { ms: 300 }, resources: { gpu: 1 } } } })
    const out: RealRun[][] = specs.map(() => [])
    for (let r = 0; r < runs; r++) {
      for (const [i, spec] of specs.entries()) out[i]!.push(await runOnce(origin, spec, nameOf, unitMs, `${spec.name} ${r + 1}/${runs}`))
    }
    return out
  } finally {
    await mesh.destroy()
  }
}

async function runOnce (origin: ControlClient, spec: JobSpec, nameOf: Map<string, string>, unitMs: number, label: string): Promise<RealRun> {
  const { t0, id, events } = await runToDone(origin, spec)
  const done = events.find(e => e.type === 'job-done')!
  // Who ran each task: the job's final state (the attempt that finished it).
  const snap = await origin.job(id)
  const assignment = new Map<string, string>()
  for (const t of snap.tasks ?? []) {
    const ran = [...t.attempts].reverse().find(a => a.state === 'done')
    if (ran !== undefined) assignment.set(t.id, nameOf.get(ran.peer) ?? ran.peer)
  }
  // When, as the origin saw it: the last task-started before each task's task-done.
  const started = new Map<string, number>()
  const placements: Placement[] = []
  for (const e of events) {
    if (e.type === 'task-started') started.set(`${e.taskId}\n${e.attempt}`, e.at)
    if (e.type !== 'task-done') continue
    placements.push({ task: e.taskId, peer: nameOf.get(e.peer) ?? e.peer, startMs: (started.get(`${e.taskId}\n${e.attempt}`) ?? NaN) - t0, endMs: e.at - t0 })
  }
  const overruns = placements.map(p => p.endMs - p.startMs - (spec.tasks[p.task]!.estimateMs ?? 0)).filter(Number.isFinite)
  const missing = Object.keys(spec.tasks).filter(t => !assignment.has(t))
  log(`${label}: ${round((done.at - t0) / unitMs, 3)} units (${done.at - t0} ms)${missing.length > 0 ? `; no finished attempt found for ${missing.join(', ')}` : ''}`)
  return {
    makespanMs: done.at - t0,
    assignment,
    placements,
    attempts: events.filter(e => e.type === 'task-started').length,
    migrated: events.filter(e => e.type === 'task-migrated').length,
    overrunMs: { p50: Math.round(quantile(overruns, 0.5)), max: Math.round(Math.max(...overruns)) }
  }
}

/** Start every daemon and wait until each sees all six alive with the sleeper handler. */
async function startMesh (mesh: LocalMesh): Promise<ControlClient> {
  await Promise.all(mesh.daemons.map(async d => { await d.start(60_000) }))
  const targets = mesh.daemons.map(d => d.client())
  await poll(async () => {
    for (const t of targets) {
      const { peers } = await t.peers()
      if (peers.filter(p => p.state === 'alive' && p.caps.handlers.includes('sleeper')).length !== mesh.daemons.length) return false
    }
    return true
  }, 60_000, 250)
  return targets[ORIGIN]!
}

/** The job as exec tasks that run `sleep` for the same time (spec validated again). */
function execSleepSpec (spec: JobSpec): JobSpec {
  const tasks: Record<string, unknown> = {}
  for (const [name, t] of Object.entries(spec.tasks)) {
    tasks[name] = { kind: 'exec', command: ['sleep', String(t.estimateMs! / 1000)], resources: t.resources, estimateMs: t.estimateMs, after: t.after }
  }
  return parseJobSpec({ name: `${spec.name}-exec`, tasks })
}

function assertValid (ix: ReturnType<typeof indexProblem>, schedule: { placements: Placement[], makespanMs: number }): void {
  const problems = checkSchedule(ix, schedule)
  if (problems.length > 0) throw new Error(`invalid schedule: ${problems.slice(0, 5).join('; ')}`)
}

function byTask (placements: Placement[], unitMs: number): Record<string, { peer: string, startUnits: number, endUnits: number }> {
  return Object.fromEntries([...placements].sort((a, b) => a.startMs - b.startMs).map(p => [p.task, { peer: p.peer, startUnits: round(p.startMs / unitMs, 3), endUnits: round(p.endMs / unitMs, 3) }]))
}

function mean (xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length
}

function round (x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

// `node bench/placement.ts [--quick]` runs this benchmark alone.
if (import.meta.filename === process.argv[1]) {
  await benchPlacement({ quick: process.argv.includes('--quick') })
  process.exit(0)
}

/**
 * What the simulated mesh is asked to do: jobs of several shapes (plain
 * fan-out, map → reduce, map → combine → final, GPU work, licence-bound work,
 * tagged work, flaky tasks with retries, and now and then a job that is meant to
 * fail), their origins and arrival times. Everything a task does — how long it
 * takes, whether an attempt fails, the value it returns — is a pure function of
 * (seed, job, task, attempt), so the checks can recompute what is correct.
 */
import { parseJobSpec, type JobSpec, type JobSpecInput } from '../../src/jobs/spec.ts'
import { hash32, unit, type Rng } from './prng.ts'

/** The handler every simulated peer registers; the task's role comes in its input. */
export const SIM_HANDLER = 'sim'
/** A custom resource only some peers offer (think: a software licence). */
export const LICENCE = 'licence.sim'
/** A tag only some peers carry (think: a site). */
export const SITE_TAG = 'site=b'

/** The handler's input: which job plan and task this is (the instance comes from ctx.index). */
export interface SimInput { job: string, task: string }

export interface TaskPlan {
  name: string
  count?: number
  /** Work in ms at speed 1.0 for each instance, drawn in [minMs, maxMs]. */
  minMs: number
  maxMs: number
  /** Probability that an instance is flaky; a flaky one fails its first k ≤ retries attempts. */
  flakyRate: number
  retries: number
  /** Every attempt fails: the job must end `failed` after exactly retries + 1 failures. */
  doomed: boolean
  /** Upstream tasks, with their fan-out (undefined = single instance). */
  upstream: Array<{ name: string, count?: number }>
  /** The handler saves a checkpoint after each quarter of its work and resumes from one. */
  checkpoints: boolean
}

/** Share of instances that take TAIL_FACTOR× their drawn work (stragglers for backup attempts to catch). */
export const TAIL_RATE = 0.03
export const TAIL_FACTOR = 6

export interface JobPlan {
  /** Unique in the run; also the job spec's name. */
  name: string
  shape: string
  origin: string
  /** Simulated ms after the start of the run. */
  submitAt: number
  spec: JobSpec
  tasks: Map<string, TaskPlan>
  instances: number
  /** The task whose failure is meant to end the job, if any. */
  doomedTask?: string
}

export interface PeerCaps { gpuPeers: number, licencePeers: number, sitePeers: number }

export interface WorkloadOptions {
  seed: number
  tasks: number
  jobs: number
  origins: string[]
  submitWindowMs: number
  startAt: number
  minMs: number
  maxMs: number
  /** Allow flaky tasks and the occasional doomed job. */
  failures: boolean
  caps: PeerCaps
}

/** The value instance `taskId` of job `job` must return (any attempt, any peer). */
export function expectedValue (seed: number, job: string, taskId: string): number {
  return hash32(`${job}/${taskId}`, seed)
}

/** Work in ms at speed 1.0 of one instance. */
export function workMs (seed: number, job: string, task: TaskPlan, taskId: string): number {
  const tail = unit(seed, 'tail', job, taskId) < TAIL_RATE ? TAIL_FACTOR : 1
  return Math.round((task.minMs + unit(seed, 'work', job, taskId) * (task.maxMs - task.minMs)) * tail)
}

/** Attempts numbered ≤ this fail (Infinity for a doomed task; 0 for a healthy one). */
export function failUntil (seed: number, job: string, task: TaskPlan, taskId: string): number {
  if (task.doomed) return Infinity
  if (task.retries === 0 || unit(seed, 'flaky', job, taskId) >= task.flakyRate) return 0
  return 1 + Math.floor(unit(seed, 'fails', job, taskId) * task.retries)
}

export function taskIdOf (name: string, index: number, count: number | undefined): string {
  return count === undefined ? name : `${name}[${index}]`
}

type Shape = 'fan' | 'mapreduce' | 'tree' | 'gpu' | 'licence' | 'site' | 'flaky'

export function makeWorkload (rng: Rng, o: WorkloadOptions): JobPlan[] {
  const shapes: Shape[] = ['fan', 'mapreduce', 'tree', 'flaky']
  if (o.caps.gpuPeers > 0) shapes.push('gpu')
  if (o.caps.licencePeers > 0) shapes.push('licence')
  if (o.caps.sitePeers > 0) shapes.push('site')
  const plans: JobPlan[] = []
  // Split the task budget over the jobs, unevenly.
  const weights = Array.from({ length: o.jobs }, () => 0.3 + rng.next())
  const total = weights.reduce((a, b) => a + b, 0)
  let left = o.tasks
  const doomedJob = o.failures && o.jobs >= 4 && rng.chance(0.5) ? rng.int(0, o.jobs - 1) : -1
  for (let j = 0; j < o.jobs; j++) {
    const budget = j === o.jobs - 1 ? Math.max(1, left) : Math.max(1, Math.round(o.tasks * weights[j]! / total))
    left -= budget
    const shape = j < shapes.length ? shapes[j]! : rng.pick(shapes)
    const name = `j${j}-${shape}`
    const plan = buildJob(rng, o, name, shape, budget, j === doomedJob)
    plan.origin = o.origins[j % o.origins.length]!
    plan.submitAt = o.startAt + Math.round(rng.next() * o.submitWindowMs)
    plans.push(plan)
  }
  return plans.sort((a, b) => a.submitAt - b.submitAt || a.name.localeCompare(b.name))
}

function buildJob (rng: Rng, o: WorkloadOptions, name: string, shape: Shape, budget: number, doomed: boolean): JobPlan {
  const tasks = new Map<string, TaskPlan>()
  const raw: JobSpecInput['tasks'] = {}
  const cpu = (): number => rng.pick([0.5, 1, 1, 1, 2])
  const mem = (): number => rng.pick([0, 256, 512, 1024, 2048])
  const span = (): { minMs: number, maxMs: number } => {
    const lo = o.minMs + Math.round(rng.next() * (o.maxMs - o.minMs) / 3)
    return { minMs: lo, maxMs: Math.max(lo + 1, o.maxMs - Math.round(rng.next() * (o.maxMs - lo) / 3)) }
  }
  const add = (task: string, count: number | undefined, extra: Omit<JobSpecInput['tasks'][string], 'kind' | 'handler' | 'input'> & { retries?: number }, plan: Partial<TaskPlan> = {}): void => {
    const retries = extra.retries ?? 0
    const upstream = (extra.after ?? []).map(u => ({ name: u, count: tasks.get(u)?.count }))
    tasks.set(task, {
      name: task, count, ...span(), flakyRate: 0, retries, doomed: false, upstream, checkpoints: rng.chance(0.4), ...plan
    })
    raw[task] = { kind: 'handler', handler: SIM_HANDLER, input: { job: name, task } satisfies SimInput, ...(count === undefined ? {} : { count }), ...extra }
  }
  const fanOut = (n: number): number | undefined => n >= 2 ? n : undefined
  const flaky = o.failures ? { flakyRate: 0.3 } : {}
  switch (shape) {
    case 'fan':
      add('map', fanOut(budget), { resources: { cpu: cpu(), memoryMB: mem() }, retries: o.failures ? 2 : 0 }, flaky)
      break
    case 'mapreduce':
      add('map', fanOut(Math.max(1, budget - 1)), { resources: { cpu: cpu(), memoryMB: mem() }, retries: 1 })
      add('reduce', undefined, { resources: { cpu: 1 }, after: ['map'] })
      break
    case 'tree': {
      const k = Math.max(1, Math.min(8, Math.floor(budget / 10)))
      add('map', fanOut(Math.max(1, budget - k - 1)), { resources: { cpu: cpu(), memoryMB: mem() }, estimateMs: 1500 })
      add('combine', fanOut(k), { resources: { cpu: 1 }, after: ['map'], retries: 1 }, flaky)
      add('final', undefined, { resources: { cpu: 0.5 }, after: ['combine'] })
      break
    }
    case 'gpu': {
      const g = Math.max(1, Math.min(budget - 1, Math.max(1, o.caps.gpuPeers * 2)))
      add('prep', fanOut(Math.max(1, budget - g)), { resources: { cpu: cpu() } })
      add('train', fanOut(g), { resources: { cpu: 1, gpu: 1, memoryMB: 1024 }, after: ['prep'], retries: 1 })
      break
    }
    case 'licence':
      add('solve', fanOut(budget), { resources: { cpu: 1, custom: { [LICENCE]: 1 } }, priority: 50 })
      break
    case 'site':
      add('local', fanOut(budget), { resources: { cpu: cpu() }, tags: [SITE_TAG] })
      break
    case 'flaky':
      add('try', fanOut(budget), { resources: { cpu: cpu() }, retries: 3 }, o.failures ? { flakyRate: 0.6 } : {})
      break
  }
  let doomedTask: string | undefined
  if (doomed) {
    // One extra single-instance task that always fails: the job must fail, after every retry, and nothing else.
    add('doom', undefined, { resources: { cpu: 0.5 }, retries: 2 }, { doomed: true })
    doomedTask = 'doom'
  }
  const spec = parseJobSpec({ name, tasks: raw })
  let instances = 0
  for (const t of tasks.values()) instances += t.count ?? 1
  return { name, shape, origin: '', submitAt: 0, spec, tasks, instances, doomedTask }
}

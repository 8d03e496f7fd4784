/**
 * From a validated job spec to the units the auction trades: task instances.
 * A task with `count: N` fans out into `name[0]`…`name[N-1]`; a task without
 * one is a single instance with the id `name`. Dependencies stay at the level
 * of task names: a downstream instance waits for every instance of each
 * upstream task, and receives their results as one array (docs/ARCHITECTURE.md §8).
 */
import { PLACEHOLDER, withIndex } from './placeholder.ts'
import { JobSpecError, describeCycle, sortTasks, type ExecTaskSpec, type JobSpec, type TaskSpec } from './spec.ts'

export interface TaskInstance {
  /** `name` when the task has no `count`, else `name[i]`. */
  id: string
  name: string
  /** 0 when the task has no `count`. */
  index: number
  /** The fan-out size, when the task has a `count`. */
  count?: number
  /**
   * The task's spec with `{i}` replaced by the index in an exec task's
   * command, env values, stdin, inputs (both sides) and outputs. Handler input is left
   * alone (handlers get `ctx.index`). Instances without placeholders share
   * their task's spec object: treat it as read-only.
   */
  spec: TaskSpec
  /** Upstream task names (shared with the spec: read-only). */
  after: string[]
}

/** The id of instance `index` of task `name`: `name[index]`, or `name` when the task has no `count`. */
export function taskId (name: string, index: number, count?: number): string {
  return count === undefined ? name : `${name}[${index}]`
}

/** How many instances the job expands to. */
export function countInstances (spec: JobSpec): number {
  let n = 0
  for (const task of Object.values(spec.tasks)) n += task.count ?? 1
  return n
}

/**
 * Task names in an order where each comes after all of its upstream tasks
 * (ties keep the spec's order). Throws `JobSpecError` on a cycle or an unknown
 * upstream name, which `parseJobSpec` already rejects: this guards specs built
 * by hand.
 */
export function topologicalOrder (spec: JobSpec): string[] {
  // A spec does not change once parsed, and every round of its job asks (for the ranks).
  const known = orders.get(spec)
  if (known !== undefined) return [...known]
  const order = computeOrder(spec)
  orders.set(spec, order)
  return [...order]
}

const orders = new WeakMap<JobSpec, readonly string[]>()

function computeOrder (spec: JobSpec): string[] {
  const names = Object.keys(spec.tasks)
  const unknown = names.flatMap(n => (spec.tasks[n]?.after ?? []).flatMap((u, j) =>
    Object.hasOwn(spec.tasks, u) ? [] : [{ path: `tasks.${n}.after.${j}`, problem: `unknown task "${u}"` }]))
  const { order, cycles } = sortTasks(names, n => spec.tasks[n]?.after ?? [])
  const problems = [...unknown, ...cycles.map(c => ({ path: 'tasks', problem: describeCycle(c) }))]
  if (problems.length > 0) throw new JobSpecError(problems)
  return order
}

/**
 * Every instance of the job, tasks in `topologicalOrder`, each task's
 * instances by index. So running them in this order never starts an instance
 * before everything it waits for.
 */
export function expandJob (spec: JobSpec): TaskInstance[] {
  const instances: TaskInstance[] = []
  for (const name of topologicalOrder(spec)) {
    const task = spec.tasks[name] as TaskSpec
    const n = task.count ?? 1
    const templated = task.kind === 'exec' && hasPlaceholder(task)
    for (let index = 0; index < n; index++) {
      instances.push({
        id: taskId(name, index, task.count),
        name,
        index,
        ...(task.count === undefined ? {} : { count: task.count }),
        spec: templated ? substitute(task as ExecTaskSpec, index) : task,
        after: task.after
      })
    }
  }
  return instances
}

/** Name → names of the tasks that list it in `after` (every task has an entry), in spec order. */
export function dependents (spec: JobSpec): Map<string, string[]> {
  const map = new Map<string, string[]>(Object.keys(spec.tasks).map(n => [n, []]))
  for (const [name, task] of Object.entries(spec.tasks)) {
    for (const u of task.after) map.get(u)?.push(name)
  }
  return map
}

/**
 * Each task name's upward rank (HEFT): its own work plus the longest chain of
 * work downstream of it, with `workOf(name)` the work of one instance. A fan-out
 * counts once: its instances run side by side.
 */
export function upwardRanks (spec: JobSpec, workOf: (name: string) => number): Map<string, number> {
  const down = dependents(spec)
  const rank = new Map<string, number>()
  for (const name of topologicalOrder(spec).reverse()) {
    let longest = 0
    for (const d of down.get(name) ?? []) longest = Math.max(longest, rank.get(d) ?? 0)
    rank.set(name, workOf(name) + longest)
  }
  return rank
}

/**
 * Build the `upstream` object for a downstream task from finished results:
 * fan-out tasks give an array ordered by index, single tasks the value.
 * `resultOf` gets instance ids (`name` or `name[i]`).
 */
export function upstreamFor (spec: JobSpec, name: string, resultOf: (taskId: string) => unknown): Record<string, unknown> {
  const task = Object.hasOwn(spec.tasks, name) ? spec.tasks[name] : undefined
  if (task === undefined) throw new JobSpecError([{ path: `tasks.${name}`, problem: 'unknown task' }])
  const upstream: Record<string, unknown> = {}
  for (const u of task.after) {
    const up = Object.hasOwn(spec.tasks, u) ? spec.tasks[u] : undefined
    if (up === undefined) throw new JobSpecError([{ path: `tasks.${name}.after`, problem: `unknown task "${u}"` }])
    const count = up.count
    upstream[u] = count === undefined ? resultOf(u) : Array.from({ length: count }, (_, i) => resultOf(taskId(u, i, count)))
  }
  return upstream
}

function hasPlaceholder (task: ExecTaskSpec): boolean {
  const has = (s: string) => s.includes(PLACEHOLDER)
  return task.command.some(has) || Object.values(task.env).some(has) || (task.stdin !== undefined && has(task.stdin)) ||
    Object.entries(task.inputs).some(([k, v]) => has(k) || has(v)) || task.outputs.some(has)
}

/** A copy of `task` with every `{i}` replaced by `index`, in the places a placeholder is allowed. */
function substitute (task: ExecTaskSpec, index: number): ExecTaskSpec {
  const sub = (s: string): string => withIndex(s, index)
  return {
    ...task,
    command: task.command.map(sub),
    env: Object.fromEntries(Object.entries(task.env).map(([k, v]) => [k, sub(v)])),
    ...(task.stdin === undefined ? {} : { stdin: sub(task.stdin) }),
    // Both sides: `"part.csv": "parts/part-{i}.csv"` gives each instance its own file.
    inputs: Object.fromEntries(Object.entries(task.inputs).map(([k, v]) => [sub(k), sub(v)])),
    outputs: task.outputs.map(sub)
  }
}

/**
 * The job spec (docs/ARCHITECTURE.md §8, §10): what `mesh submit job.json` reads and
 * `peer.submit(spec)` takes. This module is the schema, its defaults and every
 * rule a spec must meet before it is journalled; `expand.ts` turns a valid spec
 * into task instances.
 *
 * A spec is checked once, at the origin, before anything is accepted: a typo
 * found here costs the user a second, found on a remote peer an hour. So
 * unknown fields are errors, every problem is reported (not just the first),
 * and each names its path, e.g. `tasks.train.resources.cpu: must be > 0`.
 */
import { z } from 'zod'
import { JobSpecError, MESSAGE_PROBLEMS, type JobSpecProblem } from '../errors.ts'
import { LIMITS as AD_LIMITS, RESOURCE_NAME } from '../../protocols/resources.ts'
import { MAX_ARTIFACT_BYTES } from '../../protocols/artifact.ts'
import { closest, describeCycle, isPlainObject, jsonProblems, sortTasks } from './spec-checks.ts'

// The error lives with the other errors, so that code which only reports it
// (the CLI) need not load the schema.
export { JobSpecError, type JobSpecProblem }
export { describeCycle, sortTasks } from './spec-checks.ts'

export const JOB_LIMITS = {
  maxTasks: 1000,
  /** Instances after fan-out, over the whole job (also the largest `count`). */
  maxInstances: 100_000,
  /** The whole spec, as UTF-8 JSON: it is journalled and travels to the origin whole. */
  maxSpecBytes: 16 * 1024 * 1024,
  maxRetries: 100,
  /** `verify.replicas`: peers that run the same task to compare results. */
  maxReplicas: 7,
  maxPriority: 1000,
  maxTimeoutMs: 7 * 24 * 3600_000,
  /** Larger than any machine, so a typo (`"cpu": 4000`) is caught rather than never scheduled. */
  maxCpu: 1024,
  maxTags: AD_LIMITS.maxTags,
  maxNameLength: AD_LIMITS.maxNameLength,
  maxCustomResources: AD_LIMITS.maxCustomResources,
  /** Nesting of a handler's `input`: deeper values break encoders' stacks. */
  maxInputDepth: 512
} as const

/** Task names end up in ids as `name[i]`, so brackets are not allowed. */
export const TASK_NAME = /^[A-Za-z0-9_.-]{1,64}$/
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

// ---------------------------------------------------------------- the types

export interface TaskResources {
  cpu: number
  memoryMB: number
  /** Whole GPUs. */
  gpu: number
  /** GPU memory, MB: a share of one GPU when `gpu` is 0, else the least memory each of its GPUs must have. */
  gpuMemoryMB?: number
  custom: Record<string, number>
}

interface TaskSpecBase {
  resources: TaskResources
  /** Fan-out: instances `0..count-1`; absent means one instance. */
  count?: number
  /** Names of upstream tasks: every instance of each must finish first. */
  after: string[]
  retries: number
  /** Estimated work in ms at speed 1.0 (the reference machine). */
  estimateMs?: number
  priority: number
  /** Peer tags required to run the task, e.g. `site=lab1`. */
  tags: string[]
  timeoutMs?: number
  /**
   * Large files the task reads (models, datasets), by name: a handler finds
   * each at `ctx.artifacts[name]`, an exec task in its scratch directory under
   * that name. Peers cache them by sha-256 and fetch them from each other.
   */
  artifacts: Record<string, ArtifactSource>
  /**
   * Run the task on `replicas` peers and accept the result most of them agree
   * on (by digest); on disagreement run more, up to `max`, then fail naming
   * the peers that disagreed. `adaptive`: a peer whose last `after` checked
   * results all agreed is trusted alone, except at random `rate` of the time.
   */
  verify?: VerifySpec
}

export interface VerifySpec {
  replicas: number
  max: number
  adaptive?: { after: number, rate: number }
}

/**
 * Where an artifact comes from: a file on the submitting machine (the origin
 * reads it at submit and names it by its sha-256 from then on), or its sha-256
 * and size, for an artifact some peer of the mesh already holds.
 */
export type ArtifactSource = { path: string } | { sha256: string, size: number }

export interface HandlerTaskSpec extends TaskSpecBase {
  kind: 'handler'
  handler: string
  /** Any JSON value; `null` when absent. Each instance gets the same input and its own `ctx.index`. */
  input: unknown
  /** The `ctx.warm` key the handler loads (a model): the auction prefers peers where it is already warm. */
  warm?: string
}

export interface ExecTaskSpec extends TaskSpecBase {
  kind: 'exec'
  /** argv; `{i}` becomes the instance index. */
  command: string[]
  env: Record<string, string>
  stdin?: string
  /** Scratch-relative path → path on the submitting machine. */
  inputs: Record<string, string>
  /** Scratch-relative paths collected after a successful exit. */
  outputs: string[]
  /** Run through `/bin/sh -c` instead of directly. */
  shell: boolean
  /** The task needs the network (a sandboxed task has none otherwise); only peers that allow it run it. */
  network: boolean
  /** The confinement a peer must give it: `limits` (cgroup-enforced memory, CPU, pids) or `sandbox` (bubblewrap too). */
  isolation: 'any' | 'limits' | 'sandbox'
}

export type TaskSpec = HandlerTaskSpec | ExecTaskSpec
export interface JobSpec { name: string, tasks: Record<string, TaskSpec> }

// ---------------------------------------------------------------- the schema

const noNul = (s: string) => !s.includes('\0')
const NUL = { error: 'must not contain a NUL character' }

/**
 * Why `p` is not a safe scratch-relative path, or undefined when it is. The
 * executor joins these to its per-attempt scratch directory, so an absolute
 * path or a `..` segment would read or write outside it. Backslashes count as
 * separators too, so a spec means the same on every peer.
 */
export function scratchPathProblem (p: string): string | undefined {
  if (p === '') return 'must not be empty'
  if (!noNul(p)) return NUL.error
  if (/^[/\\]/.test(p) || /^[A-Za-z]:/.test(p)) return 'must be a relative path inside the scratch directory, not absolute'
  const segments = p.split(/[/\\]/)
  if (segments.includes('..')) return 'must not contain ".." segments (it must stay inside the scratch directory)'
  if (segments.every(s => s === '' || s === '.')) return 'must name a file inside the scratch directory'
  return undefined
}

const scratchPath = z.string().superRefine((p, ctx) => {
  const problem = scratchPathProblem(p)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

const whole = (min: number, max: number, what = 'a whole number', note = '') => {
  const error = `must be ${what} from ${min} to ${max}${note}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

const resourcesSchema = z.strictObject({
  /** Cores; fractions are fine (0.5 is half a core). */
  cpu: z.number().positive({ error: 'must be > 0' }).max(JOB_LIMITS.maxCpu, { error: `must be at most ${JOB_LIMITS.maxCpu} cores` }).default(1),
  memoryMB: z.number().int({ error: 'must be a whole number of MB' }).min(0, { error: 'must be ≥ 0' }).max(AD_LIMITS.maxQuantity).default(0),
  gpu: z.number().int({ error: 'must be a whole number of GPUs' }).min(0, { error: 'must be ≥ 0' }).max(AD_LIMITS.maxQuantity).default(0),
  gpuMemoryMB: z.number({ error: 'must be a whole number of MB' }).int({ error: 'must be a whole number of MB' }).min(0, { error: 'must be ≥ 0' }).max(AD_LIMITS.maxQuantity).optional(),
  custom: z.record(
    z.string().regex(RESOURCE_NAME, { error: 'resource names use letters, digits and _ . : - (1–64 chars)' }),
    z.number().min(0, { error: 'must be ≥ 0' }).max(AD_LIMITS.maxQuantity)
  ).refine(r => Object.keys(r).length <= JOB_LIMITS.maxCustomResources, { error: `at most ${JOB_LIMITS.maxCustomResources} custom resources` }).default({})
})

/** At most this many artifacts per task (their total size is bounded by what peers can hold). */
export const MAX_TASK_ARTIFACTS = 16

const artifactSource = z.union([
  z.string().min(1).refine(noNul, NUL).transform(path => ({ path })),
  z.strictObject({ path: z.string().min(1).refine(noNul, NUL) }),
  z.strictObject({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be a sha-256: 64 lowercase hex digits' }),
    size: z.number().int({ error: 'must be a whole number of bytes' }).min(0, { error: 'must be ≥ 0' }).max(MAX_ARTIFACT_BYTES, { error: `must be at most ${MAX_ARTIFACT_BYTES / 1024 ** 3} GiB` })
  })
], { error: 'must be a path on the submitting machine, { "path": … }, or { "sha256": …, "size": … }' })

const PRIORITY_ERROR = `must be a number from ${-JOB_LIMITS.maxPriority} to ${JOB_LIMITS.maxPriority}`

const base = {
  resources: resourcesSchema.prefault({}),
  count: whole(1, JOB_LIMITS.maxInstances).optional(),
  after: z.array(z.string()).default([]),
  retries: whole(0, JOB_LIMITS.maxRetries).default(0),
  estimateMs: z.number().positive({ error: 'must be a number of milliseconds > 0' }).optional(),
  priority: z.number({ error: PRIORITY_ERROR }).min(-JOB_LIMITS.maxPriority, { error: PRIORITY_ERROR }).max(JOB_LIMITS.maxPriority, { error: PRIORITY_ERROR }).default(0),
  tags: z.array(z.string().min(1).max(JOB_LIMITS.maxNameLength)).max(JOB_LIMITS.maxTags).default([]),
  timeoutMs: whole(1, JOB_LIMITS.maxTimeoutMs, 'a whole number of milliseconds', ' (7 days)').optional(),
  artifacts: z.record(scratchPath, artifactSource)
    .refine(r => Object.keys(r).length <= MAX_TASK_ARTIFACTS, { error: `at most ${MAX_TASK_ARTIFACTS} artifacts per task` })
    .default({}),
  verify: z.strictObject({
    replicas: whole(2, JOB_LIMITS.maxReplicas),
    max: whole(2, JOB_LIMITS.maxReplicas + 4).optional(),
    adaptive: z.strictObject({
      after: whole(1, 1000).default(10),
      rate: z.number({ error: 'must be a number from 0 to 1' }).min(0, { error: 'must be a number from 0 to 1' }).max(1, { error: 'must be a number from 0 to 1' }).default(0.1)
    }).optional()
  }).transform((v, ctx) => {
    const max = v.max ?? v.replicas + 2
    if (max < v.replicas) ctx.addIssue({ code: 'custom', path: ['max'], message: `must be at least replicas (${v.replicas})` })
    return { replicas: v.replicas, max, ...(v.adaptive !== undefined ? { adaptive: v.adaptive } : {}) }
  }).optional()
}

const handlerTaskSchema = z.strictObject({
  kind: z.literal('handler'),
  handler: z.string().min(1).max(JOB_LIMITS.maxNameLength),
  input: z.unknown().superRefine((value, ctx) => {
    for (const p of jsonProblems(value, JOB_LIMITS.maxInputDepth)) ctx.addIssue({ code: 'custom', path: p.path, message: p.problem })
  }).default(null),
  warm: z.string().min(1).max(JOB_LIMITS.maxNameLength).optional(),
  ...base
})

const execTaskSchema = z.strictObject({
  kind: z.literal('exec'),
  command: z.array(z.string().min(1).refine(noNul, NUL)).min(1, { error: 'needs at least the program to run' }),
  env: z.record(
    z.string().regex(ENV_NAME, { error: 'environment variable names use letters, digits and _, not starting with a digit' }),
    z.string().refine(noNul, NUL)
  ).default({}),
  stdin: z.string().optional(),
  inputs: z.record(scratchPath, z.string().min(1)).default({}),
  outputs: z.array(scratchPath).superRefine((outs, ctx) => {
    const seen = new Set<string>()
    outs.forEach((o, i) => {
      if (seen.has(o)) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate: "${o}" is already listed` })
      seen.add(o)
    })
  }).default([]),
  shell: z.boolean().default(false),
  network: z.boolean().default(false),
  isolation: z.enum(['any', 'limits', 'sandbox'], { error: 'must be "any", "limits" (cgroup-enforced limits) or "sandbox" (bubblewrap and cgroups)' }).default('any'),
  ...base
})

const KIND_ERROR = 'must be "handler" or "exec"'

const taskSchema = z.discriminatedUnion('kind', [handlerTaskSchema, execTaskSchema], {
  error: iss => isPlainObject(iss.input) ? KIND_ERROR : 'must be an object with a "kind" ("handler" or "exec")'
})

/**
 * Per-task rules. Rules that need the whole graph (dependencies, cycles,
 * totals) live in `structureProblems`, which runs even when some task is
 * malformed, so the user sees every problem at once.
 */
export const jobSpecSchema = z.strictObject({
  name: z.string().min(1).max(JOB_LIMITS.maxNameLength),
  tasks: z.record(
    z.string().regex(TASK_NAME, { error: 'task names use letters, digits and _ . - (1–64 chars)' }),
    taskSchema
  )
})

/** What a user may write: defaulted fields optional. */
export type JobSpecInput = z.input<typeof jobSpecSchema>

/**
 * Validate a spec (parsed JSON, or an object from the embedding API) and fill
 * in defaults. Throws `JobSpecError` listing every problem.
 */
export function parseJobSpec (raw: unknown, source?: string): JobSpec {
  const tooBig = sizeProblem(raw)
  if (tooBig !== undefined) throw new JobSpecError([tooBig], source)
  const result = jobSpecSchema.safeParse(raw, { error: genericMessage })
  // concat, not push(...): a spec can hold more problems than a call has arguments.
  const problems = (result.success ? [] : result.error.issues.flatMap(i => describeIssue(i, raw))).concat(structureProblems(raw))
  if (problems.length > 0 || !result.success) throw new JobSpecError(problems, source)
  return result.data
}

/** The 16 MiB cap, checked first so a huge spec costs one stringify, not a full validation. */
function sizeProblem (raw: unknown): JobSpecProblem | undefined {
  const problem = `must be at most ${JOB_LIMITS.maxSpecBytes / 1024 / 1024} MiB as JSON`
  let json: string | undefined
  try {
    json = JSON.stringify(raw)
  } catch (err) {
    // Too long a string, or nesting too deep for the encoder; a bigint or a
    // cycle (TypeError) is reported by the schema with its path instead.
    return err instanceof RangeError ? { path: '(root)', problem: `${problem} (too large or too deeply nested to encode)` } : undefined
  }
  if (json === undefined || json.length * 3 <= JOB_LIMITS.maxSpecBytes) return undefined
  const bytes = json.length > JOB_LIMITS.maxSpecBytes ? json.length : new TextEncoder().encode(json).byteLength
  return bytes > JOB_LIMITS.maxSpecBytes ? { path: '(root)', problem: `${problem} (it is ${(bytes / 1024 / 1024).toFixed(1)} MiB)` } : undefined
}

/** Messages for issues whose schema sets none: plain words instead of zod's defaults. */
function genericMessage (iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required'
      return ({ string: 'must be a string', number: 'must be a number', boolean: 'must be true or false', array: 'must be a list', object: 'must be an object', record: 'must be an object' } as Record<string, string>)[iss.expected]
    case 'invalid_value': return `must be ${iss.values.map(v => JSON.stringify(v)).join(' or ')}`
    case 'too_small':
      if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`
      if (iss.origin === 'array') return iss.minimum === 1 ? 'must not be empty' : `needs at least ${iss.minimum} entries`
      return `must be ≥ ${iss.minimum}`
    case 'too_big':
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`
      if (iss.origin === 'array') return `at most ${iss.maximum} entries`
      return `must be ≤ ${iss.maximum}`
    default: return undefined
  }
}

const HANDLER_FIELDS = Object.keys(handlerTaskSchema.shape)
const EXEC_FIELDS = Object.keys(execTaskSchema.shape)
const FIELDS_AT_DEPTH: Record<number, readonly string[]> = {
  0: Object.keys(jobSpecSchema.shape),
  3: Object.keys(resourcesSchema.shape)
}

function describeIssue (issue: z.core.$ZodIssue, raw: unknown): JobSpecProblem[] {
  const path = issue.path.map(String)
  const at = path.length === 0 ? '(root)' : path.join('.')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map(k => ({ path: path.length === 0 ? k : `${at}.${k}`, problem: 'unknown field' + unknownFieldHint(k, path, raw) }))
  }
  if (issue.code === 'invalid_key') {
    return [{ path: at, problem: issue.issues[0]?.message ?? issue.message }]
  }
  return [{ path: at, problem: issue.message }]
}

/** `(did you mean "after"?)`, or `(only "exec" tasks have it)` for the other kind's field. */
function unknownFieldHint (key: string, path: string[], raw: unknown): string {
  let known = FIELDS_AT_DEPTH[path.length] ?? []
  if (path.length === 2 && path[0] === 'tasks') {
    const kind = (lookup(raw, path) as { kind?: unknown } | undefined)?.kind
    const [own, other, otherKind] = kind === 'exec' ? [EXEC_FIELDS, HANDLER_FIELDS, 'handler'] : [HANDLER_FIELDS, EXEC_FIELDS, 'exec']
    if (other.includes(key)) return ` (only "${otherKind}" tasks have it)`
    known = own
  }
  const guess = closest(key, known)
  return guess === undefined ? '' : ` (did you mean "${guess}"?)`
}

function lookup (value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, p) => isPlainObject(v) && Object.hasOwn(v, p) ? v[p] : undefined, value)
}

// ---------------------------------------------------------------- whole-job rules

/**
 * Rules across tasks: the number of tasks and instances, `after` naming real
 * tasks, and no cycles. Works on the raw input, defensively, so it also runs
 * when the schema failed elsewhere.
 */
function structureProblems (raw: unknown): JobSpecProblem[] {
  const tasks = isPlainObject(raw) && Object.hasOwn(raw, 'tasks') ? raw.tasks : undefined
  if (!isPlainObject(tasks)) return []
  const problems: JobSpecProblem[] = []
  const names = Object.keys(tasks)
  if (names.length === 0) problems.push({ path: 'tasks', problem: 'needs at least one task' })
  if (names.length > JOB_LIMITS.maxTasks) problems.push({ path: 'tasks', problem: `at most ${JOB_LIMITS.maxTasks} tasks (found ${names.length})` })

  problems.push(...protoKeyProblems(tasks))

  let instances = 0
  const upstream = new Map<string, string[]>()
  for (const name of names) {
    const task = tasks[name]
    const count = isPlainObject(task) ? task.count : undefined
    instances += Number.isInteger(count) && (count as number) >= 1 && (count as number) <= JOB_LIMITS.maxInstances ? count as number : 1
    const after = isPlainObject(task) && Array.isArray(task.after) ? task.after as unknown[] : []
    const ups = new Set<string>()
    after.forEach((u, j) => {
      if (typeof u !== 'string') return
      const at = `tasks.${name}.after.${j}`
      if (u === name) problems.push({ path: at, problem: 'a task cannot depend on itself' })
      else if (!Object.hasOwn(tasks, u)) {
        // Guessing costs a string distance per task name: only for problems the message shows.
        const guess = problems.length < MESSAGE_PROBLEMS ? closest(u, names) : undefined
        problems.push({ path: at, problem: `unknown task "${u}"` + (guess === undefined ? '' : ` (did you mean "${guess}"?)`) })
      } else if (ups.has(u)) problems.push({ path: at, problem: `duplicate: "${u}" is already listed` })
      else ups.add(u)
    })
    upstream.set(name, [...ups])
  }
  if (instances > JOB_LIMITS.maxInstances) {
    problems.push({ path: 'tasks', problem: `too many task instances: ${instances} in all (at most ${JOB_LIMITS.maxInstances})` })
  }
  for (const cycle of sortTasks(names, n => upstream.get(n) ?? []).cycles) {
    problems.push({ path: 'tasks', problem: describeCycle(cycle) })
  }
  return problems
}

/**
 * zod skips a record key named `__proto__` (assigning it would swap the
 * output's prototype), so a task or variable of that name would vanish
 * without a word. Say so instead. Strict objects already report it as unknown.
 */
function protoKeyProblems (tasks: Record<string, unknown>): JobSpecProblem[] {
  const problem = '"__proto__" is not allowed as a name'
  const problems: JobSpecProblem[] = []
  if (Object.hasOwn(tasks, '__proto__')) problems.push({ path: 'tasks.__proto__', problem })
  for (const [name, task] of Object.entries(tasks)) {
    for (const field of ['env', 'inputs', 'resources.custom']) {
      const record = lookup(task, field.split('.'))
      if (isPlainObject(record) && Object.hasOwn(record, '__proto__')) problems.push({ path: `tasks.${name}.${field}.__proto__`, problem })
    }
  }
  return problems
}

/**
 * `/meshwork/task/1.0.0`: origin ↔ executor over one long-lived stream per
 * direction. Origin → executor: `award`, `ack`, `cancel`. Executor → origin:
 * `accept` (with rejections), `progress` (also the lease heartbeat), `result`,
 * `release` (tasks given back when the machine gets busy).
 * Every message batches many tasks of one job; every task reference carries its
 * attempt number, which fences stale attempts (docs/ARCHITECTURE.md §7).
 *
 * Within v1 only optional fields may be added; anything else is `/2`.
 */
import { z } from 'zod'
import { decodeMessage, encodeMessage, type Decoded } from './codec.ts'
import { resourcesSchema } from './resources.ts'
import { MAX_ARTIFACT_BYTES } from './artifact.ts'

export const TASK_PROTOCOL = '/meshwork/task/1.0.0'
export const TASK_VERSION = 1 as const

export const TASK_LIMITS = {
  /** A frame carries inline data up to this; anything larger travels as a blob. */
  maxFrameBytes: 16 * 1024 * 1024,
  /** Inline a value or file when it encodes to at most this; else make it a blob. */
  inlineBytes: 256 * 1024,
  maxTasksPerMessage: 4096,
  maxIdLength: 160,
  /** A failed result's error line. */
  maxErrorLength: 4096,
  /** A progress message. */
  maxMessageLength: 256
} as const

const id = z.string().min(1).max(TASK_LIMITS.maxIdLength)
const attemptRef = z.object({ taskId: id, attempt: z.number().int().min(1) })
export type AttemptRef = z.infer<typeof attemptRef>

/** A content-addressed blob held by the sender, fetched over `/meshwork/blob/1.0.0`. */
export const blobRefSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(0)
})
export type BlobRef = z.infer<typeof blobRefSchema>

/** File contents: inline when small, else a blob reference. */
export const fileDataSchema = z.union([
  z.object({ inline: z.custom<Uint8Array>(v => v instanceof Uint8Array, 'must be bytes') }),
  z.object({ blob: blobRefSchema })
])
export type FileData = z.infer<typeof fileDataSchema>

const relPath = z.string().min(1).max(512).refine(p => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path without ..')

export const awardedTaskSchema = attemptRef.extend({
  index: z.number().int().min(0),
  count: z.number().int().min(1).optional(),
  kind: z.enum(['handler', 'exec']),
  handler: z.string().max(128).optional(),
  input: z.unknown().optional(),
  exec: z.object({
    command: z.array(z.string().max(4096)).min(1).max(4096),
    env: z.record(z.string(), z.string()),
    stdin: z.string().optional(),
    inputs: z.record(relPath, fileDataSchema),
    outputs: z.array(relPath).max(1024),
    shell: z.boolean(),
    /** The task needs the network: a sandboxed task has none otherwise (optional in v1). */
    network: z.boolean().optional(),
    /** The confinement the task asked for (`limits` or `sandbox`), re-checked by the executor (optional in v1). */
    isolation: z.string().max(16).optional()
  }).optional(),
  demand: resourcesSchema,
  timeoutMs: z.number().int().min(1).optional(),
  /** Upstream results by task name (see RunRequest.upstream). */
  upstream: z.record(z.string(), z.unknown()),
  /** The last checkpoint of an earlier attempt: this attempt resumes from it. */
  restored: z.unknown().optional(),
  /**
   * The task's upward rank (ms of work on the longest chain from it, as in the
   * call for bids): a queued task with more work waiting on it starts first
   * (optional in v1; absent: arrival order).
   */
  rankMs: z.number().finite().min(0).optional(),
  /** The task's expected work (ms at speed 1.0, as in the call for bids): the executor's estimate of when it frees its slot (optional in v1). */
  workMs: z.number().finite().min(0).optional(),
  /** Artifacts the task reads, by name; the executor gets them from its cache or from any peer that holds them (optional in v1). */
  artifacts: z.array(z.object({ name: relPath, sha256: blobRefSchema.shape.sha256, size: z.number().int().min(0).max(MAX_ARTIFACT_BYTES) })).max(64).optional(),
  /** The `ctx.warm` key the handler loads: the executor starts it on a thread where that key is warm (optional in v1). */
  warm: z.string().max(128).optional()
})
export type AwardedTask = z.infer<typeof awardedTaskSchema>

const award = z.object({ v: z.literal(TASK_VERSION), type: z.literal('award'), jobId: id, round: z.number().int().min(0), tasks: z.array(awardedTaskSchema).min(1).max(TASK_LIMITS.maxTasksPerMessage) })
const accept = z.object({
  v: z.literal(TASK_VERSION),
  type: z.literal('accept'),
  jobId: id,
  accepted: z.array(attemptRef).max(TASK_LIMITS.maxTasksPerMessage),
  rejected: z.array(attemptRef.extend({ reason: z.string().max(512) })).max(TASK_LIMITS.maxTasksPerMessage)
})
const progress = z.object({
  v: z.literal(TASK_VERSION),
  type: z.literal('progress'),
  jobId: id,
  items: z.array(attemptRef.extend({
    /** True once the attempt has started running (not just queued). */
    running: z.boolean(),
    fraction: z.number().finite().min(0).max(1).optional(),
    message: z.string().max(TASK_LIMITS.maxMessageLength).optional()
  })).max(TASK_LIMITS.maxTasksPerMessage)
})
/** Where the attempt's artifacts came from: bytes fetched over the network, bytes found in this peer's cache (optional in v1). */
const artifactBytesSchema = z.object({ network: z.number().int().min(0), cache: z.number().int().min(0) })
export type ArtifactBytes = z.infer<typeof artifactBytesSchema>

export const taskResultSchema = z.discriminatedUnion('ok', [
  attemptRef.extend({
    ok: z.literal(true),
    value: z.unknown().optional(),
    /** The value, msgpack-encoded, as a blob when it is too large to inline. */
    valueBlob: blobRefSchema.optional(),
    outputs: z.record(relPath, fileDataSchema).optional(),
    durationMs: z.number().finite().min(0),
    artifactBytes: artifactBytesSchema.optional()
  }),
  attemptRef.extend({
    ok: z.literal(false),
    error: z.string().max(TASK_LIMITS.maxErrorLength),
    reason: z.string().max(64),
    retryable: z.boolean(),
    value: z.unknown().optional(),
    durationMs: z.number().finite().min(0),
    artifactBytes: artifactBytesSchema.optional()
  })
])
export type TaskResult = z.infer<typeof taskResultSchema>
const result = z.object({ v: z.literal(TASK_VERSION), type: z.literal('result'), jobId: id, results: z.array(taskResultSchema).min(1).max(TASK_LIMITS.maxTasksPerMessage) })
const ack = z.object({ v: z.literal(TASK_VERSION), type: z.literal('ack'), jobId: id, acks: z.array(attemptRef).max(TASK_LIMITS.maxTasksPerMessage) })
const cancel = z.object({
  v: z.literal(TASK_VERSION),
  type: z.literal('cancel'),
  jobId: id,
  /** Absent: every attempt of the job. */
  tasks: z.array(attemptRef).max(TASK_LIMITS.maxTasksPerMessage).optional(),
  reason: z.string().max(256)
})

/**
 * Origin → bidder: the round closed and this peer won nothing in it, so it can
 * release what it held for its bids now rather than when they expire. (A
 * winner learns the same from its award.) Added in v1 as a new message type:
 * a peer that does not know it drops it, and its holds expire as before.
 */
const closed = z.object({ v: z.literal(TASK_VERSION), type: z.literal('closed'), jobId: id, round: z.number().int().min(0) })

/** Executor → origin: the last checkpoint an attempt saved (inline, or as a blob when large). */
const checkpoint = attemptRef.extend({
  v: z.literal(TASK_VERSION),
  type: z.literal('checkpoint'),
  jobId: id,
  state: z.unknown().optional(),
  stateBlob: blobRefSchema.optional()
})

/** Executor → origin: tasks given back (the machine got busy: load shift). The origin re-announces them at once. */
const release = z.object({
  v: z.literal(TASK_VERSION),
  type: z.literal('release'),
  jobId: id,
  tasks: z.array(attemptRef.extend({ reason: z.string().max(256) })).min(1).max(TASK_LIMITS.maxTasksPerMessage)
})

export const taskMessageSchema = z.discriminatedUnion('type', [award, accept, progress, result, ack, cancel, release, checkpoint, closed])
export type TaskMessage = z.infer<typeof taskMessageSchema>
export type AwardMsg = z.infer<typeof award>
export type AcceptMsg = z.infer<typeof accept>
export type ProgressMsg = z.infer<typeof progress>
export type ResultMsg = z.infer<typeof result>
export type AckMsg = z.infer<typeof ack>
export type CancelMsg = z.infer<typeof cancel>
export type ReleaseMsg = z.infer<typeof release>

export function encodeTaskMessage (msg: TaskMessage): Uint8Array {
  return encodeMessage(msg)
}

export function decodeTaskMessage (bytes: Uint8Array): Decoded<TaskMessage> {
  return decodeMessage(taskMessageSchema, bytes, TASK_LIMITS.maxFrameBytes, TASK_VERSION)
}
export type CheckpointMsg = z.infer<typeof checkpoint>
export type ClosedMsg = z.infer<typeof closed>

/** Messages an origin sends to an executor. */
export type OriginToExecutor = AwardMsg | AckMsg | CancelMsg | ClosedMsg
/** Messages an executor sends to an origin. */
export type ExecutorToOrigin = AcceptMsg | ProgressMsg | ResultMsg | ReleaseMsg | CheckpointMsg

export function isForExecutor (msg: TaskMessage): msg is OriginToExecutor {
  return msg.type === 'award' || msg.type === 'ack' || msg.type === 'cancel' || msg.type === 'closed'
}

/** At most this many results per `result` message: batches stay well under the frame cap even with inline values. */
export const RESULTS_PER_MESSAGE = 512

/** Constructors for every task-protocol message, so no caller spells out `v` and `type`. */
export const taskMsg = {
  award: (jobId: string, round: number, tasks: AwardedTask[]): AwardMsg => ({ v: TASK_VERSION, type: 'award', jobId, round, tasks }),
  ack: (jobId: string, acks: AttemptRef[]): AckMsg => ({ v: TASK_VERSION, type: 'ack', jobId, acks }),
  closed: (jobId: string, round: number): ClosedMsg => ({ v: TASK_VERSION, type: 'closed', jobId, round }),
  /** Stop attempts: the listed ones, or (without `tasks`) every attempt of the job. */
  cancel: (jobId: string, reason: string, tasks?: AttemptRef[]): CancelMsg => ({ v: TASK_VERSION, type: 'cancel', jobId, ...(tasks !== undefined ? { tasks } : {}), reason: reason.slice(0, 256) }),
  accept: (jobId: string, accepted: AttemptRef[], rejected: Array<AttemptRef & { reason: string }>): AcceptMsg => ({ v: TASK_VERSION, type: 'accept', jobId, accepted, rejected }),
  progress: (jobId: string, items: ProgressMsg['items']): ProgressMsg => ({ v: TASK_VERSION, type: 'progress', jobId, items }),
  result: (jobId: string, results: TaskResult[]): ResultMsg => ({ v: TASK_VERSION, type: 'result', jobId, results }),
  release: (jobId: string, tasks: ReleaseMsg['tasks']): ReleaseMsg => ({ v: TASK_VERSION, type: 'release', jobId, tasks }),
  checkpoint: (jobId: string, ref: AttemptRef, body: { state: unknown } | { stateBlob: BlobRef }): CheckpointMsg => ({ v: TASK_VERSION, type: 'checkpoint', jobId, ...ref, ...body })
}

/** Just the (task, attempt) reference of anything that carries one. */
export function attemptRefOf (t: AttemptRef): AttemptRef {
  return { taskId: t.taskId, attempt: t.attempt }
}

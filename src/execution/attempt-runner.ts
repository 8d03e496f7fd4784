/**
 * Running one accepted attempt (docs/ARCHITECTURE.md §8, §13): stage its input
 * files, hand it to the `TaskRunner` (worker threads and child processes live
 * in `node/`), relay progress and checkpoints, and return the outcome as a
 * value. A runner that throws becomes a retryable executor error; inputs or
 * artifacts that cannot be fetched fail it with reason `transfer`, which its
 * origin counts against this peer rather than the task.
 */
import { TASK_LIMITS, attemptRefOf, taskMsg, type BlobRef, type CheckpointMsg, type FileData } from '../../protocols/task.ts'
import { encodeMessage } from '../../protocols/codec.ts'
import type { Attempt } from './admission.ts'
import type { ArtifactStore, HeldArtifacts } from './artifact-store.ts'
import type { BlobStore } from './blob-store.ts'
import type { RunOutcome, RunRequest, TaskRunner } from './runner.ts'

export interface AttemptRunnerDeps {
  runner: TaskRunner
  blobs: BlobStore
  /** Send a checkpoint to the attempt's origin. */
  sendCheckpoint: (origin: string, msg: CheckpointMsg) => void
  /** Whether the attempt is still this peer's (not cancelled or given back). */
  holds: (a: Attempt) => boolean
  /** For timing the artifact fetch, which is not the task's work. */
  now: () => number
  /** Where artifacts come from; absent, a task that names any fails (this peer keeps none). */
  artifacts?: ArtifactStore
}

export async function runAttempt (a: Attempt, d: AttemptRunnerDeps): Promise<RunOutcome> {
  const t = a.task
  let held: HeldArtifacts | undefined
  let artifactMs = 0
  try {
    if (t.artifacts !== undefined && t.artifacts.length > 0) {
      if (d.artifacts === undefined) return { ok: false, error: 'this peer keeps no artifacts', reason: 'transfer', retryable: true }
      try {
        const t0 = d.now()
        held = await d.artifacts.acquire(t.artifacts, a.origin, a.abort.signal)
        artifactMs = d.now() - t0
      } catch (err) {
        return { ok: false, error: `artifacts: ${(err as Error).message}`, reason: 'transfer', retryable: true }
      }
    }
    const inputs: Record<string, Uint8Array> = {}
    if (t.exec !== undefined) {
      for (const [path, data] of Object.entries(t.exec.inputs)) {
        try {
          inputs[path] = await resolve(d.blobs, a.origin, data)
        } catch (err) {
          // Not the task's fault: its origin runs it elsewhere without spending a retry.
          return { ok: false, error: `input ${path} could not be fetched: ${(err as Error).message}`, reason: 'transfer', retryable: true }
        }
      }
    }
    const req: RunRequest = {
      origin: a.origin, jobId: a.jobId, taskId: t.taskId, attempt: t.attempt, index: t.index, count: t.count,
      kind: t.kind, handler: t.handler, input: t.input, timeoutMs: t.timeoutMs,
      memoryMB: t.demand.memoryMB, cpu: t.demand.cpu, upstream: t.upstream, restored: t.restored, gpus: a.gpus ?? [],
      ...(a.gpuMemoryMB !== undefined ? { gpuMemoryMB: a.gpuMemoryMB } : {}), artifacts: held?.paths, warm: t.warm,
      exec: t.exec === undefined ? undefined : { command: t.exec.command, env: t.exec.env, stdin: t.exec.stdin, inputs, outputs: t.exec.outputs, shell: t.exec.shell, ...(t.exec.network === true ? { network: true } : {}) }
    }
    const outcome = await d.runner.run(req, {
      signal: a.abort.signal,
      progress: (f, m) => { a.fraction = f; a.message = m?.slice(0, TASK_LIMITS.maxMessageLength) },
      checkpoint: state => { checkpoint(a, state, d) }
    })
    return held === undefined ? outcome : { ...outcome, artifactBytes: held.bytes, artifactMs }
  } catch (err) {
    return { ok: false, error: `executor error: ${(err as Error).message}`, reason: 'error', retryable: true }
  } finally {
    held?.release()
  }
}

/** Send a checkpoint to the origin at once: it must be there before the attempt can be given back. */
function checkpoint (a: Attempt, state: unknown, d: AttemptRunnerDeps): void {
  if (!d.holds(a)) return
  a.checkpointed = true
  const encoded = encodeMessage(state ?? null)
  const blobs: BlobRef[] = []
  let body: { state: unknown } | { stateBlob: BlobRef }
  if (encoded.byteLength <= TASK_LIMITS.inlineBytes) {
    body = { state }
  } else {
    const ref = d.blobs.put(encoded)
    blobs.push(ref)
    body = { stateBlob: ref }
  }
  // A checkpoint blob is kept until the next one replaces it.
  a.checkpointBlobs?.forEach(b => { d.blobs.drop(b) })
  a.checkpointBlobs = blobs
  d.sendCheckpoint(a.origin, taskMsg.checkpoint(a.jobId, attemptRefOf(a.task), body))
}

async function resolve (blobs: BlobStore, origin: string, data: FileData): Promise<Uint8Array> {
  return 'inline' in data ? data.inline : await blobs.fetch(origin, data.blob)
}

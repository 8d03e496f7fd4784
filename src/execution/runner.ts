/**
 * How the core runs one attempt of a task. The core decides *what* runs where;
 * a `TaskRunner` (in `node/`: worker threads for handlers, child processes for
 * exec) does the running. Outcomes are values: a runner never throws for a
 * task that failed, only for its own misuse.
 */
import type { ArtifactBytes } from '../../protocols/task.ts'

/** What an executor hands a runner for one attempt. */
export interface RunRequest {
  /** The job's origin: with `jobId`, what names the job (two origins may pick the same job id). */
  origin?: string
  jobId: string
  /** `name` or `name[i]` for fan-out instances. */
  taskId: string
  attempt: number
  /** Instance index (0 when the task has no `count`). */
  index: number
  /** The fan-out size, when the task has a `count`. */
  count?: number
  kind: 'handler' | 'exec'
  /** For `handler`: the registered handler name and its input value. */
  handler?: string
  input?: unknown
  /** For `exec`: the program and its environment; `{i}` already substituted. */
  exec?: ExecRequest
  /** Kill the attempt after this long (ms). */
  timeoutMs?: number
  /** Memory the task reserved (MB): the exec runner's hard cap (0: the peer's offered memory). */
  memoryMB: number
  /** Cores the task reserved: the exec runner's CPU quota. */
  cpu?: number
  /**
   * Results of the upstream tasks (`after`), by task name: an array ordered by
   * index for a fan-out task, the single value otherwise.
   */
  upstream: Record<string, unknown>
  /** The last checkpoint an earlier attempt saved, when this attempt resumes one. */
  restored?: unknown
  /**
   * The GPUs this attempt holds, as device numbers on this peer (0…N-1):
   * empty for a task that asked for none. Exec tasks see exactly these in
   * `CUDA_VISIBLE_DEVICES`; handlers get them in their context.
   */
  gpus?: number[]
  /**
   * GPU memory (MB) the attempt may use on each of its GPUs: its share of one
   * device (`gpuMemoryMB` with `gpu` 0), or the least memory of its whole
   * devices when known. Exec tasks get it as `MESHWORK_GPU_MEMORY_MB`, handlers
   * as `ctx.gpuMemoryMB`, to size their memory arena by.
   */
  gpuMemoryMB?: number
  /** The task's artifacts: name → local read-only file (handlers get them in `ctx.artifacts`, exec tasks in their scratch directory). */
  artifacts?: Record<string, string>
  /** For `handler`: the spec's `warm` key, the `ctx.warm` key the handler will load; its runner sends the task to a thread that holds it. */
  warm?: string
}

export interface ExecRequest {
  /** argv; `command[0]` must be allowed by the peer's `executor.exec.allow`. */
  command: string[]
  env: Record<string, string>
  stdin?: string
  /** Files staged into the scratch directory before start: relative path → bytes. */
  inputs: Record<string, Uint8Array>
  /** Files collected from the scratch directory after a successful exit (relative paths). */
  outputs: string[]
  /** Run `command` through `/bin/sh -c` (joined with spaces) instead of directly. */
  shell: boolean
  /** The task needs the network (a sandboxed task has none otherwise). */
  network?: boolean
}

export interface RunContext {
  /** Aborted when the attempt is cancelled (job cancelled, task given back). */
  signal: AbortSignal
  /** Report progress (0–1) and an optional short message; cheap, may be called often. */
  progress: (fraction: number, message?: string) => void
  /**
   * Save a checkpoint: any msgpack-able value. The last one reaches the origin,
   * and a later attempt of the task (after a migration) gets it as `restored`.
   */
  checkpoint?: (state: unknown) => void
}

/** Value of a finished exec attempt. Output file contents travel separately as `outputs`. */
export interface ExecValue {
  exitCode: number
  stdout: string
  stderr: string
  /** True when stdout/stderr were cut to the capture cap (the tail is kept). */
  truncated: boolean
  /** Collected output files: relative path → size in bytes. */
  outputs: Record<string, number>
}

export type RunOutcome = (
  | { ok: true, value: unknown, outputs?: Record<string, Uint8Array> }
  | {
    ok: false
    /** One line a user can act on: "exit code 2", "timed out after 5000 ms", "TypeError: x is undefined". */
    error: string
    /**
     * `transfer`: the task's inputs or artifacts could not be fetched here (the peer's trouble, not the task's).
     * `limit`: the task passed a limit it reserved or the peer sets (memory, disk, processes): its own fault.
     */
    reason: 'error' | 'exit' | 'timeout' | 'cancelled' | 'refused' | 'unknown-handler' | 'transfer' | 'limit'
    /** Whether another attempt could succeed (false for a refused program or an unknown handler). */
    retryable: boolean
    /** For exec failures: the captured output, so the user sees why. */
    value?: ExecValue
  }
) & {
  /** Where the attempt's artifacts came from (set by the executor, not by runners). */
  artifactBytes?: ArtifactBytes
  /** How long getting the artifacts took before the attempt ran (set by the executor): not part of the task's work. */
  artifactMs?: number
}

export interface TaskRunner {
  run: (req: RunRequest, ctx: RunContext) => Promise<RunOutcome>
}

/**
 * Runs `exec` tasks (docs/ARCHITECTURE.md §8): a program this peer's config allows, in a
 * fresh scratch directory per attempt, in its own process group so a timeout
 * or cancel kills everything it started, with bounded capture of its output.
 *
 * Allow rule (`executor.exec.allow`), exact string comparison only:
 * - `command[0]` absolute (`/usr/bin/python3`): runs iff the list holds that
 *   exact string. A bare entry (`python3`) does not allow it.
 * - `command[0]` a bare name (`python3`): runs iff the list holds that exact
 *   bare name. It runs the file found on the PEER's PATH, never the task's env
 *   PATH, which could point at a file the submitter staged in the scratch dir.
 *   An absolute entry does not allow the bare name.
 * - `command[0]` a relative path with a slash (`./run`, `bin/x`): never runs;
 *   it would name a file in the scratch dir, i.e. the submitter's own code.
 * - `shell: true`: the list must hold `sh` or `/bin/sh`; the command, joined
 *   with spaces, runs as `/bin/sh -c`. (Allowing sh allows anything.)
 *
 * - the task's env may not set the loader's variables (see LOADER_ENV).
 *
 * The program's process group is killed when the attempt ends, also after a
 * normal exit. With a `Confinement` (every daemon has one), the attempt also
 * runs inside its jail (confine/): a memory cap, CPU quota and pids limit, a
 * disk cap on its scratch directory, the sandbox where there is one, and a
 * kill that reaches processes that left the group (`setsid`). A limit that
 * ends the attempt fails it with reason `limit` and a sentence naming it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { accessSync, constants as fsConstants, statSync } from 'node:fs'
import { lstat, mkdir, readFile, realpath, rm, rmdir, stat, symlink, writeFile } from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { CHECKPOINT_DIR, prepareCheckpointDir, watchCheckpointDir } from './exec-checkpoint.ts'
import { JOIN_FAILED, JOIN_MARKER, type AttemptJail, type Confinement } from './confine/confinement.ts'
import { gpuEnv, visibleGpuIds } from './gpu-env.ts'
import type { ExecRequest, ExecValue, RunContext, RunOutcome, RunRequest, TaskRunner } from '../../src/execution/runner.ts'
import { programAllowed, programOf } from '../../src/auction/requirements.ts'

export interface ExecRunnerOptions {
  /** `executor.exec.allow`: bare program names and absolute paths. */
  allow: string[]
  /** Parent of every attempt's scratch directory (created with mode 0700). */
  scratchRoot: string
  /** Bytes of stdout and of stderr kept per attempt, the tail (default 1 MiB). */
  captureBytes?: number
  /** Keep scratch directories after the attempt, for debugging (default false). */
  keepScratch?: boolean
  /** The ids device 0, 1… stand for (default: the daemon's own CUDA_VISIBLE_DEVICES list, else 0, 1…). */
  gpuIds?: string[]
  /** Limits and sandbox for every attempt; without one, attempts run as plain child processes. */
  confinement?: Confinement
}

/** Grace between SIGTERM and SIGKILL to the process group. */
const KILL_GRACE_MS = 2000
/** After the leader exits and the group is killed, stop waiting for its pipes. */
const PIPE_GRACE_MS = KILL_GRACE_MS + 1000
/** Copied from the peer's environment; nothing else of it leaks to tasks. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const
const UPSTREAM_FILE = 'upstream.json'
/**
 * Task env names refused: the dynamic loader's (LD_PRELOAD=./evil.so staged as
 * an input would run the submitter's code inside any allowed program) and
 * glibc's iconv module path. Interpreters' own (PYTHONPATH…) are not listed:
 * allowing an interpreter already allows arbitrary code.
 */
const LOADER_ENV = /^(LD_|GCONV_PATH$)/


type Failure = Extract<RunOutcome, { ok: false }>
type Ended = { code: number | null, signal: NodeJS.Signals | null } | { spawnError: NodeJS.ErrnoException }

export class ExecRunner implements TaskRunner {
  readonly #allow: readonly string[]
  readonly #root: string
  readonly #capture: number
  readonly #keep: boolean
  readonly #gpuIds: readonly string[] | undefined
  readonly #confine: Confinement | undefined

  constructor (options: ExecRunnerOptions) {
    this.#confine = options.confinement
    this.#allow = [...options.allow]
    this.#root = resolve(options.scratchRoot)
    this.#capture = Math.max(0, options.captureBytes ?? 1024 * 1024)
    this.#keep = options.keepScratch ?? false
    this.#gpuIds = options.gpuIds ?? visibleGpuIds(process.env)
  }

  async run (req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    const exec = req.exec
    if (exec === undefined) return fail('error', 'exec task without an exec section', false)
    const program = this.#program(exec)
    if ('error' in program) return program.error
    if (exec.network === true && this.#confine?.enforcement.network === false) {
      return fail('refused', 'the task needs the network and this peer does not give it to tasks (executor.exec.network)', false)
    }
    if (ctx.signal.aborted) return fail('cancelled', 'cancelled', false)

    // Under the origin too: a job is (origin, job id), and another peer may name the same job id.
    const originDir = req.origin === undefined ? this.#root : join(this.#root, scratchName(req.origin))
    const jobDir = join(originDir, scratchName(req.jobId))
    const dir = join(jobDir, `${scratchName(req.taskId)}-a${req.attempt}`)
    let jail: AttemptJail | undefined
    try {
      const staged = await this.#stage(dir, req, exec)
      if (staged !== undefined) return staged
      if (ctx.signal.aborted) return fail('cancelled', 'cancelled', false)
      if (this.#confine !== undefined) {
        try {
          jail = await this.#confine.attempt({
            name: createHash('sha256').update(dir).digest('hex').slice(0, 24),
            scratch: dir, memoryMB: req.memoryMB, cpu: req.cpu ?? 0, network: exec.network === true,
            artifacts: this.#sandboxed ? req.artifacts ?? {} : {},
            gpuIds: (req.gpus ?? []).map(n => this.#gpuIds?.[n] ?? String(n))
          })
        } catch (err) {
          return fail('error', `could not set up the attempt's limits on this peer: ${(err as Error).message}`, true)
        }
      }
      return await this.#execute(program.file, program.args, program.argv0, dir, req, ctx, jail)
    } catch (err) {
      return fail('error', `scratch directory ${dir}: ${(err as Error).message}`, true)
    } finally {
      await jail?.dispose().catch(() => {})
      if (!this.#keep) {
        await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {})
        await rmdir(jobDir).catch(() => {}) // only when no other attempt of the job is using it
        if (originDir !== this.#root) await rmdir(originDir).catch(() => {})
      }
    }
  }

  /** Removes the runner's cgroups; call once no attempt runs. */
  async close (): Promise<void> { await this.#confine?.close() }

  /** Artifacts are bound into the sandbox, not linked (the cache is not visible there). */
  get #sandboxed (): boolean { return this.#confine?.enforcement.sandbox === 'bwrap' }

  /** The allow check and the file to spawn. */
  #program (exec: ExecRequest): { file: string, args: string[], argv0: string } | { error: Failure } {
    const loader = Object.keys(exec.env).find(name => LOADER_ENV.test(name))
    if (loader !== undefined) {
      return { error: fail('refused', `env "${loader}" is not accepted: it would load the task's own code into an allowed program`, false) }
    }
    if (exec.shell) {
      if (!programAllowed(this.#allow, programOf(exec), true)) return { error: refused('sh') }
      return { file: '/bin/sh', args: ['-c', exec.command.join(' ')], argv0: 'sh' }
    }
    const [first = '', ...args] = exec.command
    if (first === '') return { error: fail('refused', 'empty command', false) }
    if (!programAllowed(this.#allow, first)) return { error: refused(first) }
    const file = isAbsolute(first) ? first : onPeerPath(first)
    if (file === undefined) {
      return { error: fail('error', `cannot start "${first}": ENOENT (not found on this peer's PATH)`, false) }
    }
    return { file, args, argv0: first }
  }

  /** Creates a fresh scratch dir and writes the inputs and upstream.json; returns a failure for bad input paths. */
  async #stage (dir: string, req: RunRequest, exec: ExecRequest): Promise<Failure | undefined> {
    await rm(dir, { recursive: true, force: true }) // a leftover of a crashed run
    await mkdirRetry(dir)
    for (const [rel, bytes] of Object.entries(exec.inputs)) {
      const abs = inside(dir, rel)
      if (abs === undefined) return fail('error', `input "${rel}" is not a relative path inside the scratch directory`, false)
      if (abs === join(dir, UPSTREAM_FILE)) return fail('error', `input "${rel}" collides with the ${UPSTREAM_FILE} Meshwork writes`, false)
      try {
        await mkdir(dirname(abs), { recursive: true, mode: 0o700 })
        await writeFile(abs, bytes, { mode: 0o600, flag: 'wx' })
      } catch (err) {
        return fail('error', `cannot stage input "${rel}": ${(err as Error).message}`, false)
      }
    }
    // Artifacts are links to the peer's read-only cached copies: a 2 GB model is not copied per attempt.
    for (const [rel, path] of Object.entries(req.artifacts ?? {})) {
      const abs = inside(dir, rel)
      if (abs === undefined) return fail('error', `artifact "${rel}" is not a relative path inside the scratch directory`, false)
      try {
        await mkdir(dirname(abs), { recursive: true, mode: 0o700 })
        if (this.#sandboxed) await writeFile(abs, '', { mode: 0o444, flag: 'wx' }) // the mount point of its bind
        else await symlink(path, abs)
      } catch (err) {
        return fail('error', `cannot stage artifact "${rel}": ${(err as Error).message}`, false)
      }
    }
    await writeFile(join(dir, UPSTREAM_FILE), upstreamJson(req.upstream), { mode: 0o600 })
    await prepareCheckpointDir(join(dir, CHECKPOINT_DIR), req.restored)
    return undefined
  }

  async #execute (file: string, args: string[], argv0: string, dir: string, req: RunRequest, ctx: RunContext, jail?: AttemptJail): Promise<RunOutcome> {
    const exec = req.exec as ExecRequest
    const env: Record<string, string> = {}
    for (const key of INHERITED_ENV) {
      const value = process.env[key]
      if (value !== undefined) env[key] = value
    }
    Object.assign(env, exec.env, {
      MESHWORK_JOB_ID: req.jobId,
      MESHWORK_TASK_ID: req.taskId,
      MESHWORK_TASK_INDEX: String(req.index),
      MESHWORK_ATTEMPT: String(req.attempt),
      MESHWORK_SCRATCH_DIR: dir,
      MESHWORK_UPSTREAM_FILE: join(dir, UPSTREAM_FILE),
      MESHWORK_CHECKPOINT_DIR: join(dir, CHECKPOINT_DIR)
    }, gpuEnv(req.gpus ?? [], this.#gpuIds, req.gpuMemoryMB))
    // In a jail the program starts through a wrapper, so a missing one would show only as exit 127.
    if (jail !== undefined && !executable(file)) return fail('error', `cannot start "${argv0}": ENOENT (no such program)`, false)
    const launch = jail?.launch(file, args, env) ?? { file, args, env }
    let child: ChildProcess
    try {
      child = spawn(launch.file, launch.args, { argv0: jail === undefined ? argv0 : launch.file, cwd: dir, env: launch.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    } catch (err) {
      return fail('error', `cannot start "${argv0}": ${(err as Error).message}`, false)
    }

    const stdout = new TailBuffer(this.#capture)
    const stderr = new TailBuffer(this.#capture)
    const scanner = new ProgressScanner((fraction, message) => { ctx.progress(fraction, message) })
    child.stdout?.on('data', (chunk: Buffer) => { stdout.push(chunk); scanner.push(chunk) })
    child.stderr?.on('data', (chunk: Buffer) => { stderr.push(chunk) })
    child.stdin?.on('error', () => {}) // EPIPE when the program does not read its stdin
    child.stdin?.end(exec.stdin)

    const stopWatching = ctx.checkpoint === undefined ? async () => {} : watchCheckpointDir(join(dir, CHECKPOINT_DIR), ctx.checkpoint)
    const group = groupKiller(child.pid)
    // Everything the attempt started: its process group, and through the jail whatever left it.
    const killAll = (): void => { group.kill(); void jail?.kill() }
    let stop: 'timeout' | 'cancelled' | 'limit' | undefined
    const halt = (why: 'timeout' | 'cancelled' | 'limit'): void => { if (stop === undefined) { stop = why; killAll() } }
    const onAbort = (): void => { halt('cancelled') }
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    jail?.onLimit(() => { halt('limit') })
    const timer = req.timeoutMs !== undefined && req.timeoutMs > 0
      ? setTimeout(() => { halt('timeout') }, req.timeoutMs)
      : undefined

    const ended = await new Promise<Ended>(resolveEnded => {
      child.on('error', (err: NodeJS.ErrnoException) => { if (child.pid === undefined) resolveEnded({ spawnError: err }) })
      // The leader is done: whatever it left running goes too, and pipes
      // held by a process that escaped are not waited for.
      child.once('exit', () => {
        killAll()
        setTimeout(() => { child.stdout?.destroy(); child.stderr?.destroy() }, PIPE_GRACE_MS).unref()
      })
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => { resolveEnded({ code, signal }) })
    })
    clearTimeout(timer)
    ctx.signal.removeEventListener('abort', onAbort)
    group.settle()
    await stopWatching()

    if ('spawnError' in ended) {
      const { code, message } = ended.spawnError
      return fail('error', `cannot start "${argv0}": ${code ?? 'error'} (${message})`, false)
    }
    const signalNo = ended.signal === null ? 0 : (osConstants.signals[ended.signal] ?? 0)
    const value: ExecValue = {
      exitCode: ended.code ?? 128 + signalNo,
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated,
      outputs: {}
    }
    if (stop === 'timeout') return { ...fail('timeout', `timed out after ${req.timeoutMs ?? 0} ms`, true), value }
    if (stop === 'cancelled') return { ...fail('cancelled', 'cancelled', false), value }
    const failed = stop === 'limit' || ended.signal !== null || ended.code !== 0
    const limit = await jail?.verdict(ended.signal ?? exitSignal(ended.code), failed)
    if (limit !== undefined) return { ...fail('limit', limit, true), value }
    if (ended.code === JOIN_FAILED && value.stderr.includes(JOIN_MARKER)) return { ...fail('error', 'the attempt could not be placed in its cgroup on this peer', true), value }
    const hint = jail?.hint()
    const why = (what: string): string => hint === undefined ? what : `${what} (${hint})`
    if (ended.signal !== null) return { ...fail('exit', why(`killed by ${ended.signal}`), true), value }
    if (ended.code !== 0) return { ...fail('exit', why(`exit code ${ended.code ?? 'unknown'}`), true), value }
    return await collect(dir, exec.outputs, value)
  }
}

/** A status above 128 from a wrapper (sh, bwrap) that reports its child's death by signal that way. */
function exitSignal (code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null
}

function executable (file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK)
    return statSync(file).isFile()
  } catch { return false }
}

/**
 * SIGTERM to the child's whole process group, then SIGKILL after a grace.
 * `settle` (once the pipes closed) keeps that SIGKILL pending only while the
 * group still exists.
 */
function groupKiller (pid: number | undefined): { kill: () => void, settle: () => void } {
  let timer: NodeJS.Timeout | undefined
  const signal = (sig: NodeJS.Signals | 0): boolean => {
    try { if (pid !== undefined) process.kill(-pid, sig); return pid !== undefined } catch { return false }
  }
  return {
    kill: () => {
      if (timer !== undefined || !signal('SIGTERM')) return
      timer = setTimeout(() => { signal('SIGKILL') }, KILL_GRACE_MS).unref()
    },
    settle: () => { if (timer !== undefined && !signal(0)) clearTimeout(timer) }
  }
}

/** Reads the declared outputs; each must be a regular file whose real path is inside the scratch dir. */
async function collect (dir: string, outputs: string[], value: ExecValue): Promise<RunOutcome> {
  const files: Record<string, Uint8Array> = {}
  const realDir = await realpath(dir)
  for (const rel of outputs) {
    const abs = inside(dir, rel)
    if (abs === undefined) return { ...fail('error', `declared output "${rel}" is not a relative path inside the scratch directory`, false), value }
    const present = await lstat(abs).then(() => true, () => false)
    if (!present) return { ...fail('error', `declared output "${rel}" was not produced`, true), value }
    // A symlink to a file outside the scratch dir (e.g. ~/.ssh/id_ed25519) must not be sent back.
    const real = await realpath(abs).catch(() => '')
    if (!real.startsWith(realDir + sep) || !(await stat(real)).isFile()) {
      return { ...fail('error', `declared output "${rel}" is not a regular file inside the scratch directory`, true), value }
    }
    const bytes = await readFile(real)
    files[rel] = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    value.outputs[rel] = bytes.byteLength
  }
  return { ok: true, value, outputs: files }
}

/** `rel` resolved under `dir`, or undefined when it is absolute or escapes it. */
function inside (dir: string, rel: string): string | undefined {
  if (rel === '' || isAbsolute(rel) || rel.includes('\0')) return undefined
  const abs = resolve(dir, rel)
  return abs.startsWith(dir + sep) ? abs : undefined
}

/** The first executable regular file named `name` on the peer's own PATH. */
function onPeerPath (name: string): string | undefined {
  for (const entry of (process.env.PATH ?? '').split(':')) {
    if (!isAbsolute(entry)) continue // '' and '.' would mean the scratch dir
    const candidate = join(entry, name)
    try {
      accessSync(candidate, fsConstants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch { /* next */ }
  }
  return undefined
}

/** mkdir -p with mode 0700, retried when a concurrent attempt removed the empty job dir in between. */
async function mkdirRetry (dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i >= 3) throw err
    }
  }
}

function fail (reason: Failure['reason'], error: string, retryable: boolean): Failure {
  return { ok: false, reason, error, retryable }
}

const refused = (program: string): Failure =>
  fail('refused', `program "${program}" is not in executor.exec.allow on this peer`, false)

/** Keeps the last `cap` bytes of a stream: the end of a log says why it failed. */
class TailBuffer {
  readonly #cap: number
  readonly #chunks: Buffer[] = []
  #size = 0
  truncated = false

  constructor (cap: number) { this.#cap = cap }

  push (chunk: Buffer): void {
    this.#chunks.push(chunk)
    this.#size += chunk.length
    while (this.#size > this.#cap) {
      this.truncated = true
      const first = this.#chunks[0] as Buffer
      const excess = this.#size - this.#cap
      if (first.length <= excess) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(excess)
      this.#size -= Math.min(first.length, excess)
    }
  }

  text (): string {
    let buf = Buffer.concat(this.#chunks)
    // The cut may have split a UTF-8 character: drop its orphaned continuation bytes.
    let skip = 0
    while (this.truncated && skip < 3 && skip < buf.length && ((buf[skip] as number) & 0xc0) === 0x80) skip++
    buf = buf.subarray(skip)
    return buf.toString('utf8')
  }
}

const MAX_PROGRESS_LINE = 4096
const PROGRESS_LINE = /^MESHWORK_PROGRESS[ \t]+(\S+)(?:[ \t]+(.*?))?[ \t\r]*$/

/**
 * Finds `MESHWORK_PROGRESS <fraction 0–1> [message]` lines in stdout (they are
 * still captured). Longer lines cannot be progress and are skipped unbuffered.
 */
class ProgressScanner {
  readonly #decoder = new StringDecoder('utf8')
  readonly #report: (fraction: number, message?: string) => void
  #line = ''
  #skipping = false

  constructor (report: (fraction: number, message?: string) => void) { this.#report = report }

  push (chunk: Buffer): void {
    const parts = this.#decoder.write(chunk).split('\n')
    const tail = parts.pop() as string
    for (const part of parts) {
      if (!this.#skipping) this.#parse(this.#line + part)
      this.#line = ''
      this.#skipping = false
    }
    if (this.#skipping) return
    this.#line += tail
    if (this.#line.length > MAX_PROGRESS_LINE) { this.#line = ''; this.#skipping = true }
  }

  #parse (line: string): void {
    const m = PROGRESS_LINE.exec(line)
    const fraction = Number(m?.[1])
    if (m === null || !Number.isFinite(fraction)) return
    const clamped = Math.min(1, Math.max(0, fraction))
    if (m[2] !== undefined && m[2] !== '') this.#report(clamped, m[2].slice(0, 200))
    else this.#report(clamped)
  }
}

/**
 * A file-name-safe, injective form of a job or task id (`sweep[3]` →
 * `sweep%5B3%5D`): anything but letters, digits, `_`, `-` and non-leading `.`
 * is percent-encoded; very long ids are shortened with a hash.
 */
function scratchName (id: string): string {
  let name = id.replace(/[^A-Za-z0-9_.-]/gu, c =>
    [...Buffer.from(c)].map(b => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
  if (name === '') return '%'
  if (name.startsWith('.')) name = `%2E${name.slice(1)}`
  if (name.length > 120) name = `${name.slice(0, 80)}~${createHash('sha256').update(id).digest('hex').slice(0, 32)}`
  return name
}

/** `upstream` as JSON for the program: byte arrays as base64, bigints as decimal strings. */
function upstreamJson (upstream: Record<string, unknown>): string {
  return JSON.stringify(upstream, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString()
    if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
    return v
  })
}

/**
 * The control API's client, shared by every CLI command, the demo, the
 * benchmarks and the tests: one typed method per route (api.ts), one place
 * that authenticates, applies deadlines and turns failures into MeshErrors.
 *
 * It speaks HTTP through Node's own `node:http` client, fetched with
 * `process.getBuiltinModule`. Both `fetch` and an ESM `import … from
 * 'node:http'` load undici's bundle and its llhttp WebAssembly (the latter
 * through lazy getters such as `http.WebSocket`): about 14 MB of RSS and 40 ms
 * on every CLI command, a quarter of a client command's whole budget.
 *
 * Finding the daemon (`findDaemon`): `--config` → its dataDir's control.json;
 * else MESHWORK_CONTROL + MESHWORK_TOKEN; else the default config file, or
 * ~/.meshwork when there is none.
 */
import { existsSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { JobSpecError, MeshError } from '../../src/errors.ts'
import { DEFAULT_DATA_DIR } from '../../src/config-defaults.ts'
import { dataDirOf, defaultConfigPath, resolveConfigPath } from '../config-paths.ts'
import {
  CONTROL_BODY_LIMIT,
  type CancelReply, type ErrorReply, type HealthReply, type JobEvent, type JobSnapshot, type JobsReply, type PeersReply, type ResultsReply, type SubmitReply, type SubmitRequest
} from './api.ts'
import { USE_ARTIFACTS } from '../job-files.ts'
import { mib } from '../json-input.ts'
import { CONTROL_FILE, readControlFile } from './control-file.ts'

const http = process.getBuiltinModule('node:http')

export interface ControlTarget { url: string, token: string }

/** How long a plain request may take before the client gives up on the daemon. */
const REQUEST_TIMEOUT_MS = 10_000

export function findDaemon (configPath?: string): ControlTarget {
  if (configPath === undefined && process.env.MESHWORK_CONTROL !== undefined) {
    const token = process.env.MESHWORK_TOKEN
    if (token === undefined) throw new MeshError('MESH_ERR_CONTROL', 'MESHWORK_CONTROL is set but MESHWORK_TOKEN is not')
    return { url: process.env.MESHWORK_CONTROL, token }
  }
  const file = configPath ?? defaultConfigPath()
  const dataDir = configPath !== undefined || existsSync(file) ? dataDirOf(file) : resolveConfigPath(DEFAULT_DATA_DIR, homedir())
  const info = readControlFile(dataDir)
  if (info === undefined) {
    throw new MeshError('MESH_ERR_CONTROL', `no running daemon found: ${join(dataDir, CONTROL_FILE)} is missing or unreadable (start one with \`mesh start${configPath !== undefined ? ` --config ${configPath}` : ''}\`)`)
  }
  return { url: info.url, token: info.token }
}

export class ControlClient {
  readonly target: ControlTarget

  constructor (target: ControlTarget) {
    this.target = target
  }

  /** The client of the daemon `findDaemon(configPath)` finds. */
  static find (configPath?: string): ControlClient {
    return new ControlClient(findDaemon(configPath))
  }

  async health (): Promise<HealthReply> {
    return await this.#json('GET', '/v1/health')
  }

  async peers (): Promise<PeersReply> {
    return await this.#json('GET', '/v1/peers')
  }

  /** A one-time dashboard login link (valid for a minute; it sets a session cookie). */
  async dashboardLogin (): Promise<{ url: string }> {
    return await this.#json('POST', '/v1/dashboard/login')
  }

  /**
   * Submit a job; the daemon validates the spec. A bad spec throws a
   * JobSpecError with every problem, its message prefixed by `source`; one
   * the daemon would refuse for its size is refused here, before uploading.
   */
  async submit (spec: unknown, opts: { files?: Record<string, Uint8Array>, source?: string } = {}): Promise<SubmitReply> {
    const body: SubmitRequest = { spec }
    if (opts.files !== undefined) body.files = Object.fromEntries(Object.entries(opts.files).map(([p, b]) => [p, Buffer.from(b).toString('base64')]))
    return await this.#json('POST', '/v1/jobs', { text: submitText(body, opts.source ?? 'job'), source: opts.source })
  }

  async jobs (): Promise<JobSnapshot[]> {
    return (await this.#json<JobsReply>('GET', '/v1/jobs')).jobs
  }

  /** One job; `tasks: false` leaves out the per-task list (cheap enough to poll on jobs of thousands of tasks). */
  async job (id: string, opts: { tasks?: boolean } = {}): Promise<JobSnapshot> {
    return await this.#json('GET', `${jobPath(id)}${opts.tasks === false ? '?tasks=0' : ''}`)
  }

  async results (id: string): Promise<ResultsReply> {
    return await this.#json('GET', `${jobPath(id)}/results`)
  }

  /** The bytes of one output file of a task. */
  async output (id: string, task: string, path: string): Promise<Buffer> {
    const res = await this.#request('GET', `${jobPath(id)}/output?task=${encodeURIComponent(task)}&path=${encodeURIComponent(path)}`)
    return await this.#body(res)
  }

  async cancel (id: string): Promise<CancelReply> {
    return await this.#json('POST', `${jobPath(id)}/cancel`)
  }

  /**
   * Every event of a job, from its start, each passed to `onEvent`; resolves
   * when the job has ended and the daemon closes the stream, or when `signal`
   * aborts. No deadline: a job may run for days.
   */
  async events (id: string, onEvent: (event: JobEvent) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.#request('GET', `${jobPath(id)}/events`, { signal, timeoutMs: 0 })
    if (res.statusCode !== 200) await this.#body(res)
    res.setEncoding('utf8')
    let buf = ''
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buf += chunk
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim() !== '') onEvent(JSON.parse(line) as JobEvent)
        }
      }
    } catch (err) {
      if (signal?.aborted !== true) throw controlError(this.target, err)
    }
  }

  async #json<T> (method: string, path: string, opts: { text?: string, source?: string } = {}): Promise<T> {
    const res = await this.#request(method, path, { body: opts.text })
    return JSON.parse((await this.#body(res, opts.source)).toString('utf8')) as T
  }

  /** The response's whole body; a non-2xx status throws the daemon's error. */
  async #body (res: IncomingMessage, source?: string): Promise<Buffer> {
    const chunks: Buffer[] = []
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk)
    } catch (err) {
      throw controlError(this.target, err, REQUEST_TIMEOUT_MS)
    }
    const body = Buffer.concat(chunks)
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return body
    let reply: Partial<ErrorReply> = {}
    try { reply = JSON.parse(body.toString('utf8')) as ErrorReply } catch { /* not JSON: the status says enough */ }
    if (reply.code === 'MESH_ERR_JOB_SPEC' && Array.isArray(reply.problems)) throw new JobSpecError(reply.problems, source)
    throw new MeshError(reply.code ?? 'MESH_ERR_CONTROL', `daemon answered ${status}: ${reply.error ?? res.statusMessage ?? ''}`)
  }

  /** Sends a request and resolves with the response once its headers arrive. */
  async #request (method: string, path: string, opts: { body?: string, signal?: AbortSignal, timeoutMs?: number } = {}): Promise<IncomingMessage> {
    const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS
    const signals = [opts.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(s => s !== undefined)
    const headers: Record<string, string | number> = { authorization: `Bearer ${this.target.token}` }
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(opts.body)
    }
    try {
      return await new Promise<IncomingMessage>((resolve, reject) => {
        const req = http.request(new URL(path, this.target.url), { method, headers, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined }, resolve)
        req.once('error', reject)
        req.end(opts.body)
      })
    } catch (err) {
      throw controlError(this.target, err, timeoutMs)
    }
  }
}

/** The submit request as JSON text, or a MESH_ERR_JOB_SPEC when the daemon could not take it. */
function submitText (body: SubmitRequest, source: string): string {
  let text: string
  try {
    text = JSON.stringify(body)
  } catch (err) {
    // Nested too deep, or too large for one string (job files are refused sooner; a script's object may not be).
    throw new MeshError('MESH_ERR_JOB_SPEC', `${source}: the job cannot be sent as JSON: ${(err as Error).message}`, { cause: err })
  }
  const bytes = Buffer.byteLength(text)
  if (bytes > CONTROL_BODY_LIMIT) {
    throw new MeshError('MESH_ERR_JOB_SPEC', `${source}: the job is ${mib(bytes)} as sent to the daemon (its spec with inline "input" values, and exec input files base64), but the daemon takes at most ${mib(CONTROL_BODY_LIMIT)}: ${USE_ARTIFACTS}`)
  }
  return text
}

function jobPath (id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`
}

function controlError (target: ControlTarget, err: unknown, timeoutMs?: number): MeshError {
  const e = err as Error & { cause?: unknown }
  const why = e.name === 'AbortError' && e.cause instanceof Error && e.cause.name === 'TimeoutError'
    ? `no answer within ${(timeoutMs ?? 0) / 1000} s`
    : e.message
  return new MeshError('MESH_ERR_CONTROL', `cannot reach the daemon at ${target.url}: ${why}`, { cause: err })
}

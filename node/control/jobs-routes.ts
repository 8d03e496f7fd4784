/** The control API's job routes (see api.ts for the list and the shapes). */
import { JobSpecError, MeshError } from '../../src/errors.ts'
import type { ServerResponse } from 'node:http'
import type { JobEvent } from '../../src/jobs/job-record.ts'
import type { JobView } from '../../src/jobs/job-view.ts'
import type { JobSpecInput } from '../../src/jobs/spec.ts'
import type { Peer } from '../peer.ts'
import type { CancelReply, JobsReply, ResultsReply, SubmitReply, SubmitRequest } from './api.ts'
import { HttpError, type Route } from './http.ts'

export function jobRoutes (peer: Peer): Route[] {
  const find = (id: string | undefined): JobView => {
    const job = peer.job(id ?? '')
    if (job === undefined) throw new HttpError(404, `no job ${id ?? ''} on this peer (jobs live on the peer they were submitted to)`)
    return job
  }
  return [
    {
      method: 'POST',
      path: '/v1/jobs',
      handle: async ({ body }) => {
        const { spec, files } = submitRequestOf(body)
        try {
          // Validated by submit, which answers a JobSpecError for anything that is not a spec.
          const job = await peer.submit(spec as JobSpecInput, { files })
          return { status: 201, json: { id: job.id } satisfies SubmitReply }
        } catch (err) {
          if (err instanceof JobSpecError) throw new HttpError(400, err.message, { code: err.code, problems: err.problems })
          if (err instanceof MeshError) throw new HttpError(400, err.message, { code: err.code })
          throw err
        }
      }
    },
    { method: 'GET', path: '/v1/jobs', handle: () => ({ json: { jobs: peer.jobs().map(j => j.snapshot(false)) } satisfies JobsReply }) },
    {
      method: 'GET',
      path: '/v1/jobs/:id',
      // `?tasks=0` skips the per-task list: progress displays poll it often on jobs of thousands of tasks.
      handle: ({ params, query }) => ({ json: find(params.id).snapshot(query.get('tasks') !== '0') })
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/events',
      handle: async ({ params, res }) => {
        const job = find(params.id)
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
        await streamEvents(job, res)
        return 'handled' as const
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/results',
      handle: ({ params }) => {
        const job = find(params.id)
        const results: Record<string, unknown> = {}
        const outputs: Record<string, Record<string, number>> = {}
        const errors: Record<string, string> = {}
        for (const t of job.tasks.values()) {
          if (t.status === 'done') {
            results[t.id] = t.result
            const files = Object.entries(t.outputs ?? {})
            if (files.length > 0) outputs[t.id] = Object.fromEntries(files.map(([p, d]) => [p, 'inline' in d ? d.inline.byteLength : d.blob.size]))
          }
          if (t.error !== undefined) errors[t.id] = t.error
        }
        return { json: { id: job.id, name: job.spec.name, state: job.state, results, outputs, errors } satisfies ResultsReply }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/output',
      handle: async ({ params, query }) => {
        const job = find(params.id)
        const task = query.get('task') ?? ''
        const path = query.get('path') ?? ''
        const data = job.tasks.get(task)?.outputs?.[path]
        if (data === undefined) throw new HttpError(404, `no output ${path} for task ${task}`)
        const bytes = 'inline' in data ? data.inline : await peer.blobs.fetch(peer.id, data.blob)
        return { bytes, type: 'application/octet-stream' }
      }
    },
    {
      method: 'POST',
      path: '/v1/jobs/:id/cancel',
      handle: ({ params }) => {
        const job = find(params.id)
        return { json: { cancelled: peer.cancel(job.id), state: job.state } satisfies CancelReply }
      }
    }
  ]
}

/**
 * A submit request's spec and input files, from its parsed body. The spec is
 * validated by `peer.submit`; this checks the envelope: an object whose
 * `files` map paths to base64 text. Throws only HttpError (400).
 */
export function submitRequestOf (body: unknown): { spec: unknown, files: Record<string, Uint8Array> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object: { "spec": …, "files": { path: base64 } }')
  const { spec, files: encoded } = body as Partial<SubmitRequest>
  if (encoded !== undefined && (typeof encoded !== 'object' || encoded === null || Array.isArray(encoded))) throw new HttpError(400, 'files: must be an object of path → base64 text')
  // A null prototype: a file named "__proto__" is a file, not the map's prototype.
  const files: Record<string, Uint8Array> = Object.create(null) as Record<string, Uint8Array>
  for (const [p, b64] of Object.entries(encoded ?? {})) {
    if (typeof b64 !== 'string') throw new HttpError(400, `files.${p}: must be base64 text`)
    files[p] = Buffer.from(b64, 'base64')
  }
  return { spec, files }
}

const ENDS = new Set<JobEvent['type']>(['job-done', 'job-failed', 'job-cancelled'])
/** The least time between two writes of one event stream while events keep coming. */
const EVENTS_FLUSH_GAP_MS = 10

/**
 * A job's events as NDJSON, from its start (as far as kept) until it ends.
 * Writes are batched the way the result outbox batches results (Nagle's
 * rule): a lone event goes out on the next turn, and while events keep coming
 * they go out together at most every EVENTS_FLUSH_GAP_MS. A job of thousands
 * of short tasks makes thousands of events a second, and a write per event
 * cost the origin more CPU than scheduling the tasks. The job's end goes out
 * at once. Resolves when the job has ended and everything is written, or the
 * client went away (its listener is removed then, so nothing leaks).
 */
async function streamEvents (job: JobView, res: ServerResponse): Promise<void> {
  await new Promise<void>(resolve => {
    let lines: string[] = []
    let armed = false
    let ended = false
    let lastWrite = -Infinity
    let finished = false
    let stop = (): void => {}
    const done = (): void => { finished = true; stop(); resolve() }
    const flush = (): void => {
      armed = false
      if (finished) return
      if (res.destroyed) { done(); return }
      if (lines.length > 0) res.write(lines.join(''))
      lines = []
      lastWrite = performance.now()
      if (ended) { res.end(); done() }
    }
    const add = (e: JobEvent): void => {
      if (ended) return
      lines.push(JSON.stringify(e) + '\n')
      if (ENDS.has(e.type)) ended = true
      if (armed && !ended) return
      armed = true
      const wait = lastWrite + EVENTS_FLUSH_GAP_MS - performance.now()
      if (ended || wait <= 0) setImmediate(flush)
      else setTimeout(flush, wait)
    }
    for (const e of job.history()) add(e)
    if (!ended) stop = job.onEvent(add)
    res.on('close', () => { if (!ended) done() })
  })
}

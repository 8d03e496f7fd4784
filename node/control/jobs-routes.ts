/** The control API's job routes (see api.ts for the list and the shapes). */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { JobSpecError, MeshError } from '../../src/errors.ts'
import type { JobView } from '../../src/jobs/job-view.ts'
import type { Peer } from '../peer.ts'
import type { CancelReply, ErrorReply, JobsReply, ResultsReply, SubmitReply, SubmitRequest } from './api.ts'

export function registerJobRoutes (app: FastifyInstance, peer: Peer): void {
  app.post<{ Body: Partial<SubmitRequest> | undefined }>('/v1/jobs', async (req, reply) => {
    const body = req.body ?? {}
    const files: Record<string, Uint8Array> = {}
    for (const [p, b64] of Object.entries(body.files ?? {})) {
      if (typeof b64 !== 'string') return await reply.code(400).send({ error: `files.${p}: must be base64 text` } satisfies ErrorReply)
      files[p] = Buffer.from(b64, 'base64')
    }
    try {
      const job = await peer.submit(body.spec, { files })
      return await reply.code(201).send({ id: job.id } satisfies SubmitReply)
    } catch (err) {
      if (err instanceof JobSpecError) return await reply.code(400).send({ error: err.message, code: err.code, problems: err.problems } satisfies ErrorReply)
      if (err instanceof MeshError) return await reply.code(400).send({ error: err.message, code: err.code } satisfies ErrorReply)
      throw err
    }
  })

  app.get('/v1/jobs', async (): Promise<JobsReply> => ({ jobs: peer.jobs().map(j => j.snapshot(false)) }))

  app.get<{ Params: { id: string }, Querystring: { tasks?: string } }>('/v1/jobs/:id', async (req, reply) => {
    const job = await find(peer, req.params.id, reply)
    // `?tasks=0` skips the per-task list: progress displays poll it often on jobs of thousands of tasks.
    return job === undefined ? undefined : job.snapshot(req.query.tasks !== '0')
  })

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', async (req, reply) => {
    const job = await find(peer, req.params.id, reply)
    if (job === undefined) return
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    let closed = false
    res.on('close', () => { closed = true })
    const events = job.events()
    // Stop iterating when the client goes away, so the listener does not leak.
    res.on('close', () => { void events.return(undefined) })
    for await (const e of events) {
      if (closed) break
      res.write(JSON.stringify(e) + '\n')
    }
    res.end()
  })

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/results', async (req, reply) => {
    const job = await find(peer, req.params.id, reply)
    if (job === undefined) return
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
    return { id: job.id, name: job.spec.name, state: job.state, results, outputs, errors } satisfies ResultsReply
  })

  app.get<{ Params: { id: string }, Querystring: { task?: string, path?: string } }>('/v1/jobs/:id/output', async (req, reply) => {
    const job = await find(peer, req.params.id, reply)
    if (job === undefined) return
    const data = job.tasks.get(req.query.task ?? '')?.outputs?.[req.query.path ?? '']
    if (data === undefined) return await reply.code(404).send({ error: `no output ${req.query.path ?? ''} for task ${req.query.task ?? ''}` } satisfies ErrorReply)
    const bytes = 'inline' in data ? data.inline : await peer.blobs.fetch(peer.id, data.blob)
    return await reply.type('application/octet-stream').send(Buffer.from(bytes))
  })

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/cancel', async (req, reply) => {
    const job = await find(peer, req.params.id, reply)
    if (job === undefined) return
    return { cancelled: peer.cancel(job.id), state: job.state } satisfies CancelReply
  })
}

async function find (peer: Peer, id: string, reply: FastifyReply): Promise<JobView | undefined> {
  const job = peer.job(id)
  if (job === undefined) await reply.code(404).send({ error: `no job ${id} on this peer (jobs live on the peer they were submitted to)` } satisfies ErrorReply)
  return job
}

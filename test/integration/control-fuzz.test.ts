/**
 * The control API's real HTTP server (node/control/http.ts with the real job
 * routes) on 127.0.0.1, sent fuzzed request bodies (test/fuzz/targets.ts):
 * every body is answered 201, 400 or 413 with a JSON error, never a 500, and
 * the server keeps answering. The peer behind it validates specs as the real
 * one does (parseJobSpec) and accepts nothing else.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseJobSpec } from '../../src/jobs/spec.ts'
import { CONTROL_BODY_LIMIT } from '../../node/control/api.ts'
import { serve, type HttpServer } from '../../node/control/http.ts'
import { jobRoutes } from '../../node/control/jobs-routes.ts'
import type { Peer } from '../../node/peer.ts'
import { MAX_JSON_DEPTH } from '../../node/json-input.ts'
import { TARGETS, casesFor } from '../fuzz/targets.ts'

const http = process.getBuiltinModule('node:http')
const submitted: unknown[] = []
const peer = { submit: async (spec: unknown) => { submitted.push(parseJobSpec(spec)); return { id: `job-${submitted.length}` } } } as unknown as Peer

let server: HttpServer
beforeAll(async () => {
  server = await serve(jobRoutes(peer), { host: '127.0.0.1', port: 0, bodyLimit: CONTROL_BODY_LIMIT, authorize: () => true, unauthorized: '' })
})
afterAll(async () => { await server.close() })

async function post (body: Uint8Array): Promise<{ status: number, json: { error?: string, id?: string } }> {
  return await new Promise((resolve, reject) => {
    const req = http.request(new URL('/v1/jobs', server.url), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.byteLength } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: string } }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('POST /v1/jobs with fuzzed bodies', () => {
  const target = TARGETS.find(t => t.name.startsWith('control API'))!

  it('answers every body with 201, 400 or 413 and a reason, never a 500', async () => {
    await fc.assert(fc.asyncProperty(casesFor(target), async c => {
      const { status, json } = await post(c.bytes)
      expect([201, 400, 413], `${status} ${json.error ?? ''} on ${c.how}`).toContain(status)
      if (status !== 201) expect(json.error).toEqual(expect.any(String))
    }), { numRuns: 300 })
    // A valid one still gets through afterwards.
    const ok = await post(Buffer.from(JSON.stringify({ spec: { name: 'j', tasks: { a: { kind: 'handler', handler: 'h' } } } })))
    expect(ok.status).toBe(201)
  })

  it('refuses a body nested 100,000 levels deep with one sentence', async () => {
    const depth = 100_000
    const { status, json } = await post(Buffer.from(`{"spec":${'['.repeat(depth)}${']'.repeat(depth)}}`))
    expect(status).toBe(400)
    expect(json.error).toBe(`request body refused: it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, which no job, config or request needs`)
  })
})

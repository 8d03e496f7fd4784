/**
 * The little HTTP the control API needs, on Node's own `node:http`: a table
 * of routes with `:param` segments, JSON bodies with a size cap, JSON replies
 * and errors, one authorisation check for every request, and a close that
 * ends long-lived streams too.
 *
 * Fastify did this before. It cost the daemon about 60 ms of its start
 * (evaluating ~80 modules, then building the instance) and a few MB of heap,
 * for nine routes on a loopback socket: more than the rest of the control
 * API put together.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { JsonInputError, parseJsonText } from '../json-input.ts'

const http = process.getBuiltinModule('node:http')

export interface RouteRequest {
  params: Record<string, string>
  query: URLSearchParams
  /** The parsed JSON body of a POST (undefined when it had none). */
  body: unknown
  req: IncomingMessage
  res: ServerResponse
}

/** What a route answers: a JSON value, raw bytes, or `handled` when it wrote the response itself. */
export type RouteResult = { status?: number, json: unknown } | { status?: number, bytes: Uint8Array, type: string } | 'handled'

export interface Route {
  method: 'GET' | 'POST'
  /** `/v1/jobs/:id/results`: segments starting with `:` are parameters. */
  path: string
  handle: (req: RouteRequest) => RouteResult | Promise<RouteResult>
}

/** An answer other than 2xx: its status and the JSON error body `{ error, ...extra }`. */
export class HttpError extends Error {
  readonly status: number
  readonly extra: Record<string, unknown>
  constructor (status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message)
    this.status = status
    this.extra = extra
  }
}

export interface HttpServer { url: string, close: () => Promise<void> }

export interface ServeOptions {
  host: string
  port: number
  /** Largest request body, bytes. */
  bodyLimit: number
  /** Checked before anything else, with the request's path segments; false answers 401 with `unauthorized`. */
  authorize: (req: IncomingMessage, path: string[]) => boolean
  unauthorized: string
}

export async function serve (routes: Route[], opts: ServeOptions): Promise<HttpServer> {
  const table = routes.map(r => ({ ...r, segments: r.path.split('/').filter(s => s !== '') }))
  const server: Server = http.createServer((req, res) => {
    void answer(req, res).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`)
      if (res.headersSent) { res.destroy(); return }
      sendJson(res, e.status, { error: e.message, ...e.extra })
    })
  })

  async function answer (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control')
    const path = url.pathname.split('/').filter(s => s !== '')
    if (!opts.authorize(req, path)) throw new HttpError(401, opts.unauthorized)
    let allowed: string[] = []
    for (const route of table) {
      const params = match(route.segments, path)
      if (params === undefined) continue
      if (route.method !== req.method) { allowed = [...allowed, route.method]; continue }
      const body = req.method === 'POST' ? await readJson(req, opts.bodyLimit) : undefined
      const result = await route.handle({ params, query: url.searchParams, body, req, res })
      if (result === 'handled') return
      if ('json' in result) sendJson(res, result.status ?? 200, result.json)
      else {
        res.writeHead(result.status ?? 200, { 'content-type': result.type, 'content-length': result.bytes.byteLength })
        res.end(result.bytes)
      }
      return
    }
    if (allowed.length > 0) throw new HttpError(405, `${req.method ?? ''} is not allowed on ${url.pathname} (use ${allowed.join(' or ')})`)
    throw new HttpError(404, `no route ${req.method ?? ''} ${url.pathname}`)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error(`control API: unexpected listen address ${String(address)}`)
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    close: async () => {
      const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
      // Event streams of running jobs would otherwise hold the server open.
      server.closeAllConnections()
      await closed
    }
  }
}

function match (route: string[], path: string[]): Record<string, string> | undefined {
  if (route.length !== path.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < route.length; i++) {
    const want = route[i]!
    const got = path[i]!
    if (want.startsWith(':')) {
      try { params[want.slice(1)] = decodeURIComponent(got) } catch { return undefined }
    } else if (want !== got) return undefined
  }
  return params
}

async function readJson (req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > limit) throw new HttpError(413, `request body larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  return parseJsonBody(Buffer.concat(chunks), limit)
}

/**
 * A request body as JSON: undefined when empty; an HttpError (413, 400) for
 * one too large, too deeply nested or not JSON, and nothing else thrown.
 */
export function parseJsonBody (body: Uint8Array, limit: number): unknown {
  if (body.byteLength > limit) throw new HttpError(413, `request body larger than ${limit} bytes`)
  if (body.byteLength === 0) return undefined
  try {
    return parseJsonText(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch (err) {
    if (err instanceof JsonInputError) throw new HttpError(400, `request body refused: ${err.message}`)
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`)
  }
}

function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The dashboard's routes on the control server: the login exchange (see
 * sessions.ts), the page and its one bundled module and stylesheet (built
 * from dashboard/ by scripts/bundle-cli.ts, served gzipped when the browser
 * takes it), and its state as JSON and as server-sent events: the overview,
 * one job, one task, the auction. A slow or vanished browser never slows the
 * daemon: a stream whose socket is not draining skips updates until it does,
 * and then sends only the latest.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { auctionState, jobState, overviewState, taskState } from '../dashboard/state.ts'
import { PACKAGE_ROOT } from '../package.ts'
import type { Peer } from '../peer.ts'
import { HttpError, type Route } from './http.ts'
import { DashboardSessions } from './sessions.ts'

/** How often a stream checks for a change; it sends only when the state differs. */
const TICK_MS = 250
/**
 * A stream's share of the event loop: the next check waits at least this many
 * times what building the state took, so a page on a huge job is updated less
 * often instead of slowing the daemon (building it in 20 ms: every 400 ms).
 */
const COST_FACTOR = 20
/** A comment line keeps proxies and the browser from timing the stream out. */
const KEEPALIVE_MS = 15_000

/** The built page: dist/dashboard/, from the dashboard/ sources. */
export const DASHBOARD_DIST = join(PACKAGE_ROOT, 'dist', 'dashboard')
const ASSETS: Record<string, string> = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' }

interface Asset { type: string, plain: Buffer, gzip: Buffer }

/** Read and compress the built files once, on the first request. */
function loadAssets (): Map<string, Asset> {
  const out = new Map<string, Asset>()
  for (const [name, type] of Object.entries(ASSETS)) {
    const path = join(DASHBOARD_DIST, name)
    if (!existsSync(path)) continue
    const plain = readFileSync(path)
    out.set(name, { type, plain, gzip: gzipSync(plain, { level: 9 }) })
  }
  return out
}

export function dashboardRoutes (peer: Peer, sessions: DashboardSessions, baseUrl: () => string): Route[] {
  let assets: Map<string, Asset> | undefined
  const asset = (name: string): Route['handle'] => ({ res, req }) => {
    assets ??= loadAssets()
    const a = assets.get(name)
    if (a === undefined) throw new HttpError(503, `the dashboard is not built (${join(DASHBOARD_DIST, name)} is missing): run npm run build`)
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
    const body = gzip ? a.gzip : a.plain
    res.writeHead(200, { 'content-type': a.type, 'content-length': body.byteLength, 'cache-control': 'no-cache', vary: 'accept-encoding', ...(gzip ? { 'content-encoding': 'gzip' } : {}) })
    res.end(body)
    return 'handled'
  }
  const found = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new HttpError(404, `no ${what} here (this peer lists the jobs it submitted, as long as history.keepDays keeps them)`)
    return value
  }
  return [
    { method: 'POST', path: '/v1/dashboard/login', handle: () => ({ json: { url: `${baseUrl()}/dashboard/login?code=${sessions.code()}` } }) },
    {
      method: 'GET',
      path: '/dashboard/login',
      handle: ({ query, res }) => {
        const id = sessions.redeem(query.get('code') ?? '')
        if (id === undefined) throw new HttpError(401, 'this login link is used or expired: run mesh dashboard again')
        res.writeHead(303, { location: '/dashboard/', 'set-cookie': DashboardSessions.setCookie(id), 'cache-control': 'no-store' })
        res.end()
        return 'handled'
      }
    },
    { method: 'GET', path: '/dashboard', handle: asset('index.html') },
    { method: 'GET', path: '/dashboard/app.js', handle: asset('app.js') },
    { method: 'GET', path: '/dashboard/app.css', handle: asset('app.css') },
    { method: 'GET', path: '/dashboard/api/state', handle: () => ({ json: overviewState(peer) }) },
    { method: 'GET', path: '/dashboard/api/events', handle: ({ res }) => { stream(res, () => overviewState(peer)); return 'handled' } },
    { method: 'GET', path: '/dashboard/api/jobs/:id', handle: ({ params }) => ({ json: found(jobState(peer, params.id!), `job ${params.id}`) }) },
    {
      method: 'GET',
      path: '/dashboard/api/jobs/:id/events',
      handle: ({ params, res }) => {
        found(peer.job(params.id!), `job ${params.id}`)
        stream(res, () => jobState(peer, params.id!))
        return 'handled'
      }
    },
    { method: 'GET', path: '/dashboard/api/jobs/:id/tasks/:task', handle: ({ params }) => ({ json: found(taskState(peer, params.id!, params.task!), `task ${params.task} in job ${params.id}`) }) },
    { method: 'GET', path: '/dashboard/api/auction/events', handle: ({ res }) => { stream(res, () => auctionState(peer)); return 'handled' } }
  ]
}

/**
 * Send `build()` as an SSE `state` event now and whenever it changes (its
 * `at` field aside), checked every TICK_MS or less often when building it is
 * costly (COST_FACTOR); `null` once the thing is gone.
 */
function stream (res: ServerResponse<IncomingMessage>, build: () => unknown): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
  let last = ''
  let lastWrite = Date.now()
  let timer: NodeJS.Timeout | undefined
  const next = (costMs: number): void => {
    timer = setTimeout(tick, Math.max(TICK_MS, COST_FACTOR * costMs))
    timer.unref()
  }
  const tick = (): void => {
    if (res.destroyed) return
    // The browser is behind: skip, the next tick sends the latest.
    if (res.writableNeedDrain) { next(0); return }
    const started = performance.now()
    send(build() as { at?: number } | undefined)
    next(performance.now() - started)
  }
  const send = (state: { at?: number } | undefined): void => {
    const { at: _at, ...rest } = state ?? {}
    const body = state === undefined ? 'null' : JSON.stringify(rest)
    if (body !== last) {
      last = body
      res.write(`event: state\ndata: ${state === undefined ? 'null' : JSON.stringify({ ...rest, at: Date.now() })}\n\n`)
      lastWrite = Date.now()
    } else if (Date.now() - lastWrite > KEEPALIVE_MS) {
      res.write(': keepalive\n\n')
      lastWrite = Date.now()
    }
  }
  tick()
  res.on('close', () => { clearTimeout(timer) })
}

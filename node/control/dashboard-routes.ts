/**
 * The dashboard's routes on the control server: the login exchange (see
 * sessions.ts), the page, its state as JSON and as server-sent events. A slow
 * or vanished browser never slows the daemon: an event stream whose socket
 * is not draining skips updates until it does, and sends only the latest.
 */
import type { ServerResponse } from 'node:http'
import { APP_JS, INDEX_HTML } from '../dashboard/page.ts'
import type { Peer } from '../peer.ts'
import { HttpError, type Route } from './http.ts'
import { DashboardSessions } from './sessions.ts'

/** How often a stream checks for a change; it sends only when the state differs. */
const TICK_MS = 250
/** A comment line keeps proxies and the browser from timing the stream out. */
const KEEPALIVE_MS = 15_000

export interface DashboardState { at: number, self: string, peers: ReturnType<Peer['peers']>, jobs: Array<ReturnType<ReturnType<Peer['jobs']>[number]['snapshot']>> }

/** Ended jobs the page lists (the most recent): the state is rebuilt 4 times a second per open page, however long the history. */
const RECENT_ENDED = 50

export function dashboardState (peer: Peer): DashboardState {
  const jobs = peer.jobs()
  const ended = jobs.filter(j => j.state !== 'running').sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0)).slice(0, RECENT_ENDED)
  const shown = [...jobs.filter(j => j.state === 'running'), ...ended]
  return { at: Date.now(), self: peer.id, peers: peer.peers(), jobs: shown.map(j => j.snapshot(false)) }
}

export function dashboardRoutes (peer: Peer, sessions: DashboardSessions, baseUrl: () => string): Route[] {
  const page = (body: string, type: string): Route['handle'] => () => ({ bytes: Buffer.from(body), type })
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
    { method: 'GET', path: '/dashboard', handle: page(INDEX_HTML, 'text/html; charset=utf-8') },
    { method: 'GET', path: '/dashboard/app.js', handle: page(APP_JS, 'text/javascript; charset=utf-8') },
    { method: 'GET', path: '/dashboard/api/state', handle: () => ({ json: dashboardState(peer) }) },
    { method: 'GET', path: '/dashboard/api/events', handle: ({ res }) => { stream(peer, res); return 'handled' } }
  ]
}

function stream (peer: Peer, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
  let last = ''
  let lastWrite = Date.now()
  const tick = (): void => {
    if (res.writableNeedDrain) return // the browser is behind: skip, the next tick sends the latest
    const { at: _at, ...state } = dashboardState(peer)
    const body = JSON.stringify(state)
    if (body !== last) {
      last = body
      res.write(`event: state\ndata: ${JSON.stringify({ ...state, at: Date.now() })}\n\n`)
      lastWrite = Date.now()
    } else if (Date.now() - lastWrite > KEEPALIVE_MS) {
      res.write(': keepalive\n\n')
      lastWrite = Date.now()
    }
  }
  tick()
  const timer = setInterval(tick, TICK_MS)
  timer.unref()
  res.on('close', () => { clearInterval(timer) })
}

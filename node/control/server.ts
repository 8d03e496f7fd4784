/**
 * The daemon's control API: HTTP on loopback, every request carrying
 * `Authorization: Bearer <token>` from control.json. The routes and the shapes
 * of their bodies are in api.ts, shared with the client; http.ts serves them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Peer } from '../peer.ts'
import { CONTROL_BODY_LIMIT, type HealthReply, type PeersReply } from './api.ts'
import { serve, type HttpServer, type Route } from './http.ts'
import { jobRoutes } from './jobs-routes.ts'
import { dashboardRoutes } from './dashboard-routes.ts'
import { DashboardSessions } from './sessions.ts'

export interface ControlServer {
  url: string
  token: string
  close: () => Promise<void>
}

export async function startControlServer (peer: Peer, host: string, port: number): Promise<ControlServer> {
  const token = randomBytes(24).toString('base64url')
  const expected = Buffer.from(`Bearer ${token}`)
  const sessions = new DashboardSessions()
  let url = ''
  const server = await serve([
    ...dashboardRoutes(peer, sessions, () => url),
    { method: 'GET', path: '/v1/health', handle: () => ({ json: { ok: true, peerId: peer.id } satisfies HealthReply }) },
    { method: 'GET', path: '/v1/peers', handle: () => ({ json: { self: peer.id, peers: peer.peers(), stats: peer.stats() } satisfies PeersReply }) },
    metricsRoute(peer),
    ...jobRoutes(peer)
  ], {
    host,
    port,
    bodyLimit: CONTROL_BODY_LIMIT,
    authorize: (req, path) => {
      // The dashboard's pages take the session cookie its login link sets (sessions.ts), nothing else does.
      if (path[0] === 'dashboard') return path[1] === 'login' || sessions.valid(req)
      const given = Buffer.from(req.headers.authorization ?? '')
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
    unauthorized: 'missing or wrong control token (see control.json in the data directory), or no dashboard session (run mesh dashboard)'
  })
  url = server.url
  return { url: server.url, token, close: server.close }
}

/** `GET /metrics`: the peer in Prometheus's text format (node/metrics.ts). */
function metricsRoute (peer: Peer): Route {
  return {
    method: 'GET',
    path: '/metrics',
    handle: async () => {
      const { type, text } = await peer.metrics.render()
      return { bytes: Buffer.from(text), type }
    }
  }
}

/**
 * `metrics.port`: `/metrics` alone on a second loopback port, without the
 * control token, for a Prometheus on this machine (it reads nothing it could
 * not see in `mesh peers`, and changes nothing).
 */
export async function startMetricsServer (peer: Peer, host: string, port: number): Promise<HttpServer> {
  return await serve([metricsRoute(peer)], { host, port, bodyLimit: 0, authorize: () => true, unauthorized: '' })
}

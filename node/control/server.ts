/**
 * The daemon's control API: HTTP on loopback, every request carrying
 * `Authorization: Bearer <token>` from control.json. The routes and the shapes
 * of their bodies are in api.ts, shared with the client; http.ts serves them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Peer } from '../peer.ts'
import type { HealthReply, PeersReply } from './api.ts'
import { serve } from './http.ts'
import { jobRoutes } from './jobs-routes.ts'

export interface ControlServer {
  url: string
  token: string
  close: () => Promise<void>
}

/** Job specs travel whole (with exec input files, base64), and are capped at 16 MiB as a spec. */
const BODY_LIMIT = 16 * 1024 * 1024

export async function startControlServer (peer: Peer, host: string, port: number): Promise<ControlServer> {
  const token = randomBytes(24).toString('base64url')
  const expected = Buffer.from(`Bearer ${token}`)
  const server = await serve([
    { method: 'GET', path: '/v1/health', handle: () => ({ json: { ok: true, peerId: peer.id } satisfies HealthReply }) },
    { method: 'GET', path: '/v1/peers', handle: () => ({ json: { self: peer.id, peers: peer.peers(), stats: peer.stats() } satisfies PeersReply }) },
    ...jobRoutes(peer)
  ], {
    host,
    port,
    bodyLimit: BODY_LIMIT,
    authorize: req => {
      const given = Buffer.from(req.headers.authorization ?? '')
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
    unauthorized: 'missing or wrong control token (see control.json in the data directory)'
  })
  return { url: server.url, token, close: server.close }
}

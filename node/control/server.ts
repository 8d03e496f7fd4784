/**
 * The daemon's control API: HTTP on loopback, every request carrying
 * `Authorization: Bearer <token>` from control.json. Fastify, because it gives
 * routing, JSON handling, error replies and clean shutdown in a few lines and
 * is fast and well kept; the API is small but grows with jobs. The routes and
 * the shapes of their bodies are in api.ts, shared with the client.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Peer } from '../peer.ts'
import type { HealthReply, PeersReply } from './api.ts'
import { registerJobRoutes } from './jobs-routes.ts'

export interface ControlServer {
  url: string
  token: string
  close: () => Promise<void>
}

export const API_VERSION = 'v1'

export async function startControlServer (peer: Peer, host: string, port: number): Promise<ControlServer> {
  const token = randomBytes(24).toString('base64url')
  const expected = Buffer.from(`Bearer ${token}`)
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 })

  app.addHook('onRequest', async (req, reply) => {
    const given = Buffer.from(req.headers.authorization ?? '')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      await reply.code(401).send({ error: 'missing or wrong control token (see control.json in the data directory)' })
    }
  })

  app.get('/v1/health', async (): Promise<HealthReply> => ({ ok: true, peerId: peer.id }))
  app.get('/v1/peers', async (): Promise<PeersReply> => ({ self: peer.id, peers: peer.peers(), stats: peer.stats() }))
  registerJobRoutes(app, peer)

  const address = await app.listen({ host, port })
  return { url: address, token, close: async () => { await app.close() } }
}

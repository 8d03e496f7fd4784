/**
 * A throw-away Redis for the BullMQ comparison: Debian's redis-server on
 * 127.0.0.1, a free port, a temp dir, no persistence. Started and stopped by
 * the bench itself.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { poll } from '../lib.ts'

export const REDIS_SERVER = '/usr/bin/redis-server'

/** Why the comparison cannot run on this machine, with how to fix it; undefined when it can. */
export function missingPrerequisite (): string | undefined {
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} not found: install Debian's Redis with \`sudo apt-get install redis-server\` (the bench starts and stops it itself; the service need not run)`
  try {
    // BullMQ loads its Redis client (ioredis, an optional peer dependency) with require().
    createRequire(createRequire(import.meta.url).resolve('bullmq')).resolve('ioredis')
  } catch {
    return 'bullmq cannot load its Redis client: install it with `npm install --save-dev ioredis`'
  }
  return undefined
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

export interface RedisServer {
  port: number
  pid: number
  version: string
  stop: () => Promise<void>
}

export async function startRedis (): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')]
  const proc = spawn(REDIS_SERVER, args, { detached: true, stdio: 'ignore' })
  const exited = new Promise<void>(resolve => { proc.once('exit', () => { resolve() }) })
  const stop = async (): Promise<void> => {
    try { process.kill(-proc.pid!, 'SIGKILL') } catch { /* already gone */ }
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 2000))])
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await poll(async () => (await ping(port)).startsWith('+PONG'), 10_000, 20)
    const info = await command(port, 'INFO server')
    return { port, pid: proc.pid!, version: /redis_version:(\S+)/.exec(info)?.[1] ?? '?', stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function ping (port: number): Promise<string> { return await command(port, 'PING') }

/** Redis's own view of its memory (INFO memory), MB. */
export async function redisUsedMemoryMB (port: number): Promise<{ usedMB: number, infoRssMB: number }> {
  const info = await command(port, 'INFO memory')
  const mb = (key: string): number => Math.round(Number(new RegExp(`${key}:(\\d+)`).exec(info)?.[1] ?? NaN) / 1048576 * 10) / 10
  return { usedMB: mb('used_memory'), infoRssMB: mb('used_memory_rss') }
}

/** One inline command over a fresh socket; enough for PING and INFO without a client library. */
async function command (port: number, line: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    socket.setTimeout(1000, () => { socket.destroy(); reject(new Error('redis: no answer')) })
    socket.on('error', reject)
    socket.on('data', d => {
      reply += d.toString()
      // A bulk reply `$len\r\n…\r\n` is complete when its body has arrived; a simple reply at its first CRLF.
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      if (bulk === null ? reply.includes('\r\n') : Buffer.byteLength(reply) >= bulk[0].length + Number(bulk[1]) + 2) {
        socket.end()
        resolve(reply)
      }
    })
    socket.on('connect', () => { socket.write(`${line}\r\n`) })
  })
}

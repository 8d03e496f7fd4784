/**
 * Three real daemons on this machine, started with `mesh start --config …`
 * and observed only through `mesh peers --json`: they see each other, notice a
 * killed or frozen one, and take a restarted one back under the same peer id.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeMesh, mesh, peersJson, type LocalDaemon as Daemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

let daemons: Daemon[]
let dir: string
let cleanup: () => Promise<void>

async function stateOf (observer: Daemon, peerId: string): Promise<string | undefined> {
  return (await peersJson(observer.config)).peers.find(p => p.id === peerId)?.state
}

async function allSeeAll (): Promise<boolean> {
  const ids = daemons.map(d => d.peerId).sort().join()
  for (const d of daemons) {
    const reply = await peersJson(d.config)
    if (reply.peers.filter(p => p.state === 'alive').map(p => p.id).sort().join() !== ids) return false
  }
  return true
}

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await makeMesh(3))
  await Promise.all(daemons.map(async d => { await d.start() }))
})

afterAll(async () => { await cleanup() })

describe('three daemons', () => {
  it('each lists all three, with resources, through `mesh peers --json`', async () => {
    await waitFor('every daemon to list all three alive', allSeeAll, { timeoutMs: 10_000, intervalMs: 200 })
    const reply = await peersJson(daemons[0]!.config)
    expect(reply.self).toBe(daemons[0]!.peerId)
    for (const p of reply.peers) {
      expect(p.capacity.cpu).toBeGreaterThan(0)
      expect(p.capacity.memoryMB).toBeGreaterThan(0)
      expect(p.speed).toBeGreaterThan(0)
    }
    // The human table names every peer by the tail of its id.
    const table = await mesh(['peers', '--config', daemons[1]!.config])
    expect(table.code).toBe(0)
    for (const d of daemons) expect(table.stdout).toContain(d.peerId.slice(-8))
    expect(table.stdout).toContain('3 of 3 peers alive')
  })

  it('kill -9 of one marks it gone on the others; a restart brings it back with the same peer id', async () => {
    await waitFor('mesh formed', allSeeAll, { timeoutMs: 10_000, intervalMs: 200 })
    const [a, b, victim] = daemons as [Daemon, Daemon, Daemon]
    const id = victim.peerId
    victim.signal('SIGKILL')
    await victim.exited()
    for (const observer of [a, b]) {
      await waitFor(`${observer.config} to mark the killed peer gone`, async () => await stateOf(observer, id) === 'gone', { timeoutMs: 6000, intervalMs: 100 })
    }
    await victim.start()
    expect(victim.peerId).toBe(id)
    for (const observer of [a, b]) {
      await waitFor('the restarted peer to be alive again', async () => await stateOf(observer, id) === 'alive', { timeoutMs: 6000, intervalMs: 100 })
    }
  })

  it('SIGSTOP makes a peer gone on the others; SIGCONT brings it back', async () => {
    await waitFor('mesh formed', allSeeAll, { timeoutMs: 10_000, intervalMs: 200 })
    const [a, frozen] = daemons as [Daemon, Daemon]
    frozen.signal('SIGSTOP')
    try {
      // A frozen process keeps its sockets open: only pings and missing ads reveal it.
      await waitFor('the frozen peer to be gone', async () => await stateOf(a, frozen.peerId) === 'gone', { timeoutMs: 8000, intervalMs: 100 })
    } finally {
      frozen.signal('SIGCONT')
    }
    await waitFor('the thawed peer to be alive again', async () => await stateOf(a, frozen.peerId) === 'alive', { timeoutMs: 8000, intervalMs: 100 })
  })

  it('SIGTERM stops a daemon cleanly: exit 0, control.json removed, peers see it leave', async () => {
    await waitFor('mesh formed', allSeeAll, { timeoutMs: 10_000, intervalMs: 200 })
    const [a, , leaver] = daemons as [Daemon, Daemon, Daemon]
    leaver.signal('SIGTERM')
    expect(await leaver.exited()).toBe(0)
    expect(existsSync(join(dir, 'data3', 'control.json'))).toBe(false)
    const seen = await waitFor('a to see it leave', async () => {
      const v = (await peersJson(a.config)).peers.find(p => p.id === leaver.peerId)
      return v?.state === 'gone' ? v : undefined
    }, { timeoutMs: 5000, intervalMs: 100 })
    expect(seen.reason).toMatch(/clean shutdown/)
    // Asking a stopped daemon is a clear error, not a crash.
    const r = await mesh(['peers', '--config', leaver.config])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/no running daemon found/)
    await leaver.start()
  })
})

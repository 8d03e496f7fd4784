/**
 * Membership figures, measured on real daemons (3 `mesh start` processes on
 * 127.0.0.1), observed through the control API every 5 ms:
 *  - start-up: spawn → `ready:` line, and spawn → the first ad seen by another peer;
 *  - idle footprint: RSS and CPU of each daemon over an idle window;
 *  - failure detection: SIGKILL → marked gone, and SIGSTOP → marked gone,
 *    as seen by each of the two survivors.
 */
import type { PeersReply } from '../node/control/api.ts'
import { createLocalMesh, type LocalDaemon } from '../node/local-mesh.ts'
import { cpuMs, machine, poll, rssMB, summary, writeResult } from './lib.ts'

export async function benchMembership ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const rounds = quick ? 3 : 5
  const idleMs = quick ? 5000 : 20_000
  const mesh = await createLocalMesh(3)
  const [a, b, c] = mesh.daemons as [LocalDaemon, LocalDaemon, LocalDaemon]
  const view = async (observer: LocalDaemon, subject: string): Promise<PeersReply['peers'][number] | undefined> =>
    (await observer.client().peers()).peers.find(p => p.id === subject)
  const log = (s: string): void => { process.stderr.write(`[membership] ${s}\n`) }

  try {
    await a.start()
    await b.start()
    const readyMs: number[] = []
    const firstAdMs: number[] = []
    for (let i = 0; i < rounds; i++) {
      const before = c.peerId === '' ? -1 : (await view(a, c.peerId))?.epoch ?? -1
      const spawnedAt = performance.now()
      const started = c.start()
      await started
      readyMs.push(c.readyAt - c.spawnedAt)
      await poll(async () => {
        const v = await view(a, c.peerId)
        return v?.state === 'alive' && v.epoch !== before
      }, 10_000)
      firstAdMs.push(performance.now() - spawnedAt)
      if (i < rounds - 1) {
        c.signal('SIGTERM')
        await c.exited()
      }
    }
    log(`start-up: ready ${summary(readyMs).p50} ms, first ad seen ${summary(firstAdMs).p50} ms (p50)`)

    await poll(async () => (await view(b, c.peerId))?.state === 'alive', 10_000)
    const cpu0 = mesh.daemons.map(d => cpuMs(d.pid!))
    await new Promise(resolve => setTimeout(resolve, idleMs))
    const idleCpu = mesh.daemons.map((d, i) => Math.round((cpuMs(d.pid!) - cpu0[i]!) / idleMs * 1000) / 10)
    const rss = mesh.daemons.map(d => rssMB(d.pid!))
    log(`idle: RSS ${rss.join(', ')} MB; CPU ${idleCpu.join(', ')} % of a core`)

    const detect = async (sig: 'SIGKILL' | 'SIGSTOP'): Promise<{ first: number[], all: number[] }> => {
      const first: number[] = []
      const all: number[] = []
      for (let i = 0; i < rounds; i++) {
        await poll(async () => (await view(a, c.peerId))?.state === 'alive' && (await view(b, c.peerId))?.state === 'alive', 15_000)
        await new Promise(resolve => setTimeout(resolve, 300))
        const t0 = performance.now()
        c.signal(sig)
        const seen: number[] = []
        await Promise.all([a, b].map(async obs => {
          await poll(async () => (await view(obs, c.peerId))?.state === 'gone', 15_000)
          seen.push(performance.now() - t0)
        }))
        first.push(Math.min(...seen))
        all.push(Math.max(...seen))
        if (sig === 'SIGSTOP') {
          c.signal('SIGCONT')
        } else {
          await c.exited()
          await c.start()
        }
      }
      log(`${sig} → gone: first observer p50 ${summary(first).p50} ms, both observers p50 ${summary(all).p50} ms`)
      return { first, all }
    }
    const killed = await detect('SIGKILL')
    const frozen = await detect('SIGSTOP')

    const result = {
      what: 'membership on 3 real daemons (127.0.0.1), observed through the control API every 5 ms',
      machine: machine(),
      rounds,
      startup: {
        readyMs: summary(readyMs),
        firstAdSeenMs: summary(firstAdMs),
        how: 'spawn of `mesh start` → its `ready:` line; spawn → another daemon lists it alive with the new epoch'
      },
      idle: { rssMB: rss, cpuPercentOfCore: idleCpu, windowMs: idleMs, how: '/proc/<pid>/status VmRSS after the window; utime+stime over the window' },
      killToGoneMs: { firstObserver: summary(killed.first), bothObservers: summary(killed.all), how: 'SIGKILL → state gone in a survivor’s /v1/peers' },
      freezeToGoneMs: { firstObserver: summary(frozen.first), bothObservers: summary(frozen.all), how: 'SIGSTOP → state gone in a survivor’s /v1/peers' }
    }
    writeResult('membership', result)
    return result
  } finally {
    await mesh.destroy()
  }
}

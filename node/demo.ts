/**
 * `mesh demo` / `npm run demo`: a 3-peer mesh on this machine (loopback only,
 * mDNS off). The peers find each other; the Monte Carlo π example is submitted
 * on peer 2; peer 3 is killed with SIGKILL a third of the way through; its
 * tasks run again elsewhere and the job still finishes; peer 3 restarts under
 * the same peer id.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { color } from './cli/format.ts'
import { openBrowser } from './cli/dashboard.ts'
import { renderPeers } from './cli/peers.ts'
import { followJob } from './cli/progress.ts'
import type { PeersReply } from './control/api.ts'
import type { ControlClient } from './control/client.ts'
import { createLocalMesh, type LocalDaemon } from './local-mesh.ts'
import { PACKAGE_ROOT, siblingModule } from './package.ts'

const say = (line = ''): void => { process.stdout.write(line + '\n') }

/**
 * Config each demo peer gets on top of its ports: the example handlers and
 * program. The handlers are the compiled module when the demo runs compiled
 * (from an installed package, Node does not strip types under node_modules).
 */
function demoConfig (): Record<string, unknown> {
  const handlers = fileURLToPath(siblingModule(import.meta.url, '../examples/pi/handlers'))
  return {
    executor: { handlers: { 'pi.sample': `${handlers}#sample`, 'pi.reduce': `${handlers}#reduce` }, exec: { allow: ['awk'] } }
  }
}

export async function runDemo (opts: { dashboard?: boolean, open?: boolean } = {}): Promise<void> {
  const mesh = await createLocalMesh(3, demoConfig)
  const client = (i: number): ControlClient => mesh.daemons[i]!.client()
  const peersOf = async (i: number): Promise<PeersReply> => await client(i).peers()
  const until = async (what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> => {
    const t0 = performance.now()
    while (!(await cond().catch(() => false))) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`demo: timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    return performance.now() - t0
  }
  const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
  const interrupted = (): void => { void mesh.destroy().then(() => process.exit(130)) }
  process.once('SIGINT', interrupted)

  try {
    say(color('bold', 'Meshwork demo: three peers on this machine (127.0.0.1, mDNS off)'))
    say(`configs and data in ${mesh.dir}`)
    for (const [i, d] of mesh.daemons.entries()) {
      await d.start()
      say(`  peer ${i + 1} ready in ${Math.round(d.readyAt - d.spawnedAt)} ms: ${d.peerId} on port ${d.port}`)
    }
    const ids = mesh.daemons.map(d => d.peerId).sort().join()
    const aliveIds = (r: PeersReply): string => r.peers.filter(p => p.state === 'alive').map(p => p.id).sort().join()
    const formed = await until('the mesh to form', async () => {
      const replies = await Promise.all([0, 1, 2].map(peersOf))
      return replies.every(r => aliveIds(r) === ids)
    })
    if (opts.dashboard === true) {
      const { url } = await client(1).dashboardLogin()
      say(`\npeer 2's dashboard: ${url}`)
      say('(the link works once, within a minute; it logs this browser in)')
      if (opts.open !== false) openBrowser(url)
    }
    say(`\nall three see each other ${secs(formed)} after the last one was ready. As peer 2 sees the mesh:`)
    say(await renderPeers(await peersOf(1), Date.now()))

    // The job: Monte Carlo π, 32 sampling tasks and a reduce, submitted on peer 2.
    const spec = JSON.parse(await readFile(join(PACKAGE_ROOT, 'examples', 'pi', 'pi.json'), 'utf8')) as unknown
    const { id } = await client(1).submit(spec)
    say(`\nsubmitted examples/pi/pi.json on peer 2 as job ${id}; peer 3 will be killed once a third of it is done`)
    const victim = mesh.daemons[2] as LocalDaemon
    const killer = (async () => {
      await until('a third of the job', async () => {
        const s = await client(1).job(id, { tasks: false })
        return s.counts.done >= 11 || s.state !== 'running'
      }, 120_000)
      victim.signal('SIGKILL')
      return performance.now()
    })()
    const snap = await followJob(client(1), id)
    const killedAt = await killer
    const gone = (await peersOf(0)).peers.find(p => p.id === victim.peerId)
    say(`peer 3 was killed with SIGKILL mid-job; peer 1 lists it as ${gone?.state ?? '?'} (${gone?.reason ?? ''})`)

    const results = await client(1).results(id)
    const detail = await client(1).job(id)
    const moved = (detail.tasks ?? []).filter(t => t.attempts.length > 1)
    const names = new Map(mesh.daemons.map((d, i) => [d.peerId, `peer ${i + 1}`]))
    const byPeer = new Map<string, string[]>()
    for (const t of detail.tasks ?? []) {
      const p = names.get(t.peer ?? '') ?? '?'
      byPeer.set(p, [...(byPeer.get(p) ?? []), t.id])
    }
    say(`\njob ${snap.state} in ${secs((snap.endedAt ?? Date.now()) - snap.submittedAt)}; ${moved.length} task(s) ran again elsewhere after the kill (${secs(performance.now() - killedAt)} ago):`)
    for (const t of moved) say(`  ${t.id}: ${t.attempts.map(a => `#${a.attempt} ${names.get(a.peer) ?? a.peer} ${a.state}${a.reason !== undefined ? ` (${a.reason})` : ''}`).join(' → ')}`)
    say('who ran what (the final attempt of each task):')
    for (const [p, tasks] of [...byPeer].sort()) say(`  ${p}: ${tasks.length} tasks`)
    say(color('bold', `result: π ≈ ${(results.results.reduce as { pi: number }).pi}`))

    say('\nrestarting peer 3 with the same config …')
    const oldId = victim.peerId
    await victim.start()
    const back = await until('peer 3 to be back', async () =>
      (await peersOf(0)).peers.find(p => p.id === oldId)?.state === 'alive')
    say(`back ${color('green', 'alive')} under the same peer id (${victim.peerId === oldId ? 'yes' : 'NO'}) ${secs(back)} after it was ready.`)
    if (opts.dashboard === true) {
      process.removeListener('SIGINT', interrupted)
      say(`\nthe mesh keeps running for the dashboard; another login link: mesh dashboard --config ${mesh.daemons[1]!.config}`)
      say(color('bold', 'press Ctrl-C to stop it'))
      await new Promise<void>(resolve => { process.once('SIGINT', () => { resolve() }) })
    }
  } finally {
    process.removeListener('SIGINT', interrupted)
    say('\nstopping the mesh (SIGTERM: each peer says goodbye) …')
    await mesh.stop()
    say('done.')
  }
}

/**
 * `mesh demo` / `npm run demo`: a 3-peer mesh on this machine (loopback only,
 * mDNS off). The peers find each other, one is killed with SIGKILL, the others
 * notice, it restarts under the same peer id, and the mesh is whole again.
 */
import { join } from 'node:path'
import type { PeersReply } from './cli/peers.ts'
import { renderPeers } from './cli/peers.ts'
import { color } from './cli/format.ts'
import { readControlFile } from './control/control-file.ts'
import { controlGet, createLocalMesh, type LocalDaemon } from './local-mesh.ts'

const say = (line = ''): void => { process.stdout.write(line + '\n') }

export async function runDemo (): Promise<void> {
  const mesh = await createLocalMesh(3)
  const token = (i: number): string => readControlFile(join(mesh.dir, `data${i + 1}`))?.token ?? ''
  const peersOf = async (i: number): Promise<PeersReply> => await controlGet<PeersReply>(mesh.daemons[i]!, '/v1/peers', token(i))
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
    say(`\nall three see each other ${secs(formed)} after the last one was ready. As peer 2 sees the mesh:`)
    say(renderPeers(await peersOf(1), Date.now()))

    const victim = mesh.daemons[2] as LocalDaemon
    say(`\nkilling peer 3 with SIGKILL (no goodbye) …`)
    victim.signal('SIGKILL')
    const gone = await until('peer 1 to mark peer 3 gone', async () =>
      (await peersOf(0)).peers.find(p => p.id === victim.peerId)?.state === 'gone')
    const reason = (await peersOf(0)).peers.find(p => p.id === victim.peerId)?.reason
    say(`peer 1 marked it ${color('red', 'gone')} after ${secs(gone)} (${reason})`)
    await victim.exited()

    say('\nrestarting peer 3 with the same config …')
    const oldId = victim.peerId
    await victim.start()
    const back = await until('peer 3 to be back', async () =>
      (await peersOf(0)).peers.find(p => p.id === oldId)?.state === 'alive')
    say(`back ${color('green', 'alive')} under the same peer id (${victim.peerId === oldId ? 'yes' : 'NO'}) ${secs(back)} after it was ready:`)
    say(renderPeers(await peersOf(0), Date.now()))
  } finally {
    process.removeListener('SIGINT', interrupted)
    say('\nstopping the mesh (SIGTERM: each peer says goodbye) …')
    await mesh.stop()
    say('done.')
  }
}

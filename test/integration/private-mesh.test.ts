/**
 * A private mesh (libp2p pnet): peers holding the same swarm key form a mesh;
 * a peer with another key never gets in, even when it bootstraps to them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createPeer, type Peer } from '../../node/index.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-pnet-'))
const running: Peer[] = []
afterAll(async () => {
  await Promise.all(running.map(async p => { await p.stop({ goodbye: false }) }))
  rmSync(dir, { recursive: true, force: true })
})

function keyFile (name: string): string {
  const key = new Uint8Array(95)
  generateKey(key)
  const file = join(dir, name)
  writeFileSync(file, key)
  return file
}

async function start (swarmKeyFile: string, bootstrap: string[] = []): Promise<Peer> {
  const peer = await createPeer({
    config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, swarmKeyFile },
    ephemeral: true,
    logger: pino({ level: 'silent' })
  })
  await peer.start()
  running.push(peer)
  return peer
}

describe('private mesh', () => {
  it('peers with the same swarm key see each other; a peer with another key stays out', async () => {
    const shared = keyFile('shared.key')
    const a = await start(shared)
    const b = await start(shared, a.addresses())
    const outsider = await start(keyFile('other.key'), a.addresses())

    await waitFor('a and b to see each other', () =>
      [a, b].every(p => p.peers().filter(v => v.state === 'alive').length === 2), { timeoutMs: 3000 })
    // Give the outsider's bootstrap keeper several attempts before judging.
    await sleep(1500)
    expect(outsider.peers()).toHaveLength(1)
    expect(a.peers().map(v => v.id)).not.toContain(outsider.id)
    expect(outsider.libp2p.getConnections()).toHaveLength(0)
  })
})

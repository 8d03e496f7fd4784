/**
 * Two Meshwork peers in one process, as a desktop or edge app would embed
 * them: each registers a handler of the app's own (`peer.handle`, runs in this
 * process and may use its state) and a handler module (`peer.handleModule`,
 * runs in worker threads). A job submitted on the first peer fans out over
 * both; its results come back to the app.
 *
 *   npm run build && npm start
 */
import { fileURLToPath } from 'node:url'
import { createPeer, type HandlerContext, type JobEvent, type Peer } from 'meshwork'

const moduleHandler = `${fileURLToPath(new URL('./handlers.js', import.meta.url))}#countPrimes`

/** The app's own handler: it closes over app state, so it runs on this thread. */
const seen: string[] = []
function summarise (_input: unknown, ctx: HandlerContext): { runs: number, primes: number } {
  seen.push(ctx.taskId)
  const counts = ctx.upstream.count as Array<{ primes: number }>
  return { runs: counts.length, primes: counts.reduce((sum, c) => sum + c.primes, 0) }
}

/** A peer on a free loopback port; no mDNS, it finds the mesh through `bootstrap`. */
async function startPeer (bootstrap: string[]): Promise<Peer> {
  const peer = await createPeer({
    ephemeral: true, // no files: a fresh identity, journal and blobs in memory
    config: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap,
      mdns: false,
      resources: { cpu: 2, memoryMB: 1024, gpu: 0, speed: 1 },
      yield: { policy: 'off' }, // two peers on one machine would count each other's work as the owner's
      log: { level: 'warn' }
    }
  })
  peer.handle('summarise', summarise)
  peer.handleModule('count-primes', moduleHandler)
  await peer.start()
  return peer
}

const first = await startPeer([])
const peers = [first, await startPeer(first.addresses())]
try {
  // Wait until each peer has the other's ad, so both can win tasks.
  const deadline = Date.now() + 10_000
  while (!peers.every(p => p.peers().filter(v => v.state === 'alive').length === 2)) {
    if (Date.now() > deadline) throw new Error('the two peers did not find each other within 10 s')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const job = await peers[0]!.submit({
    name: 'embedded',
    tasks: {
      count: { kind: 'handler', handler: 'count-primes', input: { below: 50_000 }, count: 8, resources: { cpu: 1 } },
      total: { kind: 'handler', handler: 'summarise', after: ['count'], resources: { cpu: 0.1 } }
    }
  })
  const ranOn = new Map<string, number>()
  for await (const event of job.events() as AsyncIterable<JobEvent>) {
    if (event.type === 'task-done') ranOn.set(event.peer, (ranOn.get(event.peer) ?? 0) + 1)
  }
  const results = await job.results()
  console.log(`job ${job.id}: ${job.state}`)
  console.log(`tasks per peer: ${[...ranOn].map(([p, n]) => `${p.slice(-8)} ${n}`).join(', ')}`)
  console.log(`total: ${JSON.stringify(results.total)}`)
} finally {
  await Promise.all(peers.map(async p => { await p.stop() }))
}

/**
 * Artifacts between real libp2p peers: a job names an 8 MiB file; the peer
 * that runs the task fetches it once and keeps it; the next job's task goes
 * to that peer (its bid counts no fetch) and reads it from the cache; a peer
 * that lacks it fetches from the peers whose ads list it, not just from the
 * origin, and a holder whose copy went bad is passed over.
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createPeer, type HandlerContext, type Peer } from '../../node/index.ts'
import { adArtifactId } from '../../protocols/artifact.ts'
import { waitFor } from '../helpers/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-artifacts-'))
const data = randomBytes(8 * 1024 * 1024)
const sha = createHash('sha256').update(data).digest('hex')
writeFileSync(join(dir, 'model.bin'), data)

/** Reads its artifact and says what it found, and where. */
const readModel = (_: unknown, ctx: HandlerContext): { sha: string, size: number } => {
  const bytes = readFileSync(ctx.artifacts.model!)
  return { sha: createHash('sha256').update(bytes).digest('hex'), size: bytes.byteLength }
}

let origin: Peer
const workers: Peer[] = []

beforeAll(async () => {
  const quiet = pino({ level: 'silent' })
  // The origin runs nothing here (no handler), so the artifact must travel.
  origin = await createPeer({ config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }, ephemeral: true, logger: quiet })
  await origin.start()
  for (const tag of ['site=b', 'site=c']) {
    const w = await createPeer({
      config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: origin.addresses(), tags: [tag], resources: { cpu: 1 } },
      ephemeral: true,
      logger: quiet
    })
    w.handle('read-model', readModel)
    // Loading this "model" takes 400 ms; once warm, a task finds it at once.
    w.handle('use-model', async (_: unknown, ctx: HandlerContext) => {
      await ctx.warm('model:slow', async () => { await new Promise(resolve => setTimeout(resolve, 400)); return { loaded: true } })
      return null
    })
    await w.start()
    workers.push(w)
  }
  const all = [origin, ...workers]
  await waitFor('the peers to see each other', () => all.every(p => p.peers().filter(v => v.state === 'alive').length === 3), { timeoutMs: 10_000 })
}, 30_000)

afterAll(async () => {
  await Promise.all([origin, ...workers].map(async p => { await p.stop() }))
  rmSync(dir, { recursive: true, force: true })
})

const job = (artifact: string | { sha256: string, size: number }, tags: string[] = []) => ({
  name: 'read', tasks: { read: { kind: 'handler' as const, handler: 'read-model', artifacts: { model: artifact }, tags, resources: { cpu: 1 } } }
})

async function run (from: Peer, spec: ReturnType<typeof job>): Promise<{ peer: string, bytes: { network: number, cache: number } | undefined, value: unknown }> {
  const view = await from.submit(spec, { baseDir: dir })
  expect(await view.finished()).toBe('done')
  const task = view.snapshot(true).tasks![0]!
  return { peer: task.peer!, bytes: task.artifactBytes, value: (await view.results()).read }
}

describe('artifacts', () => {
  let first: Peer
  let other: Peer

  it('fetches an artifact once, then finds it in the cache, and the auction sends the task where it is', async () => {
    const a = await run(origin, job('model.bin'))
    expect(a.value).toEqual({ sha, size: data.byteLength })
    expect(a.bytes).toEqual({ network: data.byteLength, cache: 0 })
    first = workers.find(w => w.id === a.peer)!
    other = workers.find(w => w.id !== a.peer)!
    expect(first.artifacts.cache.has(sha)).toBe(true)
    // Both peers are idle and equal but for the artifact: the one holding it bids no fetch time.
    const b = await run(origin, job('model.bin'))
    expect(b.peer).toBe(first.id)
    expect(b.bytes).toEqual({ network: 0, cache: data.byteLength })
    expect(b.value).toEqual({ sha, size: data.byteLength })
  })

  it('fetches from every peer that advertises it, passing over a holder whose copy went bad', async () => {
    await waitFor('the holder to advertise the artifact', () => origin.peers().find(p => p.id === first.id)?.cache?.artifacts === 1, { timeoutMs: 5000 })
    await waitFor('the other peer to see the holder\'s ad', () => other.core.membership.table.get(first.id)?.ad.artifacts?.includes(adArtifactId(sha)) === true, { timeoutMs: 5000 })
    // The holder's file is corrupted on disk after it was verified: every chunk it serves is now bad.
    const path = first.artifacts.cache.pathOf(sha)
    chmodSync(path, 0o600)
    const bad = Buffer.from(data)
    for (let i = 0; i < bad.byteLength; i += 1024 * 1024) bad[i] = bad[i]! ^ 0xff
    writeFileSync(path, bad)
    const servedBefore = { origin: origin.artifacts.totals.served, holder: first.artifacts.totals.served }
    // Named by sha-256, from the origin, to run on the peer that lacks it.
    const c = await run(origin, job({ sha256: sha, size: data.byteLength }, [other.id === workers[0]!.id ? 'site=b' : 'site=c']))
    expect(c.peer).toBe(other.id)
    expect(c.value).toEqual({ sha, size: data.byteLength })
    expect(c.bytes).toEqual({ network: data.byteLength, cache: 0 })
    // The holder was asked (its ad lists the artifact; it also gave the manifest), and what it sent was refused:
    // the whole came through intact, the origin sending all of it.
    expect(first.artifacts.totals.served).toBeGreaterThan(servedBefore.holder)
    expect(origin.artifacts.totals.served - servedBefore.origin).toBe(data.byteLength)
    expect(other.artifacts.cache.has(sha)).toBe(true)
  })

  it('runs tasks on a peer whose cache cannot write, fetching for each attempt instead', async () => {
    const notADir = join(dir, 'cache-is-a-file')
    writeFileSync(notADir, 'x')
    const broken = await createPeer({
      config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: origin.addresses(), tags: ['site=d'], resources: { cpu: 1 }, cache: { dir: notADir } },
      ephemeral: true,
      logger: pino({ level: 'silent' })
    })
    broken.handle('read-model', readModel)
    await broken.start()
    try {
      await waitFor('the origin to see the new peer', () => origin.peers().some(p => p.id === broken.id && p.state === 'alive' && p.caps.tags.includes('site=d')), { timeoutMs: 10_000 })
      for (let i = 0; i < 2; i++) {
        const r = await run(origin, job('model.bin', ['site=d']))
        expect(r.peer).toBe(broken.id)
        expect(r.value).toEqual({ sha, size: data.byteLength })
        expect(r.bytes).toEqual({ network: data.byteLength, cache: 0 })
      }
      expect(broken.artifacts.cache.count).toBe(0)
    } finally {
      await broken.stop()
    }
  })

  it('sends a task naming a warm key to the peer where that model is warm', async () => {
    const [warm, cold] = workers
    const once = async (spec: unknown): Promise<string> => {
      const view = await origin.submit(spec as Parameters<Peer['submit']>[0])
      expect(await view.finished()).toBe('done')
      return view.snapshot(true).tasks![0]!.peer!
    }
    // Load it on one peer, then wait until the other has heard (from its ad) how long a load takes.
    // Not `>= 400`: a 400 ms timer can fire a fraction of a millisecond early by performance.now().
    expect(await once({ name: 'load', tasks: { use: { kind: 'handler', handler: 'use-model', tags: [warm === workers[0] ? 'site=b' : 'site=c'], resources: { cpu: 1 } } } })).toBe(warm!.id)
    await waitFor('the cold peer to see the warm key in the other\'s ad', () => cold!.core.membership.table.get(warm!.id)?.ad.warm?.some(w => w.key === 'model:slow' && w.loadMs >= 350) === true, { timeoutMs: 5000 })
    // Both idle and alike but for the model: every time, the peer that holds it warm bids 400 ms less.
    for (let i = 0; i < 4; i++) {
      expect(await once({ name: 'use', tasks: { use: { kind: 'handler', handler: 'use-model', warm: 'model:slow', resources: { cpu: 1 } } } })).toBe(warm!.id)
    }
  })

  it('refuses a job naming an artifact no live peer holds, or a file that is not there', async () => {
    await expect(origin.submit(job({ sha256: 'ab'.repeat(32), size: 10 }), { baseDir: dir })).rejects.toThrow(/tasks\.read\.artifacts\.model: no live peer holds artifact abababababab/)
    await expect(origin.submit(job('missing.bin'), { baseDir: dir })).rejects.toThrow(/tasks\.read\.artifacts\.model: cannot read .*missing\.bin: ENOENT/)
  })
})

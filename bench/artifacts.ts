/**
 * Artifacts (issue 12): one model file needed by every task of a job, on 4
 * real daemons (127.0.0.1), the job submitted to daemon 0, which holds the
 * file. Measured per job: the bytes the tasks fetched over the network and
 * found in caches (the tasks' `artifactBytes` from `mesh status --json`'s
 * data), and the makespan (POST /v1/jobs → the job-done event).
 *
 *  - cache:  the default, artifacts cached and bids priced by what a peer
 *            lacks; the same job run twice (cold, then warm caches);
 *  - origin: `cache.maxMB: 0` everywhere, so every attempt fetches the model
 *            from the origin (what Meshwork did before artifacts), run twice;
 *  - the lower bound: one copy for each peer other than the origin that runs
 *            a task (the origin already has it).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT } from '../node/local-mesh.ts'
import { machine, poll, runToDone, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')
const PEERS = 4
const log = (s: string): void => { process.stderr.write(`[artifacts] ${s}\n`) }

interface Run { makespanMs: number, network: number, cache: number, peers: number, byPeer: Record<string, number> }

export async function benchArtifacts ({ quick, smoke }: { quick: boolean, smoke?: boolean }): Promise<Record<string, unknown>> {
  const sizeMB = smoke === true ? 8 : quick ? 20 : 200 // quick: only with --only artifacts
  const tasks = 16
  const workMs = 500
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-bench-artifacts-'))
  const model = join(dir, 'model.bin')
  writeFileSync(model, randomBytes(sizeMB * 1024 * 1024))
  // Worker threads and the handler module load on first use: a job with a 1 KB artifact touches every peer first.
  const tiny = join(dir, 'tiny.bin')
  writeFileSync(tiny, randomBytes(1024))
  const spec = (name: string, file = model): unknown => ({
    name,
    tasks: { infer: { kind: 'handler', handler: 'readArtifact', input: { ms: workMs }, count: tasks, artifacts: { model: file }, resources: { cpu: 1 }, estimateMs: workMs } }
  })
  const twice = async (origin: ControlClient, label: string): Promise<Run[]> => {
    await runJob(origin, spec('warm-up', tiny))
    return [await runJob(origin, spec(`${label}-1`)), await runJob(origin, spec(`${label}-2`))]
  }
  try {
    const cached = await onMesh({}, async origin => await twice(origin, 'cache'))
    const fromOrigin = await onMesh({ cache: { maxMB: 0 } }, async origin => await twice(origin, 'origin'))
    const bytes = sizeMB * 1024 * 1024
    const result = {
      what: `one ${sizeMB} MB artifact needed by all ${tasks} tasks of a job (each reads it whole, then works ${workMs} ms) on ${PEERS} daemons declaring 2 cores each; the job submitted to daemon 0, which holds the file`,
      machine: machine(),
      artifactMB: sizeMB,
      tasks,
      cache: { cold: cached[0], warm: cached[1], how: 'default config: cached artifacts, bids priced by the bytes a peer lacks; the same job twice on one mesh' },
      origin: { first: fromOrigin[0], second: fromOrigin[1], how: 'cache.maxMB 0 on every daemon: each attempt fetches the artifact from the origin into a temporary file (the behaviour before artifacts were cached)' },
      lowerBound: {
        networkBytes: (cached[0]!.peers - (cached[0]!.byPeer.origin !== undefined ? 1 : 0)) * bytes,
        anyPlacement: (PEERS - 1) * bytes,
        how: 'one copy to each peer other than the origin that ran a task in the cold run; anyPlacement: to every other peer'
      },
      how: 'bytes: the sum over tasks of artifactBytes (network, cache) the executors reported; makespan: Date.now() before POST /v1/jobs → the job-done event (same clock), after a warm-up job (a 1 KB artifact, the same tasks) on the same mesh; 127.0.0.1, libp2p with noise and yamux'
    }
    writeResult('artifacts', result)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function onMesh (extra: Record<string, unknown>, body: (origin: ControlClient) => Promise<Run[]>): Promise<Run[]> {
  const mesh = await createLocalMesh(PEERS, () => ({
    ...extra,
    resources: { cpu: 2, reserve: { cpu: 0, memoryMB: 0 }, speed: 1 },
    yield: { policy: 'off' },
    executor: { handlers: { readArtifact: `${HANDLERS}#readArtifact` } }
  }))
  try {
    await Promise.all(mesh.daemons.map(async d => { await d.start(60_000) }))
    const clients = mesh.daemons.map(d => d.client())
    await poll(async () => {
      for (const c of clients) if ((await c.peers()).peers.filter(p => p.state === 'alive').length !== PEERS) return false
      return true
    }, 60_000, 250)
    const origin = clients[0]!
    const ids = new Map(mesh.daemons.map((d, i) => [d.peerId, i === 0 ? 'origin' : `peer${i}`]))
    const runs = await body(origin)
    return runs.map(r => ({ ...r, byPeer: Object.fromEntries(Object.entries(r.byPeer).map(([k, v]) => [ids.get(k) ?? k, v])) }))
  } finally {
    await mesh.destroy()
  }
}

async function runJob (origin: ControlClient, spec: unknown): Promise<Run> {
  const { t0, id, doneAt } = await runToDone(origin, spec)
  const snap = await origin.job(id)
  let network = 0
  let cache = 0
  const byPeer: Record<string, number> = {}
  for (const t of snap.tasks ?? []) {
    network += t.artifactBytes?.network ?? 0
    cache += t.artifactBytes?.cache ?? 0
    const ran = [...t.attempts].reverse().find(a => a.state === 'done')
    if (ran !== undefined) byPeer[ran.peer] = (byPeer[ran.peer] ?? 0) + 1
  }
  const run = { makespanMs: doneAt - t0, network, cache, peers: Object.keys(byPeer).length, byPeer }
  log(`${String((spec as { name: string }).name)}: ${run.makespanMs} ms, network ${(network / 1048576).toFixed(0)} MB, cache ${(cache / 1048576).toFixed(0)} MB, tasks by peer ${JSON.stringify(byPeer)}`)
  return run
}

// `node bench/artifacts.ts [--quick]` runs this benchmark alone.
if (import.meta.filename === process.argv[1]) {
  await benchArtifacts({ quick: process.argv.includes('--quick'), smoke: process.argv.includes('--smoke') })
  process.exit(0)
}

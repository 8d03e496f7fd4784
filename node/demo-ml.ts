/**
 * `mesh demo inference` and `mesh demo sweep`: the ML examples (examples/ml)
 * on a 3-peer mesh on this machine (loopback only, mDNS off), like `mesh demo`.
 *
 * inference: the ONNX model (examples/ml/model.onnx, an artifact of the job)
 * classifies the held-out digits, split over 8 tasks, twice. The second run
 * finds the model in the peers' artifact caches and its sessions warm in
 * their worker threads (ctx.warm).
 * sweep: 6 trainings with different hyperparameters and a reduce picking the
 * best; a peer running a trainer is killed (SIGKILL) once it has
 * checkpointed, and the trainer resumes from its checkpoint on another peer.
 *
 * `--json` prints one JSON object and nothing else, for scripts and tests.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { color } from './cli/format.ts'
import { followJob } from './cli/progress.ts'
import type { ControlClient } from './control/client.ts'
import type { JobSnapshot } from '../src/jobs/job-view.ts'
import { createLocalMesh, type LocalMesh } from './local-mesh.ts'
import { PACKAGE_ROOT, siblingModule } from './package.ts'

export interface DemoOptions { json?: boolean }

const EXAMPLES = join(PACKAGE_ROOT, 'examples', 'ml')
const MODEL = join(EXAMPLES, 'model.onnx')

/** Each peer runs the ML handlers (compiled when the demo runs compiled, as in demo.ts). */
function mlConfig (): Record<string, unknown> {
  const h = fileURLToPath(siblingModule(import.meta.url, '../examples/ml/handlers'))
  return { executor: { handlers: { 'ml.infer': `${h}#infer`, 'ml.score': `${h}#score`, 'ml.train': `${h}#train`, 'ml.best': `${h}#best` } } }
}

interface Say { (line?: string): void }
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

/** Starts the mesh, waits until every peer sees the others, runs `body`, stops the mesh. */
async function withMesh<T> (say: Say, body: (mesh: LocalMesh, client: (i: number) => ControlClient) => Promise<T>): Promise<T> {
  const mesh = await createLocalMesh(3, mlConfig)
  const client = (i: number): ControlClient => mesh.daemons[i]!.client()
  const interrupted = (): void => { void mesh.destroy().then(() => process.exit(130)) }
  process.once('SIGINT', interrupted)
  try {
    say(color('bold', 'three peers on this machine (127.0.0.1, mDNS off)'))
    await Promise.all(mesh.daemons.map(async d => { await d.start() }))
    const ids = mesh.daemons.map(d => d.peerId).sort().join()
    await until('the mesh to form', async () => {
      const replies = await Promise.all([0, 1, 2].map(async i => await client(i).peers()))
      return replies.every(r => r.peers.filter(p => p.state === 'alive').map(p => p.id).sort().join() === ids)
    })
    mesh.daemons.forEach((d, i) => { say(`  peer ${i + 1}: ${d.peerId}`) })
    return await body(mesh, client)
  } finally {
    process.removeListener('SIGINT', interrupted)
    await mesh.stop()
  }
}

async function until (what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const t0 = performance.now()
  while (!(await cond().catch(() => false))) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`demo: timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** The job's task list as `mesh status JOB --json` has it, read loosely: older peers lack some fields. */
type TaskRow = NonNullable<JobSnapshot['tasks']>[number] & { artifactBytes?: { network?: number, cache?: number } }

/** The example job files, as far as the demos touch them. */
interface SpecJson { name: string, tasks: Record<string, { count?: number, input?: Record<string, unknown>, artifacts?: Record<string, string> }> }

async function loadSpec (file: string): Promise<SpecJson> {
  return JSON.parse(await readFile(join(EXAMPLES, file), 'utf8')) as SpecJson
}

// ---- inference ---------------------------------------------------------------

export interface InferenceRun {
  makespanMs: number
  artifactBytes: { network: number, cache: number }
  /** Peers (1–3) that ran inference tasks, and those that fetched the model over the network. */
  ranOn: number[]
  fetchedBy: number[]
  accuracy: number
  samples: number
  tasks: number
  /** Tasks that loaded the model session, and tasks that found it warm. */
  loaded: number
  warm: number
  meanLoadMs: number
  meanTaskMsLoading: number
  meanTaskMsWarm: number
}

export async function runInferenceDemo (opts: DemoOptions = {}): Promise<void> {
  const say: Say = line => { if (opts.json !== true) process.stdout.write((line ?? '') + '\n') }
  if (!existsSync(MODEL)) {
    throw new Error(`the model ${MODEL} is not here: run this demo from a clone of meshwork, or make the model with node examples/ml/make-model.ts`)
  }
  requireOrt()
  say(color('bold', 'Meshwork demo: batch inference of an ONNX model over three peers'))
  const runs = await withMesh(say, async (mesh, client) => {
    const spec = await loadSpec('inference.json')
    // The job file names the model relative to itself; submitted through the API it needs the full path.
    spec.tasks.infer!.artifacts = { 'model.onnx': MODEL }
    const out: InferenceRun[] = []
    for (let run = 1; run <= 2; run++) {
      say(`\nrun ${run}: examples/ml/inference.json (8 inference tasks over 8000 held-out digits, then a score), submitted on peer 2`)
      const { id } = await client(1).submit(spec)
      const snap = await followJob(client(1), id, { quiet: opts.json === true })
      if (snap.state !== 'done') throw new Error(`demo: job ${id} ended ${snap.state}${snap.error !== undefined ? `: ${snap.error}` : ''}`)
      const detail = await client(1).job(id)
      const bytes = { network: 0, cache: 0 }
      const ranOn = new Set<number>()
      const fetchedBy = new Set<number>()
      const peerNo = (id: string | undefined): number => mesh.daemons.findIndex(d => d.peerId === id) + 1
      for (const t of (detail.tasks ?? []) as TaskRow[]) {
        bytes.network += t.artifactBytes?.network ?? 0
        bytes.cache += t.artifactBytes?.cache ?? 0
        if (t.artifactBytes === undefined) continue
        ranOn.add(peerNo(t.peer))
        if ((t.artifactBytes.network ?? 0) > 0) fetchedBy.add(peerNo(t.peer))
      }
      const s = (await client(1).results(id)).results.score as Omit<InferenceRun, 'makespanMs' | 'artifactBytes' | 'ranOn' | 'fetchedBy'>
      const sorted = (x: Set<number>): number[] => [...x].sort((a, b) => a - b)
      const r: InferenceRun = { makespanMs: (snap.endedAt ?? Date.now()) - snap.submittedAt, artifactBytes: bytes, ranOn: sorted(ranOn), fetchedBy: sorted(fetchedBy), ...s }
      out.push(r)
      say(`run ${run}: ${color('bold', `accuracy ${(r.accuracy * 100).toFixed(1)} %`)} on ${r.samples} digits in ${secs(r.makespanMs)}; model bytes over the network ${r.artifactBytes.network}${r.fetchedBy.length > 0 ? ` (fetched by peer ${r.fetchedBy.join(', ')})` : ''}, from peers' caches ${r.artifactBytes.cache}; tasks ran on peer ${r.ranOn.join(', ')}`)
      say(`  ${r.loaded} task(s) loaded the model session (${r.meanLoadMs.toFixed(0)} ms on average), ${r.warm} found it warm; a task took ${r.meanTaskMsLoading.toFixed(0)} ms loading, ${r.meanTaskMsWarm.toFixed(0)} ms warm`)
    }
    return out
  })
  if (opts.json === true) process.stdout.write(JSON.stringify({ runs }) + '\n')
  else say('\ndone: the mesh is stopped.')
}

/** Fails early, in one sentence, where onnxruntime-node is not installed (it is not a meshwork dependency). */
function requireOrt (): void {
  try {
    import.meta.resolve('onnxruntime-node')
  } catch {
    throw new Error('this demo needs onnxruntime-node: npm install onnxruntime-node (a devDependency of a meshwork clone; set ONNXRUNTIME_NODE_INSTALL=skip where its GPU download cannot be reached)')
  }
}

// ---- sweep ---------------------------------------------------------------------

interface Trial { trial: number, params: Record<string, number>, accuracy: number, loss: number, resumedFrom?: number, attempt: number }

export async function runSweepDemo (opts: DemoOptions = {}): Promise<void> {
  const say: Say = line => { if (opts.json !== true) process.stdout.write((line ?? '') + '\n') }
  say(color('bold', 'Meshwork demo: a hyperparameter sweep over three peers, one killed midway'))
  const result = await withMesh(say, async (mesh, client) => {
    const spec = await loadSpec('sweep.json')
    const { id } = await client(0).submit(spec)
    say(`\nsubmitted examples/ml/sweep.json on peer 1 as job ${id}: ${spec.tasks.train?.count ?? '?'} trainings, then the best`)
    // Kill a peer (not the origin) once one of its trainers has checkpointed three epochs (a large checkpoint reaches the origin as a blob, a moment after the progress that follows it).
    const killer = (async () => {
      let victim: { i: number, task: string, fraction: number } | undefined
      await until('a trainer with a checkpoint on another peer', async () => {
        const s = await client(0).job(id)
        if (s.state !== 'running') return true
        for (const t of s.tasks ?? []) {
          const i = mesh.daemons.findIndex(d => d.peerId === t.peer)
          if (i > 0 && t.status === 'running' && (t.fraction ?? 0) >= 0.3 && (t.fraction ?? 0) < 0.9) { victim = { i, task: t.id, fraction: t.fraction ?? 0 }; return true }
        }
        return false
      }, 60_000)
      if (victim !== undefined) {
        mesh.daemons[victim.i]!.signal('SIGKILL')
        say(color('yellow', `killed peer ${victim.i + 1} (SIGKILL) while it trained ${victim.task}, ${Math.round(victim.fraction * 100)} % done`))
      }
      return victim
    })()
    const snap = await followJob(client(0), id, { quiet: opts.json === true })
    const killed = await killer
    if (snap.state !== 'done') throw new Error(`demo: job ${id} ended ${snap.state}${snap.error !== undefined ? `: ${snap.error}` : ''}`)
    const { best, trials } = (await client(0).results(id)).results.best as { best: Trial, trials: Trial[] }
    const resumed = trials.filter(t => t.resumedFrom !== undefined)
    say(`\njob done in ${secs((snap.endedAt ?? Date.now()) - snap.submittedAt)}. Trials (validation accuracy):`)
    for (const t of trials) {
      const how = t.resumedFrom !== undefined ? color('yellow', ` resumed after epoch ${t.resumedFrom} (attempt ${t.attempt})`) : ''
      say(`  trial ${t.trial}: hidden ${t.params.hidden}, lr ${t.params.lr}: ${(t.accuracy * 100).toFixed(1)} %${how}`)
    }
    say(color('bold', `best: trial ${best.trial} (hidden ${best.params.hidden}, lr ${best.params.lr}), ${(best.accuracy * 100).toFixed(1)} %`))
    return {
      makespanMs: (snap.endedAt ?? Date.now()) - snap.submittedAt,
      best,
      trials,
      killed: killed === undefined ? null : { peer: killed.i + 1, task: killed.task, fraction: killed.fraction },
      resumed: resumed.length
    }
  })
  if (opts.json === true) process.stdout.write(JSON.stringify(result) + '\n')
  else say('\ndone: the mesh is stopped.')
}

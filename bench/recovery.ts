/**
 * Recovery on real daemons (1 origin + 3 executors on 127.0.0.1):
 *  - SIGKILL of the executor running a task → that task's next attempt starting
 *    on another peer (its handler's own start time), p50 and max over N kills;
 *  - the same after SIGSTOP (a frozen machine);
 *  - the job-time overhead of one failure: a job of about 2 minutes of work,
 *    once clean and once with one executor killed (and restarted) midway — the
 *    two at the same time on two separate meshes (the tasks sleep, so they do
 *    not compete for the cores), which halves the bench's wall time.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT, type LocalDaemon, type LocalMesh } from '../node/local-mesh.ts'
import { defaultConfig } from '../src/config.ts'
import { machine, poll, summary, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')

const log = (s: string): void => { process.stderr.write(`[recovery] ${s}\n`) }

async function recoveryMesh (): Promise<LocalMesh> {
  return await createLocalMesh(4, i => ({
    executor: { handlers: { sleeper: `${HANDLERS}#sleeper` } },
    // The origin runs nothing itself, so every measured task runs on a peer that can be killed.
    ...(i === 0 ? { executor: { handlers: {} } } : { resources: { cpu: 1 } })
  }))
}

async function startMesh (mesh: LocalMesh): Promise<ControlClient> {
  await Promise.all(mesh.daemons.map(async d => { await d.start() }))
  await new Promise(resolve => setTimeout(resolve, 3000))
  return mesh.daemons[0]!.client()
}

export async function benchRecovery ({ quick, smoke = false }: { quick: boolean, smoke?: boolean }): Promise<Record<string, unknown>> {
  const kills = smoke ? 1 : quick ? 2 : 20
  const { killed, frozen, leaseMs, missed } = await measureKills(kills)
  // Quick: the same job with 0.5 s tasks (about 4 s); smoke: none.
  const overhead = smoke ? undefined : await measureOneFailure(quick ? 500 : 15_000)
  const result = {
    what: 'recovery on real daemons (origin + 3 one-slot executors, 127.0.0.1)',
    machine: machine(),
    leaseMs,
    missed,
    killToRunningElsewhereMs: { ...summary(killed), how: 'SIGKILL of the executor running a 60 s task → the handler of its next attempt starting on another peer (its own Date.now()); the killed daemon is restarted between kills' },
    freezeToRunningElsewhereMs: { ...summary(frozen), how: 'the same after SIGSTOP; the frozen peer is resumed (SIGCONT) afterwards' },
    oneFailureOverhead: overhead
  }
  writeResult('recovery', result)
  return result
}

/**
 * Kills and freezes run on separate fresh meshes: in the full run, a SIGSTOP
 * after 20 SIGKILL-and-restart cycles on the same mesh left its task not
 * running elsewhere (an open bug, see the closing note of issue 5); each loop
 * also records any such miss instead of aborting.
 */
async function measureKills (kills: number): Promise<{ killed: number[], frozen: number[], leaseMs: number, missed: unknown[] }> {
  const missed: unknown[] = []
  const killed = await signalLoop('SIGKILL', kills, missed)
  const frozen = await signalLoop('SIGSTOP', kills, missed)
  // The recovery meshes run the default failure settings.
  return { killed, frozen, leaseMs: defaultConfig().failure.leaseMs, missed }
}

async function signalLoop (sig: 'SIGKILL' | 'SIGSTOP', kills: number, missed: unknown[]): Promise<number[]> {
  const mesh = await recoveryMesh()
  const starts = join(mesh.dir, 'starts.log')
  writeFileSync(starts, '')
  const startsOf = (task: string, jobTag: string): Array<{ attempt: number, at: number }> => readFileSync(starts, 'utf8').trim().split('\n')
    .filter(l => l.startsWith(`${jobTag}:${task} `) || l.startsWith(`${task} `))
    .map(l => l.split(' ')).map(([, a, at]) => ({ attempt: Number(a), at: Number(at) }))
  try {
    const origin = await startMesh(mesh)
    const byId = (id: string): LocalDaemon | undefined => mesh.daemons.find(d => d.peerId === id)

    const measure = async (): Promise<number[]> => {
      const out: number[] = []
      for (let k = 0; k < kills; k++) {
        writeFileSync(starts, '')
        const { id } = await origin.submit({ name: 'victim', tasks: { t: { kind: 'handler', handler: 'sleeper', input: { ms: 60_000, log: starts }, resources: { cpu: 1 } } } })
        const started = await poll(async () => startsOf('t', '').some(s => s.attempt === 1), 20_000, 10).then(() => true, () => false)
        if (!started) {
          missed.push({ signal: sig, round: k, what: 'a new job’s task did not start within 20 s', job: await origin.job(id).catch((err: Error) => err.message) })
          log(`${sig}: a new job's task did not start within 20 s (recorded in missed); stopping this loop`)
          break
        }
        const snap = await origin.job(id)
        const victim = byId(snap.tasks?.[0]?.peer ?? '')
        if (victim === undefined) throw new Error('no victim peer')
        const t0 = Date.now()
        victim.signal(sig)
        const ranAgain = await poll(async () => startsOf('t', '').some(s => s.attempt >= 2), 30_000, 5).then(() => true, () => false)
        if (ranAgain) out.push(startsOf('t', '').find(s => s.attempt >= 2)!.at - t0)
        else {
          // Not running elsewhere within 30 s: keep what the origin saw, for the report and for debugging.
          const job = await origin.job(id).catch((err: Error) => err.message)
          const peers = await origin.peers().catch((err: Error) => err.message)
          missed.push({ signal: sig, victim: victim.peerId, job, peers })
          log(`${sig}: the task did not run elsewhere within 30 s (recorded in missed)`)
        }
        await origin.cancel(id)
        if (sig === 'SIGKILL') { await victim.exited(); await victim.start() } else victim.signal('SIGCONT')
        // Let the mesh see the peer back before the next round.
        await new Promise(resolve => setTimeout(resolve, 1500))
      }
      log(`${sig} → task running elsewhere: p50 ${summary(out).p50} ms, max ${summary(out).max} ms (n=${out.length})`)
      return out
    }
    return await measure()
  } finally {
    await mesh.destroy()
  }
}

/** One failure on a job of 24 tasks (about 2 minutes at 15 s each): 3 executors, one task slot each; clean and killed runs side by side. */
async function measureOneFailure (taskMs: number): Promise<Record<string, unknown>> {
  const tasks = 24
  const meshes = [await recoveryMesh(), await recoveryMesh()]
  try {
    const origins = await Promise.all(meshes.map(startMesh))
    const runJob = async (m: number, kill: boolean): Promise<number> => {
      const origin = origins[m]!
      const t0 = Date.now()
      const { id } = await origin.submit({ name: 'long', tasks: { t: { kind: 'handler', handler: 'sleeper', count: tasks, input: { ms: taskMs }, resources: { cpu: 1 } } } })
      if (kill) {
        await new Promise(resolve => setTimeout(resolve, (tasks / 3) * taskMs / 2))
        const victim = meshes[m]!.daemons[2]!
        victim.signal('SIGKILL')
        await victim.exited()
        await victim.start()
      }
      await poll(async () => (await origin.job(id, { tasks: false })).state === 'done', 10 * 60_000, 100)
      return Date.now() - t0
    }
    const [clean, withFailure] = await Promise.all([runJob(0, false), runJob(1, true)]) as [number, number]
    log(`${tasks} × ${taskMs / 1000} s job: clean ${(clean / 1000).toFixed(1)} s, with one SIGKILL ${(withFailure / 1000).toFixed(1)} s (+${((withFailure - clean) / 1000).toFixed(1)} s)`)
    return { tasks, taskMs, cleanMs: clean, withOneKillMs: withFailure, overheadMs: withFailure - clean, how: 'the same job (POST → done) on two identical meshes at the same time: one clean, one with SIGKILL of one executor at half time (restarted at once)' }
  } finally {
    await Promise.all(meshes.map(async m => { await m.destroy() }))
  }
}

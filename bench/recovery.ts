/**
 * Recovery on real daemons (1 origin + 3 executors on 127.0.0.1):
 *  - SIGKILL of the executor running a task → that task's next attempt starting
 *    on another peer (its handler's own start time), p50 and max over N kills;
 *  - the same after SIGSTOP (a frozen machine);
 *  - the job-time overhead of one failure: a job of about 2 minutes of work,
 *    once clean and once with one executor killed (and restarted) midway.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JobSnapshot } from '../src/jobs/job-view.ts'
import { callDaemon, type ControlTarget } from '../node/control/client.ts'
import { readControlFile } from '../node/control/control-file.ts'
import { createLocalMesh, ROOT, type LocalDaemon } from '../node/local-mesh.ts'
import { machine, poll, summary, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')

export async function benchRecovery ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const kills = quick ? 5 : 20
  const log = (s: string): void => { process.stderr.write(`[recovery] ${s}\n`) }
  const mesh = await createLocalMesh(4, i => ({
    executor: { handlers: { sleeper: `${HANDLERS}#sleeper` } },
    // The origin runs nothing itself, so every measured task runs on a peer that can be killed.
    ...(i === 0 ? { executor: { handlers: {} } } : { resources: { cpu: 1 } })
  }))
  const starts = join(mesh.dir, 'starts.log')
  writeFileSync(starts, '')
  const startsOf = (task: string, jobTag: string): Array<{ attempt: number, at: number }> => readFileSync(starts, 'utf8').trim().split('\n')
    .filter(l => l.startsWith(`${jobTag}:${task} `) || l.startsWith(`${task} `))
    .map(l => l.split(' ')).map(([, a, at]) => ({ attempt: Number(a), at: Number(at) }))
  try {
    await Promise.all(mesh.daemons.map(async d => { await d.start() }))
    const origin: ControlTarget = { url: mesh.daemons[0]!.controlUrl, token: readControlFile(join(mesh.dir, 'data1'))!.token }
    await new Promise(resolve => setTimeout(resolve, 3000))
    const byId = (id: string): LocalDaemon | undefined => mesh.daemons.find(d => d.peerId === id)

    const measure = async (sig: 'SIGKILL' | 'SIGSTOP'): Promise<number[]> => {
      const out: number[] = []
      for (let k = 0; k < kills; k++) {
        writeFileSync(starts, '')
        const { id } = await callDaemon<{ id: string }>(origin, '/v1/jobs', { method: 'POST', body: { spec: { name: 'victim', tasks: { t: { kind: 'handler', handler: 'sleeper', input: { ms: 60_000, log: starts }, resources: { cpu: 1 } } } } } })
        await poll(async () => startsOf('t', '').some(s => s.attempt === 1), 20_000, 10)
        const snap = await callDaemon<JobSnapshot>(origin, `/v1/jobs/${id}`)
        const victim = byId(snap.tasks?.[0]?.peer ?? '')
        if (victim === undefined) throw new Error('no victim peer')
        const t0 = Date.now()
        victim.signal(sig)
        await poll(async () => startsOf('t', '').some(s => s.attempt >= 2), 30_000, 5)
        out.push(startsOf('t', '').find(s => s.attempt >= 2)!.at - t0)
        await callDaemon(origin, `/v1/jobs/${id}/cancel`, { method: 'POST' })
        if (sig === 'SIGKILL') { await victim.exited(); await victim.start() } else victim.signal('SIGCONT')
        // Let the mesh see the peer back before the next round.
        await new Promise(resolve => setTimeout(resolve, 1500))
      }
      log(`${sig} → task running elsewhere: p50 ${summary(out).p50} ms, max ${summary(out).max} ms (n=${out.length})`)
      return out
    }
    const killed = await measure('SIGKILL')
    const frozen = await measure('SIGSTOP')

    // One failure on a job of about 2 minutes (quick: 30 s): 3 executors, one task slot each.
    const tasks = 24
    const taskMs = quick ? 3750 : 15_000
    const runJob = async (kill: boolean): Promise<number> => {
      const t0 = Date.now()
      const { id } = await callDaemon<{ id: string }>(origin, '/v1/jobs', { method: 'POST', body: { spec: { name: 'long', tasks: { t: { kind: 'handler', handler: 'sleeper', count: tasks, input: { ms: taskMs }, resources: { cpu: 1 } } } } } })
      if (kill) {
        await new Promise(resolve => setTimeout(resolve, (tasks / 3) * taskMs / 2))
        const victim = mesh.daemons[2]!
        victim.signal('SIGKILL')
        await victim.exited()
        await victim.start()
      }
      await poll(async () => (await callDaemon<JobSnapshot>(origin, `/v1/jobs/${id}?tasks=0`)).state === 'done', 10 * 60_000, 100)
      return Date.now() - t0
    }
    const clean = await runJob(false)
    const withFailure = await runJob(true)
    log(`${tasks} × ${taskMs / 1000} s job: clean ${(clean / 1000).toFixed(1)} s, with one SIGKILL ${(withFailure / 1000).toFixed(1)} s (+${((withFailure - clean) / 1000).toFixed(1)} s)`)

    const result = {
      what: 'recovery on 4 real daemons (origin + 3 one-slot executors, 127.0.0.1)',
      machine: machine(),
      killToRunningElsewhereMs: { ...summary(killed), how: 'SIGKILL of the executor running a 60 s task → the handler of its next attempt starting on another peer (its own Date.now())' },
      freezeToRunningElsewhereMs: { ...summary(frozen), how: 'the same after SIGSTOP; the frozen peer is resumed (SIGCONT) afterwards' },
      oneFailureOverhead: { tasks, taskMs, cleanMs: clean, withOneKillMs: withFailure, overheadMs: withFailure - clean, how: 'one job, POST → done, once clean and once with SIGKILL of one executor at half time (restarted at once)' }
    }
    writeResult('recovery', result)
    return result
  } finally {
    await mesh.destroy()
  }
}

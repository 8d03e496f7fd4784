/**
 * Workload 4 through BullMQ: kill -9 of a worker process mid-job, with BullMQ's
 * default lock and stalled-job settings (lockDuration 30 s renewed every 15 s,
 * stalledInterval 30 s, maxStalledCount 1): time from the kill to the job's
 * handler starting again on another worker.
 *
 * One default recovery takes 30–60 s, so the samples are taken together: V
 * victim processes (concurrency 1, the default) each start one long job; then
 * two survivor processes start, with enough concurrency between them to take
 * every recovered job at once; then the victims are killed one after another,
 * `gapMs` apart, so that the kills fall at different phases of the 30 s stalled
 * check and the 15 s lock renewal (each kill an independent sample).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { poll, summary } from '../lib.ts'
import { BULLMQ_DEFAULTS, workersRssMB, type WorkloadContext } from './context.ts'
import { killWorkers, startWorkers, type WorkerProcess } from './workers.ts'

interface Start { job: string, attempt: number, at: number, pid: number }

function readStarts (file: string): Start[] {
  return readFileSync(file, 'utf8').trim().split('\n').filter(l => l !== '').map(l => l.split(' ')).map(([job, attempt, at, pid]) => ({ job: job!, attempt: Number(attempt), at: Number(at), pid: Number(pid) }))
}

export async function recoveryWorkload (ctx: WorkloadContext): Promise<Record<string, unknown>> {
  const victimsN = ctx.quick ? 3 : 20
  // Full: kills spread over 38 s, more than one stalled interval, so they cover every phase.
  // Quick: three kills 10 s apart, all before the first lock renewal's expiry;
  // the run costs about 60 s whatever the spacing, as the first kill's job waits ~57 s.
  const gapMs = ctx.quick ? 10_000 : 2000
  const survivorsN = 2
  const survivorConcurrency = Math.ceil(victimsN / survivorsN)
  // Long enough that no job ends on its own during the measurement.
  const jobMs = 10 * 60_000
  const queueName = 'recovery'
  const dir = mkdtempSync(join(tmpdir(), 'bench-bullmq-recovery-'))
  const log = join(dir, 'starts.log')
  appendFileSync(log, '')
  const queue = new Queue(queueName, { connection: ctx.connection })
  const all: WorkerProcess[] = []
  try {
    const victims = await startWorkers(Array.from({ length: victimsN }, (_, i) => ({ port: ctx.port, peer: `victim-${i + 1}`, log, consumers: [{ queue: queueName, concurrency: 1, processor: 'sleepLogged' as const }] })))
    all.push(...victims)
    await queue.addBulk(Array.from({ length: victimsN }, () => ({ name: 'victim', data: { ms: jobMs } })))
    await poll(async () => readStarts(log).length >= victimsN, 30_000, 20)
    const survivors = await startWorkers(Array.from({ length: survivorsN }, (_, i) => ({ port: ctx.port, peer: `survivor-${i + 1}`, log, consumers: [{ queue: queueName, concurrency: survivorConcurrency, processor: 'sleepLogged' as const }] })))
    all.push(...survivors)
    const rssBeforeKill = workersRssMB(all)

    // Each victim runs exactly one job: map the job to its victim by the pid of its first start.
    const firstStarts = readStarts(log)
    const killedAt = new Map<number, number>()
    for (const [i, v] of victims.entries()) {
      if (i > 0) await new Promise(resolve => setTimeout(resolve, gapMs))
      killedAt.set(v.pid, Date.now())
      await v.kill()
    }
    const lastKill = Math.max(...killedAt.values())
    const restartOf = (s: Start): Start | undefined => readStarts(log).find(r => r.job === s.job && r.pid !== s.pid)
    await poll(async () => firstStarts.every(s => restartOf(s) !== undefined), Math.max(0, lastKill + 75_000 - Date.now()), 50).catch(() => { /* reported as not recovered */ })

    const samples: Array<{ job: string, killedAt: number, restartedAfterMs: number | null, attempt: number | null }> = []
    for (const s of firstStarts) {
      const again = restartOf(s)
      const k = killedAt.get(s.pid)!
      samples.push({ job: s.job, killedAt: k, restartedAfterMs: again === undefined ? null : again.at - k, attempt: again?.attempt ?? null })
    }
    const recovered = samples.flatMap(s => s.restartedAfterMs === null ? [] : [s.restartedAfterMs])
    const stats = summary(recovered)
    ctx.log(`kill -9 → job running on another worker: p50 ${stats.p50} ms, max ${stats.max} ms (${recovered.length}/${victimsN} recovered within 75 s of the last kill)`)
    return {
      victims: victimsN,
      survivors: { processes: survivorsN, concurrency: survivorConcurrency },
      killGapMs: gapMs,
      settings: { ...BULLMQ_DEFAULTS, concurrency: 1 },
      killToRunningElsewhereMs: {
        ...stats,
        notRecovered: victimsN - recovered.length,
        how: `${victimsN} victim worker processes (concurrency 1) each start one ${jobMs / 60_000}-minute job; 2 survivor processes (concurrency ${survivorConcurrency} each) join; the victims are killed with SIGKILL one after another ${gapMs} ms apart (Date.now() just before each kill) → the same job's handler starting on a survivor (its own Date.now(), appended to a log), default lock/stalled settings; jobs not restarted within 75 s of the last kill count as not recovered`
      },
      samples,
      workerRssMB: { ...rssBeforeKill, how: 'VmRSS of each worker process with its job running, before the kills' }
    }
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined)
    await queue.close().catch(() => undefined)
    await killWorkers(all)
    rmSync(dir, { recursive: true, force: true })
  }
}

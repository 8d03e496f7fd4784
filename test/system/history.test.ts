/**
 * Job history on a real origin daemon, through the CLI (2 daemons on
 * 127.0.0.1, the first is the origin of every job):
 *  - `mesh status` lists running jobs and jobs that ended in the last hour;
 *    `mesh status --all` every ended job the origin still keeps; `mesh status
 *    <job>` each task's outcome, the peer it ran on and its duration.
 *  - The history survives a restart of the origin (same config and data
 *    directory): the same jobs, ended the same way, with the same tasks on the
 *    same peers. A job that ended over an hour before (its journal records
 *    moved two hours back while the daemon is stopped) is in `--all` only.
 *  - Compaction (`history.keepDays`, here about 2.6 s): at start the old ended
 *    jobs are dropped; ended jobs go once older than the retention while the
 *    daemon runs; a running job is never dropped; what was dropped does not
 *    come back after another restart with the default retention (it is gone
 *    from the journal too, not only from memory).
 * No timing is asserted: every wait is a condition with a deadline.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobSnapshot } from '../../node/control/api.ts'
import { LmdbJournal } from '../../node/storage/lmdb-journal.ts'
import { openStore } from '../../node/storage/db.ts'
import { startMesh, mesh, peersJson, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

/** A fraction of a day is allowed: 0.00003 days ≈ 2.6 s. */
const TINY_KEEP_DAYS = 0.00003
const HOUR = 3600_000

let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>
let origin: LocalDaemon
let peerIds: string[]

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await startMesh(2, { executor: { exec: { allow: ['true', 'sleep'] } } }))
  origin = daemons[0]!
  peerIds = daemons.map(d => d.peerId)
}, 60_000)

afterAll(async () => { await cleanup() })

/** `mesh COMMAND --config <origin> ARGS…` (before any `--`), which must succeed. */
async function cli ([command, ...args]: string[], timeoutMs = 20_000): Promise<string> {
  const r = await mesh([command!, '--config', origin.config, ...args], { timeoutMs })
  expect(r.code, `mesh ${command!} ${args.join(' ')}: ${r.stderr}`).toBe(0)
  return r.stdout
}

/** `mesh status --json`, with `--all` or not: the jobs listed. */
async function listed (all: boolean): Promise<JobSnapshot[]> {
  return JSON.parse(await cli(['status', '--json', ...(all ? ['--all'] : [])])) as JobSnapshot[]
}

const ids = (jobs: JobSnapshot[]): string[] => jobs.map(j => j.id)

/** One job with its tasks: `mesh status <job> --json`. */
async function detail (id: string): Promise<JobSnapshot> {
  return JSON.parse(await cli(['status', id, '--json'])) as JobSnapshot
}

/** `mesh run --count N --wait --json -- true`: a job of N instances, done. */
async function runTrue (count: number): Promise<string> {
  const out = JSON.parse(await cli(['run', '--count', String(count), '--wait', '--json', '--', 'true'], 60_000)) as { id: string, state: string }
  expect(out.state).toBe('done')
  return out.id
}

/** `mesh run --json -- sleep S`, not waited for: its id once it runs. */
async function startSleep (seconds: number): Promise<string> {
  const { id } = JSON.parse(await cli(['run', '--json', '--', 'sleep', String(seconds)])) as { id: string }
  await waitFor(`job ${id} (sleep ${seconds}) to run`, async () => (await detail(id)).counts.running === 1, { timeoutMs: 20_000, intervalMs: 100 })
  return id
}

async function cancel (id: string): Promise<void> {
  await cli(['cancel', id])
  await waitFor(`job ${id} to be cancelled`, async () => (await detail(id)).state === 'cancelled', { timeoutMs: 10_000, intervalMs: 100 })
}

/** Every task of a job that ended done: done, on a peer of this mesh, with a duration; the per-peer counts agree. */
function expectDoneTasks (job: JobSnapshot, total: number): void {
  expect(job.state).toBe('done')
  expect(job.endedAt).toBeTypeOf('number')
  expect(job.total).toBe(total)
  expect(job.counts.done).toBe(total)
  expect(job.tasks).toHaveLength(total)
  for (const t of job.tasks!) {
    expect(t.status, t.id).toBe('done')
    expect(peerIds, t.id).toContain(t.peer)
    const last = t.attempts.at(-1)!
    expect(last.state, t.id).toBe('done')
    expect(last.peer, t.id).toBe(t.peer)
    expect(last.durationMs, t.id).toBeTypeOf('number')
    expect(last.durationMs!, t.id).toBeGreaterThanOrEqual(0)
  }
  const byPeer = new Map<string, number>()
  for (const t of job.tasks!) byPeer.set(t.peer!, (byPeer.get(t.peer!) ?? 0) + 1)
  expect(Object.fromEntries(Object.entries(job.peers).filter(([, v]) => v.done > 0).map(([p, v]) => [p, v.done]))).toEqual(Object.fromEntries(byPeer))
}

/** Edit the origin's config file (the daemon reads it at start). */
function setKeepDays (keepDays: number | undefined): void {
  const cfg = JSON.parse(readFileSync(origin.config, 'utf8')) as Record<string, unknown>
  if (keepDays === undefined) delete cfg.history
  else cfg.history = { keepDays }
  writeFileSync(origin.config, JSON.stringify(cfg, null, 2) + '\n')
}

function originDataDir (): string {
  return join(dir, (JSON.parse(readFileSync(origin.config, 'utf8')) as { dataDir: string }).dataDir)
}

async function stopOrigin (): Promise<void> {
  origin.signal('SIGTERM')
  await origin.exited()
}

/** Start the origin again on the same config and data dir, and wait until it sees the other peer. */
async function startOrigin (): Promise<void> {
  await origin.start()
  await waitFor('the restarted origin to see both peers alive', async () => (await peersJson(origin.config)).peers.filter(p => p.state === 'alive').length === 2, { timeoutMs: 15_000, intervalMs: 200 })
}

/**
 * With the origin stopped, move every journal record of a job `ms` into the
 * past (submitted, handed out, finished, ended): as if it had run then.
 */
async function ageJob (id: string, ms: number): Promise<void> {
  const journal = new LmdbJournal(openStore(originDataDir()))
  try {
    const entry = (await journal.load()).jobs.find(j => j.job.id === id)
    expect(entry, `job ${id} in the journal`).toBeDefined()
    const { job, attempts, results, end } = entry!
    await journal.putJob({ ...job, submittedAt: job.submittedAt - ms }) // clears the job's other records
    for (const a of attempts) await journal.putAttempt(id, { ...a, at: a.at - ms })
    for (const r of results) await journal.putResult(id, { ...r, at: r.at - ms })
    if (end !== undefined) await journal.putJobState(id, { ...end, at: end.at - ms })
  } finally {
    await journal.close()
  }
}

// Filled by the first test, used by the next ones.
let first: string
let second: string
let cancelled: string
let beforeRestart: Map<string, JobSnapshot>

describe('job history', () => {
  it('mesh status lists running and recent jobs, --all every kept one, mesh status <job> each task\'s outcome, peer and duration', async () => {
    first = await runTrue(3)
    second = await runTrue(3)
    cancelled = await startSleep(600)

    const recent = await listed(false)
    expect(ids(recent)).toEqual(expect.arrayContaining([first, second, cancelled]))
    expect(recent.find(j => j.id === cancelled)!.state).toBe('running')
    expect(recent.find(j => j.id === cancelled)!.endedAt).toBeUndefined()
    for (const id of [first, second]) {
      const j = recent.find(x => x.id === id)!
      expect(j.state).toBe('done')
      expect(j.endedAt).toBeTypeOf('number')
      expect(j.counts.done).toBe(3)
    }
    // The list carries no tasks; `--all` lists the same jobs here (all recent).
    expect(recent.every(j => j.tasks === undefined)).toBe(true)
    expect(ids(await listed(true)).sort()).toEqual(ids(recent).sort())

    for (const id of [first, second]) expectDoneTasks(await detail(id), 3)
    const running = await detail(cancelled)
    expect(running.tasks![0]!.status).toBe('running')
    expect(peerIds).toContain(running.tasks![0]!.peer)

    // The tables an operator reads say the same.
    const table = await cli(['status'])
    for (const id of [first, second, cancelled]) expect(table).toContain(id)
    expect(table).toMatch(/done\s*│\s*3\/3/)
    expect(table).toMatch(/running\s*│\s*0\/1/)
    const tasks = await cli(['status', first])
    expect(tasks).toContain(`job ${first} "run true": done`)
    for (let i = 0; i < 3; i++) expect(tasks).toMatch(new RegExp(`run\\[${i}\\]\\s*│\\s*done\\s*│\\s*…\\S{8}\\s*│\\s*1\\s*│\\s*\\d+\\.\\d\\d s`))

    await cancel(cancelled)
    const all = await listed(true)
    expect(all.find(j => j.id === cancelled)!.state).toBe('cancelled')
    beforeRestart = new Map(await Promise.all([first, second, cancelled].map(async id => [id, await detail(id)] as const)))
  }, 120_000)

  it('survives a restart of the origin: the same jobs, ended the same way, with their tasks, peers and durations', async () => {
    await stopOrigin()
    await startOrigin()

    const all = await listed(true)
    expect(ids(all)).toEqual(expect.arrayContaining([first, second, cancelled]))
    for (const [id, before] of beforeRestart) {
      const after = await detail(id)
      expect(after.state, id).toBe(before.state)
      expect(after.submittedAt, id).toBe(before.submittedAt)
      expect(after.endedAt, id).toBe(before.endedAt)
      expect(after.total, id).toBe(before.total)
      expect(after.tasks!.map(t => [t.id, t.status]), id).toEqual(before.tasks!.map(t => [t.id, t.status]))
      // Done tasks keep their peer (their results are journaled with it). An unfinished
      // attempt on the origin itself is not journaled (it dies with the process), so a
      // cancelled task may come back without one.
      expect(after.tasks!.filter(t => t.status === 'done').map(t => t.peer), id).toEqual(before.tasks!.filter(t => t.status === 'done').map(t => t.peer))
    }
    for (const id of [first, second]) expectDoneTasks(await detail(id), 3)
    expect((await detail(cancelled)).tasks![0]!.status).toBe('cancelled')
    // Ended within the hour: still listed without --all.
    expect(ids(await listed(false))).toEqual(expect.arrayContaining([first, second, cancelled]))
  }, 60_000)

  it('leaves a job that ended over an hour ago out of mesh status, and keeps it in --all', async () => {
    await stopOrigin()
    await ageJob(first, 2 * HOUR)
    await startOrigin()

    const recent = await listed(false)
    expect(ids(recent)).not.toContain(first)
    expect(ids(recent)).toEqual(expect.arrayContaining([second, cancelled]))
    expect(await cli(['status'])).not.toContain(first)

    const all = await listed(true)
    expect(ids(all)).toEqual(expect.arrayContaining([first, second, cancelled]))
    const old = await detail(first)
    expect(Date.now() - old.endedAt!).toBeGreaterThan(HOUR)
    expectDoneTasks(old, 3)
    expect(old.tasks!.map(t => t.peer)).toEqual(beforeRestart.get(first)!.tasks!.map(t => t.peer))
    expect(await cli(['status', '--all'])).toContain(first)
  }, 60_000)

  it('compacts: old ended jobs go at start and as they age, a running job stays, and dropped jobs do not come back', async () => {
    await stopOrigin()
    setKeepDays(TINY_KEEP_DAYS)
    await startOrigin()
    // The job aged two hours goes at start; the others have ended longer ago than the retention too.
    await waitFor('the old ended jobs to be dropped', async () => {
      const kept = ids(await listed(true))
      return [first, second, cancelled].every(id => !kept.includes(id))
    }, { timeoutMs: 15_000, intervalMs: 100 })

    // A job that runs past the retention, and a short one that ends after the long one started.
    const long = await startSleep(600)
    const short = await runTrue(2)
    expect(ids(await listed(true))).toEqual(expect.arrayContaining([long, short]))
    // The short job goes once older than the retention; the long one, submitted
    // before it ended, is still there and still running.
    const longSeen: Array<string | undefined> = []
    await waitFor('the short job to be dropped', async () => {
      const kept = await listed(true)
      longSeen.push(kept.find(j => j.id === long)?.state)
      return !ids(kept).includes(short)
    }, { timeoutMs: 20_000, intervalMs: 100 })
    expect(new Set(longSeen)).toEqual(new Set(['running']))
    const stillRunning = await detail(long)
    expect(stillRunning.state).toBe('running')
    expect(stillRunning.tasks![0]!.status).toBe('running')
    expect(ids(await listed(false))).toContain(long)

    // Once it has ended, it goes too.
    await cancel(long)
    await waitFor('the long job to be dropped once ended', async () => !ids(await listed(true)).includes(long), { timeoutMs: 20_000, intervalMs: 100 })
    const r = await mesh(['status', short, '--json', '--config', origin.config])
    expect(r.code).not.toBe(0)

    // Back to the default retention (7 days): nothing dropped comes back from the journal.
    await stopOrigin()
    setKeepDays(undefined)
    await startOrigin()
    const kept = ids(await listed(true))
    for (const id of [first, second, cancelled, long, short]) expect(kept, id).not.toContain(id)
    // and a new job is kept.
    const fresh = await runTrue(1)
    expect(ids(await listed(true))).toContain(fresh)
  }, 120_000)
})

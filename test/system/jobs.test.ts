/**
 * Jobs through real daemons, driven only by the CLI: the π example submitted
 * from the second daemon completes with the right result; `mesh run --count 8`
 * works; `mesh cancel` stops a running job's processes on every peer; a bad
 * job file is refused with the path of the problem; a shell job runs where
 * `sh` is allowed; a task no peer can run says why, for every live peer.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, startMesh, mesh, peersJson, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>
const handlers = join(ROOT, 'examples', 'pi', 'handlers.ts')

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await startMesh(3, {
    executor: { handlers: { 'pi.sample': `${handlers}#sample`, 'pi.reduce': `${handlers}#reduce` }, exec: { allow: ['awk', 'sh'] } }
  }))
})

afterAll(async () => { await cleanup() })

/** Processes whose command line contains `marker` (the spin jobs below carry a unique one). */
function countProcesses (marker: string): number {
  try {
    return Number(execFileSync('pgrep', ['-fc', marker], { encoding: 'utf8' }).trim())
  } catch {
    return 0 // pgrep exits 1 when nothing matches
  }
}

describe('jobs through the daemons', () => {
  it('mesh submit --wait --json on the second daemon completes the π example correctly', async () => {
    const r = await mesh(['submit', join(ROOT, 'examples', 'pi', 'pi.json'), '--wait', '--json', '--config', daemons[1]!.config], { timeoutMs: 120_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { state: string, results: Record<string, unknown>, counts: { done: number } }
    expect(out.state).toBe('done')
    expect(out.counts.done).toBe(33)
    const reduce = out.results.reduce as { pi: number, samples: number, tasks: number }
    expect(reduce.tasks).toBe(32)
    expect(reduce.samples).toBe(32 * 4_000_000)
    expect(Math.abs(reduce.pi - Math.PI)).toBeLessThan(0.01)
    // `mesh results` on the origin gives the same answer; other daemons do not hold the job.
    const results = await mesh(['results', JSON.parse(r.stdout).id as string, '--json', '--config', daemons[1]!.config])
    expect((JSON.parse(results.stdout) as { results: { reduce: unknown } }).results.reduce).toEqual(reduce)
  })

  it('mesh run --count 8 runs every instance with its index', async () => {
    const r = await mesh(['run', '--count', '8', '--cpu', '0.5', '--wait', '--json', '--config', daemons[0]!.config, '--', 'awk', 'BEGIN { print {i} * {i} }'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { results: Record<string, { stdout: string, exitCode: number }> }
    for (let i = 0; i < 8; i++) {
      expect(out.results[`run[${i}]`]).toEqual(expect.objectContaining({ exitCode: 0, stdout: `${i * i}\n` }))
    }
  })

  it('mesh cancel stops a running job on every peer', async () => {
    const marker = `meshwork_cancel_${process.pid}_${Date.now()}`
    // A sleep length unique to this run, so the check below cannot match anyone else's process.
    const sleeper = `sleep 60.${process.pid % 100000}`
    const job = join(dir, 'spin.json')
    // Six one-core sleepers on three two-core peers: every peer runs some. Each is a process tree
    // (awk → sh → sleep), so cancelling must kill the whole group; sleeping keeps the CPU free for the daemons.
    writeFileSync(job, JSON.stringify({ name: 'spin', tasks: { spin: { kind: 'exec', command: ['awk', `BEGIN { m = "${marker}"; system("${sleeper}") }`], count: 6, resources: { cpu: 1 } } } }))
    const origin = daemons[2]!
    const sub = await mesh(['submit', job, '--json', '--config', origin.config])
    expect(sub.code, sub.stderr).toBe(0)
    const id = (JSON.parse(sub.stdout) as { id: string }).id
    await waitFor('spinners running on at least two peers', async () => {
      const s = JSON.parse((await mesh(['status', id, '--json', '--config', origin.config])).stdout) as { tasks: Array<{ status: string, peer?: string }> }
      return new Set(s.tasks.filter(t => t.status === 'running').map(t => t.peer)).size >= 2
    }, { timeoutMs: 20_000, intervalMs: 200 })
    expect(countProcesses(marker)).toBeGreaterThan(0)

    const c = await mesh(['cancel', id, '--config', origin.config])
    expect(c.code, c.stderr).toBe(0)
    await waitFor('every task process to be gone', () => countProcesses(marker) === 0 && countProcesses(sleeper) === 0, { timeoutMs: 10_000, intervalMs: 100 })
    const s = JSON.parse((await mesh(['status', id, '--json', '--config', origin.config])).stdout) as { state: string }
    expect(s.state).toBe('cancelled')
  })

  it('a bad job file is refused with the path of each problem', async () => {
    const job = join(dir, 'bad.json')
    writeFileSync(job, JSON.stringify({ name: 'bad', tasks: { a: { kind: 'handler', handler: 'x', resources: { cpu: 0 } }, b: { kind: 'handler', handler: 'x', after: ['nope'] } } }))
    const r = await mesh(['submit', job, '--config', daemons[0]!.config])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/tasks\.a\.resources\.cpu/)
    expect(r.stderr).toMatch(/tasks\.b\.after\.0: unknown task "nope"/)
  })

  it('a shell job runs on a mesh that allows sh', async () => {
    // in real life… a new user's first exec job: one line of shell, with a pipe.
    const job = join(dir, 'shell.json')
    writeFileSync(job, JSON.stringify({ name: 'shell', tasks: { s: { kind: 'exec', command: ['echo ok | tr a-z A-Z'], shell: true } } }))
    const r = await mesh(['submit', job, '--wait', '--json', '--config', daemons[0]!.config], { timeoutMs: 30_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { state: string, results: Record<string, { stdout: string, exitCode: number }> }
    expect(out.state).toBe('done')
    expect(out.results.s).toEqual(expect.objectContaining({ exitCode: 0, stdout: 'OK\n' }))
  })

  it('a task no peer can run shows, in mesh status, a reason for each live peer', async () => {
    const origin = daemons[1]!
    const job = join(dir, 'gpu.json')
    writeFileSync(job, JSON.stringify({ name: 'gpu', tasks: { train: { kind: 'exec', command: ['awk', 'BEGIN {}'], resources: { cpu: 1, gpu: 1 } } } }))
    const sub = await mesh(['submit', job, '--json', '--config', origin.config])
    expect(sub.code, sub.stderr).toBe(0)
    const id = (JSON.parse(sub.stdout) as { id: string }).id
    const ids = (await peersJson(origin.config)).peers.filter(p => p.state === 'alive').map(p => p.id).sort()
    expect(ids).toHaveLength(3)
    type Snap = { tasks: Array<{ id: string, status: string, waiting?: string, why?: Array<{ peer: string, reason: string }> }> }
    const task = await waitFor('the task to say why, per peer', async () => {
      const s = JSON.parse((await mesh(['status', id, '--json', '--config', origin.config])).stdout) as Snap
      return s.tasks[0]?.why?.length === 3 ? s.tasks[0] : undefined
    }, { timeoutMs: 10_000, intervalMs: 200 })
    expect(task.status).toBe('pending')
    expect(task.waiting).toBe('no live peer offers gpu ≥ 1')
    expect(task.why!.map(w => w.peer).sort()).toEqual(ids)
    for (const w of task.why!) expect(w.reason).toBe('lacks: gpu ≥ 1')
    const readable = await mesh(['status', id, '--config', origin.config])
    expect(readable.stdout).toMatch(/why not running/)
    expect(readable.stdout.match(/lacks: gpu ≥ 1/g)).toHaveLength(3)
    expect((await mesh(['cancel', id, '--config', origin.config])).code).toBe(0)
  })
})

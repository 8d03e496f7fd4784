/**
 * Work survives (issue 4), through real daemons and the CLI: a 200-task job on
 * four daemons while executors are killed with SIGKILL five times (each
 * restarted) and another is frozen with SIGSTOP and resumed. Every task's
 * result arrives exactly once and is correct.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobEvent } from '../../src/jobs/job-view.ts'
import { ROOT, startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'
import { sleep } from '../helpers/wait.ts'

const handlers = join(ROOT, 'test', 'fixtures', 'handlers', 'chaos.ts')
let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await startMesh(4, { executor: { handlers: { work: `${handlers}#work` } } }))
})

afterAll(async () => { await cleanup() })

describe('chaos', () => {
  it('a 200-task job survives five SIGKILLs of executors and a SIGSTOP, with every result exactly once', async () => {
    const [origin, ...executors] = daemons as [LocalDaemon, ...LocalDaemon[]]
    const log = join(dir, 'executions.log')
    writeFileSync(log, '')
    const job = join(dir, 'chaos.json')
    writeFileSync(job, JSON.stringify({ name: 'chaos', tasks: { t: { kind: 'handler', handler: 'work', count: 200, input: { log }, resources: { cpu: 1 }, estimateMs: 300 } } }))
    const sub = await mesh(['submit', job, '--json', '--config', origin.config])
    expect(sub.code, sub.stderr).toBe(0)
    const id = (JSON.parse(sub.stdout) as { id: string }).id

    // Every event of the job, from the origin's control API.
    const events: JobEvent[] = []
    const stream = origin.client().events(id, e => { events.push(e) })

    // Chaos: five kills of a random executor (each restarted), and one freeze of another.
    let seed = 42
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    for (let k = 0; k < 5; k++) {
      await sleep(1200)
      const victim = executors[rand(executors.length)]!
      victim.signal('SIGKILL')
      await victim.exited()
      if (k === 2) {
        const frozen = executors.find(e => e !== victim)!
        frozen.signal('SIGSTOP')
        await sleep(3000)
        frozen.signal('SIGCONT')
      }
      await victim.start()
    }

    await Promise.race([stream, sleep(120_000).then(() => { throw new Error('job did not end within 120 s') })])
    const end = events.at(-1)
    expect(end?.type).toBe('job-done')

    // Exactly once: one task-done per task, and the results are right.
    const done = events.filter(e => e.type === 'task-done')
    expect(done).toHaveLength(200)
    expect(new Set(done.map(e => e.type === 'task-done' ? e.taskId : '')).size).toBe(200)
    const res = await mesh(['results', id, '--json', '--config', origin.config])
    const results = (JSON.parse(res.stdout) as { results: Record<string, number> }).results
    expect(Object.keys(results)).toHaveLength(200)
    for (let i = 0; i < 200; i++) expect(results[`t[${i}]`]).toBe(i * i + 1)

    // The chaos was real: some attempts were lost and run again.
    expect(events.some(e => e.type === 'task-migrated')).toBe(true)
    const executions = readFileSync(log, 'utf8').trim().split('\n')
    expect(executions.length).toBeGreaterThan(200)
  })
})

/**
 * Durable before acknowledged (issue 4): `kill -9` of the origin daemon in
 * the middle of a job, then a restart with the same config. The origin replays
 * its journal, re-attaches to attempts still running elsewhere, the job
 * completes, `mesh results` is complete, and no result finished before the
 * kill is computed again.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

const handlers = join(ROOT, 'test', 'fixtures', 'handlers', 'chaos.ts')
let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await startMesh(3, { executor: { handlers: { work: `${handlers}#work` } } }))
})

afterAll(async () => { await cleanup() })

interface Results { state: string, results: Record<string, number> }

describe('origin restart', () => {
  it('kill -9 of the origin mid-job: after a restart the job completes and nothing finished is recomputed', async () => {
    const origin = daemons[0]!
    const log = join(dir, 'executions.log')
    writeFileSync(log, '')
    const job = join(dir, 'job.json')
    writeFileSync(job, JSON.stringify({ name: 'durable', tasks: { t: { kind: 'handler', handler: 'work', count: 60, input: { log }, resources: { cpu: 1 }, estimateMs: 300 } } }))
    const sub = await mesh(['submit', job, '--json', '--config', origin.config])
    expect(sub.code, sub.stderr).toBe(0)
    const id = (JSON.parse(sub.stdout) as { id: string }).id

    const before = await waitFor('a third of the job to be done', async () => {
      const r = JSON.parse((await mesh(['results', id, '--json', '--config', origin.config])).stdout) as Results
      return Object.keys(r.results).length >= 20 ? r : undefined
    }, { timeoutMs: 60_000, intervalMs: 200 })
    origin.signal('SIGKILL')
    await origin.exited()
    const doneBefore = new Set(Object.keys(before.results))

    await origin.start()
    const after = await waitFor('the job to finish after the restart', async () => {
      const r = JSON.parse((await mesh(['results', id, '--json', '--config', origin.config])).stdout) as Results
      return r.state === 'done' ? r : undefined
    }, { timeoutMs: 90_000, intervalMs: 300 })

    expect(Object.keys(after.results)).toHaveLength(60)
    for (let i = 0; i < 60; i++) expect(after.results[`t[${i}]`]).toBe(i * i + 1)
    // Every result finished before the kill ran exactly once.
    const runs = new Map<string, number>()
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const task = line.split(' ')[0]!
      runs.set(task, (runs.get(task) ?? 0) + 1)
    }
    for (const task of doneBefore) expect(runs.get(task), task).toBe(1)
  })
})

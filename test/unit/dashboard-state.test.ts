import { describe, expect, it } from 'vitest'
import { attemptKind, cumulative } from '../../node/dashboard/state.ts'
import { JobRecord, OUTPUT_TAILS_PER_JOB, outputTail, type AttemptRecord } from '../../src/jobs/job-record.ts'
import { expandJob } from '../../src/jobs/expand.ts'
import { parseJobSpec } from '../../src/jobs/spec.ts'

const attempt = (n: number, state: AttemptRecord['state'], awardedAt: number, endedAt?: number): AttemptRecord =>
  ({ attempt: n, peer: `p${n}`, state, awardedAt, lastHeartbeat: awardedAt, ...(endedAt !== undefined ? { endedAt } : {}) })

describe('how the timeline names an attempt', () => {
  it('first, then a retry after a failure, a migration after a loss', () => {
    const list = [attempt(1, 'failed', 0, 10), attempt(2, 'lost', 20, 30), attempt(3, 'done', 40, 50)]
    expect(list.map((_a, i) => attemptKind(list, i))).toEqual(['first', 'retry', 'migration'])
  })

  it('a backup is awarded while the attempt before it still runs, or ran on past its award', () => {
    const running = [attempt(1, 'running', 0), attempt(2, 'running', 100)]
    expect(attemptKind(running, 1)).toBe('backup')
    const overtaken = [attempt(1, 'cancelled', 0, 300), attempt(2, 'done', 100, 250)]
    expect(attemptKind(overtaken, 1)).toBe('backup')
  })
})

describe('failed attempts\' output kept at the origin', () => {
  it('keeps the tails of a job\'s latest failed attempts only', () => {
    const spec = parseJobSpec({ name: 'x', tasks: { a: { kind: 'exec', command: ['false'] } } })
    const job = new JobRecord({ id: 'j', spec, origin: 'o', submittedAt: 0, files: {} }, expandJob(spec), 0)
    const attempts = Array.from({ length: OUTPUT_TAILS_PER_JOB + 10 }, (_v, i) => attempt(i + 1, 'failed', i, i + 1))
    for (const a of attempts) job.keepOutput(a, outputTail({ stdout: 'x'.repeat(10_000), stderr: `run ${a.attempt}` })!)
    expect(attempts.filter(a => a.output !== undefined)).toHaveLength(OUTPUT_TAILS_PER_JOB)
    expect(attempts[0]!.output).toBeUndefined()
    expect(attempts.at(-1)!.output).toEqual({ stdout: 'x'.repeat(4096), stderr: `run ${OUTPUT_TAILS_PER_JOB + 10}` })
  })

  it('reads a tail only from a value with stdout and stderr', () => {
    expect(outputTail({ exitCode: 1 })).toBeUndefined()
    expect(outputTail('text')).toBeUndefined()
    expect(outputTail({ stdout: 'a', stderr: 'b', exitCode: 0 })).toEqual({ stdout: 'a', stderr: 'b' })
  })
})

describe('a job\'s completions over time', () => {
  it('gives every completion of a small job, and at most 500 points of a large one, ending at the total', () => {
    expect(cumulative([10, 20, 30])).toEqual([[10, 1], [20, 2], [30, 3]])
    const times = Array.from({ length: 12_345 }, (_v, i) => 1000 + i * 7)
    const points = cumulative(times)
    expect(points.length).toBeLessThanOrEqual(501)
    expect(points.at(-1)).toEqual([times.at(-1), 12_345])
    for (let i = 1; i < points.length; i++) {
      expect(points[i]![0]).toBeGreaterThan(points[i - 1]![0])
      expect(points[i]![1]).toBeGreaterThan(points[i - 1]![1])
      expect(times[points[i]![1] - 1]).toBe(points[i]![0])
    }
    expect(cumulative([])).toEqual([])
  })
})

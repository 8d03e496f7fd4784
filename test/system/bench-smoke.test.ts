/**
 * The benchmark suite still runs (issue 5): `npm run bench -- --smoke` runs the
 * smallest Meshwork-only workloads on real daemons, into a temp directory, and
 * writes each result file, the charts and the report. No timing is asserted —
 * figures belong to the bench — and no Redis or Dask is needed.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/daemons.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-bench-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function runBench (): Promise<{ code: number | null, stderr: string }> {
  return new Promise(resolve => {
    const p = spawn(process.execPath, [join(ROOT, 'bench', 'run.ts'), '--smoke'], { cwd: ROOT, env: { ...process.env, MESHWORK_BENCH_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    p.on('exit', code => { resolve({ code, stderr }) })
  })
}

const json = (name: string): Record<string, any> => JSON.parse(readFileSync(join(dir, 'results', `${name}.json`), 'utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

describe('npm run bench -- --smoke', () => {
  it('runs the Meshwork workloads and writes their results, charts and report', async () => {
    const { code, stderr } = await runBench()
    expect(code, stderr).toBe(0)

    const jobs = json('jobs')
    expect(jobs.latency.submitToDoneMs.n).toBe(5)
    expect(jobs.latency.submitToDoneMs.p50).toBeGreaterThan(0)
    expect(jobs.throughput.trivial.tasks).toBe(100)
    expect(Object.values(jobs.throughput.trivial.perPeer as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(100)
    expect(jobs.throughput.cpu5ms.meanCpuMsPerTask).toBeGreaterThanOrEqual(5)

    const recovery = json('recovery')
    expect(recovery.killToRunningElsewhereMs.n).toBe(1)
    expect(recovery.freezeToRunningElsewhereMs.n).toBe(1)

    const placement = json('placement')
    expect(placement.lowerBound.ms).toBeGreaterThan(0)
    expect(placement.auction.meanUnits * placement.unitMs).toBeGreaterThanOrEqual(placement.lowerBound.ms)
    expect(placement.optimal.ms).toBeGreaterThanOrEqual(placement.lowerBound.ms)

    const footprint = json('footprint')
    for (const name of ['mesh --help', 'mesh peers --json', 'mesh status --json']) {
      expect(footprint.cli.commands[name].wallMs.n, name).toBe(3)
      expect(footprint.cli.commands[name].peakRssMB.min, name).toBeGreaterThan(0)
    }
    expect(footprint.idle.rssMB).toHaveLength(3)
    expect(footprint.idle.cpuPercentOfCore).toHaveLength(3)
    expect(footprint.killToGoneMs.n).toBe(1)
    expect(footprint.freezeToGoneMs.n).toBe(1)

    // Each peer fetched the model once in the first run, and nobody fetched it in the second.
    const artifacts = json('artifacts')
    expect(artifacts.cache.cold.network).toBe(artifacts.lowerBound.networkBytes)
    expect(artifacts.cache.cold.network + artifacts.cache.cold.cache).toBe(artifacts.tasks * artifacts.artifactMB * 1024 * 1024)
    expect(artifacts.cache.warm.network).toBe(0)
    expect(artifacts.origin.first.network).toBeGreaterThan(artifacts.cache.cold.network)

    const report = readFileSync(join(dir, 'RESULTS.md'), 'utf8')
    for (const heading of ['## Targets', '## 1. Overhead and latency', '## 2. Throughput', '## 3. Placement quality', '## 4. Recovery', '## 5. Footprint']) expect(report).toContain(heading)
    for (const chart of ['latency.svg', 'throughput.svg', 'placement.svg', 'recovery.svg']) {
      expect(existsSync(join(dir, 'charts', chart)), chart).toBe(true)
      expect(readFileSync(join(dir, 'charts', chart), 'utf8')).toMatch(/^<svg/)
    }
  }, 300_000)
})

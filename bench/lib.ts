/** Shared benchmark helpers: statistics, process readings, result files. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../node/local-mesh.ts'
import type { ControlClient } from '../node/control/client.ts'
import type { JobEvent } from '../src/jobs/job-view.ts'

/** Where results go: bench/results, or `$MESHWORK_BENCH_DIR/results` (the CI smoke run writes to a temp dir). */
export const RESULTS_DIR = process.env.MESHWORK_BENCH_DIR !== undefined ? join(process.env.MESHWORK_BENCH_DIR, 'results') : join(ROOT, 'bench', 'results')

export function quantile (xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

export function summary (xs: number[]): { n: number, p50: number, p99: number, min: number, max: number, samples: number[] } {
  const r = (x: number): number => Math.round(x * 10) / 10
  return { n: xs.length, p50: r(quantile(xs, 0.5)), p99: r(quantile(xs, 0.99)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), samples: xs.map(r) }
}

/** Resident set size of a process, MB (Linux /proc). */
export function rssMB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Math.round(Number(m[1]) / 1024 * 10) / 10
}

/** CPU time (user + system) a process has used, ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export async function poll (cond: () => Promise<boolean>, timeoutMs: number, everyMs = 5): Promise<number> {
  const t0 = performance.now()
  for (;;) {
    if (await cond().catch(() => false)) return performance.now() - t0
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

export function writeResult (name: string, result: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${name}.json`)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  return file
}

export function machine (): { cpus: number, node: string, when: string } {
  return { cpus: (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0, node: process.version, when: new Date().toISOString() }
}

/**
 * Submit `spec` to `origin` and follow its events to the end; throws unless
 * the job is done. `t0` is Date.now() just before the POST, `doneAt` the
 * job-done event's time (the same clock: everything runs on this machine).
 */
export async function runToDone (origin: ControlClient, spec: unknown): Promise<{ t0: number, id: string, events: JobEvent[], doneAt: number }> {
  const t0 = Date.now()
  const { id } = await origin.submit(spec)
  const events: JobEvent[] = []
  await origin.events(id, e => { events.push(e) })
  const done = events.find(e => e.type === 'job-done')
  if (done === undefined) throw new Error(`job ${id} did not finish: ${JSON.stringify(events.at(-1))}`)
  return { t0, id, events, doneAt: done.at }
}

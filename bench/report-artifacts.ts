/** RESULTS.md section on artifacts: bytes moved and makespan with the cache, against fetching from the origin every time (bench/artifacts.ts). */
import { ms, read, type Json, type Target } from './report-lib.ts'

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`

export function artifactsSection (targets: Target[]): string[] {
  const r = read('artifacts')
  if (r === undefined) return []
  const row = (what: string, run: Json): string => `| ${what} | ${mb(run.network)} | ${mb(run.cache)} | ${ms(run.makespanMs)} | ${Object.entries(run.byPeer as Record<string, number>).map(([p, n]) => `${p} ${n}`).join(', ')} |`
  const out = [
    '### Artifacts: a model cached where it runs', '',
    `${r.what.charAt(0).toUpperCase()}${r.what.slice(1)}. ${r.how}.`, '',
    '| run | bytes over the network | bytes from caches | makespan | tasks per peer |', '| --- | --- | --- | --- | --- |',
    row('cache, first run (cold)', r.cache.cold),
    row('cache, second run (warm)', r.cache.warm),
    row('origin every time, first run', r.origin.first),
    row('origin every time, second run', r.origin.second),
    `| lower bound: one copy per peer that ran a task, besides the origin | ${mb(r.lowerBound.networkBytes)} | | | |`,
    ''
  ]
  targets.push({
    what: `artifacts: network bytes of the first run with the cache, ÷ one copy per peer (${r.artifactMB} MB × ${r.tasks} tasks)`,
    target: '1 copy per peer (the lower bound)',
    measured: `${mb(r.cache.cold.network)} ÷ ${mb(r.lowerBound.networkBytes)}; fetching from the origin every time: ${mb(r.origin.first.network)}`,
    met: r.cache.cold.network <= r.lowerBound.networkBytes
  })
  targets.push({
    what: 'artifacts: the same job again moves no artifact bytes',
    target: '0 bytes',
    measured: `${mb(r.cache.warm.network)}; makespan ${ms(r.cache.warm.makespanMs)} against ${ms(r.cache.cold.makespanMs)} cold and ${ms(r.origin.second.makespanMs)} from the origin`,
    met: r.cache.warm.network === 0
  })
  return out
}

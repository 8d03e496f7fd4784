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

/** RESULTS.md section on the inference demo: model bytes and warm sessions (bench/ml.ts). */
export function mlSection (targets: Target[]): string[] {
  const r = read('ml')
  if (r === undefined) return []
  const runs = r.runs as Json[]
  const out = [
    '### Inference demo: model bytes and warm sessions', '',
    `${r.what.charAt(0).toUpperCase()}${r.what.slice(1)}. ${r.how}.`, '',
    '| run | makespan | model bytes over the network (fetched by peer) | from caches | accuracy | tasks that loaded the model (mean load) | tasks that found it warm | task time loading / warm |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...runs.map((x, i) => `| ${i + 1} | ${ms(x.makespanMs)} | ${x.artifactBytes.network} (${(x.fetchedBy ?? []).join(', ') || 'none'}) | ${x.artifactBytes.cache} | ${(x.accuracy * 100).toFixed(1)} % | ${x.loaded} (${ms(x.meanLoadMs)}) | ${x.warm} | ${x.loaded > 0 ? ms(x.meanTaskMsLoading) : '—'} / ${x.warm > 0 ? ms(x.meanTaskMsWarm) : '—'} |`),
    ''
  ]
  const second = runs[1]
  if (second !== undefined) {
    const refetched = (second.fetchedBy as number[] | undefined)?.filter(p => (runs[0].ranOn as number[]).includes(p)) ?? []
    targets.push({
      what: 'inference demo: model bytes over the network in the second run',
      target: '0 bytes',
      measured: `${second.artifactBytes.network} bytes (first run: ${runs[0].artifactBytes.network}, fetched by peer ${(runs[0].fetchedBy ?? []).join(', ')}); peers fetching it again: ${refetched.length}`,
      met: second.artifactBytes.network === 0
    })
    const all = runs.filter(x => x.loaded > 0 && x.warm > 0)
    targets.push({
      what: 'inference demo: a warm model\'s task starts without reloading',
      target: 'report the load time saved',
      measured: all.length === 0 ? 'no run had both loading and warm tasks' : all.map(x => `load ${ms(x.meanLoadMs)}; task ${ms(x.meanTaskMsLoading)} loading vs ${ms(x.meanTaskMsWarm)} warm`).join('; '),
      met: undefined
    })
  }
  return out
}

/** RESULTS.md sections about the mesh itself: gossip and footprint (workload 5), scale by simulation (workload 6). */
import { read, ms, type Json, type Target } from './report-lib.ts'

export async function gossipSection (targets: Target[]): Promise<string[]> {
  const g = read('gossip')
  const m = read('membership')
  const d = read('dask')
  const b = read('bullmq')
  if (g === undefined && m === undefined) return []
  const out = ['## 5. Gossip and footprint', '']
  if (g !== undefined) {
    out.push('| mesh | resource change seen by every peer: p50 / p99 | n | idle CPU of the whole mesh | RSS per daemon | how |', '| --- | --- | --- | --- | --- | --- |')
    for (const s of (g.meshes ?? []) as Json[]) {
      out.push(`| ${s.peers} peers | ${ms(s.propagationMs.p50)} / ${ms(s.propagationMs.p99)} | ${s.propagationMs.n} | ${s.idleCpuPercentOfCore ?? '—'} % of a core | ${s.rssMB === undefined ? '—' : `${s.rssMB.min}–${s.rssMB.max} MB`} | ${s.propagationMs.how ?? g.how ?? ''} |`)
      if (s.peers === 30) targets.push({ what: 'a resource change seen by all 30 peers', target: 'p99 ≤ 1 s', measured: `p99 ${ms(s.propagationMs.p99)}`, met: s.propagationMs.p99 <= 1000 })
    }
    out.push('')
  }
  const f = g?.footprint ?? m?.idle
  if (f !== undefined) {
    const rss: number[] = f.rssMB ?? []
    const maxRss = Math.max(...rss)
    targets.push({ what: 'idle daemon RSS', target: '< 100 MB', measured: `${rss.join(' / ')} MB`, met: maxRss < 100 })
    out.push('| one daemon | value | how |', '| --- | --- | --- |',
      `| idle RSS | ${rss.join(' / ')} MB | ${f.how ?? ''} |`,
      ...(f.cpuPercentOfCore !== undefined ? [`| idle CPU | ${f.cpuPercentOfCore.join(' / ')} % of a core | same window |`] : []),
      ...(m?.startup !== undefined ? [`| start-up: spawn → ready | ${ms(m.startup.readyMs.p50)} (n=${m.startup.readyMs.n}) | ${m.startup.how.split(';')[0]} |`] : []),
      ...(m?.killToGoneMs !== undefined ? [`| kill -9 → marked gone by a peer | ${ms(m.killToGoneMs.firstObserver.p50)} (max ${ms(m.killToGoneMs.firstObserver.max)}) | ${m.killToGoneMs.how} |`] : []),
      ...(m?.freezeToGoneMs !== undefined ? [`| SIGSTOP → marked gone by a peer | ${ms(m.freezeToGoneMs.firstObserver.p50)} (max ${ms(m.freezeToGoneMs.firstObserver.max)}) | ${m.freezeToGoneMs.how} |`] : []))
  }
  // For scale: what one process of each comparison weighs, measured in the same run.
  const others: string[] = []
  if (b?.latency?.workerRssMB !== undefined) others.push(`a BullMQ worker process ${range(Object.values(b.latency.workerRssMB))} MB plus Redis ${b.redisMemory?.idleRssMB ?? b.redisMemory?.rssMB ?? '—'} MB`)
  if (d?.rss?.idle !== undefined) others.push(`a Dask worker ${range(Object.values(d.rss.idle.workersMB))} MB plus the scheduler ${d.rss.idle.schedulerMB} MB`)
  if (others.length > 0) out.push('', `For comparison, idle, in the same run: ${others.join('; ')}.`)
  return out
}

export function scaleSection (): string[] {
  const s = read('scale')
  if (s === undefined) return []
  const out = ['## 6. Scale by simulation', '', s.what ?? '', '',
    '| peers | tasks | messages per task | bytes per task | auction rounds per task | attempts per task | makespan ÷ lower bound | simulated | wall |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for (const r of (s.runs ?? []) as Json[]) {
    out.push(`| ${r.peers} | ${r.tasks} | ${r.messagesPerTask} | ${r.bytesPerTask} | ${r.roundsPerTask} | ${r.attemptsPerTask} | ${r.makespanToLowerBound} | ${ms(r.simulatedMs)} | ${ms(r.wallMs)} |`)
  }
  if (s.how !== undefined) out.push('', s.how)
  return out
}

function range (xs: number[]): string {
  return xs.length === 0 ? '—' : `${Math.min(...xs)}–${Math.max(...xs)}`
}

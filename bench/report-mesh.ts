/** RESULTS.md sections about the mesh itself: gossip (workload 5), scale by simulation (workload 6). */
import { read, ms, type Json, type Target } from './report-lib.ts'

export async function gossipSection (targets: Target[]): Promise<string[]> {
  const g = read('gossip')
  const d = read('dask')
  const b = read('bullmq')
  if (g === undefined) return []
  const out = ['## 6. Gossip', '']
  if (g !== undefined) {
    out.push('| mesh | a resource change seen by every peer: p50 / p99 (n) | seen by each peer: p50 / p99 | idle CPU, all daemons together | RSS per daemon | formed after |', '| --- | --- | --- | --- | --- | --- |')
    let how = ''
    for (const s of (g.meshes ?? []) as Json[]) {
      const all = s.change?.seenByAllMs
      const each = s.change?.seenByEachMs
      how = s.change?.how ?? how
      out.push(`| ${s.peers} peers | ${ms(all?.p50)} / ${ms(all?.p99)} (${all?.n ?? 0}${s.change?.missed > 0 ? `, ${s.change.missed} missed` : ''}) | ${ms(each?.p50)} / ${ms(each?.p99)} | ${s.idle?.cpuPercentOfCoreSum ?? '—'} % of a core | ${s.idle?.rssMB === undefined ? '—' : `${s.idle.rssMB.min}–${s.idle.rssMB.max} MB`} | ${ms(s.startup?.formedMs)} |`)
      if (s.peers === 30 && all !== undefined) targets.push({ what: 'a resource change seen by all 30 peers', target: 'p99 ≤ 1 s', measured: `p99 ${ms(all.p99)}`, met: all.p99 <= 1000 })
    }
    out.push('', `How: ${how}. Idle: ${(g.meshes?.[0]?.idle?.how as string | undefined) ?? ''}. Formation: ${(g.meshes?.[0]?.startup?.how as string | undefined) ?? ''}.`, '')
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
  const num = (x: number | undefined): string => x === undefined || x === null ? '—' : x.toLocaleString('en-US')
  const out = ['## 7. Scale by simulation', '', s.how ?? '', '',
    '| run | complete | tasks done | messages per task (wire estimate) | bytes per task (wire estimate) | rounds per task | attempts per task | makespan ÷ lower bound | simulated | wall |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for (const r of (s.runs ?? []) as Json[]) {
    const t = r.perTask ?? {}
    const m = r.makespan ?? {}
    const toBound = m.ms !== null && m.ms !== undefined && m.lowerBoundMs > 0 ? `${(m.ms / m.lowerBoundMs).toFixed(2)}×` : '—'
    out.push(`| ${r.label} | ${r.complete === true ? 'yes' : `no (${r.stoppedBy})`} | ${num(r.tasksDone)} of ${num(r.tasksPlanned)} | ${num(t.messages)} (${num(t.wireMessages)}) | ${num(t.bytes)} (${num(t.wireBytes)}) | ${t.rounds ?? '—'} | ${t.attempts ?? '—'} | ${toBound} | ${ms(r.simulatedMs)} | ${ms(r.wallMs)} |`)
  }
  if (s.figures !== undefined) out.push('', ...Object.entries(s.figures as Record<string, string>).map(([k, v]) => `- **${k}**: ${v}`))
  if (s.limits !== undefined) out.push('', `**What limits the simulated size:** ${s.limits}`)
  return out
}

function range (xs: number[]): string {
  return xs.length === 0 ? '—' : `${Math.min(...xs)}–${Math.max(...xs)}`
}

/** The report's section on what confining exec tasks costs (bench/confine.ts). */
import { ms, read, type Json } from './report-lib.ts'

export function confineSection (): string[] {
  const r: Json = read('confine')
  const out = ['## 9. Safe to lend a machine: what confining exec tasks costs', '']
  if (r === undefined) return [...out, 'Not run (`npm run bench -- --only confine`).']
  const s = r.startup
  const row = (name: string, m: Json): string => `| ${name} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.extraP50Ms === undefined ? '—' : `${ms(m.extraP50Ms)} / ${ms(m.extraP99Ms)}`} | ${String(m.n)} |`
  out.push(`**Start-up per attempt.** ${String(s.how)}.`, '',
    '| runner | p50 | p99 | extra p50 / p99 | attempts |', '| --- | --- | --- | --- | --- |',
    row('plain child process (before)', s.plain), row('per-attempt cgroup', s.cgroup), row('cgroup + bubblewrap sandbox', s['cgroup+sandbox']), '')
  const t = r.throughput
  const trow = (name: string, m: Json): string => `| ${name} | ${String(m.tasks)} | ${m.tasksPerSecond.toFixed(1)} | ${m.idealTasksPerSecond.toFixed(0)} | ${Math.round(m.efficiency * 100)} % |`
  out.push(`**5 ms exec tasks.** ${String(t.how)}.`, '',
    '| daemon | tasks | tasks/s | ideal | efficiency |', '| --- | --- | --- | --- | --- |',
    ...(t.baseline !== undefined ? [trow(`before confinement (${String(t.baseline.commit)}): plain child processes`, t.baseline)] : []),
    trow('cgroup limits, no sandbox', t.none), trow('cgroup limits and the sandbox', t.bwrap))
  return out
}

/** The report's section on defending against keyed peers (bench/adversarial.ts). */
import { ms, read, type Json } from './report-lib.ts'

const sentence = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

export function adversarialSection (): string[] {
  const r: Json = read('adversarial')
  const out = ['## 8. Peers of different owners: what the defences cost', '']
  if (r === undefined) return [...out, 'Not run (`npm run bench -- --only adversarial`).']
  const v = r.verification
  out.push('**Verification.** ' + sentence(v.how) + '.', '',
    '| run | CPU per task | extra CPU per task | makespan | verdicts |', '| --- | --- | --- | --- | --- |',
    `| plain | ${ms(v.plain.cpuMsPerTask)} | — | ${ms(v.plain.makespanMs)} | — |`,
    `| \`verify: {replicas: 2}\` | ${ms(v.full.cpuMsPerTask)} | ${ms(v.full.extraCpuMsPerTask)} | ${ms(v.full.makespanMs)} | every task agreed |`,
    `| adaptive (after 10, rate 0.1) | ${ms(v.adaptive.cpuMsPerTask)} | ${ms(v.adaptive.extraCpuMsPerTask)} | ${ms(v.adaptive.makespanMs)} | ${Object.entries(v.adaptive.verdicts).map(([k, n]) => `${k} ${String(n)}`).join(', ')} |`, '')
  const b = r.blackHole
  const row = (label: string, x: Json): string => `| ${label} | ${x.jobs.map(ms).join(', ')} | ${x.holeWon === undefined ? '—' : x.holeWon.join(', ')} |`
  out.push('**A black hole.** ' + sentence(b.after.how) + '.', '',
    '| daemons | makespans of job 1, job 2 | tasks the black hole won in each |', '| --- | --- | --- |',
    row('this code, no black hole', b.after.without),
    row('this code, with the black hole', b.after.with),
    ...(b.before !== undefined ? [row(`before (${b.baseline}), no black hole`, b.before.without), row(`before (${b.baseline}), with the black hole`, b.before.with)] : []), '')
  const f = r.flood
  if (f !== undefined) {
    out.push(`**A flood.** ${sentence(f.how)}. It sent ${String(f.sent)} messages before ${f.allCutOff === true ? 'every daemon had cut it off' : 'the time ran out'}, after ${ms(f.cutOffMs)}. ` +
      `The three daemons used ${String(f.floodCpuMsPerS)} ms of CPU per second meanwhile (idle: ${String(f.idleCpuMsPerS)}); their RSS grew by ${f.rssGrowthMB.map((x: number) => `${x} MB`).join(', ')}.`, '')
  }
  out.push(`Measured ${String(r.machine.when).slice(0, 10)}.`)
  return out
}

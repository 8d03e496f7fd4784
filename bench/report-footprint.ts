/** RESULTS.md section on footprint: the CLI and one idle daemon, now and before (bench/footprint.ts). */
import { ms, read, type Json, type Target } from './report-lib.ts'

export function footprintSection (targets: Target[]): string[] {
  const now = read('footprint')
  if (now === undefined) return []
  const before = read('footprint-baseline')
  const out = ['## 5. Footprint: the CLI and an idle daemon', '']
  const label = (f: Json): string => `${f.subject?.label === 'this checkout' ? 'now' : 'before'} (${f.subject?.commit ?? '?'}, ${String(f.machine?.when ?? '').slice(0, 10)})`
  const cols = before !== undefined ? [before, now] : [now]
  out.push(`| measure | ${cols.map(label).join(' | ')} | target |`, `| --- | ${cols.map(() => '---').join(' | ')} | --- |`)
  const row = (what: string, cell: (f: Json) => string, target = ''): void => { out.push(`| ${what} | ${cols.map(f => cell(f)).join(' | ')} | ${target} |`) }
  const cmd = (f: Json, name: string): Json => f.cli?.commands?.[name]

  row('`node -e 0`: wall p50, peak RSS', f => `${ms(f.cli?.node?.wallMs?.p50)}, ${f.cli?.node?.peakRssMB?.max ?? '—'} MB`)
  for (const name of ['mesh --help', 'mesh peers --json', 'mesh status --json']) {
    row(`\`${name}\`: wall p50 (÷ node -e 0), peak RSS`, f => {
      const c = cmd(f, name)
      return c === undefined ? '—' : `${ms(c.wallMs.p50)} (${c.ratioToNode}×), ${c.peakRssMB.max} MB`
    }, name === 'mesh status --json' ? '' : '≤ 4×, ≤ 60 MB')
  }
  const rss = (f: Json): number[] => f.idle?.rssMB ?? []
  row('daemon idle RSS (each of 3)', f => `${rss(f).join(' / ')} MB`, '≤ 100 MB (stretch 80)')
  row('daemon peak RSS (VmHWM)', f => `${(f.idle?.peakRssMB ?? []).join(' / ')} MB`)
  row('daemon idle CPU, % of a core (main thread)', f => `${(f.idle?.cpuPercentOfCore ?? []).join(' / ')} (${(f.idle?.mainThreadPercentOfCore ?? []).join(' / ')})`, '≤ 0.5 %')
  row('spawn → ready, p50 (max)', f => `${ms(f.startup?.readyMs?.p50)} (${ms(f.startup?.readyMs?.max)})`, '≤ 500 ms')
  row('kill -9 → gone, p50 (max)', f => `${ms(f.killToGoneMs?.p50)} (${ms(f.killToGoneMs?.max)})`, 'tens of ms')
  row('SIGSTOP → gone, p50 (max)', f => `${ms(f.freezeToGoneMs?.p50)} (${ms(f.freezeToGoneMs?.max)})`, '≤ pingIntervalMs + pingTimeoutMs + a little (1250 ms + …)')

  const help = cmd(now, 'mesh --help')
  const peers = cmd(now, 'mesh peers --json')
  if (help !== undefined && peers !== undefined) {
    const worst = Math.max(help.ratioToNode, peers.ratioToNode)
    const rssMax = Math.max(help.peakRssMB.max, peers.peakRssMB.max)
    targets.push({ what: 'CLI: `mesh --help`, `mesh peers --json` ÷ `node -e 0` (same run); peak RSS', target: '≤ 4×, ≤ 60 MB', measured: `${help.ratioToNode}× (${ms(help.wallMs.p50)}), ${peers.ratioToNode}× (${ms(peers.wallMs.p50)}); ${rssMax} MB`, met: worst <= 4 && rssMax <= 60 })
  }
  const maxRss = Math.max(...rss(now))
  targets.push({ what: 'idle daemon RSS (3-peer mesh)', target: '≤ 100 MB (stretch 80)', measured: `${rss(now).join(' / ')} MB`, met: maxRss <= 100, note: maxRss <= 80 ? 'stretch met' : 'stretch not met' })
  const cpu: number[] = now.idle?.cpuPercentOfCore ?? []
  targets.push({ what: 'idle daemon CPU (3-peer mesh)', target: '≤ 0.5 % of a core', measured: `${cpu.join(' / ')} %`, met: Math.max(...cpu) <= 0.5 })
  targets.push({ what: 'daemon spawn → ready', target: '≤ 500 ms', measured: `p50 ${ms(now.startup?.readyMs?.p50)}`, met: now.startup?.readyMs?.p50 <= 500 })
  out.push('', `How: ${now.cli?.how ?? ''}. Idle: ${now.idle?.how ?? ''}. Start-up: ${now.startup?.how ?? ''}. Failure detection: ${now.killToGoneMs?.how ?? ''}; ${now.freezeToGoneMs?.how ?? ''}.`)
  if (before !== undefined) out.push('', `"Before" is the same bench run against another checkout (\`npm run bench -- --only footprint --baseline DIR\`): ${before.subject?.cli ?? ''}, commit ${before.subject?.commit ?? '?'}.`)
  return out
}

/** `mesh peers`: the mesh as the daemon sees it, as a table or JSON. */
import type { PeersReply } from '../control/api.ts'
import { ControlClient } from '../control/client.ts'
import { ago, color, gb, hostPort, num, shortId } from './format.ts'

export async function peersCommand (opts: { config?: string, json?: boolean }): Promise<void> {
  const reply = await ControlClient.find(opts.config).peers()
  if (opts.json === true) {
    process.stdout.write(JSON.stringify(reply, null, 2) + '\n')
    return
  }
  process.stdout.write(await renderPeers(reply, Date.now()) + '\n')
}

/** One GPU with its free memory: `GPU0 A100 31.2/40 GB free`, `GPU1 A100 held whole`. */
export function gpuLine (g: PeersReply['peers'][number]['gpus'][number], i: number): string {
  const gbs = (mb: number): string => (mb / 1024).toFixed(1).replace(/\.0$/, '')
  const name = g.model === 'GPU' ? `GPU${i}` : `GPU${i} ${g.model}`
  if (g.whole === true) return `${name} held whole`
  if (g.memoryMB > 0 && g.freeMemoryMB !== undefined) return `${name} ${gbs(g.freeMemoryMB)}/${gbs(g.memoryMB)} GB free`
  return g.memoryMB > 0 ? `${name} ${gbs(g.memoryMB)} GB` : `${name} free`
}

/** The artifact cache and warm models: `1.2/20 GB, 3 artifacts` and one line per warm model. */
export function cacheCell (p: PeersReply['peers'][number]): string {
  if (p.cache === undefined) return '-'
  const gbs = (mb: number): string => (mb / 1024).toFixed(1).replace(/\.0$/, '')
  const n = p.cache.artifacts
  const warm = (p.warm ?? []).map(w => color('dim', `warm ${w.key}`))
  return [`${gbs(p.cache.usedMB)}/${gbs(p.cache.maxMB)} GB, ${n} artifact${n === 1 ? '' : 's'}`, ...warm].join('\n')
}

/** What this daemon, as an origin, saw the peer do with its work: `12 done, 2 faults (81 %)`, faults in red. */
export function recordCell (p: PeersReply['peers'][number]): string {
  const r = p.record
  if (r === undefined) return '-'
  const faults = r.faults > 0 ? color(r.reliability < 0.5 ? 'red' : 'yellow', `, ${num(r.faults)} faults`) : ''
  const kinds = Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(', ')
  return `${num(r.delivered)} done${faults} (${Math.round(r.reliability * 100)} %)${kinds !== '' ? `\n${color('dim', kinds)}` : ''}`
}

/** How the peer confines exec tasks: `cgroup-v1` over `sandbox` (or `no sandbox`), `+ network` when tasks may have it. */
export function execCell (p: PeersReply['peers'][number]): string {
  const c = p.caps
  if (!c.kinds.includes('exec')) return '-'
  if (c.limits === undefined) return color('dim', 'not said')
  const limits = c.limits === 'rlimit' || c.limits === 'none' ? color('yellow', c.limits) : c.limits
  const sandbox = c.sandbox === 'bwrap' ? 'sandbox' : color('yellow', 'no sandbox')
  return `${limits}\n${sandbox}${c.network === true ? color('dim', ', network') : ''}`
}

export async function renderPeers (reply: PeersReply, now: number): Promise<string> {
  const { default: Table } = await import('cli-table3')
  const table = new Table({
    head: ['peer', 'state', 'address', 'cpu free/total', 'memory free/total', 'gpu', 'cache', 'load', 'tasks run/queue', 'speed', 'exec', 'record', 'last seen'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }
  })
  for (const p of reply.peers) {
    const state = p.state === 'alive' ? color('green', 'alive') : p.state === 'suspect' ? color('yellow', 'suspect') : color('red', 'gone')
    const custom = Object.entries(p.capacity.custom).map(([k, v]) => `${k} ${num(p.free.custom[k] ?? 0)}/${num(v)}`)
    const quarantined = p.quarantinedUntil !== undefined && p.quarantinedUntil > now ? `\n${color('red', `quarantined ${Math.ceil((p.quarantinedUntil - now) / 1000)} s more`)}` : ''
    table.push([
      (p.self ? '* ' : '  ') + shortId(p.id),
      (p.state !== 'alive' ? `${state}\n${color('dim', p.reason)}` : p.busy !== undefined ? `${color('yellow', 'alive, yielding')}\n${color('dim', p.busy)}` : state) + quarantined,
      hostPort(p.addrs),
      `${num(p.free.cpu)}/${num(p.capacity.cpu)}`,
      `${gb(p.free.memoryMB)}/${gb(p.capacity.memoryMB)}`,
      [p.capacity.gpu > 0 ? `${num(p.free.gpu)}/${num(p.capacity.gpu)}` : '-', ...p.gpus.map(gpuLine), ...custom].join('\n'),
      cacheCell(p),
      `${num(p.load.avg1)} (${Math.round(p.load.cpuBusy)}%)`,
      `${p.tasks.running}/${p.tasks.queued}`,
      num(p.speed),
      execCell(p),
      recordCell(p),
      p.self ? 'self' : ago(now - p.lastSeen)
    ])
  }
  const alive = reply.peers.filter(p => p.state === 'alive').length
  const dropped = reply.stats.dropped.total > 0 ? `, ${reply.stats.dropped.total} bad messages dropped` : ''
  return `${table.toString()}\n${alive} of ${reply.peers.length} peers alive (* = this peer ${shortId(reply.self)})${dropped}`
}

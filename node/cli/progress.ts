/**
 * `--wait`: follow a job until it ends. On a terminal, a compact live view
 * redrawn in place (log-update): a bar, counts, throughput, ETA, which peers are
 * working, and the latest notable events. Elsewhere (CI logs, pipes), one line
 * per notable event and a progress line every few seconds.
 */
import type { JobEvent, JobSnapshot } from '../control/api.ts'
import type { ControlClient } from '../control/client.ts'
import { color, shortId } from './format.ts'

const TERMINAL = new Set(['job-done', 'job-failed', 'job-cancelled'])

export async function followJob (client: ControlClient, id: string, opts: { quiet?: boolean } = {}): Promise<JobSnapshot> {
  const live = process.stdout.isTTY === true && opts.quiet !== true
  // log-update (and its terminal helpers) only where there is a terminal to redraw.
  const logUpdate = live ? (await import('log-update')).default : undefined
  const notes: string[] = []
  const t0 = Date.now()
  let ended = false
  const note = (line: string): void => {
    if (opts.quiet === true) return
    if (live) { notes.push(line); if (notes.length > 5) notes.shift() } else process.stdout.write(line + '\n')
  }
  const abort = new AbortController()
  const stream = client.events(id, e => {
    const line = describe(e)
    if (line !== undefined) note(line)
    if (TERMINAL.has(e.type)) ended = true
  }, abort.signal).catch(() => { /* fall back to polling below */ })

  let snap = await client.job(id, { tasks: false })
  let lastLine = 0
  while (!ended && snap.state === 'running') {
    if (logUpdate !== undefined) logUpdate(render(snap, t0, notes))
    else if (opts.quiet !== true && Date.now() - lastLine > 5000) { process.stdout.write(summaryLine(snap, t0) + '\n'); lastLine = Date.now() }
    await new Promise(resolve => setTimeout(resolve, 200))
    snap = await client.job(id, { tasks: false })
  }
  snap = await client.job(id, { tasks: false })
  if (logUpdate !== undefined) { logUpdate(render(snap, t0, notes)); logUpdate.done() }
  abort.abort()
  await stream
  return snap
}

function describe (e: JobEvent): string | undefined {
  switch (e.type) {
    case 'task-failed': return color('yellow', `task ${e.taskId} attempt ${e.attempt} failed on ${shortId(e.peer)}: ${e.error}${e.willRetry ? ' (retrying)' : ''}`)
    case 'task-migrated': return color('yellow', `task ${e.taskId} moved off ${shortId(e.peer)}: ${e.reason}`)
    case 'backup-started': return color('yellow', `task ${e.taskId}: backup attempt ${e.attempt} on ${shortId(e.peer)} (${e.reason})`)
    case 'task-waiting': return color('yellow', `task ${e.taskId} waits: ${e.reason}`)
    case 'task-verified':
      if (e.verdict === 'failed') return color('red', `task ${e.taskId}: replicas disagree (${e.disagreeing.map(shortId).join(', ')})`)
      return e.disagreeing.length > 0 ? color('yellow', `task ${e.taskId} verified by ${e.agreeing.map(shortId).join(', ')}; ${e.disagreeing.map(shortId).join(', ')} disagreed`) : undefined
    case 'job-failed': return color('red', `job failed: ${e.error ?? ''}`)
    case 'job-cancelled': return color('red', `job cancelled${e.error !== undefined ? `: ${e.error}` : ''}`)
    default: return undefined
  }
}

export function summaryLine (s: JobSnapshot, t0: number): string {
  const c = s.counts
  const secs = (Date.now() - t0) / 1000
  const rate = secs > 0 ? c.done / secs : 0
  const left = s.total - c.done - c.failed - c.cancelled
  const eta = rate > 0 && left > 0 ? ` ETA ${(left / rate).toFixed(1)} s` : ''
  return `${c.done}/${s.total} done, ${c.running} running, ${c.pending + c.announced + c.awarded + c.queued + c.blocked} waiting, ${c.failed} failed · ${rate.toFixed(1)} tasks/s${eta} · ${secs.toFixed(1)} s`
}

function render (s: JobSnapshot, t0: number, notes: string[]): string {
  const width = 30
  const frac = s.total > 0 ? s.counts.done / s.total : 0
  const bar = color('green', '█'.repeat(Math.round(frac * width))) + color('dim', '░'.repeat(width - Math.round(frac * width)))
  const state = s.state === 'running' ? 'running' : s.state === 'done' ? color('green', 'done') : color('red', s.state)
  const peers = Object.entries(s.peers).sort((a, b) => b[1].done - a[1].done).slice(0, 6)
    .map(([p, v]) => `${shortId(p)} ${v.running} running ${v.done} done`).join(' · ')
  return [
    `job ${s.id} "${s.name}" ${state}`,
    `${bar} ${Math.round(frac * 100)}%  ${summaryLine(s, t0)}`,
    peers === '' ? color('dim', 'no peer has started a task yet') : `peers: ${peers}`,
    ...notes
  ].join('\n')
}

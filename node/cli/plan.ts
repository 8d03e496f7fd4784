/**
 * `mesh plan JOB.json`: the best placement of a job on the mesh as it is now,
 * beside what the auction would do, without running anything.
 *
 *  - the live peers (alive and not yielding) come from the daemon's control API
 *    (`/v1/peers`), with their whole capacity, speed and abilities; work already
 *    running on them is not counted;
 *  - durations are each task's `estimateMs ÷ speed` (every task needs one);
 *  - the optimum is the MIP of src/planning/optimal.ts (HiGHS, time-limited);
 *  - the auction is the real core played out on a simulated mesh of the same
 *    peers (src/planning/dry-run.ts), submitted at this daemon's peer.
 */
import Table from 'cli-table3'
import { MeshError } from '../../src/errors.ts'
import { lowerBound, type LowerBound } from '../../src/planning/bounds.ts'
import { dryRunAuction, type DryRunResult } from '../../src/planning/dry-run.ts'
import { dryRunPeers, problemFromSpec, type MeshPeerInfo } from '../../src/planning/from-spec.ts'
import { optimalPlan, type OptimalPlan } from '../../src/planning/optimal.ts'
import { indexProblem, type Placement, type Unplaceable } from '../../src/planning/problem.ts'
import { parseJobSpec } from '../../src/jobs/spec.ts'
import { ControlClient } from '../control/client.ts'
import { readJobFile } from '../job-files.ts'
import { color, num, shortId } from './format.ts'

export interface PlanReply {
  job: string
  tasks: number
  /** Who the job would be submitted to: the daemon's own peer. */
  origin: string
  peers: MeshPeerInfo[]
  /** Peers listed but left out of the plan, and why. */
  excluded: Array<{ id: string, reason: string }>
  unplaceable: Unplaceable[]
  lowerBound: LowerBound
  optimal: Omit<OptimalPlan, 'schedule' | 'unplaceable'> & { placements: Placement[] }
  auction: Omit<DryRunResult, 'schedule'> & { scheduleMakespanMs: number, placements: Placement[] }
}

/** Rows printed in the text table; `--json` has them all. */
const MAX_ROWS = 60

export async function planCommand (file: string, opts: { config?: string, json?: boolean, timeLimit?: string }): Promise<number> {
  const spec = parseJobSpec(await readJobFile(file), file)
  const timeLimitMs = opts.timeLimit === undefined ? 30_000 : Number(opts.timeLimit) * 1000
  if (!(timeLimitMs > 0)) throw new MeshError('MESH_ERR_JOB_SPEC', `--time-limit must be a number of seconds > 0, not "${opts.timeLimit ?? ''}"`)

  const mesh = await ControlClient.find(opts.config).peers()
  const excluded: PlanReply['excluded'] = []
  const peers: MeshPeerInfo[] = []
  for (const p of mesh.peers) {
    if (p.state !== 'alive') excluded.push({ id: p.id, reason: p.state })
    else if (p.busy !== undefined) excluded.push({ id: p.id, reason: `yielding: ${p.busy}` })
    else peers.push({ id: p.id, capacity: p.capacity, speed: p.speed, caps: p.caps })
  }
  const problem = problemFromSpec(spec, peers, mesh.self)
  const ix = indexProblem(problem)
  const lb = lowerBound(ix)
  const optimal = await optimalPlan(ix, { timeLimitMs })
  const auction = ix.unplaceable.length > 0 ? undefined : await dryRunAuction(spec, dryRunPeers(peers), { origin: mesh.self })

  const reply: PlanReply = {
    job: spec.name,
    tasks: problem.tasks.length,
    origin: mesh.self,
    peers,
    excluded,
    unplaceable: ix.unplaceable,
    lowerBound: lb,
    optimal: { ...withoutSchedule(optimal), placements: optimal.schedule?.placements ?? [] },
    auction: auction === undefined
      ? { state: 'running', makespanMs: NaN, rounds: 0, attempts: 0, error: 'not run: some task cannot run on any live peer', scheduleMakespanMs: NaN, placements: [] }
      : { ...withoutScheduleRun(auction), scheduleMakespanMs: auction.schedule.makespanMs, placements: auction.schedule.placements }
  }
  process.stdout.write((opts.json === true ? JSON.stringify(reply, null, 2) : renderPlan(reply)) + '\n')
  return ix.unplaceable.length > 0 ? 1 : 0
}

function withoutSchedule ({ schedule: _s, unplaceable: _u, ...rest }: OptimalPlan): Omit<OptimalPlan, 'schedule' | 'unplaceable'> {
  return rest
}

function withoutScheduleRun ({ schedule: _s, ...rest }: DryRunResult): Omit<DryRunResult, 'schedule'> {
  return rest
}

const secs = (ms: number): string => Number.isFinite(ms) ? `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s` : '-'

export function renderPlan (r: PlanReply): string {
  const lines: string[] = []
  lines.push(`job "${r.job}": ${r.tasks} tasks on ${r.peers.length} live peers (submitted at ${shortId(r.origin)})` +
    (r.excluded.length > 0 ? `; left out: ${r.excluded.map(e => `${shortId(e.id)} (${e.reason})`).join(', ')}` : ''))
  if (r.unplaceable.length > 0) {
    lines.push(color('red', 'no live peer can run:'))
    for (const u of r.unplaceable) lines.push(`  ${u.task}: ${u.reason}`)
    return lines.join('\n')
  }
  const lb = r.lowerBound
  const work = Object.entries(lb.byWork).map(([k, v]) => `${k} ${secs(v)}`).join(', ')
  lines.push(`lower bound   ${secs(lb.ms)}  (longest chain ${secs(lb.chainMs)}: ${lb.chain.join(' → ')}; work ÷ capacity: ${work})`)
  const o = r.optimal
  const proof = o.status === 'optimal'
    ? (o.exact ? 'proven optimal' : `optimal with durations rounded up to ${secs(o.slotMs)} slots, so not proven for the real durations`)
    : o.status === 'time-limit' ? `best found in the time limit, within ${(o.gap * 100).toFixed(1)} % of the bound ${secs(o.boundMs)}`
      : `too large for the exact model: a greedy schedule (bound ${secs(o.boundMs)})`
  lines.push(`optimal       ${secs(o.makespanMs)}  (${proof}; HiGHS ${o.solveMs} ms)`)
  const a = r.auction
  lines.push(`auction       ${a.state === 'done' ? secs(a.makespanMs) : color('red', a.error ?? a.state)}` +
    (a.state === 'done' ? `  (dry run of the real auction: ${a.rounds} rounds; ×${(a.makespanMs / o.makespanMs).toFixed(2)} the optimum, ×${(a.makespanMs / lb.ms).toFixed(2)} the lower bound)` : ''))

  const table = new Table({
    head: ['task', 'optimal: peer', 'start–end', 'auction: peer', 'start–end'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }
  })
  const ran = new Map(a.placements.map(p => [p.task, p]))
  const rows = [...o.placements].sort((x, y) => x.startMs - y.startMs || x.task.localeCompare(y.task))
  for (const p of rows.slice(0, MAX_ROWS)) {
    const q = ran.get(p.task)
    table.push([p.task, shortId(p.peer), span(p), q === undefined ? '-' : shortId(q.peer), q === undefined ? '-' : span(q)])
  }
  lines.push(table.toString())
  if (rows.length > MAX_ROWS) lines.push(color('dim', `… and ${rows.length - MAX_ROWS} more tasks (--json lists them all)`))
  lines.push(color('dim', 'Plans on each live peer\'s whole capacity at its speed; durations are estimateMs ÷ speed; work already running is not counted.'))
  return lines.join('\n')
}

function span (p: Placement): string {
  return `${num(Math.round(p.startMs) / 1000)}–${num(Math.round(p.endMs) / 1000)} s`
}

/**
 * Workload 5 (issue 5), gossip and footprint, on a 10- and a 30-peer mesh of
 * real daemons (`mesh start` processes on 127.0.0.1, each bootstrapped to all
 * others, yield policy off):
 *  - formation: spawn of the first daemon → every daemon lists all others alive;
 *  - idle: CPU of the whole mesh (sum over the daemons, % of one core) over a
 *    window with no jobs, and the RSS of each daemon after it;
 *  - a resource change: a task ends on the source peer (daemon 1, the only one
 *    with the tag its jobs ask for), its capacity is released and the peer
 *    sends an ad ahead of its period; measured from the task's end to when each
 *    other peer's table holds an ad with the released capacity.
 *
 * Observation costs the daemons nothing extra but one log line per ad: at log
 * level trace, node/peer.ts logs `ad accepted` when an ad enters the peer
 * table, and pino stamps it with Date.now(). Every process reads the same
 * clock, so the receiver's stamp minus the handler's own end time is the
 * latency. The bench reads the lines from the daemons' stderr; it polls no
 * control API while measuring.
 *
 * The footprint of the CLI and of one daemon (idle RSS and CPU, spawn → ready,
 * failure detection) is in bench/footprint.ts.
 */
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT, type LocalDaemon, type LocalMesh } from '../node/local-mesh.ts'
import { cpuMs, machine, rssMB, summary, writeResult } from './lib.ts'

const SOURCE_TAG = 'gossip-source'
const HOLD_HANDLER = `${join(ROOT, 'bench', 'gossip-handler.ts')}#hold`
/** How long each task holds the source's capacity: longer than the ad period, so its start and end are two separate changes. */
const HOLD_MS = 1200
/** Daemons started at once: more only makes each start slower on 2 cores. */
const START_BATCH = 5
const WARMUP_CHANGES = 2
/** How long after the last daemon is ready the mesh may take to form. */
const FORM_TIMEOUT_MS = 180_000
/** A change not seen by every peer within this long counts as missed. */
const SEEN_TIMEOUT_MS = 10_000

const log = (s: string): void => { process.stderr.write(`[gossip] ${s}\n`) }

/** One `ad accepted` line of a daemon: which ad, and when it entered the table. */
interface AdSeen { from: string, seq: number, sent: number, cpuFree: number, at: number }

/** The `ad accepted` lines of one daemon's stderr, parsed as they arrive. */
class AdLog {
  readonly seen: AdSeen[] = []
  /** Times membership redialled a connected peer whose ads did not arrive (src/membership/silent-peers.ts). */
  redials = 0
  #partial = ''

  constructor (d: LocalDaemon) {
    d.proc?.stderr?.on('data', (chunk: Buffer) => {
      const lines = (this.#partial + chunk.toString()).split('\n')
      this.#partial = lines.pop() ?? ''
      for (const line of lines) this.#parse(line)
      // LocalDaemon keeps all output for error messages; at trace level that
      // would grow for the whole run. The last lines are enough.
      if (d.output.length > 200) d.output.splice(0, d.output.length - 50)
    })
  }

  #parse (line: string): void {
    if (line.includes('sends us no ads')) this.redials++
    if (!line.includes('"ad accepted"')) return
    try {
      const rec = JSON.parse(line) as { time: number, ad: Omit<AdSeen, 'at'> }
      this.seen.push({ ...rec.ad, at: rec.time })
    } catch { /* a line cut by a crash: ignore */ }
  }

  /** The first ad from `from` sent at or after `since` whose free CPU is `cpuFree`. */
  first (from: string, since: number, cpuFree: number): AdSeen | undefined {
    // Lines arrive in time order and an ad is received after it is sent, so
    // scan back only to the first line stamped before `since`.
    let found: AdSeen | undefined
    for (let i = this.seen.length - 1; i >= 0 && this.seen[i]!.at >= since; i--) {
      const s = this.seen[i]!
      if (s.from === from && s.sent >= since && s.cpuFree === cpuFree) found = s
    }
    return found
  }
}

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function controlOf (mesh: LocalMesh, i: number): ControlClient {
  return mesh.daemons[i]!.client()
}

export async function benchGossip ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const sizes = quick ? [10] : [10, 30]
  const changes = quick ? 5 : 20
  const idleMs = quick ? 3000 : 20_000
  const meshes: Array<Record<string, unknown>> = []
  for (const n of sizes) meshes.push(await measureMesh(n, changes, idleMs))
  const result = {
    what: 'gossip and footprint on real daemons (127.0.0.1), each bootstrapped to all others, yield policy off, log level trace (one line per ad received)',
    machine: machine(),
    meshes
  }
  writeResult('gossip', result)
  return result
}

async function measureMesh (n: number, changes: number, idleMs: number): Promise<Record<string, unknown>> {
  const addrs = (await listenPorts(n)).map(p => `/ip4/127.0.0.1/tcp/${p}`)
  const mesh = await createLocalMesh(n, i => ({
    listen: [addrs[i]],
    bootstrap: addrs.filter((_, j) => j !== i),
    log: { level: 'trace' },
    ...(i === 0 ? { tags: [SOURCE_TAG], executor: { handlers: { hold: HOLD_HANDLER } } } : {})
  }))
  try {
    // ── start and formation ──
    const t0 = performance.now()
    for (let i = 0; i < n; i += START_BATCH) {
      await Promise.all(mesh.daemons.slice(i, i + START_BATCH).map(async d => { await d.start(120_000) }))
    }
    const allStarted = performance.now() - t0
    const readyMs = mesh.daemons.map(d => d.readyAt - d.spawnedAt)
    const logs = mesh.daemons.map(d => new AdLog(d))
    const formed = await waitFormed(mesh, t0)
    log(`${n} peers: started in ${Math.round(allStarted)} ms (spawn → ready p50 ${summary(readyMs).p50} ms), ` +
      (formed.ok ? `all see all alive after ${Math.round(formed.ms)} ms` : `not all see all alive after ${Math.round(formed.ms)} ms: alive peers seen by each ${formed.counts.join(' ')}`))

    // ── idle footprint ──
    await pause(3000)
    const pids = mesh.daemons.map(d => d.pid!)
    const cpu0 = pids.map(cpuMs)
    const w0 = performance.now()
    await pause(idleMs)
    const window = performance.now() - w0
    const cpu = pids.map((p, i) => Math.round((cpuMs(p) - cpu0[i]!) / window * 1000) / 10)
    const cpuSum = Math.round(cpu.reduce((a, b) => a + b, 0) * 10) / 10
    const rss = pids.map(rssMB)
    log(`${n} peers idle: CPU ${cpuSum} % of a core in all (${summary(cpu).p50} % per daemon p50); RSS p50 ${summary(rss).p50} MB, max ${summary(rss).max} MB`)

    // ── resource changes ──
    const source = controlOf(mesh, 0)
    const sourceId = mesh.daemons[0]!.peerId
    const self = (await source.peers()).peers.find(p => p.self)
    const capacityCpu = self?.capacity.cpu ?? 0
    const job = { name: 'gossip-change', tasks: { t: { kind: 'handler', handler: 'hold', input: { ms: HOLD_MS }, tags: [SOURCE_TAG] } } }
    const seenByAll: number[] = []
    const seenByEach: number[] = []
    const publishToAll: number[] = []
    let missed = 0
    for (let i = 0; i < WARMUP_CHANGES + changes; i++) {
      // Start at a random phase of the ad period, so changes do not line up with periodic ads.
      await pause(200 + Math.random() * 1000)
      const changedAt = await runTask(source, job)
      const others = logs.filter((_, j) => j !== 0)
      const seen = await waitSeen(others, sourceId, changedAt, capacityCpu)
      if (i < WARMUP_CHANGES) continue
      if (seen.some(s => s === undefined)) { missed++; continue }
      const at = (seen as AdSeen[]).map(s => s.at)
      for (const a of at) seenByEach.push(a - changedAt)
      seenByAll.push(Math.max(...at) - changedAt)
      // The ad each peer first saw may differ (the early ad or, rarely, a periodic one); take the latest sent.
      publishToAll.push(Math.max(...at) - Math.max(...(seen as AdSeen[]).map(s => s.sent)))
    }
    log(`${n} peers: change → seen by all p50 ${summary(seenByAll).p50} ms, p99 ${summary(seenByAll).p99} ms (${missed} missed of ${changes})`)
    const redials = logs.reduce((sum, l) => sum + l.redials, 0)
    log(`${n} peers: ${redials} redials of silent peers, from all daemons started to the end`)

    return {
      peers: n,
      redials: { count: redials, how: 'warn lines "connected peer sends us no ads" in every daemon\'s log, from the moment all daemons had started to the end of the changes' },
      startup: {
        allStartedMs: Math.round(allStarted),
        readyMs: summary(readyMs),
        formedMs: formed.ok ? Math.round(formed.ms) : null,
        ...(formed.ok ? {} : { notFormedAfterMs: Math.round(formed.ms), alivePeersSeenByEach: formed.counts }),
        how: `daemons spawned ${START_BATCH} at a time: spawn → its ready: line (readyMs); first spawn → every daemon’s /v1/peers lists all ${n - 1} others alive at once (formedMs, polled every 500 ms, for up to ${FORM_TIMEOUT_MS / 1000} s after the last daemon is ready)`
      },
      idle: {
        cpuPercentOfCoreSum: cpuSum,
        cpuPercentOfCore: summary(cpu),
        rssMB: summary(rss),
        windowMs: Math.round(window),
        how: 'no jobs since start, 3 s after formation: utime+stime of every daemon process from /proc/<pid>/stat over the window (10 ms ticks), summed and per daemon; VmRSS from /proc/<pid>/status after it'
      },
      change: {
        changes,
        missed,
        seenByAllMs: summary(seenByAll),
        seenByEachMs: summary(seenByEach),
        publishToAllMs: summary(publishToAll),
        how: `a ${HOLD_MS} ms handler task on the source peer (the only one with the tag the job asks for) ends, releasing ${capacityCpu > 0 ? Math.round(100 / capacityCpu) : '?'} % of its CPU; from the handler’s Date.now() just before it returns to the Date.now() at which each other peer’s table took an ad from the source showing the capacity free again (pino’s time of the trace line logged on Membership.onAd). seenByAll: the last of the ${n - 1} peers, one value per change; seenByEach: every peer and change; publishToAll: the ad’s own send time (its time field) → the last peer. ${WARMUP_CHANGES} warm-up changes first; changes start at a random phase of the 1 s ad period`
      }
    }
  } finally {
    await mesh.destroy()
  }
}

/**
 * `n` free TCP ports on 127.0.0.1 below Linux's ephemeral range (32768 and
 * up). Ports from the ephemeral range, as createLocalMesh picks them, are free
 * when picked but can be taken by an outgoing connection before their daemon
 * starts: a 30-peer mesh opens hundreds while its daemons start one batch at a time.
 */
async function listenPorts (n: number): Promise<number[]> {
  const free = async (port: number): Promise<boolean> => await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => { resolve(false) })
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
  const ports: number[] = []
  for (let port = 20_000 + Math.floor(Math.random() * 10_000); ports.length < n && port < 32_768; port++) {
    if (await free(port)) ports.push(port)
  }
  if (ports.length < n) throw new Error(`found only ${ports.length} free ports below 32768`)
  return ports
}

/**
 * Poll every daemon's peer list until each lists all others alive at once;
 * ms since `t0`. A mesh that does not get there is measured all the same
 * (its changes may be missed), with the counts of the last poll.
 */
async function waitFormed (mesh: LocalMesh, t0: number): Promise<{ ok: boolean, ms: number, counts: number[] }> {
  const n = mesh.daemons.length
  const until = performance.now() + FORM_TIMEOUT_MS
  let counts: number[] = []
  while (performance.now() < until) {
    counts = await Promise.all(mesh.daemons.map(async (_, i) => {
      const reply = await controlOf(mesh, i).peers().catch(() => undefined)
      return reply?.peers.filter(p => !p.self && p.state === 'alive').length ?? -1
    }))
    if (counts.every(c => c === n - 1)) return { ok: true, ms: performance.now() - t0, counts }
    await pause(500)
  }
  return { ok: false, ms: performance.now() - t0, counts }
}

/** Run the one-task job on the source; resolves with the handler's end time. */
async function runTask (source: ControlClient, spec: unknown): Promise<number> {
  const { id } = await source.submit(spec)
  await source.events(id, () => {})
  const res = await source.results(id) as { state: string, results: { t?: number } }
  if (typeof res.results.t !== 'number') throw new Error(`job ${id} ended ${res.state} without a result`)
  return res.results.t
}

/** For each log, the first ad from `from` sent since `since` with `cpuFree` free; undefined where none came in time. */
async function waitSeen (logs: AdLog[], from: string, since: number, cpuFree: number): Promise<Array<AdSeen | undefined>> {
  const t0 = performance.now()
  for (;;) {
    const seen = logs.map(l => l.first(from, since, cpuFree))
    if (seen.every(s => s !== undefined) || performance.now() - t0 > SEEN_TIMEOUT_MS) return seen
    await pause(20)
  }
}

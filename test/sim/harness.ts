/**
 * The deterministic simulator (docs/ARCHITECTURE.md §1.2, §12): real MeshPeers — membership,
 * bidding, awards, leases, fencing, retries — on one `MemoryNetwork` and one
 * `ManualClock`, driven by a seed. Nothing here reads the real clock or
 * `Math.random`: the seeded `Rng` decides the machines, the workload, message
 * delays and losses, and every fault, so a failing seed replays exactly.
 *
 * Time moves event by event (each group of timers due at one instant fires,
 * then promise callbacks run), and the invariants (`invariants.ts`) are checked
 * every `stepMs` of simulated time. On a violation `run()` throws a
 * `SimFailure` whose message holds the seed, the simulated time and the command
 * that replays it.
 */
import { ManualClock, flushMicrotasks } from '../../src/testing/manual-clock.ts'
import { MemoryNetwork, type MemoryTransport } from '../../src/testing/memory-network.ts'
import { FunctionRunner } from '../../src/testing/function-runner.ts'
import { MemoryBlobRegistry, type MemoryBlobStore } from '../../src/testing/memory-blobs.ts'
import { MemoryOutboxStore } from '../../src/execution/outbox.ts'
import { MeshPeer } from '../../src/peer.ts'
import { parseConfig, type MeshConfig, type MeshConfigInput } from '../../src/config.ts'
import { silentLogger, type Logger } from '../../src/logger.ts'
import type { Clock, TimerHandle } from '../../src/clock.ts'
import type { InboundLimits, PeerEvent, TopicHandler, Transport } from '../../src/transport.ts'
import type { LoadSample, MachineInfo, ResourceProbe } from '../../src/resources/capacity.ts'
import { createHighsSolver, type LpSolver } from '../../src/auction/lp.ts'
import { MemoryJournal } from '../../src/jobs/journal.ts'
import type { JobEvent, JobView } from '../../src/jobs/job-view.ts'
import type { JournalSnapshot } from '../../src/jobs/journal.ts'
import { attemptKey } from '../../src/keys.ts'
import { fitsIn, toUnits, type Units } from '../../src/resources/ledger.ts'
import { TASK_PROTOCOL, TASK_VERSION } from '../../protocols/task.ts'
import { AUCTION_TOPIC } from '../../protocols/auction.ts'
import { decodeValue } from '../../protocols/codec.ts'
import { makespanBound, type MakespanBound } from './bound.ts'
import { Rng, hash32 } from './prng.ts'
import { LICENCE, SIM_HANDLER, SITE_TAG, expectedValue, failUntil, makeWorkload, workMs, type JobPlan, type SimInput, type TaskPlan } from './workload.ts'
import { checkEnd, checkStep, type Violation } from './invariants.ts'

// ─────────────────────────────────────────────────────────────── options

/** How many faults of each kind the plan holds (spread over the fault window). */
export interface FaultCounts {
  /** Process killed (no goodbye); restarted later under the same id with a new epoch. */
  crash: number
  /** SIGSTOP: the process and its timers stop; the network drops its traffic; SIGCONT later. */
  freeze: number
  /** A group of peers cut off from the rest, healed later. */
  partition: number
  /** Extra one-way delay (100–800 ms) on every message to and from one peer for a while. */
  delay: number
  /** A burst of pub/sub message loss (ads, calls for bids, cancels) across the mesh. */
  loss: number
  /**
   * Non-mesh load on one peer's machine (its owner starts a build): its probe
   * reports the CPU busy for 3–15 s, so the peer yields (docs/ARCHITECTURE.md §7) by its
   * policy. Generated only when the peer can react: see `loadSpikesSupported`.
   */
  loadSpike: number
}

export type FaultKind = keyof FaultCounts

/**
 * Bugs in src/ that the simulator found and works around, so every other
 * invariant stays checked on every seed until they are fixed. Each is on by
 * default; `sim.test.ts` replays the seed that found it with the workaround
 * off, as a skipped test to re-enable with the fix.
 */
export interface Workarounds {
  /**
   * BUG queued-not-promoted (src/execution/executor.ts): the executor starts
   * queued attempts only when one of its attempts finishes (`#finishAttempt` →
   * `#startQueued`). Capacity freed any other way — bid holds expiring (the hold
   * alarm), holds of a job's previous round released by its next call for bids,
   * a rejected award's hold released — leaves queued attempts waiting although
   * they fit; on a peer with nothing else running they wait forever, heartbeating,
   * so their origin never re-auctions them and the job never ends. Workaround: when
   * a queued attempt fits in free capacity at a step, start it by handing the
   * executor a zero-demand attempt and cancelling it at once (its
   * `#finishAttempt` runs `#startQueued`).
   */
  queuedNotPromoted: boolean
}

export interface SimOptions {
  seed: number
  peers: number
  /** Task instances over all jobs (about: each job gets a share). */
  tasks: number
  jobs: number
  /** Peers that submit jobs (they crash too: a restarted origin replays its journal). */
  origins: number
  /** Membership settles this long before the first job. @default 3000 */
  warmupMs?: number
  /** Jobs arrive spread over this window after the warm-up. @default 15000 */
  submitWindowMs?: number
  /** Faults happen in [warmup, warmup + faultWindowMs]; then everything recovers. @default 30000 */
  faultWindowMs?: number
  /** Upper bound on time after the fault window for every job to end. @default 180000 */
  drainMs?: number
  /** After the last job ends, run this long and check nothing leaked. @default 35000 */
  quiesceMs?: number
  /** Invariants are checked every this many simulated ms. @default 25 */
  stepMs?: number
  /** Task work (ms at speed 1.0) is drawn in this range. @default [300, 5000] */
  workMs?: [number, number]
  /** Flaky tasks and the occasional job meant to fail. @default true */
  failures?: boolean
  /** Fault counts; defaults scale with the number of peers. */
  faults?: Partial<FaultCounts>
  /** Largest fraction of peers down (crashed or frozen) at once. @default 0.2 */
  maxDownFraction?: number
  /** Let origins crash (and restart from their journal). @default true */
  originCrashes?: boolean
  network?: {
    /** One-way base delay per pair is drawn in this range (ms). @default [1, 15] */
    latencyMs?: [number, number]
    /** Per-message extra delay, up to this (ms). @default 5 */
    jitterMs?: number
    /** Background pub/sub loss probability. @default 0.01 */
    loss?: number
    /** Loss during a loss burst. @default 0.3 */
    burstLoss?: number
  }
  /** Overrides merged into every peer's config (e.g. a slower gossip interval for large meshes). */
  config?: MeshConfigInput
  /** Which known-bug workarounds apply. @default all on */
  workarounds?: Partial<Workarounds>
  /** Called after every step, before the checks (tests use it to break an invariant on purpose). */
  onStep?: (sim: Sim) => void
  /** Stop (without the end checks) at this simulated time: for profiling, or to measure a window of a run too large to finish. */
  stopAtMs?: number
  /** Stop (without the end checks) once the run has taken this much wall time (ms): a benchmark's budget. @default Infinity */
  wallBudgetMs?: number
  /** Run the end checks (nothing leaked, everyone sees everyone) after the quiet period. @default true */
  endChecks?: boolean
  /** Print a line per fault and job end (replays). */
  verbose?: boolean
  /** Log the core's debug lines (very noisy; replays of a small seed only). */
  coreLog?: boolean
  /** Write progress lines here (default: nowhere). */
  log?: (line: string) => void
}

/** Sizes used by `npm run test:sim` (CI: 20 seeds in about a minute on 2 cores) and by `npm run sim` (nightly). */
export const CI_SIZE = {
  peers: 24, tasks: 300, jobs: 6, origins: 3, submitWindowMs: 10_000, faultWindowMs: 25_000,
  // A small mesh gets proportionally more faults, so each seed still sees every kind.
  faults: { crash: 6, freeze: 4, partition: 2, delay: 2, loss: 2, loadSpike: 2 }
} as const
export const NIGHTLY_SIZE = { peers: 200, tasks: 5000, jobs: 20, origins: 8 } as const

/**
 * Gossip settings for a slower ad period: liveness timeouts keep their default
 * ratio to the period (suspect after 2.5 periods without an ad, gone 2.5 later),
 * so a healthy peer that loses an ad or two is never suspected.
 */
export function gossipConfig (intervalMs: number): MeshConfigInput {
  return { gossip: { intervalMs }, failure: { suspectMs: Math.round(intervalMs * 2.5), goneMs: Math.round(intervalMs * 2.5) } }
}

export function defaultFaults (peers: number): FaultCounts {
  return {
    crash: Math.max(2, Math.round(peers * 0.15)),
    freeze: Math.max(2, Math.round(peers * 0.08)),
    partition: Math.max(1, Math.round(peers / 20)),
    delay: Math.max(1, Math.round(peers * 0.05)),
    loss: 2,
    loadSpike: Math.max(1, Math.round(peers * 0.05))
  }
}

/**
 * Can a MeshPeer be told about load that is not the mesh's? Load spikes reach
 * a peer through its `ResourceProbe.load()` (the simulator owns the probe); they
 * are generated only once the peer has a way to act on that load (the yield of
 * docs/ARCHITECTURE.md §7), detected here so the plan changes by itself when it lands.
 */
export function loadSpikesSupported (peer: MeshPeer): boolean {
  // The executor samples `probe.load()` every heartbeat and blocks its ledger while the machine is busy.
  return 'blocked' in peer.executor.ledger && 'yieldReason' in peer.executor
}

// ─────────────────────────────────────────────────────────────── failure

export class SimFailure extends Error {
  readonly seed: number
  readonly at: number
  readonly violations: Violation[]
  readonly replay: string
  constructor (seed: number, at: number, violations: Violation[], replay: string, detail = '') {
    const first = violations.slice(0, 8).map(v => `  - [${v.kind}] ${v.message}`).join('\n')
    const more = violations.length > 8 ? `\n  … and ${violations.length - 8} more` : ''
    super(`simulation invariant violated (seed ${seed}, t=${at} ms simulated):\n${first}${more}${detail === '' ? '' : `\n${detail}`}\n  replay: ${replay}`)
    this.name = 'SimFailure'
    this.seed = seed
    this.at = at
    this.violations = violations
    this.replay = replay
  }
}

// ─────────────────────────────────────────────────────────────── a peer's process

/**
 * One peer process's view of the shared clock. `freeze` holds back every timer
 * that falls due (a SIGSTOPped process runs nothing) and `thaw` runs them, in
 * order, at once; `kill` silences the process for good.
 */
export class PeerClock implements Clock {
  readonly base: ManualClock
  #frozen = false
  #dead = false
  #deferred: Array<{ fn: () => void, cancelled: boolean }> = []
  #waiters: Array<() => void> = []

  constructor (base: ManualClock) { this.base = base }

  get frozen (): boolean { return this.#frozen }
  get dead (): boolean { return this.#dead }

  now = (): number => this.base.now()

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const h: { fn: () => void, cancelled: boolean, inner?: TimerHandle } = { fn, cancelled: false }
    h.inner = this.base.setTimeout(() => { this.#fire(h) }, ms)
    return h
  }

  clearTimeout = (handle: TimerHandle): void => {
    const h = handle as { cancelled: boolean, inner?: TimerHandle }
    h.cancelled = true
    if (h.inner !== undefined) this.base.clearTimeout(h.inner)
  }

  #fire (h: { fn: () => void, cancelled: boolean }): void {
    if (h.cancelled || this.#dead) return
    if (this.#frozen) { this.#deferred.push(h); return }
    h.fn()
  }

  freeze (): void { this.#frozen = true }

  thaw (): void {
    if (!this.#frozen) return
    this.#frozen = false
    const due = this.#deferred
    this.#deferred = []
    for (const h of due) this.base.setTimeout(() => { this.#fire(h) }, 0)
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) this.base.setTimeout(w, 0)
  }

  kill (): void {
    this.#dead = true
    this.#deferred = []
    this.#waiters = []
  }

  /** Resolves at once while running, else when thawed (never, once killed). */
  async running (): Promise<void> {
    if (!this.#frozen && !this.#dead) return
    await new Promise<void>(resolve => { if (!this.#dead) this.#waiters.push(resolve) })
  }
}

/**
 * The MemoryTransport as a frozen process sees it: connection events and ping
 * answers wait until the process runs again (the network itself already drops
 * messages to and from a frozen peer).
 */
class ProcessTransport implements Transport {
  readonly self: string
  readonly #inner: MemoryTransport
  readonly #clock: PeerClock

  readonly #count: (what: string, data: Uint8Array) => void

  constructor (inner: MemoryTransport, clock: PeerClock, count: (what: string, data: Uint8Array) => void) {
    this.#inner = inner
    this.#clock = clock
    this.#count = count
    this.self = inner.self
  }

  addresses = (): string[] => this.#inner.addresses()
  publish = async (topic: string, data: Uint8Array): Promise<void> => {
    if (!this.#clock.frozen && !this.#clock.dead) this.#count(`publish ${topic}`, data)
    await this.#inner.publish(topic, data)
  }
  subscribe = (topic: string, handler: TopicHandler): (() => void) => this.#inner.subscribe(topic, handler)
  onPeerEvent = (handler: (e: PeerEvent) => void): (() => void) => this.#inner.onPeerEvent(e => {
    if (this.#clock.dead) return
    if (this.#clock.frozen) void this.#clock.running().then(() => { handler(e) })
    else handler(e)
  })

  isConnected = (peer: string): boolean => this.#inner.isConnected(peer)
  ping = async (peer: string, timeoutMs: number): Promise<boolean> => {
    const ok = await this.#inner.ping(peer, timeoutMs)
    await this.#clock.running()
    return ok
  }

  connect = (peer: string): void => { this.#inner.connect(peer) }
  redial = (peer: string): void => { this.#inner.redial(peer) }
  send = async (peer: string, protocol: string, data: Uint8Array): Promise<boolean> => {
    this.#count(`send ${protocol}`, data)
    return await this.#inner.send(peer, protocol, data)
  }
  handle = (protocol: string, handler: (from: string, data: Uint8Array) => void, limits: InboundLimits): (() => void) => this.#inner.handle(protocol, handler, limits)
}

export interface Incarnation {
  /** 1 for the first start, +1 per restart. */
  n: number
  clock: PeerClock
  mesh: MeshPeer
  runner: FunctionRunner
  /** Handler invocations in progress on this process, by attempt key, with their demand. */
  inflight: Map<string, Units>
}

export interface SimPeer {
  id: string
  machine: MachineInfo
  speed: number
  config: MeshConfig
  /** What the probe reports; a load spike changes it. */
  load: LoadSample
  status: 'up' | 'crashed' | 'frozen'
  isOrigin: boolean
  inc: Incarnation
  /** What survives a crash (a daemon keeps it on disk): the origin's journal, the executor's outbox, blobs. */
  journal: MemoryJournal
  outbox: MemoryOutboxStore
  blobStore: MemoryBlobStore
  restarting: boolean
  /** Last thaw or restart (sim ms): the origin's lease checks resume from here. */
  thawedAt: number
}

interface PlannedFault { at: number, kind: FaultKind, peers: string[], durationMs: number, extra?: number }

export interface SimReport {
  seed: number
  peers: number
  jobs: number
  tasks: number
  /** Simulated ms from the first submission to the last job's end. */
  makespanMs: number
  simMs: number
  wallMs: number
  messages: number
  bytes: number
  lostMessages: number
  rounds: number
  attempts: number
  messagesPerTask: number
  bytesPerTask: number
  roundsPerTask: number
  attemptsPerTask: number
  faults: Record<FaultKind, number>
  jobStates: Record<string, number>
  /** A hash of every job event in order: equal for equal seeds (the replay check). */
  fingerprint: string
  /** Attempts migrated, backup attempts, resumes from a checkpoint, yields, origin restarts, failed attempts. */
  happened: Sim['happened']
  /** How often each known-bug workaround acted (0 once the bug is fixed). */
  workarounds: Record<keyof Workarounds, number>
  /** Messages sent, by kind (a publish counts once here, once per receiver in `messages`). */
  traffic: Record<string, { count: number, bytes: number }>
  /** Messages delivered (one per receiver), by topic or stream protocol. */
  delivered: Record<string, { messages: number, bytes: number }>
  /** The same counts when the first job could arrive (end of the warm-up): the mesh's own start-up. */
  startup?: { simMs: number, messages: number, bytes: number, traffic: SimReport['traffic'], delivered: SimReport['delivered'] }
  /** Why the run stopped: every job ended, the simulated stop time, or the wall budget. */
  stoppedBy: 'done' | 'stopAt' | 'wallBudget'
  /** Task instances in the workload (jobs not yet submitted when a window ends included). */
  tasksPlanned: number
  /** Tasks done, over every job. */
  tasksDone: number
  /** Tasks awarded at least once. */
  tasksAwarded: number
  /** Σ cpu demand × work (ms at speed 1.0) of the tasks done: with the mesh's cpu × speed, how busy it was. */
  cpuWorkDoneMs: number
  /** Σ cpu capacity × speed over the peers: cpu work the mesh does per ms when full. */
  cpuRate: number
  /** The lower bound on the makespan of this instance (bound.ts). */
  bound: MakespanBound
  /** Direct connections per peer at the end, on average (pub/sub flood-publishes to these). */
  linksPerPeer: number
}

/** The records the invariants read. */
export interface JobRecord {
  plan: JobPlan
  view: JobView
  submittedAt: number
  /** task-done events per task id. */
  doneEvents: Map<string, number>
  /** task-failed events per task id, over every incarnation of the origin. */
  failedEvents: Map<string, Array<Extract<JobEvent, { type: 'task-failed' }>>>
  /** task-failed events per task id since the origin last restarted (a restored job starts its retries afresh). */
  failedSinceRestore: Map<string, number>
  /** The doomed task's failures in the incarnation that ended the job. */
  doomedFailuresAtEnd?: number
  lastEventAt: number
  /** Times the origin restarted while the job ran. */
  restores: number
}

const START = 1_700_000_000_000
/** The origin and job id of the simulator's own zero-demand attempts (see `Workarounds`). */
const NUDGE = '__sim_nudge'

let sharedSolver: Promise<LpSolver> | undefined

// ─────────────────────────────────────────────────────────────── the simulator

export class Sim {
  readonly opts: Required<Omit<SimOptions, 'faults' | 'network' | 'config' | 'log' | 'workarounds' | 'onStep'>> & {
    onStep?: (sim: Sim) => void
    faults: FaultCounts
    workarounds: Workarounds
    network: Required<NonNullable<SimOptions['network']>>
    config: MeshConfigInput
    log: (line: string) => void
  }

  readonly rng: Rng
  readonly clock = new ManualClock(START)
  readonly network: MemoryNetwork
  readonly blobs: MemoryBlobRegistry
  readonly peers = new Map<string, SimPeer>()
  readonly jobs: JobRecord[] = []
  readonly plans: JobPlan[] = []
  readonly #plansByName = new Map<string, JobPlan>()
  /** Violations found by handlers and event hooks between checks (reported at the next check). */
  readonly pending: Violation[] = []
  /** Ok attempts that really ran to the end: `job\ntask\nattempt` → peer. */
  readonly completed = new Map<string, string>()
  readonly faultCount: Record<FaultKind, number> = { crash: 0, freeze: 0, partition: 0, delay: 0, loss: 0, loadSpike: 0 }
  /** How often each workaround had to act. */
  readonly workaroundCount: Record<keyof Workarounds, number> = { queuedNotPromoted: 0 }
  /** Queued attempts seen fitting in free capacity: attempt key → since (sim ms). */
  idleQueued = new Map<string, number>()
  /** What the faults made the core do (proof that a run was not vacuous). */
  readonly happened = { migrated: 0, backups: 0, restoredCheckpoints: 0, yields: 0, originRestores: 0, failedAttempts: 0 }
  readonly #blocked = new Set<string>()
  /** Messages handed to the network, by `publish TOPIC` / `send PROTOCOL` (a publish reaches every peer). */
  readonly traffic = new Map<string, { count: number, bytes: number }>()
  /** Faults stop and everything recovers at this time. */
  faultsEndAt = 0
  /** Extra delay per peer (delay faults). */
  readonly #extraDelay = new Map<string, number>()
  /** Peer id → index into the pair tables below. */
  readonly #index = new Map<string, number>()
  /** Per unordered pair (i·n + j, i < j): base one-way delay + 1 (0 = not drawn yet). */
  #pairBase = new Uint16Array(0)
  /** Per direction (from·n + to): the last arrival time scheduled, ms after START. */
  #lastArrival = new Int32Array(0)
  readonly #cuts: Array<[string, string]> = []
  #loss: number
  #fingerprint = 0x12345678
  #solver!: LpSolver
  #wallDeadline = Infinity
  #netRng: Rng
  #lossRng: Rng

  constructor (options: SimOptions) {
    const faults = { ...defaultFaults(options.peers), ...options.faults }
    this.opts = {
      warmupMs: 3000,
      submitWindowMs: 15_000,
      faultWindowMs: 30_000,
      drainMs: 180_000,
      quiesceMs: 35_000,
      stepMs: 25,
      workMs: [300, 5000],
      failures: true,
      maxDownFraction: 0.2,
      originCrashes: true,
      stopAtMs: Infinity,
      wallBudgetMs: Infinity,
      endChecks: true,
      verbose: false,
      coreLog: false,
      ...options,
      faults,
      workarounds: { queuedNotPromoted: false, ...options.workarounds },
      network: { latencyMs: [1, 15], jitterMs: 5, loss: 0.01, burstLoss: 0.3, ...options.network },
      config: options.config ?? {},
      log: options.log ?? (() => {})
    }
    this.rng = new Rng(options.seed)
    this.#netRng = this.rng.fork('latency')
    this.#lossRng = this.rng.fork('loss')
    this.#loss = this.opts.network.loss
    this.network = new MemoryNetwork(this.clock, {
      latency: (from, to) => this.#latency(from, to),
      // MemoryNetwork drops a pub/sub message when random() < loss; with loss = 1
      // this makes the drop probability whatever `#loss` is now (bursts change it).
      loss: 1,
      random: () => this.#loss <= 0 ? 1 : this.#lossRng.next() / this.#loss
    })
    this.blobs = new MemoryBlobRegistry(this.network)
  }

  get now (): number { return this.clock.now() - START }

  /** The command that replays this run. */
  replayCommand (): string {
    const o = this.opts
    const f = o.faults
    return `node test/sim/run.ts --seed ${o.seed} --peers ${o.peers} --tasks ${o.tasks} --jobs ${o.jobs} --origins ${o.origins}` +
      ` --faults crash=${f.crash},freeze=${f.freeze},partition=${f.partition},delay=${f.delay},loss=${f.loss},loadSpike=${f.loadSpike}` +
      (o.config.gossip?.intervalMs !== undefined ? ` --gossip ${o.config.gossip.intervalMs}` : '') +
      ` --latency ${o.network.latencyMs[0]}-${o.network.latencyMs[1]} --jitter ${o.network.jitterMs} --loss ${o.network.loss} --burst-loss ${o.network.burstLoss}` +
      ` --fault-window ${o.faultWindowMs} --submit-window ${o.submitWindowMs}` +
      (o.failures ? '' : ' --no-failures') + (o.workarounds.queuedNotPromoted ? '' : ' --no-workarounds') + ' --verbose'
  }

  // ── network model ───────────────────────────────────────────────────────

  /** One-way delay: a fixed base per pair, jitter, any delay fault; never reorders a pair's messages. */
  #latency (from: string, to: string): number {
    // Per-pair state lives in typed arrays indexed by peer number: this runs once per
    // message per receiver, n² times per gossip interval.
    const n = this.opts.peers
    const a = this.#index.get(from)!
    const b = this.#index.get(to)!
    const pair = a < b ? a * n + b : b * n + a
    let base = this.#pairBase[pair]! - 1
    if (base < 0) {
      const [lo, hi] = this.opts.network.latencyMs
      base = lo + (hash32(from < to ? `${from}|${to}` : `${to}|${from}`, this.opts.seed) % (hi - lo + 1))
      this.#pairBase[pair] = base + 1
    }
    let d = base + Math.floor(this.#netRng.next() * (this.opts.network.jitterMs + 1))
    if (this.#extraDelay.size > 0) d += (this.#extraDelay.get(from) ?? 0) + (this.#extraDelay.get(to) ?? 0)
    // Streams and gossip links are ordered: a message never overtakes an earlier one between the same two peers.
    const now = this.clock.now()
    const dir = a * n + b
    const arrival = Math.max(now + d, this.#lastArrival[dir]! + START)
    this.#lastArrival[dir] = arrival - START
    return arrival - now
  }

  // ── peers ───────────────────────────────────────────────────────────────

  #buildPeers (): void {
    const r = this.rng.fork('machines')
    const n = this.opts.peers
    const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(3, '0')}`)
    ids.forEach((id, i) => this.#index.set(id, i))
    this.#pairBase = new Uint16Array(n * n)
    this.#lastArrival = new Int32Array(n * n)
    // At least two of each special kind, so such work always has somewhere to go.
    const gpu = new Set(r.sample(ids, Math.max(2, Math.round(n * 0.08))))
    const licence = new Set(r.sample(ids, Math.max(2, Math.round(n * 0.12))))
    const site = new Set(r.sample(ids, Math.max(2, Math.round(n * 0.3))))
    const origins = new Set(r.sample(ids, this.opts.origins))
    for (const id of ids) {
      const machine: MachineInfo = {
        cpuCores: r.pick([2, 4, 4, 8, 8, 16]),
        cpuModel: 'sim',
        memoryMB: r.pick([4096, 8192, 16384, 32768]),
        gpus: gpu.has(id) ? Array.from({ length: r.int(1, 2) }, () => ({ model: 'simgpu', memoryMB: 16_000 })) : []
      }
      const config = parseConfig({
        ...this.opts.config,
        mdns: false,
        tags: site.has(id) ? [SITE_TAG] : [],
        resources: { ...this.opts.config.resources, custom: licence.has(id) ? { [LICENCE]: r.int(1, 2) } : {} },
        // Every load-shift policy is in play somewhere.
        yield: { ...this.opts.config.yield, policy: this.opts.config.yield?.policy ?? r.pick(['queued', 'checkpointed', 'all'] as const) }
      })
      const p: SimPeer = {
        id, machine, speed: Math.round(r.range(0.5, 2) * 100) / 100, config,
        load: calm(machine),
        status: 'up', isOrigin: origins.has(id), thawedAt: -Infinity,
        inc: undefined as unknown as Incarnation,
        journal: new MemoryJournal(), outbox: new MemoryOutboxStore(), blobStore: this.blobs.store(id), restarting: false
      }
      this.peers.set(id, p)
      p.inc = this.#start(p, 1, { jobs: [] })
    }
    // Sparse bootstrap: each peer dials a few earlier ones; gossip introduces the rest.
    const linkRng = this.rng.fork('links')
    for (let i = 1; i < ids.length; i++) {
      for (const j of linkRng.sample(Array.from({ length: i }, (_, k) => k), Math.min(i, 3))) this.network.link(ids[i]!, ids[j]!)
    }
  }

  /** Start a process for `p`: a fresh one, or a restart that replays the journal `snapshot` first. */
  #start (p: SimPeer, n: number, snapshot: JournalSnapshot): Incarnation {
    const clock = new PeerClock(this.clock)
    const transport = new ProcessTransport(this.network.transport(p.id), clock, (what, data) => {
      // Calls for bids and cancels share a topic, and the task protocol carries many kinds: split them.
      const split = what === `publish ${AUCTION_TOPIC}` || what === `send ${TASK_PROTOCOL}`
      const kind = split ? `${what} ${messageType(data)}` : what
      const c = this.traffic.get(kind) ?? { count: 0, bytes: 0 }
      c.count++
      c.bytes += data.byteLength
      this.traffic.set(kind, c)
    })
    const runner = new FunctionRunner()
    const inc: Incarnation = { n, clock, runner, inflight: new Map(), mesh: undefined as unknown as MeshPeer }
    runner.register(SIM_HANDLER, (input, ctx) => this.#handler(p, inc, input as SimInput, ctx))
    const probe: ResourceProbe = { machine: p.machine, speed: p.speed, load: () => ({ ...p.load }) }
    inc.mesh = new MeshPeer({
      transport, clock, logger: this.#logger(p.id), probe, runner, solver: this.#solver,
      blobs: p.blobStore, journal: p.journal, outbox: p.outbox, handlerNames: () => runner.names()
    }, p.config)
    // As createPeer does: a restarted origin carries on with the jobs it had accepted (docs/ARCHITECTURE.md §7).
    for (const view of inc.mesh.origin.restore(snapshot)) this.#reattach(p, view)
    inc.mesh.start()
    return inc
  }

  #logger (id: string): Logger {
    if (!this.opts.coreLog) return silentLogger
    const line = (level: string) => (fields: object, msg: string): void => { this.opts.log(`${this.now} ${id} ${level} ${msg} ${JSON.stringify(fields)}`) }
    return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }
  }

  /** The one handler: sleeps for the task's work on this peer's clock, checks its inputs, fails when planned. */
  async #handler (p: SimPeer, inc: Incarnation, input: SimInput, ctx: Parameters<Parameters<FunctionRunner['register']>[1]>[1]): Promise<unknown> {
    if (input.job === NUDGE) return null
    const plan = this.#plansByName.get(input.job)
    const task = plan?.tasks.get(input.task)
    if (plan === undefined || task === undefined) {
      this.#violation('result', `peer ${p.id} was asked to run unknown task ${input.job}/${input.task}`)
      throw new Error('unknown task')
    }
    const taskId = ctx.taskId
    // The runner is not told the origin; a sim job's id names it alone (one origin per job id).
    const key = attemptKey('', ctx.jobId, taskId, ctx.attempt)
    inc.inflight.set(key, toUnits(plan.spec.tasks[input.task]!.resources))
    const end = (): void => { inc.inflight.delete(key) }
    ctx.signal.addEventListener('abort', end, { once: true })
    try {
      this.#checkUpstream(p, plan, task, ctx.upstream)
      // Work in ms at speed 1.0, done in quarters; a checkpointing task saves the quarters it has
      // done and a later attempt resumes from them.
      const work = workMs(this.opts.seed, plan.name, task, taskId)
      let quarters = 0
      if (ctx.restored !== undefined) {
        const r = ctx.restored as Partial<Checkpoint> | null
        if (!task.checkpoints || r?.job !== plan.name || r.task !== taskId || typeof r.quarters !== 'number' || r.quarters < 0 || r.quarters > 4) {
          this.#violation('result', `${plan.name}/${taskId} attempt ${ctx.attempt} on ${p.id} was handed a checkpoint that is not its own: ${JSON.stringify(ctx.restored)}`)
        } else {
          quarters = r.quarters
          this.happened.restoredCheckpoints++
        }
      }
      for (; quarters < 4 && !ctx.signal.aborted; quarters++) {
        await abortableSleep(inc.clock, Math.max(1, Math.round(work / 4 / p.speed)), ctx.signal)
        if (ctx.signal.aborted) break
        ctx.progress((quarters + 1) / 4)
        if (task.checkpoints && quarters < 3) ctx.checkpoint?.({ job: plan.name, task: taskId, quarters: quarters + 1 } satisfies Checkpoint)
      }
      if (ctx.signal.aborted) return null
      if (ctx.attempt <= failUntil(this.opts.seed, plan.name, task, taskId)) {
        throw new Error(`injected failure of ${taskId} attempt ${ctx.attempt}`)
      }
      this.completed.set(`${ctx.jobId}\n${taskId}\n${ctx.attempt}`, p.id)
      return { v: expectedValue(this.opts.seed, plan.name, taskId), a: ctx.attempt, p: p.id }
    } finally {
      end()
    }
  }

  /** A downstream task must see every upstream instance's correct value, in index order. */
  #checkUpstream (p: SimPeer, plan: JobPlan, task: TaskPlan, upstream: Record<string, unknown>): void {
    for (const u of task.upstream) {
      const got = upstream[u.name]
      const want = u.count === undefined
        ? [expectedValue(this.opts.seed, plan.name, u.name)]
        : Array.from({ length: u.count }, (_, i) => expectedValue(this.opts.seed, plan.name, `${u.name}[${i}]`))
      const list = u.count === undefined ? [got] : got
      if (!Array.isArray(list) || list.length !== want.length || list.some((x, i) => (x as { v?: unknown } | null)?.v !== want[i])) {
        this.#violation('result', `${plan.name}/${task.name} on ${p.id}: upstream "${u.name}" is wrong: ${JSON.stringify(got)?.slice(0, 200)}`)
      }
    }
  }

  #violation (kind: Violation['kind'], message: string): void {
    this.pending.push({ kind, message: `${message} (t=${this.now})` })
  }

  peer (id: string): SimPeer {
    const p = this.peers.get(id)
    if (p === undefined) throw new Error(`no peer ${id}`)
    return p
  }

  upPeers (): SimPeer[] { return [...this.peers.values()].filter(p => p.status === 'up') }

  // ── faults ──────────────────────────────────────────────────────────────

  crash (p: SimPeer): void {
    if (p.status === 'crashed') return
    this.#trace(`crash ${p.id}`)
    p.inc.clock.kill()
    this.network.crash(p.id)
    void p.inc.mesh.stop({ goodbye: false })
    p.inc.inflight.clear()
    p.status = 'crashed'
    this.faultCount.crash++
  }

  /** Start a crashed peer again under its id: a new process (new epoch) on the same durable state. */
  async restart (p: SimPeer): Promise<void> {
    if (p.status !== 'crashed' || p.restarting) return
    p.restarting = true
    const snapshot = await p.journal.load()
    this.#trace(`restart ${p.id}${snapshot.jobs.length > 0 ? ` (replays ${snapshot.jobs.length} jobs)` : ''}`)
    p.inc = this.#start(p, p.inc.n + 1, snapshot)
    p.status = 'up'
    p.restarting = false
    p.thawedAt = this.now
    const others = this.upPeers().filter(o => o.id !== p.id)
    for (const o of this.rng.fork(`restart-${p.id}-${p.inc.n}`).sample(others, 3)) this.network.link(p.id, o.id)
  }

  /** A restarted origin rebuilt `view` from its journal: watch it from now on. */
  #reattach (p: SimPeer, view: JobView): void {
    const rec = this.jobs.find(j => j.view.id === view.id)
    if (rec === undefined) { this.#violation('lost-task', `${p.id} restored job ${view.id}, which was never submitted`); return }
    rec.view = view
    rec.restores++
    this.happened.originRestores++
    rec.failedSinceRestore = new Map()
    this.#watch(rec)
  }

  freeze (p: SimPeer): void {
    if (p.status !== 'up') return
    this.#trace(`freeze ${p.id}`)
    this.network.freeze(p.id)
    p.inc.clock.freeze()
    p.status = 'frozen'
    this.faultCount.freeze++
  }

  thaw (p: SimPeer): void {
    if (p.status !== 'frozen') return
    this.#trace(`thaw ${p.id}`)
    this.network.thaw(p.id)
    p.inc.clock.thaw()
    p.status = 'up'
    p.thawedAt = this.now
  }

  partition (group: string[]): void {
    this.#trace(`partition {${group.join(',')}} from the rest`)
    const inside = new Set(group)
    for (const a of group) {
      for (const b of this.peers.keys()) {
        if (inside.has(b)) continue
        this.network.partition(a, b)
        this.#cuts.push([a, b])
      }
    }
    this.faultCount.partition++
  }

  healAll (): void {
    for (const [a, b] of this.#cuts) this.network.heal(a, b)
    this.#cuts.length = 0
  }

  #heal (group: string[]): void {
    this.#trace(`heal {${group.join(',')}}`)
    const inside = new Set(group)
    for (let i = this.#cuts.length - 1; i >= 0; i--) {
      const [a] = this.#cuts[i]!
      if (inside.has(a)) { this.network.heal(...this.#cuts[i]!); this.#cuts.splice(i, 1) }
    }
  }

  #trace (line: string): void {
    if (this.opts.verbose) this.opts.log(`[sim ${this.opts.seed} t=${this.now}] ${line}`)
  }

  /**
   * The fault plan, drawn up front from the seed. Crashes and freezes never
   * overlap on one peer and never take more than `maxDownFraction` of the mesh
   * at once. Origins crash too (unless `originCrashes` is off) and restart from
   * their journal, as a daemon does.
   */
  #planFaults (start: number): PlannedFault[] {
    const r = this.rng.fork('faults')
    const f = this.opts.faults
    const win = this.opts.faultWindowMs
    const out: PlannedFault[] = []
    const ids = [...this.peers.keys()]
    const maxDown = Math.max(1, Math.floor(ids.length * this.opts.maxDownFraction))
    const down: Array<[number, number]> = []
    const concurrentDown = (a: number, b: number): number => down.filter(([s, e]) => s < b && a < e).length
    // Per peer: when it is crashed or frozen (plus a gap), so one peer's faults never overlap.
    const busy = new Map<string, Array<[number, number]>>()
    const free = (id: string, a: number, b: number): boolean => (busy.get(id) ?? []).every(([s, e]) => b <= s || e <= a)
    const spikes = loadSpikesSupported([...this.peers.values()][0]!.inc.mesh)
    const want: Array<[FaultKind, number]> = [['crash', f.crash], ['freeze', f.freeze], ['partition', f.partition], ['delay', f.delay], ['loss', f.loss], ['loadSpike', spikes ? f.loadSpike : 0]]
    for (const [kind, count] of want) {
      for (let i = 0; i < count; i++) {
        const at = start + Math.floor(r.next() * win * 0.9)
        if (kind === 'crash' || kind === 'freeze') {
          const durationMs = kind === 'crash' ? r.pick([1500, 4000, 8000, 15_000, 30_000]) : r.pick([800, 2000, 3000, 6000])
          const pool = ids.filter(id => (kind === 'freeze' || this.opts.originCrashes || !this.peer(id).isOrigin) && free(id, at, at + durationMs + 500))
          if (pool.length === 0 || concurrentDown(at, at + durationMs) >= maxDown) continue
          const id = r.pick(pool)
          // An origin away for long only slows every job down; keep its outages short.
          const d = this.peer(id).isOrigin ? Math.min(durationMs, kind === 'crash' ? 4000 : 3000) : durationMs
          busy.set(id, [...(busy.get(id) ?? []), [at, at + d + 500]])
          down.push([at, at + d])
          out.push({ at, kind, peers: [id], durationMs: d })
        } else if (kind === 'partition') {
          const size = r.int(1, Math.max(1, Math.floor(ids.length / 10)))
          out.push({ at, kind, peers: r.sample(ids, size), durationMs: r.pick([1000, 3000, 6000, 12_000]) })
        } else if (kind === 'delay') {
          out.push({ at, kind, peers: [r.pick(ids)], durationMs: r.pick([2000, 5000, 10_000]), extra: r.int(100, 800) })
        } else if (kind === 'loss') {
          out.push({ at, kind, peers: [], durationMs: r.pick([1000, 3000, 6000]) })
        } else {
          out.push({ at, kind, peers: [r.pick(ids)], durationMs: r.pick([3000, 8000, 15_000]) })
        }
      }
    }
    return out.sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind))
  }

  #schedule (at: number, fn: () => void): void {
    this.clock.setTimeout(fn, Math.max(0, at - this.now))
  }

  #applyFault (f: PlannedFault): void {
    const end = Math.min(f.at + f.durationMs, this.faultsEndAt)
    switch (f.kind) {
      case 'crash': {
        const p = this.peer(f.peers[0]!)
        this.crash(p)
        this.#schedule(end, () => { void this.restart(p) })
        break
      }
      case 'freeze': {
        const p = this.peer(f.peers[0]!)
        this.freeze(p)
        this.#schedule(end, () => { this.thaw(p) })
        break
      }
      case 'partition':
        this.partition(f.peers)
        this.#schedule(end, () => { this.#heal(f.peers) })
        break
      case 'delay':
        this.#trace(`delay +${f.extra ?? 0} ms on ${f.peers[0]!}`)
        this.#extraDelay.set(f.peers[0]!, f.extra ?? 0)
        this.faultCount.delay++
        this.#schedule(end, () => { this.#extraDelay.delete(f.peers[0]!) })
        break
      case 'loss':
        this.#trace(`loss burst ${this.opts.network.burstLoss}`)
        this.#loss = this.opts.network.burstLoss
        this.faultCount.loss++
        this.#schedule(end, () => { this.#loss = this.opts.network.loss })
        break
      case 'loadSpike': {
        const p = this.peer(f.peers[0]!)
        this.#trace(`load spike on ${p.id}`)
        p.load = { avg1: p.machine.cpuCores * 1.5, cpuBusy: 100, eventLoopDelayMs: 5, memoryAvailableMB: p.machine.memoryMB / 4 }
        this.faultCount.loadSpike++
        this.#schedule(end, () => { p.load = calm(p.machine) })
        break
      }
    }
  }

  /** End of the fault window: every peer back up, every cut healed, the network quiet. */
  #recoverAll (): void {
    this.#trace('faults end: recover everything')
    for (const p of this.peers.values()) {
      if (p.status === 'frozen') this.thaw(p)
      if (p.status === 'crashed') void this.restart(p)
      p.load = calm(p.machine)
    }
    this.healAll()
    this.#extraDelay.clear()
    this.#loss = this.opts.network.loss
  }

  // ── jobs ────────────────────────────────────────────────────────────────

  async #submit (plan: JobPlan): Promise<void> {
    const p = this.peer(plan.origin)
    // A frozen process takes no submissions: the user's request waits until it runs again.
    if (p.status !== 'up') { this.#schedule(this.now + 100, () => { void this.#submit(plan) }); return }
    const view = await p.inc.mesh.submit(plan.spec)
    const rec: JobRecord = { plan, view, submittedAt: this.now, doneEvents: new Map(), failedEvents: new Map(), failedSinceRestore: new Map(), lastEventAt: this.now, restores: 0 }
    this.#watch(rec)
    this.jobs.push(rec)
    this.#trace(`submitted ${plan.name} (${view.id}, ${plan.instances} tasks) at ${plan.origin}`)
  }

  /** See every event of the job's current view as it is emitted. */
  #watch (rec: JobRecord): void {
    const view = rec.view
    view.onEvent(e => { if (rec.view === view) this.onJobEvent(rec, e) })
  }

  /** Check one job event (the tests also feed made-up ones, to show the checks are not vacuous). */
  onJobEvent (rec: JobRecord, e: JobEvent): void {
    rec.lastEventAt = this.now
    this.#fingerprint = hash32(`${e.type}|${e.jobId}|${'taskId' in e ? e.taskId : ''}|${'attempt' in e ? e.attempt : ''}|${'peer' in e ? e.peer : ''}|${e.at}`, this.#fingerprint)
    if (e.type === 'task-done') {
      const n = (rec.doneEvents.get(e.taskId) ?? 0) + 1
      rec.doneEvents.set(e.taskId, n)
      if (n > 1) this.#violation('one-result', `${rec.plan.name}/${e.taskId}: accepted a second result (attempt ${e.attempt} from ${e.peer})`)
      const t = rec.view.tasks.get(e.taskId)
      const ran = this.completed.get(`${rec.view.id}\n${e.taskId}\n${e.attempt}`)
      if (ran !== e.peer) this.#violation('one-result', `${rec.plan.name}/${e.taskId}: accepted attempt ${e.attempt} from ${e.peer}, which never completed there (completed on ${ran ?? 'no peer'})`)
      const name = t?.inst.name ?? ''
      const want = expectedValue(this.opts.seed, rec.plan.name, e.taskId)
      const value = t?.result as { v?: unknown, a?: unknown, p?: unknown } | undefined
      if (value?.v !== want || value.a !== e.attempt || value.p !== e.peer) {
        this.#violation('result', `${rec.plan.name}/${e.taskId} (${name}): accepted value ${JSON.stringify(value)} for attempt ${e.attempt} from ${e.peer}, want v=${want}`)
      }
    } else if (e.type === 'task-migrated') {
      this.happened.migrated++
    } else if (e.type === 'backup-started') {
      this.happened.backups++
    } else if (e.type === 'task-failed') {
      this.happened.failedAttempts++
      const list = rec.failedEvents.get(e.taskId) ?? []
      list.push(e)
      rec.failedEvents.set(e.taskId, list)
      rec.failedSinceRestore.set(e.taskId, (rec.failedSinceRestore.get(e.taskId) ?? 0) + 1)
    } else if (e.type === 'job-done' || e.type === 'job-failed' || e.type === 'job-cancelled') {
      if (rec.plan.doomedTask !== undefined) rec.doomedFailuresAtEnd = rec.failedSinceRestore.get(rec.plan.doomedTask) ?? 0
      this.#trace(`${rec.plan.name} ${e.type} after ${this.now - rec.submittedAt} ms (${rec.view.rounds} rounds)`)
    }
  }

  planFor (name: string): JobPlan | undefined { return this.#plansByName.get(name) }

  // ── the run ─────────────────────────────────────────────────────────────

  /** Fire timers group by group up to `now + ms`, letting promise callbacks run after each group. */
  async #advance (ms: number): Promise<void> {
    const target = this.clock.now() + ms
    while (this.clock.now() < target) {
      // A benchmark's wall budget may end mid-step (one step of a huge mesh can take minutes).
      if (performance.now() >= this.#wallDeadline) return
      const next = this.clock.nextAt()
      const to = next === undefined ? target : Math.min(Math.max(next, this.clock.now()), target)
      this.clock.advance(to - this.clock.now())
      await flushMicrotasks(8)
    }
  }

  /** Workaround for BUG queued-not-promoted (see `Workarounds`). */
  #nudgeQueued (): void {
    for (const p of this.peers.values()) {
      if (p.status !== 'up') continue
      const { executor } = p.inc.mesh
      const queued = executor.attempts().filter(a => a.state === 'queued')
      if (queued.length === 0) continue
      const free = executor.ledger.freeNow()
      const byId = new Map(this.jobs.map(j => [j.view.id, j]))
      const fits = queued.some(a => {
        const spec = byId.get(a.jobId)?.view.tasks.get(a.taskId)?.inst.spec
        return spec !== undefined && fitsIn(toUnits(spec.resources), free)
      })
      if (!fits) continue
      this.workaroundCount.queuedNotPromoted++
      const attempt = this.workaroundCount.queuedNotPromoted
      const zero = { cpu: 0, memoryMB: 0, gpu: 0, custom: {} }
      executor.onTaskMessage(NUDGE, {
        v: TASK_VERSION, type: 'award', jobId: NUDGE, round: 0,
        tasks: [{ taskId: 'nudge', attempt, index: 0, demand: zero, upstream: {}, kind: 'handler', handler: SIM_HANDLER, input: { job: NUDGE, task: 'nudge' } }]
      })
      executor.onTaskMessage(NUDGE, { v: TASK_VERSION, type: 'cancel', jobId: NUDGE, tasks: [{ taskId: 'nudge', attempt }], reason: 'simulator workaround' })
    }
  }

  /** Messages so far: sent by kind, delivered by topic or protocol. */
  #trafficNow (): Pick<SimReport, 'traffic' | 'delivered'> & { simMs: number, messages: number, bytes: number } {
    const { messages, bytes, byChannel } = this.network.stats
    return {
      simMs: this.now,
      messages,
      bytes,
      traffic: Object.fromEntries([...this.traffic].sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => [k, { ...v }])),
      delivered: Object.fromEntries([...byChannel].sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => [k, { ...v }]))
    }
  }

  #check (phase: 'step' | 'end'): void {
    if (phase === 'step') {
      this.opts.onStep?.(this)
      for (const p of this.peers.values()) {
        const blocked = p.status !== 'crashed' && (p.inc.mesh.executor.ledger as { blocked?: boolean }).blocked === true
        if (blocked && !this.#blocked.has(p.id)) this.happened.yields++
        if (blocked) this.#blocked.add(p.id)
        else this.#blocked.delete(p.id)
      }
    }
    if (phase === 'step' && this.opts.workarounds.queuedNotPromoted) this.#nudgeQueued()
    const violations = [...this.pending.splice(0), ...(phase === 'step' ? checkStep(this) : checkEnd(this))]
    if (violations.length > 0) throw new SimFailure(this.opts.seed, this.now, violations, this.replayCommand(), phase === 'end' ? '' : describeJobs(this))
  }

  async run (): Promise<SimReport> {
    const wallStart = performance.now()
    this.#wallDeadline = wallStart + this.opts.wallBudgetMs
    sharedSolver ??= createHighsSolver()
    this.#solver = await sharedSolver
    const o = this.opts
    this.#buildPeers()
    const origins = [...this.peers.values()].filter(p => p.isOrigin).map(p => p.id)
    const caps = {
      gpuPeers: [...this.peers.values()].filter(p => p.machine.gpus.length > 0).length,
      licencePeers: [...this.peers.values()].filter(p => (p.config.resources.custom[LICENCE] ?? 0) > 0).length,
      sitePeers: [...this.peers.values()].filter(p => p.config.tags.includes(SITE_TAG)).length
    }
    // What the mesh's start-up cost (every peer starting at once), kept apart from the jobs' traffic.
    let startup: SimReport['startup']
    this.#schedule(o.warmupMs, () => { startup = this.#trafficNow() })
    for (const plan of makeWorkload(this.rng.fork('workload'), {
      seed: o.seed, tasks: o.tasks, jobs: o.jobs, origins, submitWindowMs: o.submitWindowMs, startAt: o.warmupMs,
      minMs: o.workMs[0], maxMs: o.workMs[1], failures: o.failures, caps
    })) {
      this.plans.push(plan)
      this.#plansByName.set(plan.name, plan)
      this.#schedule(plan.submitAt, () => { void this.#submit(plan) })
    }
    this.faultsEndAt = o.warmupMs + o.faultWindowMs
    for (const f of this.#planFaults(o.warmupMs)) this.#schedule(f.at, () => { this.#applyFault(f) })
    this.#schedule(this.faultsEndAt, () => { this.#recoverAll() })

    const progressEvery = 10_000
    let nextProgress = progressEvery
    const log = (): void => {
      const done = this.jobs.filter(j => j.view.state !== 'running').length
      const tasksDone = this.jobs.reduce((s, j) => s + j.view.counts().done, 0)
      o.log(`[sim ${o.seed}] t=${this.now} ms: ${done}/${this.plans.length} jobs ended, ${tasksDone} tasks done, ${this.upPeers().length}/${this.peers.size} peers up, wall ${Math.round(performance.now() - wallStart)} ms`)
    }
    const allEnded = (): boolean => this.jobs.length === this.plans.length && this.jobs.every(j => j.view.state !== 'running')
    // Run through the fault window, then until every job ends.
    const deadline = this.faultsEndAt + o.drainMs
    let stoppedBy: SimReport['stoppedBy'] = 'done'
    while (this.now < this.faultsEndAt || !allEnded()) {
      if (this.now >= o.stopAtMs) { stoppedBy = 'stopAt'; break }
      if (performance.now() - wallStart >= o.wallBudgetMs) { stoppedBy = 'wallBudget'; break }
      if (this.now >= deadline) {
        throw new SimFailure(o.seed, this.now, [{ kind: 'lost-task', message: `jobs still running ${o.drainMs} ms after the faults ended` }], this.replayCommand(), describeJobs(this))
      }
      await this.#advance(Math.min(o.stepMs, o.stopAtMs - this.now))
      this.#check('step')
      if (this.now >= nextProgress) { log(); nextProgress += progressEvery }
    }
    const lastEnd = Math.max(...this.jobs.map(j => (j.view.endedAt ?? this.clock.now()) - START))
    // Quiesce: nothing may leak once every job has ended.
    const quietUntil = stoppedBy === 'done' && o.endChecks ? this.now + o.quiesceMs : this.now
    while (this.now < quietUntil) {
      await this.#advance(Math.min(500, quietUntil - this.now))
      this.#check('step')
    }
    if (stoppedBy === 'done' && o.endChecks) this.#check('end')
    log()

    const tasks = this.jobs.reduce((s, j) => s + j.view.tasks.size, 0)
    const rounds = this.jobs.reduce((s, j) => s + j.view.rounds, 0)
    const attempts = this.jobs.reduce((s, j) => s + [...j.view.tasks.values()].reduce((a, t) => a + t.attempts.length, 0), 0)
    const firstSubmit = Math.min(...this.jobs.map(j => j.submittedAt))
    const states: Record<string, number> = {}
    for (const j of this.jobs) states[j.view.state] = (states[j.view.state] ?? 0) + 1
    const { messages, bytes, lost } = this.network.stats
    const now = this.#trafficNow()
    let tasksDone = 0
    let tasksAwarded = 0
    let cpuWorkDoneMs = 0
    for (const j of this.jobs) {
      for (const t of j.view.tasks.values()) {
        if (t.attempts.length > 0) tasksAwarded++
        if (t.status !== 'done') continue
        tasksDone++
        const plan = j.plan.tasks.get(t.inst.name)
        if (plan !== undefined) cpuWorkDoneMs += t.inst.spec.resources.cpu * workMs(o.seed, j.plan.name, plan, t.id)
      }
    }
    const everyPeer = [...this.peers.values()]
    const bound = makespanBound(o.seed, this.plans, everyPeer.map(p => ({ id: p.id, capacity: p.inc.mesh.capacity, tags: p.config.tags, speed: p.speed })))
    return {
      seed: o.seed,
      peers: o.peers,
      jobs: this.jobs.length,
      tasks,
      makespanMs: lastEnd - firstSubmit,
      simMs: this.now,
      wallMs: Math.round(performance.now() - wallStart),
      messages,
      bytes,
      lostMessages: lost,
      rounds,
      attempts,
      messagesPerTask: Math.round(messages / tasks),
      bytesPerTask: Math.round(bytes / tasks),
      roundsPerTask: Math.round(rounds / tasks * 1000) / 1000,
      attemptsPerTask: Math.round(attempts / tasks * 1000) / 1000,
      faults: { ...this.faultCount },
      jobStates: states,
      fingerprint: this.#fingerprint.toString(16).padStart(8, '0'),
      workarounds: { ...this.workaroundCount },
      happened: { ...this.happened },
      traffic: now.traffic,
      delivered: now.delivered,
      ...(startup === undefined ? {} : { startup }),
      stoppedBy,
      tasksPlanned: this.plans.reduce((s, p) => s + p.instances, 0),
      tasksDone,
      tasksAwarded,
      cpuWorkDoneMs: Math.round(cpuWorkDoneMs),
      cpuRate: everyPeer.reduce((s, p) => s + p.inc.mesh.capacity.cpu * p.speed, 0),
      bound,
      linksPerPeer: Math.round(everyPeer.reduce((s, p) => s + this.network.linkedTo(p.id).length, 0) / Math.max(1, everyPeer.length) * 10) / 10
    }
  }
}

/** The `type` field of a msgpack message, without validating the rest. */
function messageType (data: Uint8Array): string {
  const d = decodeValue(data)
  const type = d.ok ? (d.value as { type?: unknown } | null)?.type : undefined
  return typeof type === 'string' ? type : '?'
}

/** What a checkpointing task saves: how many quarters of its work are done. */
interface Checkpoint { job: string, task: string, quarters: number }

/** The load a machine shows when nothing but the mesh runs on it. */
function calm (machine: MachineInfo): LoadSample {
  return { avg1: 0.2, cpuBusy: 5, eventLoopDelayMs: 1, memoryAvailableMB: machine.memoryMB / 2 }
}

/** Resolve after `ms` on `clock`, or at once when `signal` aborts (the attempt was cancelled). */
export async function abortableSleep (clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => { clock.clearTimeout(h); signal.removeEventListener('abort', done); resolve() }
    const h = clock.setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Unfinished jobs and their unfinished tasks, for failure messages. */
export function describeJobs (sim: Sim, maxTasks = 12): string {
  const lines: string[] = []
  for (const j of sim.jobs) {
    if (j.view.state !== 'running') continue
    const c = j.view.counts()
    const counts = Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
    lines.push(`  job ${j.plan.name} (${j.view.id}) at ${j.plan.origin} [${sim.peer(j.plan.origin).status}]: ${counts}; last event t=${j.lastEventAt}`)
    let shown = 0
    for (const t of j.view.tasks.values()) {
      if (t.status === 'done' || t.status === 'blocked') continue
      if (shown++ >= maxTasks) { lines.push('    …'); break }
      const a = t.attempts.at(-1)
      const peer = a === undefined ? undefined : sim.peers.get(a.peer)
      lines.push(`    ${t.id}: ${t.status} attempt ${t.attempt}` +
        (a === undefined ? '' : ` (last: #${a.attempt} on ${a.peer} [${peer?.status ?? '?'}] ${a.state}, heartbeat ${a.lastHeartbeat - START})`) +
        (t.waiting === undefined ? '' : `; waiting: ${t.waiting}`) + (t.nextTryAt > 0 ? `; next try ${t.nextTryAt - START}` : ''))
    }
  }
  return lines.length === 0 ? '' : `unfinished jobs:\n${lines.join('\n')}`
}

export { START }

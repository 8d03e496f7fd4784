/**
 * `createPeer()`: a real Meshwork peer (docs/ARCHITECTURE.md §11). It assembles libp2p,
 * the machine probe, the system clock and the core `MeshPeer`, and is what both
 * the daemon and embedding apps run.
 *
 *   const peer = await createPeer({ config: { mdns: false, bootstrap: [...] } })
 *   await peer.start()
 *   console.log(peer.peers())
 *   await peer.stop()
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger as Pino } from 'pino'
import { parseConfig, type MeshConfig, type MeshConfigInput } from '../src/config.ts'
import { MeshError } from '../src/errors.ts'
import { MeshPeer, type PeerStats, type PeerView } from '../src/peer.ts'
import { computeCapacity, type ResourceProbe } from '../src/resources/capacity.ts'
import { resolvePaths } from './config-file.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { nodeVersionProblem } from './node-version.ts'
import { createMeshLibp2p, type MeshLibp2p } from './libp2p/create.ts'
import { BootstrapKeeper, dialMdnsDiscoveries } from './libp2p/discovery.ts'
import { Libp2pTransport } from './libp2p/transport.ts'
import { coreLogger, createLogger } from './logger.ts'
import { createProbe } from './resources/probe.ts'
import { systemClock } from './system-clock.ts'
import { join } from 'node:path'
import { createLazyHighsSolver, type LazyLpSolver } from '../src/auction/lp.ts'
import { AUCTION_TOPIC, type OpenTask } from '../protocols/auction.ts'
import { MemoryJournal, type Journal } from '../src/jobs/journal.ts'
import type { JobView } from '../src/jobs/job-view.ts'
import type { RoundRecord } from '../src/jobs/round-log.ts'
import { parseJobSpec, type JobSpecInput } from '../src/jobs/spec.ts'
import { ExecRunner } from './execution/exec-runner.ts'
import { detectConfinement } from './execution/confine/from-config.ts'
import { HandlerRunner, type HandlerFn } from './execution/handler-runner.ts'
import { PeerRunner } from './execution/runner.ts'
import { readJobFiles } from './job-files.ts'
import { Libp2pBlobStore } from './libp2p/blobs.ts'
import type { FrameBudget } from './libp2p/frames.ts'
import { Quarantine } from './libp2p/quarantine.ts'
import { gossipScore } from '../src/jobs/reputation.ts'
import { ArtifactCache } from './artifacts/cache.ts'
import { PeerArtifacts } from './artifacts/store.ts'
import { MetricsExporter } from './metrics.ts'
import type { Registry } from 'prom-client'
import { pinWhileLive, resolveArtifacts } from './artifacts/submit.ts'
import { openArtifactChannel, serveArtifacts } from './artifacts/wire.ts'
import { LIMITS as AD_LIMITS } from '../protocols/resources.ts'
import { openStore } from './storage/db.ts'
import { DiskBlobBackend, collectBlobRefs } from './storage/disk-blobs.ts'
import { LmdbJournal } from './storage/lmdb-journal.ts'
import { LmdbOutboxStore } from './storage/lmdb-outbox.ts'
import { MemoryOutboxStore, type OutboxStore } from '../src/execution/outbox.ts'
import type { BlobStore } from '../src/execution/executor.ts'
import { TASK_LIMITS, type FileData } from '../protocols/task.ts'

export interface CreatePeerOptions {
  /** The same fields as mesh.config.json; validated. Relative paths resolve against the working directory. */
  config?: MeshConfigInput
  /** An already validated config (the daemon passes the loaded file). */
  resolvedConfig?: MeshConfig
  /**
   * No files at all: a fresh random identity each start, nothing written to
   * `dataDir`. For embedded apps and tests that want no state on disk.
   */
  ephemeral?: boolean
  /** A pino logger; by default one at `config.log.level` writing to stderr. */
  logger?: Pino
  /** Replace the machine probe (tests, benchmarks that fake heterogeneous machines). */
  probe?: ResourceProbe
  /** Where the origin journals its jobs; in memory by default. */
  journal?: Journal
}

export interface SubmitOptions {
  /** Exec input paths resolve against this folder (default: the working directory). */
  baseDir?: string
  /** Input file contents by path, instead of reading them from disk (the CLI sends them this way). */
  files?: Record<string, Uint8Array>
}

export class Peer {
  readonly config: MeshConfig
  readonly libp2p: MeshLibp2p
  readonly core: MeshPeer
  readonly log: Pino
  readonly runner: PeerRunner
  readonly blobs: Libp2pBlobStore
  readonly artifacts: PeerArtifacts
  /** `/metrics`, in Prometheus's text format (node/metrics.ts). */
  readonly metrics: MetricsExporter
  readonly #keeper: BootstrapKeeper
  #stopMdns: (() => void) | undefined
  #state: 'new' | 'started' | 'stopped' = 'new'

  readonly #closeStorage: () => Promise<void>
  readonly #solver: LazyLpSolver
  /** Memory the frames other peers send may hold, per peer and in all (node/libp2p/frames.ts). */
  readonly #frameBudget: FrameBudget
  /** Peers cut off for a while (node/libp2p/quarantine.ts). */
  readonly quarantine: Quarantine

  constructor (parts: { config: MeshConfig, libp2p: MeshLibp2p, core: MeshPeer, log: Pino, keeper: BootstrapKeeper, runner: PeerRunner, blobs: Libp2pBlobStore, artifacts: PeerArtifacts, closeStorage: () => Promise<void>, solver: LazyLpSolver, frameBudget: FrameBudget, quarantine: Quarantine, metricsRegistry?: Registry }) {
    this.#solver = parts.solver
    this.#frameBudget = parts.frameBudget
    this.quarantine = parts.quarantine
    this.quarantine.onQuarantine = () => { parts.core.metrics.inc('meshwork_peers_quarantined_total') }
    this.metrics = new MetricsExporter(this, parts.metricsRegistry)
    this.artifacts = parts.artifacts
    this.runner = parts.runner
    this.blobs = parts.blobs
    this.#closeStorage = parts.closeStorage
    this.config = parts.config
    this.libp2p = parts.libp2p
    this.core = parts.core
    this.log = parts.log
    this.#keeper = parts.keeper
  }

  get id (): string { return this.core.id }
  addresses (): string[] { return this.libp2p.getMultiaddrs().map(String) }

  async start (): Promise<void> {
    if (this.#state !== 'new') throw new MeshError('MESH_ERR_STATE', `peer is ${this.#state}; create a new peer to start again`)
    this.#state = 'started'
    await this.libp2p.start()
    await this.blobs.start()
    await serveArtifacts(this.libp2p, this.artifacts, coreLogger(this.log), this.#frameBudget)
    if (this.config.mdns) this.#stopMdns = dialMdnsDiscoveries(this.libp2p, coreLogger(this.log))
    this.quarantine.start(this.libp2p, coreLogger(this.log))
    this.core.start()
    this.#keeper.start()
  }

  /**
   * Leave the mesh: tell the others (unless `goodbye: false`, which makes the
   * exit look like a crash to them) and close every connection.
   */
  async stop (opts: { goodbye?: boolean } = {}): Promise<void> {
    if (this.#state !== 'started') { this.#state = 'stopped'; return }
    this.#state = 'stopped'
    this.#keeper.stop()
    this.quarantine.stop()
    this.#stopMdns?.()
    await this.core.stop(opts)
    await this.runner.handlers.close()
    await this.runner.exec.close()
    await this.libp2p.stop()
    await this.blobs.flush()
    await this.#closeStorage()
  }

  peers (): PeerView[] {
    const refused = new Map(this.quarantine.list().map(q => [q.peer, q.until]))
    return this.core.peers().map(p => refused.has(p.id) ? { ...p, quarantinedUntil: refused.get(p.id)! } : p)
  }

  /**
   * Register a handler that runs in this process (it may close over app state).
   * For CPU-heavy work, `handleModule` runs it in worker threads instead.
   */
  handle (name: string, fn: HandlerFn): this {
    this.runner.handlers.register(name, fn)
    return this
  }

  /** Register a handler exported by a module file (`/abs/path.ts` or `/abs/path.ts#export`); it runs in worker threads. */
  handleModule (name: string, spec: string): this {
    this.runner.handlers.registerModule(name, spec)
    return this
  }

  /**
   * Submit a job; this peer becomes its origin. The spec is validated first
   * (`JobSpecError` names the path of every problem); the promise resolves once
   * the job is journaled. Exec input files are read now.
   */
  async submit (spec: JobSpecInput, opts: SubmitOptions = {}): Promise<JobView> {
    const baseDir = opts.baseDir ?? process.cwd()
    const parsed = await resolveArtifacts(parseJobSpec(spec), baseDir, this.artifacts, id => this.#holders(id))
    const files = opts.files ?? await readJobFiles(parsed, baseDir)
    const stored = storeJobFiles(files, this.blobs)
    // Input blobs are on disk before the journal names them.
    await this.blobs.flush()
    // This peer bids for its own jobs: the bid LP must be loaded first.
    await this.#solver.load()
    const job = await this.core.submit(parsed, stored)
    pinWhileLive(job, this.artifacts)
    return job
  }

  /** Live peers whose ads say they hold the artifact with this ad id. */
  #holders (adId: string): string[] {
    return holdersOf(this.core, adId)
  }

  job (id: string): JobView | undefined { return this.core.origin.job(id) }
  jobs (): JobView[] { return this.core.origin.jobs() }
  /** The last auction rounds this peer closed as an origin, oldest first: bids, winners and their ETAs. */
  auctionRounds (): readonly RoundRecord[] { return this.core.origin.recentRounds() }
  cancel (id: string): boolean { return this.core.origin.cancel(id) }
  stats (): PeerStats { return this.core.stats() }
}

export async function createPeer (opts: CreatePeerOptions = {}): Promise<Peer> {
  const tooOld = nodeVersionProblem(process.versions.node)
  if (tooOld !== undefined) throw new MeshError('MESH_ERR_NODE_VERSION', tooOld)
  const config = opts.resolvedConfig ?? resolvePaths(parseConfig(opts.config ?? {}), process.cwd())
  const log = opts.logger ?? createLogger(config.log.level)
  // The machine probe runs a child process for the GPUs: start it first, await it when needed.
  const probing = opts.probe !== undefined
    ? Promise.resolve(opts.probe)
    : createProbe(config.resources.speed, {
      gpus: config.resources.gpu === 'auto',
      onProblem: why => { log.warn({ why }, 'GPUs not probed; set resources.gpu to declare them') }
    })
  probing.catch(() => {})
  let privateKey
  if (opts.ephemeral === true) {
    privateKey = await generateKeyPair('Ed25519')
  } else {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    privateKey = await loadOrCreateIdentity(config.dataDir)
  }
  const swarmKey = config.swarmKeyFile === null ? null : await readSwarmKey(config.swarmKeyFile)
  // Before the network: a peer that cannot confine tasks as configured refuses to start (exit 2).
  const offered = { memoryMB: 0 }
  const confinement = await detectConfinement(config, opts.ephemeral === true, () => offered.memoryMB)
  for (const note of confinement.notes) log.warn({ note }, 'exec task confinement')
  log.info({ ...confinement.enforcement }, 'exec tasks: limits and sandbox')
  // libp2p's metrics plug in when libp2p is made, so asking for them loads prom-client now.
  const metricsRegistry = config.metrics.libp2p ? new (await import('prom-client')).Registry() : undefined
  // Peers that misbehave on gossip, or fail the work they take, are cut off for a while; the
  // gossip score of an executor's record is read from the core once it exists.
  const quarantine = new Quarantine()
  const late: { core?: MeshPeer } = {}
  const libp2p = await createMeshLibp2p({
    quarantine,
    appScore: peer => late.core === undefined ? 0 : gossipScore(late.core.origin.reputation.conduct(peer, Date.now())),
    ...(metricsRegistry !== undefined ? { metricsRegistry } : {}),
    privateKey,
    listen: config.listen,
    mdns: config.mdns,
    swarmKey,
    pingIntervalMs: config.failure.pingIntervalMs,
    pingTimeoutMs: config.failure.pingTimeoutMs
  })
  const logger = coreLogger(log.child({ peer: libp2p.peerId.toString().slice(-8) }))
  // HiGHS loads when this peer may first bid: before its own first job, or on
  // the first call for bids it hears. An idle peer never loads it. That first
  // call is not held back for the load (a bid that arrives after the round
  // closes loses every task to the peers that had loaded it): it is answered at
  // once with the greedy choice, and the LP decides from the next call on.
  const solver = createLazyHighsSolver(() => { logger.debug({}, 'bid decided before HiGHS was loaded (greedy choice)') })
  const transport = new Libp2pTransport(libp2p, logger, {
    beforeDeliver: topic => {
      if (topic === AUCTION_TOPIC && !solver.loaded) solver.load().catch((err: Error) => { logger.error({ err: err.message }, 'HiGHS failed to load; bids stay greedy') })
      return undefined
    }
  })
  // Load is sampled on each executor heartbeat, so load shift reacts within sustainMs + a heartbeat.
  const probe = await probing
  // One worker thread per core this peer offers (declared or probed): the executor admits
  // that much handler work at once, and a pool sized by the machine instead would queue
  // awarded tasks behind each other on a peer that declares more cores than it has.
  const capacity = computeCapacity(probe.machine, config.resources)
  offered.memoryMB = capacity.memoryMB
  const uncapped = await confinement.limitAll(capacity)
  if (uncapped !== undefined) log.warn({ note: uncapped }, 'exec task confinement')
  const handlers = new HandlerRunner({ threads: Math.max(1, Math.ceil(capacity.cpu)), warmMax: config.executor.warm.max })
  for (const [name, spec] of Object.entries(config.executor.handlers)) handlers.registerModule(name, spec)
  const exec = new ExecRunner({ allow: config.executor.exec.allow, scratchRoot: join(opts.ephemeral === true ? tmpdir() : config.dataDir, 'scratch'), confinement })
  const runner = new PeerRunner(handlers, exec)
  // Durable state (journal, outbox, blobs) lives in dataDir; an ephemeral peer keeps it in memory.
  const store = opts.ephemeral === true ? undefined : openStore(config.dataDir, config.durability)
  const backend = store === undefined
    ? undefined
    : await DiskBlobBackend.open(config.dataDir, { fsync: config.durability === 'power', onError: err => { logger.error({ err: err.message }, 'blob store') } })
  const blobs = new Libp2pBlobStore(libp2p, logger, backend, transport.channels.budget)
  // An ephemeral peer caches artifacts in a temporary folder of its own.
  const tempCache = config.cache.dir === null && opts.ephemeral === true ? await mkdtemp(join(tmpdir(), 'meshwork-artifacts-')) : undefined
  const cacheDir = config.cache.dir ?? tempCache ?? join(config.dataDir, 'artifacts')
  const cache = await ArtifactCache.open(cacheDir, config.cache.maxMB * 1024 * 1024, { onError: (err, what) => { logger.warn({ err: err.message, what }, 'artifact cache') } })
  const artifacts = new PeerArtifacts({
    cache,
    openChannel: async peer => await openArtifactChannel(libp2p, peer),
    holders: id => late.core === undefined ? [] : holdersOf(late.core, id),
    self: libp2p.peerId.toString(),
    log: logger
  })
  const journal: Journal = opts.journal ?? (store === undefined ? new MemoryJournal() : new LmdbJournal(store))
  const outbox: OutboxStore = store === undefined ? new MemoryOutboxStore() : new LmdbOutboxStore(store)
  const core = late.core = new MeshPeer({
    transport, clock: systemClock, logger, probe, runner, blobs, journal, outbox,
    solver,
    handlerNames: () => handlers.names(),
    artifacts,
    // Per task of every call for bids: cheap unless the task names artifacts or a warm key.
    setupMs: t => artifacts.setupMs(t) + (t.warm === undefined ? 0 : coldLoadMs(t, handlers.warmKeys(), late.core)),
    adExtras: () => ({ ...artifacts.adFields(AD_LIMITS.maxArtifacts), warm: handlers.warmKeys().slice(0, AD_LIMITS.maxWarm) }),
    confinement: { ...confinement.enforcement }
  }, config)
  // Observation for the gossip benchmark: when each ad is taken into this
  // peer's table. Only at log level trace; otherwise nothing is registered.
  if (log.isLevelEnabled('trace')) {
    core.membership.onAd(ad => { log.trace({ ad: { from: ad.peerId, seq: ad.seq, sent: ad.time, cpuFree: ad.free.cpu } }, 'ad accepted') })
  }
  // A restarted origin carries on with the jobs it had accepted (docs/ARCHITECTURE.md §7), and bids for them.
  const saved = await journal.load()
  // Blob reference counts live in memory: after a restart, the blobs no durable record names
  // (acknowledged results, jobs dropped from the history) go now, or they would stay for good.
  if (backend !== undefined && opts.journal === undefined) {
    const swept = await backend.sweep(collectBlobRefs(saved, await outbox.load()))
    if (swept.removed > 0) logger.info({ removed: swept.removed, kept: swept.kept }, 'unreferenced blobs removed')
  }
  if (saved.jobs.some(j => j.end === undefined)) await solver.load()
  core.origin.restore(saved)
  for (const job of core.origin.jobs()) if (job.endedAt === undefined) pinWhileLive(job, artifacts)
  const keeper = new BootstrapKeeper(libp2p, config.bootstrap, logger)
  return new Peer({ config, libp2p, core, log, keeper, runner, blobs, artifacts, closeStorage: async () => {
    await journal.close?.()
    await outbox.close?.()
    if (tempCache !== undefined) await rm(tempCache, { recursive: true, force: true })
  },
  solver,
  frameBudget: transport.channels.budget,
  quarantine,
  ...(metricsRegistry !== undefined ? { metricsRegistry } : {}) })
}

/**
 * How long the task's model takes to load here, when it is not warm here: the
 * longest load any live peer advertises for that key (0 when none has
 * loaded it, or the task names no key).
 */
function coldLoadMs (t: OpenTask, warmHere: Array<{ key: string }>, core: MeshPeer | undefined): number {
  if (t.warm === undefined || core === undefined || warmHere.some(w => w.key === t.warm)) return 0
  let ms = 0
  for (const e of core.membership.table.alive()) for (const w of e.ad.warm ?? []) if (w.key === t.warm) ms = Math.max(ms, w.loadMs)
  return ms
}

/** Live peers whose ads list the artifact id. */
function holdersOf (core: MeshPeer, adId: string): string[] {
  return core.membership.table.alive().filter(e => e.ad.artifacts?.includes(adId) === true).map(e => e.id)
}

/** The origin keeps a job's input files (inline when small, else as blobs) so any executor can fetch them. */
function storeJobFiles (files: Record<string, Uint8Array>, blobs: BlobStore): Record<string, FileData> {
  const out: Record<string, FileData> = {}
  for (const [p, bytes] of Object.entries(files)) {
    out[p] = bytes.byteLength <= TASK_LIMITS.inlineBytes ? { inline: bytes } : { blob: blobs.put(bytes) }
  }
  return out
}

async function readSwarmKey (file: string): Promise<Uint8Array> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `swarmKeyFile ${file}: ${(err as Error).message}`, { cause: err })
  }
}

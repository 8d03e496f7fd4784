/**
 * `createPeer()`: a real Meshwork peer (DESIGN.md §11). It assembles libp2p,
 * the machine probe, the system clock and the core `MeshPeer`, and is what both
 * the daemon and embedding apps run.
 *
 *   const peer = await createPeer({ config: { mdns: false, bootstrap: [...] } })
 *   await peer.start()
 *   console.log(peer.peers())
 *   await peer.stop()
 */
import { mkdir, readFile } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger as Pino } from 'pino'
import { parseConfig, type MeshConfig, type MeshConfigInput } from '../src/config.ts'
import { MeshError } from '../src/errors.ts'
import { MeshPeer, type PeerStats, type PeerView } from '../src/peer.ts'
import type { ResourceProbe } from '../src/resources/capacity.ts'
import { resolvePaths } from './config-file.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createMeshLibp2p, type MeshLibp2p } from './libp2p/create.ts'
import { BootstrapKeeper, dialMdnsDiscoveries } from './libp2p/discovery.ts'
import { Libp2pTransport } from './libp2p/transport.ts'
import { coreLogger, createLogger } from './logger.ts'
import { createProbe, type LoadSampler } from './resources/probe.ts'
import { systemClock } from './system-clock.ts'

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
}

export class Peer {
  readonly config: MeshConfig
  readonly libp2p: MeshLibp2p
  readonly core: MeshPeer
  readonly log: Pino
  readonly #keeper: BootstrapKeeper
  readonly #sampler: LoadSampler | undefined
  #stopMdns: (() => void) | undefined
  #state: 'new' | 'started' | 'stopped' = 'new'

  constructor (parts: { config: MeshConfig, libp2p: MeshLibp2p, core: MeshPeer, log: Pino, keeper: BootstrapKeeper, sampler?: LoadSampler }) {
    this.config = parts.config
    this.libp2p = parts.libp2p
    this.core = parts.core
    this.log = parts.log
    this.#keeper = parts.keeper
    this.#sampler = parts.sampler
  }

  get id (): string { return this.core.id }
  addresses (): string[] { return this.libp2p.getMultiaddrs().map(String) }

  async start (): Promise<void> {
    if (this.#state !== 'new') throw new MeshError('MESH_ERR_STATE', `peer is ${this.#state}; create a new peer to start again`)
    this.#state = 'started'
    await this.libp2p.start()
    if (this.config.mdns) this.#stopMdns = dialMdnsDiscoveries(this.libp2p, coreLogger(this.log))
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
    this.#stopMdns?.()
    await this.core.stop(opts)
    this.#sampler?.stop()
    await this.libp2p.stop()
  }

  peers (): PeerView[] { return this.core.peers() }
  stats (): PeerStats { return this.core.stats() }
}

export async function createPeer (opts: CreatePeerOptions = {}): Promise<Peer> {
  const config = opts.resolvedConfig ?? resolvePaths(parseConfig(opts.config ?? {}), process.cwd())
  const log = opts.logger ?? createLogger(config.log.level)
  let privateKey
  if (opts.ephemeral === true) {
    privateKey = await generateKeyPair('Ed25519')
  } else {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    privateKey = await loadOrCreateIdentity(config.dataDir)
  }
  const swarmKey = config.swarmKeyFile === null ? null : await readSwarmKey(config.swarmKeyFile)
  let sampler: LoadSampler | undefined
  let probe = opts.probe
  if (probe === undefined) {
    const real = await createProbe(config.resources.speed, config.gossip.intervalMs)
    sampler = real.sampler
    probe = real
  }
  const libp2p = await createMeshLibp2p({
    privateKey,
    listen: config.listen,
    mdns: config.mdns,
    swarmKey,
    pingIntervalMs: config.failure.pingIntervalMs,
    pingTimeoutMs: config.failure.pingTimeoutMs
  })
  const logger = coreLogger(log.child({ peer: libp2p.peerId.toString().slice(-8) }))
  const transport = new Libp2pTransport(libp2p, logger)
  const core = new MeshPeer({ transport, clock: systemClock, logger, probe }, config)
  const keeper = new BootstrapKeeper(libp2p, config.bootstrap, logger)
  return new Peer({ config, libp2p, core, log, keeper, sampler })
}

async function readSwarmKey (file: string): Promise<Uint8Array> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `swarmKeyFile ${file}: ${(err as Error).message}`, { cause: err })
  }
}

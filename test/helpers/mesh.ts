/**
 * A small in-memory mesh of MeshPeers on a MemoryNetwork and a ManualClock,
 * with a log of every state change each peer observes.
 */
import { ManualClock } from '../../src/testing/manual-clock.ts'
import { MemoryNetwork, type MemoryNetworkOptions, type MemoryTransport } from '../../src/testing/memory-network.ts'
import { MeshPeer, type PeerView } from '../../src/peer.ts'
import { parseConfig, type MeshConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/logger.ts'
import type { MachineInfo, ResourceProbe } from '../../src/resources/capacity.ts'
import type { StateChange } from '../../src/membership/peer-table.ts'
import { createHighsSolver } from '../../src/auction/lp.ts'
import { MemoryJournal } from '../../src/jobs/journal.ts'
import { MemoryBlobRegistry } from '../../src/testing/memory-blobs.ts'
import { FunctionRunner } from '../../src/testing/function-runner.ts'

/** One HiGHS instance for every test peer (loading the WASM module takes ~50 ms). */
export const solver = await createHighsSolver()

/** A 4-core, 8 GiB machine without GPUs, idle, of reference speed. */
export function fakeProbe (machine: Partial<MachineInfo> = {}): ResourceProbe {
  return {
    machine: { cpuCores: 4, cpuModel: 'test', memoryMB: 8192, gpus: [], ...machine },
    speed: 1,
    load: () => ({ avg1: 0, cpuBusy: 0, eventLoopDelayMs: 0, memoryAvailableMB: 0 })
  }
}

/** A state change as seen by `observer`. */
export interface ObservedChange extends StateChange { observer: string }

export class TestMesh {
  readonly clock: ManualClock
  readonly network: MemoryNetwork
  readonly config: MeshConfig
  readonly peers = new Map<string, MeshPeer>()
  readonly transports = new Map<string, MemoryTransport>()
  /** Every state change every peer has reported, in order. */
  readonly changes: ObservedChange[] = []
  readonly blobs: MemoryBlobRegistry
  /** The runner each peer uses; register handlers on it before submitting. */
  readonly runners = new Map<string, FunctionRunner>()
  /** Each peer's journal (a fresh one per `add`). */
  readonly journals = new Map<string, MemoryJournal>()

  constructor (opts: { config?: MeshConfig, network?: MemoryNetworkOptions } = {}) {
    this.clock = new ManualClock()
    this.network = new MemoryNetwork(this.clock, opts.network)
    this.config = opts.config ?? parseConfig({ mdns: false })
    this.blobs = new MemoryBlobRegistry(this.network)
  }

  /** Create and start a peer (a restart when `id` was used before). */
  add (id: string, probe: ResourceProbe = fakeProbe(), config: MeshConfig = this.config, runner = new FunctionRunner()): MeshPeer {
    const transport = this.network.transport(id)
    this.runners.set(id, runner)
    const journal = new MemoryJournal()
    this.journals.set(id, journal)
    const peer = new MeshPeer({
      transport, clock: this.clock, logger: silentLogger, probe, runner, solver,
      blobs: this.blobs.store(id), journal, handlerNames: () => runner.names()
    }, config)
    peer.membership.onChange(change => { this.changes.push({ observer: id, ...change }) })
    this.peers.set(id, peer)
    this.transports.set(id, transport)
    peer.start()
    return peer
  }

  peer (id: string): MeshPeer {
    const p = this.peers.get(id)
    if (p === undefined) throw new Error(`no peer ${id}`)
    return p
  }

  transport (id: string): MemoryTransport {
    const t = this.transports.get(id)
    if (t === undefined) throw new Error(`no transport ${id}`)
    return t
  }

  /** How `observer` currently sees `subject` (undefined when not listed). */
  view (observer: string, subject: string): PeerView | undefined {
    return this.peer(observer).peers().find(v => v.id === subject)
  }

  /** The changes `observer` reported about `subject`, optionally only from time `since` on. */
  changesAbout (observer: string, subject: string, since = -Infinity): ObservedChange[] {
    return this.changes.filter(c => c.observer === observer && c.peer === subject && c.at >= since)
  }

  async advance (ms: number): Promise<void> {
    await this.clock.advanceAsync(ms)
  }
}

/** Three peers a–b–c linked in a line, started together and left to gossip for ~2 s. */
export async function lineOfThree (opts: ConstructorParameters<typeof TestMesh>[0] = {}): Promise<TestMesh> {
  const mesh = new TestMesh(opts)
  for (const id of ['a', 'b', 'c']) mesh.add(id)
  mesh.network.link('a', 'b')
  mesh.network.link('b', 'c')
  await mesh.advance(2_000)
  return mesh
}

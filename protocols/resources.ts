/**
 * `meshwork/resources/1`: every peer's ResourceAd, gossiped periodically
 * (`gossip.intervalMs`, default 1 s) and at once when its free capacity changes
 * markedly. docs/ARCHITECTURE.md §4.
 *
 * Within v1 only optional fields may be added; anything else is `/2`.
 */
import { z } from 'zod'
import { decodeMessage, encodeMessage, type Decoded } from './codec.ts'

export const RESOURCES_TOPIC = 'meshwork/resources/1'
export const RESOURCE_AD_VERSION = 1

/**
 * Limits. An ad goes to every peer every second, so it must stay small; these
 * bounds keep the worst case near 24 KiB while leaving room for real configs
 * (a peer with dozens of handlers and allowed commands).
 */
export const LIMITS = {
  /** Whole encoded ad. Gossipsub itself stops at ~4 MiB; we want far less. */
  maxAdBytes: 32 * 1024,
  maxAddrs: 16,
  maxAddrLength: 256,
  /** Why a peer yields (`busy`). */
  maxReasonLength: 256,
  maxGpus: 16,
  maxCustomResources: 32,
  maxKinds: 8,
  maxHandlers: 64,
  maxCommands: 64,
  maxTags: 32,
  /** Artifact ids in an ad: 64 × 17 bytes ≈ 1 KiB. */
  maxArtifacts: 64,
  maxWarm: 16,
  maxNameLength: 128,
  /** No single machine has more than this many of anything we count. */
  maxQuantity: 1e9
} as const

/** Names of custom resources: `licence:matlab`, `fpga.xilinx`, `slots_a`. */
export const RESOURCE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/

const quantity = z.number().finite().min(0).max(LIMITS.maxQuantity)
const name = z.string().min(1).max(LIMITS.maxNameLength)

export const resourcesSchema = z.object({
  /** CPU cores (fractional allowed: 1.5 cores). */
  cpu: quantity,
  memoryMB: quantity,
  gpu: quantity,
  /**
   * GPU memory, MB. In capacity and free: the sum over the peer's devices whose
   * memory is known (the per-device view is `gpus`). In a task's demand: the
   * memory it needs on each GPU it uses (a share of one device when `gpu` is 0).
   */
  gpuMemoryMB: quantity.optional(),
  custom: z.record(z.string().regex(RESOURCE_NAME), quantity)
    .refine(r => Object.keys(r).length <= LIMITS.maxCustomResources, `at most ${LIMITS.maxCustomResources} custom resources`)
})
export type Resources = z.infer<typeof resourcesSchema>

/**
 * One GPU. `memoryMB` 0 means its memory is unknown (a declared count without
 * `resources.gpuMemoryMB`): it takes whole-device tasks but no memory shares.
 * `freeMemoryMB`: memory not held by running tasks (absent when unknown);
 * `whole`: a task holds the whole device (its free memory is then 0).
 */
const gpuSchema = z.object({ model: name, memoryMB: quantity, freeMemoryMB: quantity.optional(), whole: z.boolean().optional() })
  .refine(g => (g.freeMemoryMB ?? 0) <= g.memoryMB, { message: 'free memory exceeds memory', path: ['freeMemoryMB'] })
export type GpuInfo = z.infer<typeof gpuSchema>

export const resourceAdSchema = z.object({
  v: z.literal(RESOURCE_AD_VERSION),
  /** Must equal the gossip message's signer: a peer speaks only for itself. */
  peerId: z.string().min(1).max(128),
  /** Start time of the advertising process (ms). A restart gives a larger epoch. */
  epoch: z.number().int().min(0),
  /** Increases with every ad within one epoch; older ads are ignored. */
  seq: z.number().int().min(0),
  /** Sender's wall clock when it built the ad (ms since 1970). */
  time: z.number().int().min(0),
  /** Where to dial this peer; lets peers that share only a seed find each other. */
  addrs: z.array(z.string().min(1).max(LIMITS.maxAddrLength)).max(LIMITS.maxAddrs),
  capacity: resourcesSchema,
  free: resourcesSchema,
  cpuModel: z.string().max(LIMITS.maxNameLength),
  gpus: z.array(gpuSchema).max(LIMITS.maxGpus),
  load: z.object({
    /** 1-minute load average. */
    avg1: quantity,
    /** Whole-machine CPU busy over the last sample, 0–100. */
    cpuBusy: z.number().finite().min(0).max(100),
    /** Event-loop delay of the peer process (p99 over the last sample), ms. */
    eventLoopDelayMs: quantity,
    /** The part of cpuBusy that is this peer's own work (process, workers, task processes), 0–100. */
    meshCpuBusy: z.number().finite().min(0).max(100).optional()
  }),
  tasks: z.object({ running: z.number().int().min(0), queued: z.number().int().min(0) }),
  /** Calibrated speed score; 1.0 is the reference machine. */
  speed: z.number().finite().positive().max(1e6),
  caps: z.object({
    kinds: z.array(name).max(LIMITS.maxKinds),
    handlers: z.array(name).max(LIMITS.maxHandlers),
    commands: z.array(name).max(LIMITS.maxCommands),
    tags: z.array(name).max(LIMITS.maxTags),
    /** Origins whose jobs this peer runs, when not every peer's (trust.submitters); absent = any. */
    origins: z.array(z.string().min(1).max(128)).max(LIMITS.maxHandlers).optional(),
    /**
     * How this peer enforces exec tasks' limits: `cgroup-v2`, `cgroup-v1`, `rlimit` or `none`
     * (a string, so a later kind does not make older peers drop the ad; optional in v1).
     */
    limits: z.string().max(16).optional(),
    /** The exec sandbox: `bwrap` or `none` (optional in v1). */
    sandbox: z.string().max(16).optional(),
    /** Exec tasks that ask for the network may have it here (executor.exec.network; optional in v1). */
    network: z.boolean().optional()
  }),
  /** Set on the last ad of a peer that stops cleanly: mark it gone at once. */
  leaving: z.boolean().optional(),
  /** Why the peer takes no work now (load shift: its owner's work comes first). */
  busy: z.string().max(LIMITS.maxReasonLength).optional(),
  /**
   * The artifacts this peer holds in its cache, most recently used first, by
   * ad id (the first 16 hex digits of the sha-256): who to fetch from (optional in v1).
   */
  artifacts: z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(LIMITS.maxArtifacts).optional(),
  /** The artifact cache: MB used and the cap (optional in v1). */
  cache: z.object({ usedMB: quantity, maxMB: quantity }).optional(),
  /** Keys of the models warm in this peer's handler threads, with how long each took to load (optional in v1). */
  warm: z.array(z.object({ key: name, loadMs: quantity })).max(LIMITS.maxWarm).optional()
}).refine(
  ad => ad.free.cpu <= ad.capacity.cpu && ad.free.memoryMB <= ad.capacity.memoryMB && ad.free.gpu <= ad.capacity.gpu &&
    (ad.free.gpuMemoryMB ?? 0) <= (ad.capacity.gpuMemoryMB ?? 0) &&
    Object.entries(ad.free.custom).every(([k, v]) => v <= (ad.capacity.custom[k] ?? 0)),
  { message: 'free exceeds capacity', path: ['free'] }
)
export type ResourceAd = z.infer<typeof resourceAdSchema>

export function encodeResourceAd (ad: ResourceAd): Uint8Array {
  return encodeMessage(ad)
}

/**
 * Decode an ad received from gossip. `signer` is the peer that signed the gossip
 * message (not the neighbour that forwarded it); an ad about anyone else is forged.
 */
export function decodeResourceAd (bytes: Uint8Array, signer: string): Decoded<ResourceAd> {
  const decoded = decodeMessage(resourceAdSchema, bytes, LIMITS.maxAdBytes, RESOURCE_AD_VERSION)
  if (decoded.ok && decoded.value.peerId !== signer) {
    return { ok: false, reason: 'signer', detail: `ad for ${decoded.value.peerId} signed by ${signer}` }
  }
  return decoded
}

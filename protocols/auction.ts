/**
 * `meshwork/auction/1` (gossip): an origin's `CallForBids` for a batch of open
 * tasks, and `Cancel` of a whole job. `/meshwork/bid/1.0.0` (stream, bidder →
 * origin): a peer's `Bid` for some of those tasks. docs/ARCHITECTURE.md §4–§6.
 *
 * Within v1 only optional fields may be added; anything else is `/2`.
 */
import { z } from 'zod'
import { decodeMessage, encodeMessage, type Decoded } from './codec.ts'
import { resourcesSchema } from './resources.ts'

export const AUCTION_TOPIC = 'meshwork/auction/1'
export const BID_PROTOCOL = '/meshwork/bid/1.0.0'
export const AUCTION_VERSION = 1 as const

export const AUCTION_LIMITS = {
  /** One call carries about as many tasks as the mesh has free slots; 512 bounds a round. */
  maxTasksPerCall: 512,
  /** ~300 B per open task at most, so a full call stays near 150 KiB, far under gossip's 4 MiB. */
  maxCallBytes: 256 * 1024,
  maxBidBytes: 64 * 1024,
  maxIdLength: 160,
  maxExclude: 32,
  maxReasonLength: 256,
  /** Artifacts named per open task (the largest ones: what decides the fetch time). */
  maxArtifacts: 8,
  /**
   * The widest bid window a Meshwork origin uses (it doubles from
   * `auction.bidWindowMs` up to this when bidders answer late). A call may say
   * more (the schema allows 60 s), but bidders hold capacity for at most this
   * window plus a grace: one message must not reserve a peer for minutes.
   */
  maxBidWindowMs: 2000
} as const

const id = z.string().min(1).max(AUCTION_LIMITS.maxIdLength)
const peerId = z.string().min(1).max(128)

export const openTaskSchema = z.object({
  /** `name` or `name[i]`. */
  id,
  attempt: z.number().int().min(1),
  demand: resourcesSchema,
  /** Estimated work in ms on a speed-1.0 peer (from the spec, else learned). */
  workMs: z.number().finite().min(0),
  /** Bytes the executor must fetch before starting (inputs, upstream results). */
  inputBytes: z.number().int().min(0),
  kind: z.enum(['handler', 'exec']),
  /** For handler tasks: the handler a bidder must have. */
  handler: z.string().max(128).optional(),
  /** For exec tasks: the program (argv[0]) a bidder must allow. */
  command: z.string().max(1024).optional(),
  /** For exec tasks: the command runs through `/bin/sh -c`, so a bidder must allow `sh` (optional in v1). */
  shell: z.boolean().optional(),
  /** Tags a bidder must advertise. */
  tags: z.array(z.string().max(128)).max(32),
  /** For exec tasks: the confinement a bidder must give, `limits` (cgroups) or `sandbox` (and cgroups) (optional in v1). */
  isolation: z.string().max(16).optional(),
  /** For exec tasks: the task needs the network, so a bidder must give it (optional in v1). */
  network: z.boolean().optional(),
  priority: z.number().finite().min(-1000).max(1000),
  /**
   * The task's upward rank: its work plus the longest chain of work that waits
   * for it downstream (ms at speed 1.0, HEFT's rank). A task on the critical
   * path is worth more than its own length says (optional in v1).
   */
  rankMs: z.number().finite().min(0).optional(),
  /** How many live peers can run the task, as its origin sees them: fewer means scarcer (optional in v1). */
  alternatives: z.number().int().min(1).max(100_000).optional(),
  /** How long the task has been waiting to run (ms): the ageing term of its value. */
  ageMs: z.number().finite().min(0),
  /** Peers that must not bid (the task failed or was lost there). */
  exclude: z.array(peerId).max(AUCTION_LIMITS.maxExclude),
  /**
   * The task's largest artifacts, by ad id (the first 16 hex digits of the
   * sha-256) and size: a bidder that lacks one adds the time to fetch it to
   * its ETA (optional in v1).
   */
  artifacts: z.array(z.object({ id: z.string().regex(/^[0-9a-f]{16}$/), size: z.number().int().min(0) })).max(AUCTION_LIMITS.maxArtifacts).optional(),
  /** The `ctx.warm` key the task's handler loads: a bidder where it is not warm adds its load time (optional in v1). */
  warm: z.string().max(128).optional()
})
export type OpenTask = z.infer<typeof openTaskSchema>

export const callForBidsSchema = z.object({
  v: z.literal(AUCTION_VERSION),
  type: z.literal('cfb'),
  jobId: id,
  round: z.number().int().min(0),
  /** Must equal the gossip signer. */
  origin: peerId,
  /** How long the origin waits for bids (ms); bids after that are ignored. */
  windowMs: z.number().int().min(1).max(60_000),
  tasks: z.array(openTaskSchema).min(1).max(AUCTION_LIMITS.maxTasksPerCall)
})
export type CallForBids = z.infer<typeof callForBidsSchema>

export const cancelJobSchema = z.object({
  v: z.literal(AUCTION_VERSION),
  type: z.literal('cancel'),
  jobId: id,
  origin: peerId
})
export type CancelJob = z.infer<typeof cancelJobSchema>

export const auctionMessageSchema = z.discriminatedUnion('type', [callForBidsSchema, cancelJobSchema])
export type AuctionMessage = z.infer<typeof auctionMessageSchema>

export function encodeAuctionMessage (msg: AuctionMessage): Uint8Array {
  return encodeMessage(msg)
}

/** Decode a gossiped auction message; its origin must be the peer that signed it. */
export function decodeAuctionMessage (bytes: Uint8Array, signer: string): Decoded<AuctionMessage> {
  const d = decodeMessage(auctionMessageSchema, bytes, AUCTION_LIMITS.maxCallBytes, AUCTION_VERSION)
  if (d.ok && d.value.origin !== signer) return { ok: false, reason: 'signer', detail: `origin ${d.value.origin} signed by ${signer}` }
  return d
}

export const bidSchema = z.object({
  v: z.literal(AUCTION_VERSION),
  jobId: id,
  round: z.number().int().min(0),
  /** How loaded the bidder is (0–1, share of its CPU in use); breaks ETA ties. */
  load: z.number().finite().min(0).max(1e6),
  /** The bidder holds the capacity for this long (ms) after sending. */
  validMs: z.number().int().min(1).max(600_000),
  bids: z.array(z.object({
    taskId: id,
    attempt: z.number().int().min(1),
    /** Estimated completion time on this bidder (ms from now): queue wait + work ÷ speed + transfer. */
    etaMs: z.number().finite().min(0),
    /** True when the task would wait in the bidder's queue rather than start at once. */
    queued: z.boolean().optional()
  })).max(AUCTION_LIMITS.maxTasksPerCall),
  /**
   * Why the bidder did not bid for the capable tasks it left out ("no room
   * now or in its queue…", "yielding: …"): the origin shows it per peer for
   * tasks that stay pending (optional in v1).
   */
  declined: z.string().max(AUCTION_LIMITS.maxReasonLength).optional()
})
export type Bid = z.infer<typeof bidSchema>

export function encodeBid (bid: Bid): Uint8Array {
  return encodeMessage(bid)
}

export function decodeBid (bytes: Uint8Array): Decoded<Bid> {
  return decodeMessage(bidSchema, bytes, AUCTION_LIMITS.maxBidBytes, AUCTION_VERSION)
}

/** Constructors for auction messages, so no caller spells out `v` and `type`. */
export const auctionMsg = {
  callForBids: (c: Omit<CallForBids, 'v' | 'type'>): CallForBids => ({ v: AUCTION_VERSION, type: 'cfb', ...c }),
  cancelJob: (jobId: string, origin: string): CancelJob => ({ v: AUCTION_VERSION, type: 'cancel', jobId, origin }),
  bid: (b: Omit<Bid, 'v'>): Bid => ({ v: AUCTION_VERSION, ...b })
}

/**
 * Valid inputs for every fuzzed decoder, as fast-check arbitraries: the seeds
 * that mutations start from, and what must round-trip unchanged. Each
 * generates only what its schema accepts (no unknown fields, no values a
 * default would change), so `decode(encode(v))` must give back `v` itself.
 */
import fc from 'fast-check'
import { auctionMsg, type Bid, type CallForBids, type OpenTask } from '../../protocols/auction.ts'
import { taskMsg, type AttemptRef, type AwardedTask, type TaskMessage, type TaskResult } from '../../protocols/task.ts'
import type { ResourceAd } from '../../protocols/resources.ts'
import type { BlobChunk, BlobHeader, BlobRequest } from '../../protocols/blob.ts'
import type { ArtifactReply, ArtifactRequest } from '../../protocols/artifact.ts'
import { makeAd, makeRichAd } from '../helpers/ads.ts'

export const SIGNER = '12D3KooWSigner'

const id = fc.string({ minLength: 1, maxLength: 40 })
const sha = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => Buffer.from(b).toString('hex'))
const nat = (max = 1e9): fc.Arbitrary<number> => fc.integer({ min: 0, max })
const ms = fc.double({ min: 0, max: 1e7, noNaN: true }).map(x => (Object.is(x, -0) ? 0 : x))
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined })
/** Drop the keys whose value is undefined: an absent optional field, as a decoder returns it. */
const compact = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

/**
 * Any JSON-like value msgpack carries exactly: no -0 (it travels as 0), no
 * "__proto__" key (msgpackr renames it; job specs refuse it in inputs).
 */
export const plainValue: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 })
  .map(v => JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === '__proto__' ? undefined : Object.is(x, -0) ? 0 : x))) as unknown)

const resources = fc.record({ cpu: fc.double({ min: 0, max: 64, noNaN: true }), memoryMB: nat(1e6), gpu: nat(8), custom: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,15}$/), nat(100), { maxKeys: 3 }) })
  .map(r => ({ ...r, cpu: Object.is(r.cpu, -0) ? 0 : r.cpu }))

// ---------------------------------------------------------------- auction

const openTask: fc.Arbitrary<OpenTask> = fc.record({
  id, attempt: fc.integer({ min: 1, max: 100 }), demand: resources, workMs: ms, inputBytes: nat(),
  kind: fc.constantFrom('handler' as const, 'exec' as const), handler: opt(fc.string({ maxLength: 20 })), command: opt(fc.string({ maxLength: 20 })),
  shell: opt(fc.boolean()), tags: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), priority: fc.integer({ min: -1000, max: 1000 }),
  rankMs: opt(ms), alternatives: opt(fc.integer({ min: 1, max: 1000 })), ageMs: ms, exclude: fc.array(id, { maxLength: 3 }),
  artifacts: opt(fc.array(fc.record({ id: sha.map(s => s.slice(0, 16)), size: nat() }), { maxLength: 3 })), warm: opt(fc.string({ maxLength: 20 }))
}).map(compact)

export const callForBids: fc.Arbitrary<CallForBids> = fc.record({ jobId: id, round: nat(), windowMs: fc.integer({ min: 1, max: 60_000 }), tasks: fc.array(openTask, { minLength: 1, maxLength: 4 }) })
  .map(c => auctionMsg.callForBids({ ...c, origin: SIGNER }))

export const auctionMessage = fc.oneof(callForBids, id.map(j => auctionMsg.cancelJob(j, SIGNER)))

export const bid: fc.Arbitrary<Bid> = fc.record({
  jobId: id, round: nat(), load: fc.double({ min: 0, max: 1, noNaN: true }).map(x => x === 0 ? 0 : x), validMs: fc.integer({ min: 1, max: 600_000 }),
  bids: fc.array(fc.record({ taskId: id, attempt: fc.integer({ min: 1, max: 100 }), etaMs: ms, queued: opt(fc.boolean()) }).map(compact), { maxLength: 5 }),
  declined: opt(fc.string({ maxLength: 100 }))
}).map(b => auctionMsg.bid(compact(b)))

// ---------------------------------------------------------------- resources

export const resourceAd: fc.Arbitrary<ResourceAd> = fc.record({
  rich: fc.boolean(), seq: nat(), epoch: nat(), share: fc.double({ min: 0, max: 1, noNaN: true }), cpuModel: fc.string({ maxLength: 40 }),
  leaving: opt(fc.boolean()), busy: opt(fc.string({ maxLength: 40 })), artifacts: opt(fc.array(sha.map(s => s.slice(0, 16)), { maxLength: 4 }))
}).map(({ rich, seq, epoch, share, cpuModel, leaving, busy, artifacts }) => {
  const base = rich ? makeRichAd() : makeAd()
  const cpu = base.capacity.cpu * share
  return makeAd(compact({ ...base, peerId: SIGNER, seq, epoch, cpuModel, free: { ...base.free, cpu: cpu <= base.free.cpu ? cpu : base.free.cpu }, leaving, busy, artifacts }))
})

// ---------------------------------------------------------------- task

const ref: fc.Arbitrary<AttemptRef> = fc.record({ taskId: id, attempt: fc.integer({ min: 1, max: 100 }) })
const relPath = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,11}(\/[a-z0-9_-]{1,8})?$/)
const fileData = fc.oneof(fc.uint8Array({ maxLength: 32 }).map(b => ({ inline: b })), fc.record({ blob: fc.record({ sha256: sha, size: nat() }) }))

const awarded: fc.Arbitrary<AwardedTask> = fc.record({
  ref, index: nat(1000), count: opt(fc.integer({ min: 1, max: 1000 })), handler: fc.string({ maxLength: 20 }), input: plainValue, demand: resources,
  timeoutMs: opt(fc.integer({ min: 1, max: 1e6 })), upstream: fc.dictionary(fc.string({ maxLength: 8 }), plainValue, { maxKeys: 2 }),
  exec: opt(fc.record({ command: fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 3 }), env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,6}$/), fc.string({ maxLength: 8 }), { maxKeys: 2 }), stdin: opt(fc.string({ maxLength: 8 })), inputs: fc.dictionary(relPath, fileData, { maxKeys: 2 }), outputs: fc.array(relPath, { maxLength: 2 }), shell: fc.boolean() }).map(compact)),
  artifacts: opt(fc.array(fc.record({ name: relPath, sha256: sha, size: nat() }), { maxLength: 2 }))
}).map(({ ref, exec, handler, input, ...t }) => compact(exec !== undefined
  ? { ...ref, ...t, kind: 'exec' as const, exec }
  : { ...ref, ...t, kind: 'handler' as const, handler, input }))

const result: fc.Arbitrary<TaskResult> = fc.oneof(
  fc.record({ ref, value: plainValue, durationMs: ms, outputs: opt(fc.dictionary(relPath, fileData, { maxKeys: 2 })) }).map(({ ref, ...r }) => compact({ ...ref, ok: true as const, ...r })),
  fc.record({ ref, error: fc.string({ maxLength: 40 }), reason: fc.string({ maxLength: 10 }), retryable: fc.boolean(), durationMs: ms }).map(({ ref, ...r }) => ({ ...ref, ok: false as const, ...r }))
)

export const taskMessage: fc.Arbitrary<TaskMessage> = fc.oneof(
  fc.tuple(id, nat(), fc.array(awarded, { minLength: 1, maxLength: 3 })).map(([j, r, t]) => taskMsg.award(j, r, t)),
  fc.tuple(id, fc.array(ref, { maxLength: 4 })).map(([j, a]) => taskMsg.ack(j, a)),
  fc.tuple(id, nat()).map(([j, r]) => taskMsg.closed(j, r)),
  fc.tuple(id, fc.string({ maxLength: 40 }), opt(fc.array(ref, { maxLength: 3 }))).map(([j, why, t]) => taskMsg.cancel(j, why, t)),
  fc.tuple(id, fc.array(ref, { maxLength: 3 }), fc.array(ref.map(r => ({ ...r, reason: 'busy' })), { maxLength: 3 })).map(([j, a, r]) => taskMsg.accept(j, a, r)),
  fc.tuple(id, fc.array(fc.record({ ref, running: fc.boolean(), fraction: opt(fc.double({ min: 0, max: 1, noNaN: true }).map(x => x === 0 ? 0 : x)) }).map(({ ref, ...p }) => compact({ ...ref, ...p })), { maxLength: 3 })).map(([j, items]) => taskMsg.progress(j, items)),
  fc.tuple(id, fc.array(result, { minLength: 1, maxLength: 3 })).map(([j, r]) => taskMsg.result(j, r)),
  fc.tuple(id, fc.array(ref.map(r => ({ ...r, reason: 'load' })), { minLength: 1, maxLength: 3 })).map(([j, t]) => taskMsg.release(j, t)),
  fc.tuple(id, ref, plainValue).map(([j, r, state]) => taskMsg.checkpoint(j, r, { state }))
)

// ---------------------------------------------------------------- blob, artifact

export const blobRequest: fc.Arbitrary<BlobRequest> = sha.map(sha256 => ({ v: 1, sha256 }))
export const blobHeader: fc.Arbitrary<BlobHeader> = fc.record({ ok: fc.boolean(), size: nat(), error: opt(fc.string({ maxLength: 50 })) }).map(h => compact({ v: 1, ...h }))
export const blobChunk: fc.Arbitrary<BlobChunk> = fc.record({ sha256: sha, data: fc.uint8Array({ maxLength: 256 }) }).map(c => ({ v: 1, ...c }))
export const artifactRequest: fc.Arbitrary<ArtifactRequest> = fc.oneof(
  sha.map(sha256 => ({ v: 1 as const, op: 'manifest' as const, sha256 })),
  fc.tuple(sha, nat(65536)).map(([sha256, index]) => ({ v: 1 as const, op: 'chunk' as const, sha256, index }))
)
export const artifactReply: fc.Arbitrary<ArtifactReply> = fc.record({
  ok: fc.boolean(), error: opt(fc.string({ maxLength: 50 })), size: opt(nat()), chunks: opt(fc.uint8Array({ maxLength: 96 })), data: opt(fc.uint8Array({ maxLength: 256 }))
}).map(r => compact({ v: 1, ...r }))

// ---------------------------------------------------------------- job specs and configs

const taskName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,7}$/)

/** A valid job spec as a user writes it: 1–4 tasks, each `after` naming only earlier ones. */
export const jobSpec: fc.Arbitrary<{ name: string, tasks: Record<string, unknown> }> = fc.record({
  name: fc.string({ minLength: 1, maxLength: 30 }),
  tasks: fc.uniqueArray(fc.record({
    name: taskName,
    exec: fc.boolean(),
    input: plainValue,
    count: opt(fc.integer({ min: 1, max: 50 })),
    cpu: opt(fc.double({ min: 0.01, max: 16, noNaN: true })),
    retries: opt(nat(5)),
    priority: opt(fc.integer({ min: -1000, max: 1000 })),
    after: fc.boolean(),
    env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,5}$/), fc.string({ maxLength: 8 }).filter(s => !s.includes('\0')), { maxKeys: 2 }),
    inputs: fc.dictionary(relPath, relPath, { maxKeys: 2 }),
    timeoutMs: opt(fc.integer({ min: 1, max: 3600_000 }))
  }), { minLength: 1, maxLength: 4, selector: t => t.name })
}).map(({ name, tasks }) => ({
  name,
  tasks: Object.fromEntries(tasks.map((t, i) => [t.name, compact({
    kind: t.exec ? 'exec' : 'handler',
    ...(t.exec ? { command: ['echo', '{i}'], env: t.env, inputs: t.inputs } : { handler: 'h.run', input: t.input }),
    count: t.count,
    resources: t.cpu === undefined ? undefined : { cpu: t.cpu },
    retries: t.retries,
    priority: t.priority,
    after: t.after && i > 0 ? [tasks[i - 1]!.name] : undefined,
    timeoutMs: t.timeoutMs
  })]))
}))

/** A valid `mesh.config.json`, as a user writes it (fields the other rules leave free). */
export const config: fc.Arbitrary<Record<string, unknown>> = fc.record({
  mdns: opt(fc.boolean()),
  listen: opt(fc.array(fc.integer({ min: 0, max: 65535 }).map(p => `/ip4/127.0.0.1/tcp/${p}`), { minLength: 1, maxLength: 2 })),
  bootstrap: opt(fc.array(fc.integer({ min: 1, max: 65535 }).map(p => `/dns4/peer${p}.example/tcp/4001`), { maxLength: 2 })),
  dataDir: opt(fc.constantFrom('./data', '~/.meshwork', '/var/lib/mesh')),
  tags: opt(fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 4 })),
  control: opt(fc.record({ port: fc.integer({ min: 0, max: 65535 }) })),
  resources: opt(fc.record({ cpu: fc.oneof(fc.constant('auto'), fc.integer({ min: 1, max: 64 })), memoryMB: fc.oneof(fc.constant('auto'), fc.integer({ min: 1024, max: 65536 })) })),
  gossip: opt(fc.record({ intervalMs: fc.integer({ min: 50, max: 2000 }) })),
  log: opt(fc.record({ level: fc.constantFrom('trace', 'debug', 'info', 'warn', 'error', 'silent') })),
  trust: opt(fc.record({ submitters: fc.oneof(fc.constantFrom('mesh', 'self'), fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 3 })) })),
  history: opt(fc.record({ keepDays: fc.integer({ min: 1, max: 3650 }) }))
}).map(compact)

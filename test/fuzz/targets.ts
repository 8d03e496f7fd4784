/**
 * Every decoder of hostile input, as a fuzz target, and the one property they
 * must all keep: on any input the decoder returns (or throws only the error
 * class its contract documents), within its time bound, what it accepts can be
 * encoded again, and a valid input decodes to what was meant. Used by the unit suite (test/unit/fuzz.test.ts,
 * a few thousand cases each) and by `npm run fuzz` (test/fuzz/run.ts, 100,000
 * or more each).
 */
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { decodeValue, encodeMessage, type DropReason } from '../../protocols/codec.ts'
import { decodeAuctionMessage, decodeBid } from '../../protocols/auction.ts'
import { decodeResourceAd } from '../../protocols/resources.ts'
import { decodeTaskMessage } from '../../protocols/task.ts'
import { decodeBlobChunk, decodeBlobHeader, decodeBlobRequest } from '../../protocols/blob.ts'
import { decodeArtifactReply, decodeArtifactRequest } from '../../protocols/artifact.ts'
import { parseJobSpec } from '../../src/jobs/spec.ts'
import { parseConfig } from '../../src/config.ts'
import { JobSpecError, MeshError } from '../../src/errors.ts'
import { CONTROL_BODY_LIMIT } from '../../node/control/api.ts'
import { HttpError, parseJsonBody } from '../../node/control/http.ts'
import { submitRequestOf } from '../../node/control/jobs-routes.ts'
import { absoluteArtifactPaths, inputPaths, parseJobFile } from '../../node/job-files.ts'
import { parseConfigFile } from '../../node/config-paths.ts'
import { resolvePaths } from '../../node/config-file.ts'
import { mutatedBytes, mutatedValues, randomBytes, type Format, type FuzzCase } from './mutate.ts'
import * as valid from './valid.ts'

/**
 * How long one case may take: a second, and 0.1 s more per MiB of input
 * (decoding at 10 MiB/s or faster). A decoder that takes longer on some input
 * stalls its peer's event loop: a hang, or work that grows faster than its input.
 */
export const TIME_BOUND = { ms: 1000, msPerMiB: 100 }
export const timeBoundMs = (bytes: number): number => TIME_BOUND.ms + TIME_BOUND.msPerMiB * bytes / (1024 * 1024)

/** What a decoder made of its input: a value, or its refusal (a drop reason, or the documented error's message). */
export type Outcome = { ok: true, value: unknown } | { ok: false, error: string }

export interface FuzzTarget {
  name: string
  format: Format
  /** Valid inputs, as values. */
  valid: fc.Arbitrary<unknown>
  encode: (value: unknown) => Uint8Array
  /** Decode; throws only what escapes the decoder's contract (a crash). */
  decode: (bytes: Uint8Array) => Outcome
  /** What a valid value must decode to. */
  expected: (value: unknown) => unknown
}

const REASONS = new Set<DropReason>(['oversize', 'malformed', 'schema', 'signer', 'version'])

/** A protocol decoder: never throws, and every refusal names a known drop reason. */
function wire (name: string, arb: fc.Arbitrary<unknown>, decoder: (b: Uint8Array) => { ok: true, value: unknown } | { ok: false, reason: DropReason, detail: string }): FuzzTarget {
  return {
    name,
    format: 'msgpack',
    valid: arb,
    encode: encodeMessage,
    decode: bytes => {
      const d = decoder(bytes)
      if (d.ok) return { ok: true, value: d.value }
      if (!REASONS.has(d.reason)) throw new Error(`unknown drop reason ${d.reason}`)
      return { ok: false, error: `${d.reason}: ${d.detail}` }
    },
    expected: v => v
  }
}

const utf8 = new TextEncoder()
const jsonBytes = (v: unknown): Uint8Array => utf8.encode(JSON.stringify(v))

/** Run `f`; an error `allowed` accepts is the decoder's documented refusal, anything else escapes. */
function refusing (allowed: (err: unknown) => boolean, f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() }
  } catch (err) {
    if (allowed(err)) return { ok: false, error: (err as Error).message }
    throw err
  }
}

const jobFile = (bytes: Uint8Array): unknown => {
  const spec = absoluteArtifactPaths(parseJobFile(bytes, 'job.json'), '/jobs')
  // The CLI reads every input path the file names before validation; a bounded look is enough here.
  let n = 0
  for (const _ of inputPaths(spec)) if (++n >= 256) break
  return parseJobSpec(spec, 'job.json')
}

const configFile = (bytes: Uint8Array): unknown => resolvePaths(parseConfig(parseConfigFile(bytes, 'mesh.config.json'), 'mesh.config.json'), '/etc/meshwork')

const submitBody = fc.record({ spec: valid.jobSpec, files: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}\.bin$/), fc.uint8Array({ maxLength: 64 }), { maxKeys: 2 }) })

export const TARGETS: FuzzTarget[] = [
  wire('auction (call for bids, cancel)', valid.auctionMessage, b => decodeAuctionMessage(b, valid.SIGNER)),
  wire('bid', valid.bid, decodeBid),
  wire('resource ad', valid.resourceAd, b => decodeResourceAd(b, valid.SIGNER)),
  wire('task messages', valid.taskMessage, decodeTaskMessage),
  wire('blob request', valid.blobRequest, decodeBlobRequest),
  wire('blob header', valid.blobHeader, decodeBlobHeader),
  wire('blob chunk', valid.blobChunk, decodeBlobChunk),
  wire('artifact request', valid.artifactRequest, decodeArtifactRequest),
  wire('artifact reply', valid.artifactReply, decodeArtifactReply),
  {
    name: 'decodeValue (results, checkpoints)',
    format: 'msgpack',
    valid: fc.oneof(valid.plainValue, fc.float32Array({ maxLength: 8, noDefaultInfinity: true }).map(a => a.map(x => (Number.isNaN(x) || Object.is(x, -0) ? 0 : x)))),
    encode: encodeMessage,
    decode: bytes => { const d = decodeValue(bytes); return d.ok ? d : { ok: false, error: d.detail } },
    expected: v => v
  },
  {
    name: 'control API: POST /v1/jobs body',
    format: 'json',
    valid: submitBody,
    encode: v => {
      const { spec, files } = v as { spec: unknown, files?: unknown }
      const b64 = typeof files === 'object' && files !== null ? Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b instanceof Uint8Array ? Buffer.from(b).toString('base64') : b])) : files
      return jsonBytes({ spec, files: b64 })
    },
    // The route answers HttpError (its status), and a bad spec as a JobSpecError (400).
    decode: bytes => refusing(e => (e instanceof HttpError && e.status >= 400 && e.status < 500) || e instanceof JobSpecError, () => {
      const { spec, files } = submitRequestOf(parseJsonBody(bytes, CONTROL_BODY_LIMIT))
      return { spec: parseJobSpec(spec), files }
    }),
    expected: v => { const { spec, files } = v as { spec: unknown, files: Record<string, Uint8Array> }; return { spec: parseJobSpec(spec), files } }
  },
  {
    name: 'job file (mesh submit, mesh plan)',
    format: 'json',
    valid: valid.jobSpec,
    encode: jsonBytes,
    decode: bytes => refusing(e => e instanceof MeshError && e.code === 'MESH_ERR_JOB_SPEC', () => jobFile(bytes)),
    expected: v => parseJobSpec(absoluteArtifactPaths(v, '/jobs'))
  },
  {
    name: 'config file (mesh.config.json)',
    format: 'json',
    valid: valid.config,
    encode: jsonBytes,
    decode: bytes => refusing(e => e instanceof MeshError && (e.code === 'MESH_ERR_CONFIG' || e.code === 'MESH_ERR_CONFIG_FILE'), () => configFile(bytes)),
    expected: v => resolvePaths(parseConfig(v), '/etc/meshwork')
  }
]

/** Every kind of input a target is fuzzed with; valid ones too, so mutations and round trips mix. */
export function casesFor (t: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const validBytes = t.valid.map(t.encode)
  return fc.oneof(
    { weight: 2, arbitrary: randomBytes(t.format) },
    { weight: 4, arbitrary: mutatedBytes(validBytes, t.format) },
    { weight: 4, arbitrary: mutatedValues(t.valid, t.encode, t.format) },
    { weight: 1, arbitrary: validBytes.map(bytes => ({ how: 'valid', bytes })) }
  )
}

export interface CaseResult {
  ms: number
  /** Why the case failed the property: a throw, a bad outcome, or too slow. */
  failure?: string
}

/**
 * One case through the property: the decoder returns an Outcome (any), in
 * time, and what it accepts can be encoded again, as the peer will (the
 * journal, the next message that carries it): a value that decodes but
 * cannot be encoded (a cycle, nesting past the encoder's stack) hurts later.
 */
export function runCase (t: FuzzTarget, bytes: Uint8Array): CaseResult {
  const started = performance.now()
  let failure: string | undefined
  let accepted: { value: unknown } | undefined
  try {
    const out = t.decode(bytes)
    if (out.ok) accepted = out
    else if (typeof out.error !== 'string' || out.error === '') failure = 'refused without a reason'
  } catch (err) {
    failure = `threw ${describe(err)}`
  }
  const ms = performance.now() - started
  if (accepted !== undefined) {
    try { encodeMessage(accepted.value) } catch (err) { failure = `accepted a value it cannot encode again: ${describe(err)}` }
  }
  const bound = timeBoundMs(bytes.byteLength)
  if (failure === undefined && ms > bound) failure = `took ${ms.toFixed(0)} ms (bound ${bound.toFixed(0)} ms)`
  return failure === undefined ? { ms } : { ms, failure }
}

const describe = (err: unknown): string => err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : String(err)

/** Why a valid value does not round-trip, or undefined when it does. */
export function roundTripProblem (t: FuzzTarget, value: unknown): string | undefined {
  let out: Outcome
  try {
    out = t.decode(t.encode(value))
  } catch (err) {
    return `threw on a valid input: ${(err as Error).message}`
  }
  if (!out.ok) return `refused a valid input: ${out.error}`
  return isDeepStrictEqual(plain(out.value), plain(t.expected(value))) ? undefined : 'decoded to something else than was encoded'
}

/** Bytes as plain Uint8Arrays and objects with Object's prototype, so Buffers and null-prototype maps compare by content. */
function plain (v: unknown): unknown {
  if (v instanceof Uint8Array) return Uint8Array.from(v)
  if (ArrayBuffer.isView(v) || typeof v !== 'object' || v === null) return v
  if (Array.isArray(v)) return v.map(plain)
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
}

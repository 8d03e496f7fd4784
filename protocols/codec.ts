/**
 * The one way Meshwork turns wire bytes into values.
 *
 * Every protocol module pairs a zod schema with a byte cap and decodes through
 * `decodeMessage`, which never throws: a bad message comes back as a reason the
 * caller counts and drops (docs/ARCHITECTURE.md §1.3). Rules for every protocol:
 *  - within a major version only optional fields may be added; anything else
 *    bumps the topic or protocol id;
 *  - decoders ignore fields they do not know, so an older peer accepts a newer
 *    peer's messages;
 *  - the byte cap is checked before msgpack parsing, so an oversized message
 *    costs nothing but its length check;
 *  - before msgpackr parses a message, its bytes are scanned (msgpack-scan.ts):
 *    nesting deeper than MAX_MESSAGE_DEPTH, a map of more than MAX_MAP_ENTRIES
 *    entries (or more than MAX_MESSAGE_MAP_ENTRIES in all), more than
 *    MAX_MESSAGE_CONTAINERS arrays and maps, and extensions we never send are
 *    malformed.
 *
 * test/fuzz drives every decoder with random and mutated bytes (`npm run fuzz`).
 */
import { Packr } from 'msgpackr'
import type { z } from 'zod'
import { scanMsgpack } from './msgpack-scan.ts'

// Records (msgpackr's shared-structure extension) are off: they make a message
// depend on earlier ones, which untrusted peers could exploit and which breaks
// when messages are lost or reordered. int64 values decode as plain numbers.
// `moreTypes`: typed arrays travel as themselves (a handler's Float32Array
// result or checkpoint); without it msgpackr writes a Float32Array's elements
// as if they were bytes, and it arrives as a Buffer of the wrong values.
// `structuredClone: false`: msgpackr otherwise decodes its reference
// extensions (0x69, 0x70) even though we never encode them, so a peer could
// send a value that contains itself, which every later encoder loops on.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true, moreTypes: true, structuredClone: false })

/**
 * The deepest a message may nest. A real one nests a handler's input (at
 * most 512 levels, src/jobs/spec.ts) under a few levels of envelope.
 * msgpackr decodes about 4,300 levels but encodes only about 1,400, so a
 * deeper value would be accepted here and then break whatever encodes it next
 * (the journal, the award that carries it as an upstream result).
 */
export const MAX_MESSAGE_DEPTH = 1000
/**
 * The most entries one map of a message may have. Building a map as an
 * object slows down with its size (1.5 million keys: 2 s to build, 3 s more
 * to validate, in one turn of the event loop). No Meshwork message needs
 * more: a value inline in a message is at most 256 KiB (TASK_LIMITS.inlineBytes),
 * too small for this many keys, and a job's input may not have more either
 * (src/jobs/spec-checks.ts).
 */
export const MAX_MAP_ENTRIES = 65_536
/**
 * The most map entries of one message, in all its maps: decoding a million
 * took 0.3 to 0.9 s here, so a peer's frame cannot hold the event loop for
 * longer. A full round's award (4,096 tasks of ~20 fields) is under 100,000.
 */
export const MAX_MESSAGE_MAP_ENTRIES = 1_048_576
/**
 * The most arrays and maps in one message: each is an object to build (four
 * million one-element arrays took 0.45 s). A message holding more is nearly
 * all brackets: under 4 bytes each in a 16 MiB frame.
 */
export const MAX_MESSAGE_CONTAINERS = 4_194_304

export type DropReason = 'oversize' | 'malformed' | 'schema' | 'signer' | 'version' | 'slow'

export type Decoded<T> =
  | { ok: true, value: T }
  | { ok: false, reason: DropReason, detail: string }

export function encodeMessage (value: unknown): Uint8Array {
  return packr.pack(value)
}

/** Decode `bytes` against `schema`; reject anything larger than `maxBytes`. */
export function decodeMessage<S extends z.ZodType> (
  schema: S, bytes: Uint8Array, maxBytes: number, version: number
): Decoded<z.output<S>> {
  if (bytes.byteLength > maxBytes) {
    return { ok: false, reason: 'oversize', detail: `${bytes.byteLength} bytes > limit ${maxBytes}` }
  }
  const refused = scanMsgpack(bytes, { maxDepth: MAX_MESSAGE_DEPTH, maxMapEntries: MAX_MAP_ENTRIES, maxTotalMapEntries: MAX_MESSAGE_MAP_ENTRIES, maxContainers: MAX_MESSAGE_CONTAINERS })
  if (refused !== undefined) return { ok: false, reason: 'malformed', detail: refused }
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'malformed', detail: 'not a msgpack map' }
  }
  const v = (raw as { v?: unknown }).v
  if (v !== version) {
    return { ok: false, reason: 'version', detail: `v=${shown(v)}, expected ${version}` }
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? '' : issue.path.join('.')
    return { ok: false, reason: 'schema', detail: `${where === '' ? '(root)' : where}: ${issue?.message ?? 'invalid'}` }
  }
  return { ok: true, value: parsed.data }
}

/**
 * Decode a bare msgpack value (a task's result, a checkpoint) that has no
 * schema of its own. Never throws. Nesting is bounded as in messages; maps
 * are not (a large result travels as a blob of any size).
 */
export function decodeValue (bytes: Uint8Array): { ok: true, value: unknown } | { ok: false, detail: string } {
  const refused = scanMsgpack(bytes, { maxDepth: MAX_MESSAGE_DEPTH, maxMapEntries: Infinity, maxTotalMapEntries: Infinity, maxContainers: Infinity })
  if (refused !== undefined) return { ok: false, detail: refused }
  try {
    return { ok: true, value: packr.unpack(bytes) }
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  }
}

/**
 * A field's value for a drop's detail: a primitive as itself (cut short), a
 * container by its kind. String() of a peer's array joins all of it, and
 * recursed until the stack overflowed on a deep one (found by test/fuzz).
 */
function shown (v: unknown): string {
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object'
  return String(v).slice(0, 40)
}

/** Counts dropped messages by reason; surfaced in `mesh peers --json`. */
export class DropCounter {
  readonly counts: Record<DropReason, number> = { oversize: 0, malformed: 0, schema: 0, signer: 0, version: 0, slow: 0 }
  total = 0
  add (reason: DropReason): void {
    this.counts[reason]++
    this.total++
  }
}

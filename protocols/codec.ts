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
 *  - a value nested deeper than MAX_MESSAGE_DEPTH is malformed (see there).
 *
 * test/fuzz drives every decoder with random and mutated bytes (`npm run fuzz`).
 */
import { Packr } from 'msgpackr'
import type { z } from 'zod'

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
 * The deepest a decoded message may nest. A real one nests a handler's input
 * (at most 512 levels, src/jobs/spec.ts) under a few levels of envelope.
 * msgpackr decodes about 4,300 levels but encodes only about 1,400, so a
 * deeper value would be accepted here and then break whatever encodes it next
 * (the journal, the award that carries it as an upstream result).
 */
export const MAX_MESSAGE_DEPTH = 1000

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
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'malformed', detail: 'not a msgpack map' }
  }
  if (nestedDeeperThan(raw, MAX_MESSAGE_DEPTH)) return { ok: false, reason: 'malformed', detail: TOO_DEEP }
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

/** Decode a bare msgpack value (a task's result) that has no schema of its own. Never throws. */
export function decodeValue (bytes: Uint8Array): { ok: true, value: unknown } | { ok: false, detail: string } {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  }
  return nestedDeeperThan(value, MAX_MESSAGE_DEPTH) ? { ok: false, detail: TOO_DEEP } : { ok: true, value }
}

const TOO_DEEP = `nested more than ${MAX_MESSAGE_DEPTH} levels deep`

/**
 * A field's value for a drop's detail: a primitive as itself (cut short), a
 * container by its kind. String() of a peer's array joins all of it, and
 * recursed until the stack overflowed on a deep one (found by test/fuzz).
 */
function shown (v: unknown): string {
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object'
  return String(v).slice(0, 40)
}

/**
 * Whether `value` nests containers deeper than `max`: arrays, objects, Sets,
 * and an Error's `cause` (msgpackr decodes all of these). Iterative, and
 * only containers are pushed, so a message of millions of numbers costs
 * one pass and no allocation per number.
 */
function nestedDeeperThan (value: unknown, max: number): boolean {
  const values: object[] = []
  const depths: number[] = []
  const push = (v: unknown, depth: number): void => {
    if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) { values.push(v); depths.push(depth) }
  }
  push(value, 0)
  while (values.length > 0) {
    const v = values.pop() as object
    const depth = depths.pop() as number
    if (depth >= max) return true
    const children = Array.isArray(v) || v instanceof Set ? v : v instanceof Error ? [v.cause] : Object.values(v)
    for (const child of children) push(child, depth + 1)
  }
  return false
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

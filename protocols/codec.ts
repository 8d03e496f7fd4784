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
 *    costs nothing but its length check.
 */
import { Packr } from 'msgpackr'
import type { z } from 'zod'

// Records (msgpackr's shared-structure extension) are off: they make a message
// depend on earlier ones, which untrusted peers could exploit and which breaks
// when messages are lost or reordered. int64 values decode as plain numbers.
// `moreTypes`: typed arrays travel as themselves (a handler's Float32Array
// result or checkpoint); without it msgpackr writes a Float32Array's elements
// as if they were bytes, and it arrives as a Buffer of the wrong values.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true, moreTypes: true })

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
  const v = (raw as { v?: unknown }).v
  if (v !== version) {
    return { ok: false, reason: 'version', detail: `v=${String(v)}, expected ${version}` }
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
  try {
    return { ok: true, value: packr.unpack(bytes) }
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  }
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

/**
 * Hostile inputs for the decoders, as fast-check arbitraries: random bytes;
 * valid messages mutated byte by byte (bit flips, overwrites, truncation,
 * cuts, splices, duplicated ranges, huge length headers, deep nesting); and
 * valid values mutated before encoding (wrong types, big numbers, huge
 * strings, deep nesting, `__proto__` / `constructor` keys, extra, missing and
 * repeated fields). Every case carries `how` it was made, so the runner can
 * say what kind of input was slowest.
 */
import fc from 'fast-check'

/** One fuzz input: the bytes a decoder gets, and which generator made them. */
export interface FuzzCase { how: string, bytes: Uint8Array }

/** The wire format of a target's valid inputs: how nesting and huge lengths are spelled. */
export type Format = 'msgpack' | 'json'

const text = new TextEncoder()

// ---------------------------------------------------------------- byte level

/** Byte strings that mean something to a msgpack parser: huge declared lengths, extensions, nesting. */
const MSGPACK_SNIPPETS: Uint8Array[] = [
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 4 G elements
  [0xdd, 0x7f, 0xff, 0xff, 0xff],
  [0xdf, 0xff, 0xff, 0xff, 0xff], // map32 of 4 G entries
  [0xdb, 0xff, 0xff, 0xff, 0xff], // str32 of 4 GB
  [0xc6, 0x7f, 0xff, 0xff, 0xff], // bin32 of 2 GB
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x42], // ext32 BigInt of 4 GB
  [0xdc, 0xff, 0xff], // array16
  [0xde, 0xff, 0xff], // map16
  [0xd4, 0x72, 0x40], // record definition (records are off: must not persist)
  [0xd6, 0x69, 0, 0, 0, 1], // structured-clone id
  [0xd6, 0x70, 0, 0, 0, 1], // structured-clone pointer
  [0xd4, 0x73, 0x00], // Set
  [0xd4, 0x65, 0x00], // Error
  [0xd4, 0x78, 0x00], // RegExp
  [0xd6, 0x62, 0xff, 0xff, 0xff, 0xff], // bundled strings with a huge size
  [0xc7, 0x03, 0x74, 0x07, 0x01, 0x02], // typed array (Float32) of an odd length
  [0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // int64 max
  [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // NaN
  [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], // Infinity
  [0xc1], // never used
  [0xa9, ...text.encode('__proto__')],
  [0xab, ...text.encode('constructor')]
].map(b => Uint8Array.from(b))

const JSON_SNIPPETS: Uint8Array[] = [
  '"__proto__":{"polluted":1},', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '"constructor":',
  '1e999', '-1e999', '123456789012345678901234567890', '-0', '0.1e-400', '"\\ud800"', '"\\u0000"', '\\', '"',
  '[[[[[[[[', ']]]]', '{{{{', '}}', ',', ':', 'null', 'true', '""', '{}', '[]', '\uFEFF', '\u2028'
].map(s => text.encode(s))

/** Bytes often worth trying at any position. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xc2, 0xc3, 0xdc, 0xdd, 0xde, 0xdf, 0xd4, 0x90, 0x80, 0xa0, 0x22, 0x5b, 0x7b, 0x5d, 0x7d, 0x2c, 0x3a, 0x5c]

type ByteOp = (b: Uint8Array) => Uint8Array

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

const at = (b: Uint8Array, frac: number): number => Math.floor(frac * (b.byteLength + 1))

/** One byte-level mutation; `frac` values pick positions proportionally, so they fit any length. */
function byteOp (format: Format): fc.Arbitrary<{ name: string, op: ByteOp }> {
  const frac = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
  const snippets = format === 'msgpack' ? MSGPACK_SNIPPETS : JSON_SNIPPETS
  return fc.oneof(
    fc.tuple(frac, fc.nat({ max: 7 })).map(([f, bit]) => ({ name: 'bit flip', op: (b: Uint8Array) => { const c = Uint8Array.from(b); const i = Math.min(at(b, f), b.byteLength - 1); if (i >= 0) c[i]! ^= 1 << bit; return c } })),
    fc.tuple(frac, fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.nat({ max: 255 }))).map(([f, v]) => ({ name: 'byte set', op: (b: Uint8Array) => { const c = Uint8Array.from(b); const i = Math.min(at(b, f), b.byteLength - 1); if (i >= 0) c[i] = v; return c } })),
    frac.map(f => ({ name: 'truncation', op: (b: Uint8Array) => b.slice(0, at(b, f)) })),
    fc.tuple(frac, frac).map(([f, g]) => ({ name: 'cut', op: (b: Uint8Array) => { const [i, j] = [at(b, f), at(b, g)].sort((x, y) => x - y) as [number, number]; return concat(b.subarray(0, i), b.subarray(j)) } })),
    fc.tuple(frac, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([f, ins]) => ({ name: 'insert', op: (b: Uint8Array) => concat(b.subarray(0, at(b, f)), ins, b.subarray(at(b, f))) })),
    fc.tuple(frac, fc.constantFrom(...snippets)).map(([f, s]) => ({ name: 'splice', op: (b: Uint8Array) => concat(b.subarray(0, at(b, f)), s, b.subarray(at(b, f))) })),
    fc.tuple(frac, frac, fc.integer({ min: 1, max: 64 })).map(([f, g, times]) => ({
      name: 'duplicate',
      op: (b: Uint8Array) => { const [i, j] = [at(b, f), at(b, g)].sort((x, y) => x - y) as [number, number]; const r = b.subarray(i, j); return concat(b.subarray(0, j), ...Array.from({ length: times }, () => r), b.subarray(j)) }
    })),
    fc.integer({ min: 2, max: 6000 }).map(depth => ({ name: 'deep nesting', op: (b: Uint8Array) => nestBytes(b, depth, format) }))
  )
}

/** `b` inside `depth` one-element arrays. */
function nestBytes (b: Uint8Array, depth: number, format: Format): Uint8Array {
  if (format === 'msgpack') return concat(new Uint8Array(depth).fill(0x91), b)
  return concat(new Uint8Array(depth).fill(0x5b), b, new Uint8Array(depth).fill(0x5d))
}

/** A valid message with 1–4 byte-level mutations. */
export function mutatedBytes (valid: fc.Arbitrary<Uint8Array>, format: Format): fc.Arbitrary<FuzzCase> {
  return fc.tuple(valid, fc.array(byteOp(format), { minLength: 1, maxLength: 4 })).map(([bytes, ops]) => ({
    how: ops.map(o => o.name).join(', '),
    bytes: ops.reduce((b, o) => o.op(b), bytes)
  }))
}

/** Random bytes, and random bytes behind a format's opening (so the parser gets past its first byte). */
export function randomBytes (format: Format): fc.Arbitrary<FuzzCase> {
  const opening = format === 'msgpack' ? [0x80, 0x8f, 0xde, 0xdf] : [0x7b, 0x5b]
  return fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map(bytes => ({ how: 'random bytes', bytes })),
    fc.tuple(fc.constantFrom(...opening), fc.uint8Array({ maxLength: 2048 })).map(([o, rest]) => ({ how: 'random bytes after a map header', bytes: concat(Uint8Array.of(o), rest) })),
    fc.array(fc.constantFrom(...(format === 'msgpack' ? MSGPACK_SNIPPETS : JSON_SNIPPETS)), { maxLength: 40 }).map(parts => ({ how: 'random snippets', bytes: concat(...parts) }))
  )
}

// ---------------------------------------------------------------- value level

/** Where a value tree can be changed: a container and one of its keys. */
interface Slot { parent: Record<string, unknown> | unknown[], key: string | number }

/** Fields past this many are never picked: enough for any seed, and cheap after a repeat made a big one. */
const MAX_SLOTS = 10_000

function slotsOf (root: unknown): Slot[] {
  const slots: Slot[] = []
  const stack: unknown[] = [root]
  while (stack.length > 0 && slots.length < MAX_SLOTS) {
    const v = stack.pop()
    if (ArrayBuffer.isView(v) || typeof v !== 'object' || v === null) continue
    // Index loops, not map(): a mutation may have set an array's own `constructor` key.
    const entries: Array<[string | number, unknown]> = []
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) entries.push([i, v[i]])
    else entries.push(...Object.entries(v))
    for (const [key, child] of entries) {
      slots.push({ parent: v as Slot['parent'], key })
      stack.push(child)
    }
  }
  return slots
}

/**
 * Encoders overflow long before some decoders do (msgpackr packs ~1,400
 * levels), so a deep value is put in as a marker string and its encoding is
 * replaced by the nested bytes afterwards (`expandDeepMarkers`).
 */
function deepMarker (depth: number, asObjects: boolean): string {
  return `\u0001deep:${depth}:${asObjects ? 1 : 0}\u0001`
}

/** A deep marker as the encoder wrote it: a msgpack fixstr (header byte, then the text), or a JSON string with \u escapes. */
const ENCODED_MARKER: Record<Format, RegExp> = {
  // The marker is fenced by \x01 so that no generated text contains it.
  // eslint-disable-next-line no-control-regex
  msgpack: /[\xa0-\xbf]\x01deep:(\d+):([01])\x01/g,
  json: /"\\u0001deep:(\d+):([01])\\u0001"/g
}

/** The bytes of `depth` nested arrays or one-key objects around 0, in `format`. */
function deepBytes (depth: number, asObjects: boolean, format: Format): Uint8Array {
  if (format === 'msgpack') {
    const open = asObjects ? [0x81, 0xa1, 0x61] : [0x91]
    const out = new Uint8Array(depth * open.length + 1)
    for (let i = 0; i < depth; i++) out.set(open, i * open.length)
    return out
  }
  return text.encode(`${(asObjects ? '{"a":' : '[').repeat(depth)}0${(asObjects ? '}' : ']').repeat(depth)}`)
}

/** `bytes` with each deep marker's encoding replaced by the nesting it stands for. */
function expandDeepMarkers (bytes: Uint8Array, format: Format): Uint8Array {
  // latin1 maps each byte to one character, so string offsets are byte offsets.
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
  const parts: Uint8Array[] = []
  let from = 0
  for (const m of latin1.matchAll(ENCODED_MARKER[format])) {
    parts.push(bytes.subarray(from, m.index), deepBytes(Number(m[1]), m[2] === '1', format))
    from = m.index + m[0].length
  }
  if (from === 0) return bytes
  parts.push(bytes.subarray(from))
  return concat(...parts)
}

/** Values that break decoders that trust types: one of these replaces a field. */
function hostileValue (format: Format): fc.Arbitrary<{ name: string, value: unknown }> {
  const named = (name: string) => (value: unknown) => ({ name, value })
  const common = [
    fc.constantFrom<unknown>(null, true, false, '', 0, -1, [], {}).map(named('wrong type')),
    fc.string({ maxLength: 32 }).map(named('wrong type')),
    fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, -(2 ** 53) - 2, 2 ** 64, 0.5, 1e-320, 4294967296, 2147483648).map(named('big number')),
    fc.integer({ min: 1, max: 1 << 16 }).map(n => ({ name: 'huge string', value: 'x'.repeat(n) })),
    fc.tuple(fc.integer({ min: 10, max: 6000 }), fc.boolean()).map(([d, o]) => ({ name: 'deep nesting', value: deepMarker(d, o) })),
    fc.constantFrom(0x7fffffff, 0xffffffff, Number.MAX_SAFE_INTEGER).map(named('huge length'))
  ]
  if (format === 'json') return fc.oneof(...common)
  return fc.oneof(
    ...common,
    fc.constantFrom<unknown>(NaN, Infinity, -Infinity, undefined, 2n ** 70n, -(2n ** 200n), new Date(0), new Uint8Array(3), new Float32Array(2), new Set([1])).map(named('non-JSON value'))
  )
}

/** About how many bytes a repeated field may grow to. */
const REPEAT_BUDGET = 256 * 1024

/** About how many bytes `v` encodes to, counting a deep marker as the nesting it stands for. */
function approxSize (v: unknown): number {
  let json: string | undefined
  try {
    json = JSON.stringify(v)
  } catch { /* a bigint: count it small */ }
  if (json === undefined) return 16
  let extra = 0
  for (const m of json.matchAll(/\\u0001deep:(\d+):/g)) extra += 3 * Number(m[1])
  return Math.max(1, json.length + extra)
}

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']

function valueOp (format: Format): fc.Arbitrary<{ name: string, pick: number, op: (slot: Slot | undefined, root: unknown) => void }> {
  const set = (slot: Slot | undefined, value: unknown): void => { if (slot !== undefined) (slot.parent as Record<string | number, unknown>)[slot.key] = value }
  return fc.oneof(
    fc.tuple(fc.nat(), hostileValue(format)).map(([pick, h]) => ({ name: h.name, pick, op: (slot: Slot | undefined) => { set(slot, h.value) } })),
    fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 12 })), fc.jsonValue({ maxDepth: 2 })).map(([pick, key, value]) => ({
      name: PROTO_KEYS.includes(key) ? `${key} key` : 'extra field',
      pick,
      op: (slot: Slot | undefined, root: unknown) => {
        const target = slot === undefined ? root : slot.parent
        // defineProperty, so that "__proto__" becomes an own key as a parser would make it.
        if (typeof target === 'object' && target !== null && !Array.isArray(target) && !ArrayBuffer.isView(target)) Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
      }
    })),
    fc.nat().map(pick => ({
      name: 'missing field',
      pick,
      op: (slot: Slot | undefined) => {
        if (slot === undefined) return
        if (Array.isArray(slot.parent)) slot.parent.splice(Number(slot.key), 1) // arrays never get own keys (above)
        else delete slot.parent[slot.key as string]
      }
    })),
    fc.tuple(fc.nat(), fc.integer({ min: 2, max: 3000 })).map(([pick, repeats]) => ({
      name: 'repeated fields',
      pick,
      op: (slot: Slot | undefined) => {
        let times = repeats
        if (slot === undefined) return
        const v = (slot.parent as Record<string | number, unknown>)[slot.key]
        // Within a budget: stacked repeats of repeats would make cases of hundreds of MB.
        times = Math.max(2, Math.min(times, Math.floor(REPEAT_BUDGET / approxSize(v))))
        if (Array.isArray(v)) set(slot, Array.from({ length: times }, (_, i) => v[i % Math.max(1, v.length)]))
        else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) {
          const entries = Object.entries(v)
          const out: Record<string, unknown> = {}
          for (let i = 0; i < times; i++) for (const [k, x] of entries) out[`${k}${i}`] = x
          set(slot, out)
        } else set(slot, Array.from({ length: times }, () => v))
      }
    }))
  )
}

/**
 * A valid value with 1–3 value-level mutations, then encoded. The slot each
 * mutation changes is picked among the value's fields by `pick`.
 */
export function mutatedValues<T> (valid: fc.Arbitrary<T>, encode: (v: unknown) => Uint8Array, format: Format): fc.Arbitrary<FuzzCase> {
  return fc.tuple(valid, fc.array(valueOp(format), { minLength: 1, maxLength: 3 })).map(([value, ops]) => {
    const root = structuredClone(value) as unknown
    for (const o of ops) {
      const slots = slotsOf(root)
      o.op(slots.length === 0 ? undefined : slots[o.pick % slots.length], root)
    }
    let bytes: Uint8Array
    try {
      bytes = expandDeepMarkers(encode(root), format)
    } catch {
      // A value the encoder itself refuses (a bigint in JSON): the case is the valid message's bytes.
      bytes = encode(value)
    }
    return { how: ops.map(o => o.name).join(', '), bytes }
  })
}

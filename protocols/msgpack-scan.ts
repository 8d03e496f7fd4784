/**
 * A look at msgpack bytes before msgpackr parses them (protocols/codec.ts).
 * msgpackr recurses once per level of nesting, builds every map as an object
 * (a map of 1.5 million keys took 2 s to build and 3 s more to validate), and
 * understands extensions we never send. This scan walks the bytes with a
 * stack of its own, building nothing, and refuses:
 *  - nesting deeper than `maxDepth` (msgpackr decodes ~4,300 levels but
 *    encodes only ~1,400, so a deeper value breaks whatever encodes it next);
 *  - a map of more than `maxMapEntries` entries, or more than
 *    `maxTotalMapEntries` in all (a million took up to 0.9 s to decode), or
 *    more than `maxContainers` arrays and maps (16 MiB of nested one-element
 *    arrays, 16.8 million of them, took 2.5 s);
 *  - msgpackr's record definitions (0x72), bundled strings (0x62) and
 *    structured-clone references (0x69, 0x70): our encoder never writes them,
 *    and they make a value depend on state or contain itself.
 * Anything else that is wrong (a truncated value, a reserved byte) is left to
 * msgpackr, which says what it is.
 */

export interface ScanLimits {
  maxDepth: number
  /** In one map. */
  maxMapEntries: number
  /** In all the maps of the value together. */
  maxTotalMapEntries: number
  /** Arrays and maps in all, empty ones too: each is an object msgpackr builds. */
  maxContainers: number
}

/** Extensions whose value is the msgpack value that follows them (msgpackr's Set, Error, RegExp). */
const WRAPPING = new Set([0x73, 0x65, 0x78])
const REFUSED: Record<number, string> = { 0x72: 'a record definition', 0x62: 'bundled strings', 0x69: 'a structured-clone reference', 0x70: 'a structured-clone reference' }

/** What one value's header says: bytes to skip past it, values nested in it, and its ext type if any. */
interface Header { skip: number, children: number, ext?: number, mapEntries?: number, container?: true }

/** Why `bytes` is refused, or undefined when msgpackr may parse it. */
export function scanMsgpack (bytes: Uint8Array, limits: ScanLimits): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // How many values are still to be read at each level; the top level holds one.
  const pending: number[] = [1]
  let pos = 0
  let entries = 0
  let containers = 0
  while (pending.length > 0) {
    if (pending[pending.length - 1] === 0) { pending.pop(); continue }
    pending[pending.length - 1]!--
    if (pos >= bytes.byteLength) return undefined
    const h = header(bytes, view, pos)
    if (h === undefined) return undefined
    if (h.ext !== undefined && REFUSED[h.ext] !== undefined) return `msgpack with ${REFUSED[h.ext]!} (extension 0x${h.ext.toString(16)}), which Meshwork never sends`
    if (h.mapEntries !== undefined) {
      if (h.mapEntries > limits.maxMapEntries) return `a map of ${h.mapEntries} entries (at most ${limits.maxMapEntries})`
      entries += h.mapEntries
      if (entries > limits.maxTotalMapEntries) return `more than ${limits.maxTotalMapEntries} map entries in all`
    }
    if (h.container === true && ++containers > limits.maxContainers) return `more than ${limits.maxContainers} arrays and maps in all`
    pos += h.skip
    if (h.children > 0) {
      if (pending.length > limits.maxDepth) return `nested more than ${limits.maxDepth} levels deep`
      pending.push(h.children)
    }
  }
  return undefined
}

/** The header at `pos`; undefined where it runs past the end (msgpackr reports that). */
function header (b: Uint8Array, view: DataView, pos: number): Header | undefined {
  const t = b[pos]!
  const left = b.byteLength - pos
  const need = (n: number): boolean => left >= n
  const u8 = (): number => b[pos + 1]!
  const u16 = (): number => view.getUint16(pos + 1)
  const u32 = (): number => view.getUint32(pos + 1)
  if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) return { skip: 1, children: 0 }
  if (t <= 0x8f) return { skip: 1, children: 2 * (t & 0x0f), mapEntries: t & 0x0f, container: true }
  if (t <= 0x9f) return { skip: 1, children: t & 0x0f, container: true }
  if (t <= 0xbf) return { skip: 1 + (t & 0x1f), children: 0 }
  switch (t) {
    case 0xc4: case 0xd9: return need(2) ? { skip: 2 + u8(), children: 0 } : undefined
    case 0xc5: case 0xda: return need(3) ? { skip: 3 + u16(), children: 0 } : undefined
    case 0xc6: case 0xdb: return need(5) ? { skip: 5 + u32(), children: 0 } : undefined
    case 0xc7: return need(3) ? ext(b[pos + 2]!, 3 + u8()) : undefined
    case 0xc8: return need(4) ? ext(b[pos + 3]!, 4 + u16()) : undefined
    case 0xc9: return need(6) ? ext(b[pos + 5]!, 6 + u32()) : undefined
    case 0xca: case 0xce: case 0xd2: return { skip: 5, children: 0 }
    case 0xcb: case 0xcf: case 0xd3: return { skip: 9, children: 0 }
    case 0xcc: case 0xd0: return { skip: 2, children: 0 }
    case 0xcd: case 0xd1: return { skip: 3, children: 0 }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
      return need(2) ? ext(b[pos + 1]!, 2 + (1 << (t - 0xd4))) : undefined
    case 0xdc: return need(3) ? { skip: 3, children: u16(), container: true } : undefined
    case 0xdd: return need(5) ? { skip: 5, children: u32(), container: true } : undefined
    case 0xde: return need(3) ? { skip: 3, children: 2 * u16(), mapEntries: u16(), container: true } : undefined
    case 0xdf: return need(5) ? { skip: 5, children: 2 * u32(), mapEntries: u32(), container: true } : undefined
  }
  return undefined
}

function ext (type: number, skip: number): Header {
  return { skip, children: WRAPPING.has(type) ? 1 : 0, ext: type }
}

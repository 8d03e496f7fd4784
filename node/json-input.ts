/**
 * JSON that the CLI and the daemon read from a file or a request body (job
 * files, config files, control API bodies). `JSON.parse` itself nests without
 * limit, but what comes after does not: `JSON.stringify` (the CLI's upload),
 * `structuredClone` and msgpack overflow the stack somewhere between 1,400
 * and 4,200 levels, and a job file nested 100,000 arrays deep crashed
 * `mesh submit` with a Node stack. So the text's nesting is measured before it
 * is parsed, by a scan that does not recurse, and a text nested too deep is
 * refused with one sentence.
 *
 * Kept free of imports: every CLI command loads it.
 */

/**
 * The deepest nesting accepted. A job spec's handler `input` may nest 512
 * levels (src/jobs/spec.ts) under a few levels of spec and request body; a
 * config nests 4. Far below where any encoder overflows.
 */
export const MAX_JSON_DEPTH = 1000

/** A text that is not JSON we accept, with why (one sentence, no file name: the caller adds it). */
export class JsonInputError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'JsonInputError'
  }
}

const OPEN_ARRAY = 0x5b
const OPEN_OBJECT = 0x7b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * How deep `text` nests arrays and objects, counting only brackets outside
 * strings; stops counting once past `limit`. Malformed text is measured as
 * far as it goes (JSON.parse then says what is wrong with it).
 */
export function jsonDepth (text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > deepest) deepest = depth
      if (deepest > limit) return deepest
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--
    }
  }
  return deepest
}

/** Parse JSON text, refusing nesting deeper than MAX_JSON_DEPTH; throws JsonInputError, or SyntaxError for bad JSON. */
export function parseJsonText (text: string): unknown {
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new JsonInputError(`it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, which no job, config or request needs`)
  }
  return JSON.parse(text)
}

/** `12.3 MiB`: a byte count for messages. */
export function mib (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

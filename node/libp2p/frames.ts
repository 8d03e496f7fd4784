/**
 * Length-prefixed frames read from a libp2p stream with every limit checked
 * before a byte is buffered (docs/ARCHITECTURE.md §4, "Limits"): the same
 * framing `lpStream` writes (an unsigned varint length, then the bytes), read
 * so that a peer cannot make this one hold more than it allows.
 *
 *  - A frame's declared length is checked against what that protocol's
 *    message can legitimately be, before its body is read.
 *  - Its bytes are reserved from a `FrameBudget`: per peer and over all peers.
 *    A frame that does not fit waits, its stream paused; past the grace time
 *    it is refused.
 *  - A frame must arrive within `graceMs` plus its length at `minBytesPerSecond`.
 *  - The stream is paused whenever more is buffered than the frame being read
 *    needs (plus a little for the next header), and resumed only while that
 *    frame lacks bytes: yamux then stops opening its window, so a fast sender
 *    waits instead of overrunning the reader, and what the reader holds stays
 *    within the frame, the slack and one stream window. (An `lpStream` buffers
 *    whatever arrives and resets the stream past its cap: that is how a 3 MiB
 *    input failed to reach any executor.)
 */
import type { Stream } from '@libp2p/interface'

/** Bytes buffered beyond the frame in hand before the stream is paused (the next frame's header, a small frame). */
const SLACK_BYTES = 64 * 1024

/** `idle`: no frame began within the reader's `idleMs` (readers of long-lived streams set none). */
export type FrameProblem = 'oversize' | 'malformed' | 'slow' | 'budget' | 'idle'

/** A frame the reader refused; the caller aborts the stream and counts `problem` against the peer. */
export class FrameError extends Error {
  readonly problem: FrameProblem
  constructor (problem: FrameProblem, message: string) {
    super(message)
    this.name = 'FrameError'
    this.problem = problem
  }
}

/** Bytes of frames being received that each peer, and all peers together, may hold at once. */
export class FrameBudget {
  readonly #used = new Map<string, number>()
  readonly #waiters = new Set<() => void>()
  #total = 0
  readonly perPeerBytes: number
  readonly totalBytes: number

  constructor (perPeerBytes: number, totalBytes: number) {
    this.perPeerBytes = perPeerBytes
    this.totalBytes = totalBytes
  }

  /** Reserve `bytes` for `peer`; false when its share or the total would be exceeded. */
  take (peer: string, bytes: number): boolean {
    const used = this.#used.get(peer) ?? 0
    if (used + bytes > this.perPeerBytes || this.#total + bytes > this.totalBytes) return false
    this.#used.set(peer, used + bytes)
    this.#total += bytes
    return true
  }

  give (peer: string, bytes: number): void {
    const left = (this.#used.get(peer) ?? 0) - bytes
    if (left <= 0) this.#used.delete(peer)
    else this.#used.set(peer, left)
    this.#total = Math.max(0, this.#total - bytes)
    for (const wake of [...this.#waiters]) wake()
  }

  /** Resolves when some budget is given back, or after `ms`. */
  async freed (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
      const timer = setTimeout(done, ms)
      this.#waiters.add(done)
    })
  }

  /** Bytes held now: in total, and by the peer holding most. */
  usage (): { total: number, largest: number } {
    return { total: this.#total, largest: Math.max(0, ...this.#used.values()) }
  }
}

export interface FrameReaderOptions {
  /** The largest frame this protocol's messages can legitimately be. */
  maxFrameBytes: number
  /** Who sends on this stream: what the budget is counted against. */
  peer: string
  /** Absent: frames are not counted against any budget (a reply this peer asked for). */
  budget?: FrameBudget
  /** Time every frame gets on top of its length's share (ms). */
  graceMs?: number
  /** The slowest a frame may arrive, once begun. */
  minBytesPerSecond?: number
  /**
   * The longest a read waits for a frame to begin (ms): a request, or the next
   * part of a reply. Absent: no limit, for long-lived streams that idle between
   * messages (an idle stream holds nothing, and inbound streams are capped).
   */
  idleMs?: number
}

/** Reads frames from one stream, in order. Not for concurrent `read` calls. */
export class FrameReader {
  readonly #stream: Stream
  readonly #opts: Required<Omit<FrameReaderOptions, 'budget'>> & { budget: FrameBudget | undefined }
  readonly #chunks: Uint8Array[] = []
  #buffered = 0
  /** Bytes the reader is willing to buffer now; past it the stream is paused. */
  #allowance = SLACK_BYTES
  /** Budget held for the frame last returned (given back on the next read or on close). */
  #held = 0
  #ended = false
  /** Inside our own `resume()`, which dispatches the stream's paused buffer to us. */
  #resuming = false
  #error: Error | undefined
  #wake: (() => void) | undefined

  constructor (stream: Stream, opts: FrameReaderOptions) {
    this.#stream = stream
    this.#opts = { graceMs: 10_000, minBytesPerSecond: 256 * 1024, idleMs: Infinity, budget: undefined, ...opts }
    stream.addEventListener('message', evt => {
      const data = evt.data
      if (data instanceof Uint8Array) this.#push(data)
      else for (const buf of data) this.#push(buf)
      if (this.#buffered > this.#allowance && !this.#resuming) this.#pause()
      this.#wake?.()
    })
    const end = (err?: Error): void => {
      this.#ended = true
      this.#error ??= err
      this.#wake?.()
    }
    stream.addEventListener('close', evt => { end(evt.error) })
    stream.addEventListener('remoteCloseWrite', () => { end() })
  }

  /** The next frame, or undefined at a clean end of stream. Throws `FrameError` for a frame refused, or the stream's error. */
  async read (): Promise<Uint8Array | undefined> {
    this.#release()
    const header = await this.#header()
    if (header === undefined) return undefined
    const { length, headerBytes } = header
    const { budget, peer, graceMs, minBytesPerSecond } = this.#opts
    if (budget !== undefined) {
      const until = Date.now() + graceMs
      while (!budget.take(peer, length)) {
        const left = until - Date.now()
        if (left <= 0) throw new FrameError('budget', `a ${length}-byte frame waited ${graceMs} ms for memory this peer may use`)
        await budget.freed(left)
      }
      this.#held = length
    }
    this.#allowance = headerBytes + length + SLACK_BYTES
    const allowedMs = Math.round(graceMs + length / minBytesPerSecond * 1000)
    const deadline = Date.now() + allowedMs
    while (this.#buffered < headerBytes + length) {
      // Resuming may hand over what the stream held paused, at once (also after the sender
      // closed): look again before judging or waiting.
      if (this.#resume()) continue
      if (this.#ended) throw this.#error ?? new FrameError('malformed', `stream ended inside a ${length}-byte frame`)
      const left = deadline - Date.now()
      if (left <= 0) throw new FrameError('slow', `a ${length}-byte frame did not arrive within ${allowedMs} ms`)
      await this.#waitForData(left)
    }
    this.#take(headerBytes)
    const frame = this.#take(length)
    this.#allowance = SLACK_BYTES
    return frame
  }

  /** Bytes received and not yet returned as frames. */
  get buffered (): number { return this.#buffered }

  /** Give back what the last frame held (the stream is done with). */
  close (): void { this.#release() }

  #release (): void {
    if (this.#held > 0) this.#opts.budget?.give(this.#opts.peer, this.#held)
    this.#held = 0
  }

  /** Wait for a whole varint length prefix; undefined at a clean end of stream. */
  async #header (): Promise<{ length: number, headerBytes: number } | undefined> {
    const { idleMs } = this.#opts
    const deadline = Date.now() + idleMs
    for (;;) {
      const parsed = this.#peekVarint()
      if (parsed !== undefined) {
        if (parsed.length > this.#opts.maxFrameBytes) throw new FrameError('oversize', `a ${parsed.length}-byte frame is over this protocol's ${this.#opts.maxFrameBytes}`)
        return parsed
      }
      if (this.#resume()) continue
      if (this.#ended) {
        if (this.#buffered === 0 && this.#error === undefined) return undefined
        throw this.#error ?? new FrameError('malformed', 'stream ended inside a frame header')
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new FrameError('idle', `no frame began within ${idleMs} ms`)
      await this.#waitForData(left)
    }
  }

  /** The buffered varint, if whole; throws when it cannot be a length this reader accepts. */
  #peekVarint (): { length: number, headerBytes: number } | undefined {
    let value = 0
    let shift = 0
    let i = 0
    for (const chunk of this.#chunks) {
      for (const byte of chunk) {
        value += (byte & 0x7f) * 2 ** shift
        i++
        if ((byte & 0x80) === 0) return { length: value, headerBytes: i }
        shift += 7
        // Five varint bytes already exceed 2^28: longer than any frame anyone accepts.
        if (i >= 5) throw new FrameError('oversize', 'frame length prefix longer than any frame allowed')
      }
    }
    return undefined
  }

  #push (data: Uint8Array): void {
    if (data.byteLength === 0) return
    this.#chunks.push(data)
    this.#buffered += data.byteLength
  }

  /** Remove and return the first `n` buffered bytes. */
  #take (n: number): Uint8Array {
    this.#buffered -= n
    const first = this.#chunks[0]
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const chunk = this.#chunks[0]!
      const part = Math.min(chunk.byteLength, n - at)
      out.set(chunk.subarray(0, part), at)
      at += part
      if (part === chunk.byteLength) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(part)
    }
    return out
  }

  async #waitForData (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = ms === Infinity ? undefined : setTimeout(done, ms)
      function done (): void { if (timer !== undefined) clearTimeout(timer); resolve() }
      this.#wake = () => { this.#wake = undefined; done() }
    })
  }

  #pause (): void {
    if (this.#stream.readStatus === 'readable') this.#stream.pause()
  }

  /**
   * Resume a paused stream. It hands over what it buffered while paused from
   * inside `resume()` and only then opens its window again; a pause from the
   * message listener in there would be undone by that, so it comes after.
   * (Paused from the listener on the normal path, yamux sends no window update
   * for the data just received, and the sender stops within one window.)
   * Returns whether bytes were handed over.
   */
  #resume (): boolean {
    if (this.#stream.readStatus !== 'paused') return false
    const before = this.#buffered
    this.#resuming = true
    try { this.#stream.resume() } catch { return false } finally { this.#resuming = false }
    if (this.#buffered > this.#allowance) this.#pause()
    return this.#buffered > before
  }
}

/** The varint length prefix `lpStream` writes (and `FrameReader` reads). */
export function frameHeader (length: number): Uint8Array {
  const out: number[] = []
  let n = length
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/**
 * Write one frame, waiting while the stream cannot take more (the reader's
 * window is closed). Header and body go in one `send`: two would be two muxer
 * frames and two encryptions per message (the trivial-task bench lost 30 % of
 * its throughput to that).
 */
export async function writeFrame (stream: Stream, data: Uint8Array, signal?: AbortSignal): Promise<void> {
  const header = frameHeader(data.byteLength)
  const frame = new Uint8Array(header.byteLength + data.byteLength)
  frame.set(header)
  frame.set(data, header.byteLength)
  if (!stream.send(frame)) await drained(stream, signal)
}

/**
 * The stream's next 'drain' (or its close, or `signal`). Not `stream.onDrain()`:
 * in @libp2p/utils 7.4.1 its promise is made once and never replaced, so after
 * the first drain it resolves at once and a writer stops waiting for good; a
 * fast writer then queued 40 MiB in its stream's write buffer against a reader
 * taking 1 MiB per 20 ms (test/integration/frames.test.ts).
 */
async function drained (stream: Stream, signal?: AbortSignal): Promise<void> {
  if (!stream.writableNeedsDrain) return
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err instanceof Error ? err : new Error(String(err)))
    }
    const onDrain = (): void => { done() }
    const onClose = (evt: Event): void => { done((evt as Event & { error?: Error }).error ?? new Error('stream closed while writing')) }
    const onAbort = (): void => { done(signal?.reason ?? new Error('aborted')) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * Refuse anything the remote sends on a stream only this side writes on (a
 * request stream's reply or a one-way channel): buffered, it would be memory
 * the remote pins for free.
 */
export function writeOnly (stream: Stream, onData: () => void): void {
  stream.addEventListener('message', () => { onData(); stream.abort(new Error('data on a write-only stream')) })
}

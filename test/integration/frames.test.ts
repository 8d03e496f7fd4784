/**
 * Frames read under limits (node/libp2p/frames.ts), between two real libp2p
 * nodes (TCP, noise, yamux): a fast writer is held back to what the reader
 * takes, a frame over the protocol's size is refused from its header, a frame
 * that trickles is refused at its deadline, one that never begins is given
 * up on where the reader bounds the wait, and one peer's frames in flight
 * stay within its memory share.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMeshLibp2p, type MeshLibp2p } from '../../node/libp2p/create.ts'
import { FrameBudget, FrameError, FrameReader, frameHeader, writeFrame } from '../../node/libp2p/frames.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

let reader: MeshLibp2p
let writer: MeshLibp2p
const PROTO = '/meshwork-test/frames/1.0.0'
/** What the reader's handler should do with the next inbound stream. */
let onStream: (stream: Stream) => Promise<void> = async () => {}

beforeAll(async () => {
  const make = async (): Promise<MeshLibp2p> => {
    const n = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, swarmKey: null, pingIntervalMs: 500, pingTimeoutMs: 750 })
    await n.start()
    return n
  }
  ;[reader, writer] = await Promise.all([make(), make()])
  await reader.handle(PROTO, async (stream: Stream) => { await onStream(stream) }, { maxInboundStreams: 8 })
  await writer.dial(reader.getMultiaddrs()[0]!)
})

afterAll(async () => { await Promise.all([reader.stop(), writer.stop()]) })

const MiB = 1024 * 1024

describe('frames', () => {
  it('holds a fast writer back to what a slow reader takes, and delivers every byte', async () => {
    let read = 0
    let bad = 0
    let bufferedMax = 0
    onStream = async stream => {
      const frames = new FrameReader(stream, { peer: 'w', maxFrameBytes: 2 * MiB })
      const watch = setInterval(() => { bufferedMax = Math.max(bufferedMax, frames.buffered + stream.readBufferLength) }, 1)
      for (let f = await frames.read(); f !== undefined; f = await frames.read()) {
        if (f.byteLength !== MiB || f.some(b => b !== (read & 255))) bad++
        read++
        await sleep(20)
      }
      clearInterval(watch)
      await stream.close()
    }
    const stream = await writer.dialProtocol(reader.peerId, PROTO)
    let aheadMax = 0
    for (let i = 0; i < 40; i++) {
      await writeFrame(stream, new Uint8Array(MiB).fill(i & 255))
      aheadMax = Math.max(aheadMax, i + 1 - read)
    }
    await stream.close()
    await waitFor('every frame read', () => read === 40, { timeoutMs: 20_000 })
    expect(bad).toBe(0)
    // Paused, the reader's stream stops opening its window: what it holds stays within the frame
    // being read, a little slack and two stream windows (2 MiB each), and the writer never got
    // far ahead (frames in the sockets and windows), where without flow control it wrote all 40 at once.
    expect(bufferedMax).toBeLessThanOrEqual(MiB + 64 * 1024 + 4 * MiB)
    expect(aheadMax).toBeLessThan(20)
  })

  it('an lpStream reader with a 2 MiB buffer is overrun by the same writer (the bug blobs had)', async () => {
    let failed: string | undefined
    onStream = async stream => {
      const lp = lpStream(stream, { maxDataLength: 2 * MiB, maxBufferSize: 2 * MiB })
      try {
        for (;;) { await lp.read(); await sleep(20) }
      } catch (err) { failed = (err as Error).message }
    }
    const stream = await writer.dialProtocol(reader.peerId, PROTO)
    for (let i = 0; i < 10; i++) await writeFrame(stream, new Uint8Array(MiB)).catch(() => {})
    await waitFor('the reader to fail', () => failed !== undefined, { timeoutMs: 10_000 })
    expect(failed).toMatch(/overflow|reset|closed/i)
  })

  it('refuses a frame longer than the protocol allows from its header alone', async () => {
    let error: unknown
    onStream = async stream => {
      const frames = new FrameReader(stream, { peer: 'w', maxFrameBytes: 64 * 1024 })
      try { await frames.read() } catch (err) { error = err; stream.abort(err as Error) }
    }
    const stream = await writer.dialProtocol(reader.peerId, PROTO)
    stream.send(frameHeader(16 * MiB))
    await waitFor('the refusal', () => error !== undefined, { timeoutMs: 5000 })
    expect(error).toBeInstanceOf(FrameError)
    expect((error as FrameError).problem).toBe('oversize')
  })

  it('refuses a frame that does not arrive within its deadline', async () => {
    let error: unknown
    onStream = async stream => {
      const frames = new FrameReader(stream, { peer: 'w', maxFrameBytes: MiB, graceMs: 300, minBytesPerSecond: MiB })
      try { await frames.read() } catch (err) { error = err; stream.abort(err as Error) }
    }
    const stream = await writer.dialProtocol(reader.peerId, PROTO)
    stream.send(frameHeader(MiB))
    stream.send(new Uint8Array(1000))
    await waitFor('the refusal', () => error !== undefined, { timeoutMs: 5000 })
    expect((error as FrameError).problem).toBe('slow')
  })

  it('gives up on a frame that never begins, when the reader bounds the wait (a request, a reply)', async () => {
    let first: Uint8Array | undefined
    let error: unknown
    onStream = async stream => {
      const frames = new FrameReader(stream, { peer: 'w', maxFrameBytes: MiB, idleMs: 300 })
      try {
        first = await frames.read()
        await frames.read()
      } catch (err) { error = err; stream.abort(err as Error) }
    }
    const stream = await writer.dialProtocol(reader.peerId, PROTO)
    // One whole frame, then silence with the stream left open: a holder that stopped mid-reply.
    await writeFrame(stream, new Uint8Array(10).fill(7))
    await waitFor('the reader to give up', () => error !== undefined, { timeoutMs: 5000 })
    expect([...first ?? []]).toEqual(Array(10).fill(7))
    expect((error as FrameError).problem).toBe('idle')
  })

  it('keeps one peer\'s frames in flight within its share: the next waits, and past its grace is refused', async () => {
    const budget = new FrameBudget(1.5 * MiB, 64 * MiB)
    const outcomes: string[] = []
    let peak = 0
    const readers: FrameReader[] = []
    onStream = async stream => {
      const frames = new FrameReader(stream, { peer: 'w', maxFrameBytes: MiB, budget, graceMs: 500 })
      readers.push(frames)
      try {
        const f = await frames.read()
        peak = Math.max(peak, budget.usage().largest)
        outcomes.push(`read ${f?.byteLength ?? 0}`)
        // Hold the first frame (as a slow handler would) until the test lets it go.
      } catch (err) {
        outcomes.push((err as FrameError).problem)
        stream.abort(err as Error)
      }
    }
    const first = await writer.dialProtocol(reader.peerId, PROTO)
    await writeFrame(first, new Uint8Array(MiB))
    await waitFor('the first frame read', () => outcomes.length === 1, { timeoutMs: 5000 })
    const second = await writer.dialProtocol(reader.peerId, PROTO)
    void writeFrame(second, new Uint8Array(MiB)).catch(() => {})
    await waitFor('the second frame refused', () => outcomes.length === 2, { timeoutMs: 5000 })
    expect(outcomes).toEqual([`read ${MiB}`, 'budget'])
    readers[0]!.close()
    expect(budget.usage().total).toBe(0)
    // With the first given back, a third frame fits.
    const third = await writer.dialProtocol(reader.peerId, PROTO)
    await writeFrame(third, new Uint8Array(MiB))
    await waitFor('the third frame read', () => outcomes.length === 3, { timeoutMs: 5000 })
    expect(outcomes[2]).toBe(`read ${MiB}`)
    expect(peak).toBeLessThanOrEqual(1.5 * MiB)
  })
})

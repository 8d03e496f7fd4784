/**
 * The private mesh's stream cipher (node/libp2p/pnet.ts): XSalsa20 continued
 * across updates of any size (test/integration/private-mesh.test.ts shows it
 * interoperates with `@libp2p/pnet`'s peers), and unaffected by other streams however large their updates
 * (the shared-memory bug of xsalsa20@1.2.0 that took daemons down).
 */
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XSalsa20Stream, decodeSwarmKey, newSwarmKey } from '../../node/libp2p/pnet.ts'

const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
const nonce = Uint8Array.from({ length: 24 }, (_, i) => 255 - i)

/** Feed `data` to a fresh stream in pieces of the given sizes; the concatenated output. */
function inPieces (sizes: number[], data: Uint8Array): Uint8Array {
  const s = new XSalsa20Stream(key, nonce)
  const out = new Uint8Array(data.byteLength)
  let at = 0
  for (const n of sizes) {
    if (at >= data.byteLength) break
    const piece = data.subarray(at, Math.min(data.byteLength, at + n))
    out.set(s.update(piece), at)
    at += piece.byteLength
  }
  if (at < data.byteLength) out.set(s.update(data.subarray(at)), at)
  return out
}

describe('pnet cipher', () => {
  it('continues the keystream across updates of any size, equal to one XSalsa20 pass', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }), fc.integer({ min: 0, max: 5000 }), (sizes, length) => {
      const data = Uint8Array.from({ length }, (_, i) => (i * 31) & 255)
      expect(Buffer.from(inPieces(sizes, data))).toEqual(Buffer.from(xsalsa20(key, nonce, data)))
    }), { numRuns: 300 })
  })

  it('keeps many streams right while one of them encrypts megabytes at once', () => {
    // The old cipher's views of its shared memory went stale after one update over ~640 KiB;
    // every other stream then grew the memory on each update until it threw at 64 MB.
    const streams = Array.from({ length: 8 }, () => new XSalsa20Stream(key, nonce))
    const big = new Uint8Array(1024 * 1024).fill(9)
    const expectedBig = xsalsa20(key, nonce, big)
    expect(Buffer.from(streams[0]!.update(big))).toEqual(Buffer.from(expectedBig))
    const rounds = 2000
    const outputs = streams.slice(1).map(() => new Uint8Array(100 * rounds))
    const small = new Uint8Array(100).fill(1)
    for (let round = 0; round < rounds; round++) {
      streams.slice(1).forEach((s, i) => { outputs[i]!.set(s.update(small), round * 100) })
    }
    const reference = Buffer.from(xsalsa20(key, nonce, new Uint8Array(100 * rounds).fill(1)))
    for (const out of outputs) expect(Buffer.from(out).equals(reference)).toBe(true)
  })

  it('reads the swarm key format and refuses anything else with one sentence', () => {
    expect(decodeSwarmKey(new TextEncoder().encode(newSwarmKey()))).toHaveLength(32)
    expect(decodeSwarmKey(new TextEncoder().encode(newSwarmKey() + '\n'))).toHaveLength(32)
    expect(() => decodeSwarmKey(new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nabc'))).toThrow(/Your private shared key is invalid/)
  })
})

/**
 * Decoded ads, by the buffer they arrived in. A real transport hands every
 * receiver a buffer of its own, so this never hits there (one WeakMap lookup
 * per ad). An in-memory network hands the same buffer to every subscriber of a
 * publish: a simulated mesh of n peers then decodes each ad once instead of n
 * times, which is most of what simulating a large mesh costs. An ad decoded
 * for more than one receiver is frozen, so no receiver can change what the
 * others see.
 */
import { decodeResourceAd, type ResourceAd } from '../../protocols/resources.ts'
import type { Decoded } from '../../protocols/codec.ts'

interface Entry { signer: string, decoded: Decoded<ResourceAd>, shared: boolean }

const cache = new WeakMap<Uint8Array, Entry>()

/** `decodeResourceAd(bytes, signer)`, decoded once per buffer and signer. */
export function decodeAdOnce (bytes: Uint8Array, signer: string): Decoded<ResourceAd> {
  const hit = cache.get(bytes)
  if (hit !== undefined && hit.signer === signer) {
    if (!hit.shared) {
      hit.shared = true
      deepFreeze(hit.decoded)
    }
    return hit.decoded
  }
  const decoded = decodeResourceAd(bytes, signer)
  cache.set(bytes, { signer, decoded, shared: false })
  return decoded
}

function deepFreeze (value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const v of Object.values(value)) deepFreeze(v)
}

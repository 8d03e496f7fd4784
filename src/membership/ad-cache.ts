/**
 * Decoded messages, by the buffer they arrived in. A real transport hands every
 * receiver a buffer of its own, so this never hits there (one WeakMap lookup
 * per message). An in-memory network hands the same buffer to every subscriber
 * of a publish: a simulated mesh of n peers then decodes each ad once instead
 * of n times, which is most of what simulating a large mesh costs. A value
 * decoded for more than one receiver is frozen, so no receiver can change what
 * the others see.
 */
import { decodeResourceAd } from '../../protocols/resources.ts'
import type { Decoded } from '../../protocols/codec.ts'

/** `decode`, run once per buffer and signer; any pub/sub decoder of the form (bytes, signer). */
export function decodedOnce<T> (decode: (bytes: Uint8Array, signer: string) => Decoded<T>): (bytes: Uint8Array, signer: string) => Decoded<T> {
  const cache = new WeakMap<Uint8Array, { signer: string, decoded: Decoded<T>, shared: boolean }>()
  return (bytes, signer) => {
    const hit = cache.get(bytes)
    if (hit !== undefined && hit.signer === signer) {
      if (!hit.shared) {
        hit.shared = true
        deepFreeze(hit.decoded)
      }
      return hit.decoded
    }
    const decoded = decode(bytes, signer)
    cache.set(bytes, { signer, decoded, shared: false })
    return decoded
  }
}

/** `decodeResourceAd`, once per buffer. */
export const decodeAdOnce = decodedOnce(decodeResourceAd)

function deepFreeze (value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const v of Object.values(value)) deepFreeze(v)
}

import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { LIMITS, decodeResourceAd, encodeResourceAd, type ResourceAd } from '../../protocols/resources.ts'
import { encodeMessage, type DropReason } from '../../protocols/codec.ts'
import { makeAd, makeRichAd } from '../helpers/ads.ts'

const SIGNER = 'peer-a'
const REASONS: DropReason[] = ['oversize', 'malformed', 'schema', 'signer', 'version']

/** Encode any value (not only a well-typed ad) and decode it as if `signer` sent it. */
function decodeValue (value: unknown, signer = SIGNER) {
  return decodeResourceAd(encodeMessage(value), signer)
}

/** A writable copy: msgpackr returns Node Buffers, whose `slice` shares memory. */
function copyOf (bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes)
}

describe('ResourceAd round trip', () => {
  it('decodes a minimal ad to exactly what was encoded', () => {
    const ad = makeAd()
    expect(decodeResourceAd(encodeResourceAd(ad), SIGNER)).toEqual({ ok: true, value: ad })
  })

  it('decodes a full ad (custom resources, GPUs, capabilities, leaving) to exactly what was encoded', () => {
    const ad = makeRichAd({ leaving: true, seq: 2 ** 40, time: 1_750_000_000_123 })
    expect(decodeResourceAd(encodeResourceAd(ad), SIGNER)).toEqual({ ok: true, value: ad })
  })

  it('keeps fractional quantities exact', () => {
    const ad = makeAd({ capacity: { cpu: 1.5, memoryMB: 100, gpu: 0, custom: {} }, free: { cpu: 0.125, memoryMB: 99.5, gpu: 0, custom: {} } })
    const decoded = decodeResourceAd(encodeResourceAd(ad), SIGNER)
    expect(decoded).toEqual({ ok: true, value: ad })
  })
})

describe('ResourceAd rejects bad bytes without throwing', () => {
  it('rejects every truncation of a real ad as malformed or schema', () => {
    const bytes = encodeResourceAd(makeRichAd())
    for (let len = 0; len < bytes.byteLength; len++) {
      const decoded = decodeResourceAd(bytes.subarray(0, len), SIGNER)
      expect(decoded.ok, `prefix of ${len} bytes`).toBe(false)
      if (!decoded.ok) expect(['malformed', 'schema']).toContain(decoded.reason)
    }
  })

  it('rejects an ad larger than LIMITS.maxAdBytes as oversize', () => {
    const huge = encodeMessage({ ...makeAd(), cpuModel: 'x'.repeat(LIMITS.maxAdBytes) })
    expect(huge.byteLength).toBeGreaterThan(LIMITS.maxAdBytes)
    expect(decodeResourceAd(huge, SIGNER)).toEqual(expect.objectContaining({ ok: false, reason: 'oversize' }))
  })

  it('checks the size before parsing: oversized garbage is oversize, not malformed', () => {
    const garbage = new Uint8Array(LIMITS.maxAdBytes + 1).fill(0xc1) // 0xc1 is never valid msgpack
    expect(decodeResourceAd(garbage, SIGNER)).toEqual({ ok: false, reason: 'oversize', detail: `${LIMITS.maxAdBytes + 1} bytes > limit ${LIMITS.maxAdBytes}` })
    // The same garbage under the limit does get parsed, and fails as malformed.
    expect(decodeResourceAd(garbage.subarray(0, 100), SIGNER)).toEqual(expect.objectContaining({ ok: false, reason: 'malformed' }))
  })

  it('accepts an ad of exactly LIMITS.maxAdBytes', () => {
    const ad = makeAd()
    const base = encodeMessage({ ...ad, pad: '' }).byteLength
    // An empty string costs one byte; a long one a 3-byte str16 header plus its length.
    const bytes = encodeMessage({ ...ad, pad: 'x'.repeat(LIMITS.maxAdBytes - base - 2) })
    expect(bytes.byteLength).toBe(LIMITS.maxAdBytes)
    expect(decodeResourceAd(bytes, SIGNER)).toEqual({ ok: true, value: ad })
  })

  it.each([
    ['a number', 42],
    ['a string', 'hello'],
    ['an array', [1, 2, 3]],
    ['an array that looks like an ad', [makeAd()]],
    ['null', null],
    ['true', true]
  ])('rejects a msgpack payload that is %s as malformed (not a map)', (_what, value) => {
    expect(decodeValue(value)).toEqual({ ok: false, reason: 'malformed', detail: 'not a msgpack map' })
  })

  it('rejects empty input as malformed', () => {
    expect(decodeResourceAd(new Uint8Array(0), SIGNER)).toEqual(expect.objectContaining({ ok: false, reason: 'malformed' }))
  })
})

describe('ResourceAd schema', () => {
  /** [what, field path named in the detail, how to spoil a valid ad] */
  const cases: Array<[string, string, (ad: Record<string, unknown>) => void]> = [
    ['cpu as a string', 'capacity.cpu', ad => { ad.capacity = { ...makeAd().capacity, cpu: '4' } }],
    ['negative seq', 'seq', ad => { ad.seq = -1 }],
    ['fractional seq', 'seq', ad => { ad.seq = 1.5 }],
    ['fractional epoch', 'epoch', ad => { ad.epoch = 1.25 }],
    ['seq as a string', 'seq', ad => { ad.seq = '7' }],
    ['free cpu above capacity', 'free', ad => { ad.free = { ...makeAd().free, cpu: 5 } }],
    ['free memory above capacity', 'free', ad => { ad.free = { ...makeAd().free, memoryMB: 7681 } }],
    ['a free custom resource not in capacity', 'free', ad => { ad.free = { ...makeAd().free, custom: { slots: 1 } } }],
    ['memory above maxQuantity', 'capacity.memoryMB', ad => { ad.capacity = { ...makeAd().capacity, memoryMB: LIMITS.maxQuantity + 1 } }],
    ['negative gpu', 'capacity.gpu', ad => { ad.capacity = { ...makeAd().capacity, gpu: -1 } }],
    ['NaN load (msgpack float64 can carry it)', 'load.avg1', ad => { ad.load = { ...makeAd().load, avg1: NaN } }],
    ['infinite speed', 'speed', ad => { ad.speed = Infinity }],
    ['zero speed', 'speed', ad => { ad.speed = 0 }],
    ['cpuBusy above 100', 'load.cpuBusy', ad => { ad.load = { ...makeAd().load, cpuBusy: 101 } }],
    ['too many addrs', 'addrs', ad => { ad.addrs = Array.from({ length: LIMITS.maxAddrs + 1 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001`) }],
    ['an over-long addr', 'addrs.0', ad => { ad.addrs = ['/dns4/' + 'x'.repeat(LIMITS.maxAddrLength)] }],
    ['an empty peerId', 'peerId', ad => { ad.peerId = '' }],
    ['a bad custom resource name', 'capacity.custom.bad name!', ad => { ad.capacity = { ...makeAd().capacity, custom: { 'bad name!': 1 } } }],
    ['too many custom resources', 'capacity.custom', ad => {
      const custom = Object.fromEntries(Array.from({ length: LIMITS.maxCustomResources + 1 }, (_, i) => [`r${i}`, 1]))
      ad.capacity = { ...makeAd().capacity, custom }
    }],
    ['too many GPUs', 'gpus', ad => { ad.gpus = Array.from({ length: LIMITS.maxGpus + 1 }, () => ({ model: 'g', memoryMB: 1 })) }],
    ['too many kinds', 'caps.kinds', ad => { ad.caps = { ...makeAd().caps, kinds: Array.from({ length: LIMITS.maxKinds + 1 }, (_, i) => `k${i}`) } }],
    ['a missing field', 'tasks', ad => { delete ad.tasks }],
    ['leaving as a string', 'leaving', ad => { ad.leaving = 'yes' }]
  ]

  it.each(cases)('rejects %s with reason schema, naming %s', (_what, path, spoil) => {
    const ad: Record<string, unknown> = { ...makeAd() }
    spoil(ad)
    const decoded = decodeValue(ad)
    expect(decoded).toEqual(expect.objectContaining({ ok: false, reason: 'schema' }))
    if (!decoded.ok) expect(decoded.detail.startsWith(`${path}: `), decoded.detail).toBe(true)
  })

  it.each([
    ['v: 2', 2],
    ['v: 0', 0],
    ['v: "1"', '1']
  ])('rejects %s with reason version', (_what, v) => {
    expect(decodeValue({ ...makeAd(), v })).toEqual({ ok: false, reason: 'version', detail: `v=${String(v)}, expected 1` })
  })

  it('rejects a map with no v at all with reason version', () => {
    const { v: _v, ...rest } = makeAd()
    expect(decodeValue(rest)).toEqual(expect.objectContaining({ ok: false, reason: 'version' }))
  })

  it('checks the version before the schema: a v2 ad with new required fields is "version", not "schema"', () => {
    expect(decodeValue({ v: 2, peerId: SIGNER, somethingNew: [1, 2] })).toEqual(expect.objectContaining({ ok: false, reason: 'version' }))
  })

  it('rejects an ad about one peer signed by another with reason signer', () => {
    const decoded = decodeResourceAd(encodeResourceAd(makeAd({ peerId: 'peer-a' })), 'peer-b')
    expect(decoded).toEqual({ ok: false, reason: 'signer', detail: 'ad for peer-a signed by peer-b' })
  })

  it('ignores unknown fields (forward compatibility) and strips them from the decoded value', () => {
    const ad = makeAd()
    const fromNewerPeer = {
      ...ad,
      region: 'eu-west',
      load: { ...ad.load, gpuBusy: 12 },
      capacity: { ...ad.capacity, tpu: 2 },
      caps: { ...ad.caps, plugins: ['x'] }
    }
    const decoded = decodeValue(fromNewerPeer)
    expect(decoded).toEqual({ ok: true, value: ad })
    if (decoded.ok) {
      expect(decoded.value).not.toHaveProperty('region')
      expect(decoded.value.load).not.toHaveProperty('gpuBusy')
      expect(decoded.value.capacity).not.toHaveProperty('tpu')
      expect(decoded.value.caps).not.toHaveProperty('plugins')
    }
  })
})

describe('ResourceAd decoding never throws (property)', () => {
  it('on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), bytes => {
      const decoded = decodeResourceAd(bytes, SIGNER)
      if (!decoded.ok) expect(REASONS).toContain(decoded.reason)
    }), { numRuns: 2000 })
  })

  it('on single-byte mutations of a valid ad, and whatever it accepts is a valid ad from the signer', () => {
    const original = encodeResourceAd(makeRichAd())
    fc.assert(fc.property(fc.nat({ max: original.byteLength - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
      const mutated = copyOf(original)
      mutated[at] = byte
      const decoded = decodeResourceAd(mutated, SIGNER)
      if (decoded.ok) {
        expect(decoded.value.peerId).toBe(SIGNER)
        expect(decoded.value.free.cpu).toBeLessThanOrEqual(decoded.value.capacity.cpu)
      } else {
        expect(REASONS).toContain(decoded.reason)
      }
    }), { numRuns: 3000 })
  })

  it('round-trips any valid ad', () => {
    const quantity = fc.double({ min: 0, max: LIMITS.maxQuantity, noNaN: true })
    const adArb = fc.record({
      epoch: fc.nat(),
      seq: fc.nat(),
      cpu: quantity,
      memoryMB: quantity,
      share: fc.double({ min: 0, max: 1, noNaN: true }),
      cpuModel: fc.string({ maxLength: LIMITS.maxNameLength }),
      leaving: fc.option(fc.boolean(), { nil: undefined })
    }).map(({ epoch, seq, cpu, memoryMB, share, cpuModel, leaving }): ResourceAd => makeAd({
      epoch,
      seq,
      cpuModel,
      capacity: { cpu, memoryMB, gpu: 0, custom: {} },
      free: { cpu: cpu * share <= cpu ? cpu * share : cpu, memoryMB: 0, gpu: 0, custom: {} },
      ...(leaving === undefined ? {} : { leaving })
    }))
    fc.assert(fc.property(adArb, ad => {
      expect(decodeResourceAd(encodeResourceAd(ad), SIGNER)).toEqual({ ok: true, value: ad })
    }), { numRuns: 500 })
  })
})

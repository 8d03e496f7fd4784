/**
 * Test data for `meshwork/resources/1`: a valid ResourceAd with every field
 * set to something plausible, so a test names only the fields it cares about.
 */
import { RESOURCE_AD_VERSION, type ResourceAd } from '../../protocols/resources.ts'

/** The epoch (process start, ms) `makeAd` uses unless told otherwise. */
export const AD_EPOCH = 1_700_000_000_000

/**
 * A valid ad from `peer-a` (epoch AD_EPOCH, seq 1): 4 cores / 7680 MB / no GPU,
 * all of it free. `overrides` replaces whole top-level fields.
 */
export function makeAd (overrides: Partial<ResourceAd> = {}): ResourceAd {
  return {
    v: RESOURCE_AD_VERSION,
    peerId: 'peer-a',
    epoch: AD_EPOCH,
    seq: 1,
    time: AD_EPOCH + 1_000,
    addrs: ['/ip4/192.168.1.10/tcp/4001'],
    capacity: { cpu: 4, memoryMB: 7680, gpu: 0, custom: {} },
    free: { cpu: 4, memoryMB: 7680, gpu: 0, custom: {} },
    cpuModel: 'Test CPU @ 3.0GHz',
    gpus: [],
    load: { avg1: 0.25, cpuBusy: 10, eventLoopDelayMs: 1.5 },
    tasks: { running: 0, queued: 0 },
    speed: 1,
    caps: { kinds: ['handler'], handlers: [], commands: [], tags: [] },
    ...overrides
  }
}

/** A fuller ad (custom resources, a GPU, capabilities) for round-trip tests. */
export function makeRichAd (overrides: Partial<ResourceAd> = {}): ResourceAd {
  return makeAd({
    capacity: { cpu: 15.5, memoryMB: 63_000, gpu: 1, custom: { 'licence:matlab': 2, 'fpga.xilinx': 1 } },
    free: { cpu: 7.25, memoryMB: 31_000, gpu: 1, custom: { 'licence:matlab': 1 } },
    gpus: [{ model: 'NVIDIA RTX 4090', memoryMB: 24_564 }],
    caps: { kinds: ['handler', 'exec'], handlers: ['render', 'encode'], commands: ['ffmpeg'], tags: ['site=lab1'] },
    ...overrides
  })
}

/**
 * Prints the machine's compute GPUs as JSON (`GpuInfo[]`) and exits. Run as
 * a child process by machine.ts, so that systeminformation, which loads all
 * of its modules on import, never stays in the peer.
 */
import si from 'systeminformation'
import type { GpuInfo } from '../../protocols/resources.ts'

/** Vendors whose cards run compute work; integrated and virtual display adapters are not counted. */
const COMPUTE_GPU_VENDOR = /nvidia|advanced micro devices|amd|ati technologies/i

const { controllers } = await si.graphics().catch(() => ({ controllers: [] as si.Systeminformation.GraphicsControllerData[] }))
const gpus: GpuInfo[] = controllers
  .filter(c => COMPUTE_GPU_VENDOR.test(c.vendor ?? '') && (c.vram ?? 0) >= 512)
  .map(c => ({ model: (c.model ?? 'unknown').slice(0, 128), memoryMB: c.vram ?? 0 }))
process.stdout.write(JSON.stringify(gpus) + '\n')

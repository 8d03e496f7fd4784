/**
 * Prints the machine's compute GPUs as JSON (`GpuInfo[]`) and exits. Run as
 * a child process by machine.ts, so that systeminformation, which loads all
 * of its modules on import, never stays in the peer.
 *
 * `nvidia-smi` first, where it is on PATH: it gives each device's index and
 * memory, so the list follows `CUDA_VISIBLE_DEVICES`. Else systeminformation
 * (AMD cards, or NVIDIA without the tool).
 */
import type { GpuInfo } from '../../protocols/resources.ts'
import { queryNvidiaSmi, visibleNvidia } from './nvidia-smi.ts'

/** Vendors whose cards run compute work; integrated and virtual display adapters are not counted. */
const COMPUTE_GPU_VENDOR = /nvidia|advanced micro devices|amd|ati technologies/i

async function probe (): Promise<GpuInfo[]> {
  const nvidia = await queryNvidiaSmi()
  if (nvidia !== undefined) return visibleNvidia(nvidia, process.env.CUDA_VISIBLE_DEVICES).map(g => ({ model: g.model, memoryMB: g.memoryMB }))
  const { default: si } = await import('systeminformation')
  const { controllers } = await si.graphics().catch(() => ({ controllers: [] as Array<{ vendor?: string, model?: string, vram?: number | null }> }))
  return controllers
    .filter(c => COMPUTE_GPU_VENDOR.test(c.vendor ?? '') && (c.vram ?? 0) >= 512)
    .map(c => ({ model: (c.model ?? 'unknown').slice(0, 128), memoryMB: c.vram ?? 0 }))
}

process.stdout.write(JSON.stringify(await probe()) + '\n')

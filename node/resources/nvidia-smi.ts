/**
 * NVIDIA GPUs as `nvidia-smi` reports them, one by one with their memory
 * (docs/ARCHITECTURE.md §8). Used by the GPU probe before systeminformation,
 * whose figures for NVIDIA cards come from the same tool but without the
 * device index, so the list cannot be matched to `CUDA_VISIBLE_DEVICES`.
 */
import { execFile } from 'node:child_process'
import type { GpuInfo } from '../../protocols/resources.ts'

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total,memory.used', '--format=csv,noheader,nounits']

/** One device as `nvidia-smi` prints it. */
export interface NvidiaGpu extends GpuInfo { index: number, usedMB: number }

/**
 * Parse `nvidia-smi --query-gpu=index,name,memory.total,memory.used
 * --format=csv,noheader,nounits`: one `0, NVIDIA A100-SXM4-40GB, 40960, 3`
 * line per device. Lines that do not parse are skipped (`[N/A]` memory, a
 * warning printed before the table).
 */
export function parseNvidiaSmi (text: string): NvidiaGpu[] {
  const out: NvidiaGpu[] = []
  for (const line of text.split(/\r?\n/)) {
    const cols = line.split(',').map(c => c.trim())
    if (cols.length < 4) continue
    // A model name may itself hold a comma: index first, the two numbers last.
    const index = Number(cols[0])
    const total = Number(cols[cols.length - 2])
    const used = Number(cols[cols.length - 1])
    const model = cols.slice(1, -2).join(', ')
    if (!/^\d+$/.test(cols[0]!) || !Number.isFinite(total) || total <= 0 || model === '') continue
    out.push({ index, model: model.slice(0, 128), memoryMB: Math.floor(total), usedMB: Number.isFinite(used) && used >= 0 ? Math.floor(used) : 0 })
  }
  return out
}

/**
 * The devices this process may use: all of them, or, when `CUDA_VISIBLE_DEVICES`
 * lists device indices, those in its order (the n-th is this peer's device n).
 */
export function visibleNvidia (gpus: readonly NvidiaGpu[], visible: string | undefined): NvidiaGpu[] {
  const ids = (visible ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  if (ids.length === 0 || !ids.every(s => /^\d+$/.test(s))) return [...gpus]
  return ids.map(s => gpus.find(g => g.index === Number(s))).filter((g): g is NvidiaGpu => g !== undefined)
}

/** Run `nvidia-smi` from PATH: its devices, or undefined when it is not there or fails. */
export async function queryNvidiaSmi (timeoutMs = 10_000): Promise<NvidiaGpu[] | undefined> {
  return await new Promise(resolve => {
    execFile('nvidia-smi', NVIDIA_SMI_ARGS, { timeout: timeoutMs, maxBuffer: 1 << 20, windowsHide: true }, (err, stdout) => {
      if (err !== null) { resolve(undefined); return }
      const gpus = parseNvidiaSmi(stdout)
      resolve(gpus.length > 0 ? gpus : undefined)
    })
  })
}

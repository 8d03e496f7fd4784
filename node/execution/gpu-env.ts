/**
 * The environment that shows an exec task exactly its GPUs
 * (docs/ARCHITECTURE.md §8): `CUDA_VISIBLE_DEVICES` for NVIDIA, and
 * `HIP_VISIBLE_DEVICES` and `ROCR_VISIBLE_DEVICES` for AMD, each listing the
 * devices the attempt holds (a shared device too), plus `MESHWORK_GPUS` with
 * the peer's own device numbers and `MESHWORK_GPU_MEMORY_MB`. It is applied after the task's own env, so a task cannot widen it,
 * and a task that asked for no GPU gets an empty list: it cannot use a card
 * another task was given.
 *
 * Device n is the n-th id of the daemon's own visible list when the daemon was
 * started with one (it then runs on a subset of the machine's cards), else n.
 */

/** The variables set, in this order. */
const GPU_ENV = ['CUDA_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES'] as const

/** The daemon's own visible devices (its `CUDA_VISIBLE_DEVICES`, else `HIP_VISIBLE_DEVICES`), when it was given a list. */
export function visibleGpuIds (env: Record<string, string | undefined>): string[] | undefined {
  for (const name of ['CUDA_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES']) {
    const value = env[name]
    if (value === undefined || value.trim() === '') continue
    return value.split(',').map(s => s.trim()).filter(s => s !== '')
  }
  return undefined
}

/**
 * The env entries for an attempt holding `gpus` (device numbers on this peer),
 * with `MESHWORK_GPU_MEMORY_MB` when it knows how much memory it may use on
 * each (its share of a device, or its whole devices' memory).
 */
export function gpuEnv (gpus: readonly number[], ids?: readonly string[], memoryMB?: number): Record<string, string> {
  const list = gpus.map(n => ids?.[n] ?? String(n)).join(',')
  const env: Record<string, string> = { MESHWORK_GPUS: gpus.join(',') }
  for (const name of GPU_ENV) env[name] = list
  env.MESHWORK_GPU_MEMORY_MB = memoryMB !== undefined && gpus.length > 0 ? String(memoryMB) : ''
  return env
}

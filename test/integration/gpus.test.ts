/**
 * GPUs with their memory, against real processes (docs/ARCHITECTURE.md §8):
 * the machine probe reads `nvidia-smi` (a fake one, first on PATH, printing
 * what the real one prints on a two-card box), and the runners hand a task its
 * shared device and the memory it may use.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunContext, RunRequest } from '../../src/execution/runner.ts'
import { ExecRunner } from '../../node/execution/exec-runner.ts'
import { HandlerRunner } from '../../node/execution/handler-runner.ts'
import { probeMachine } from '../../node/resources/machine.ts'
import { NVIDIA_SMI_ARGS, parseNvidiaSmi } from '../../node/resources/nvidia-smi.ts'

let dir: string
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'meshwork-gpus-')) })
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

const ctx = (): RunContext => ({ signal: new AbortController().signal, progress: () => {} })

/** A directory holding an `nvidia-smi` that prints `out` when called with the probe's arguments, and fails otherwise. */
function fakeNvidiaSmi (name: string, out: string): string {
  const bin = join(dir, name)
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(dir, `${name}.txt`), out)
  const script = join(bin, 'nvidia-smi')
  writeFileSync(script, `#!/bin/sh\n[ "$*" = "${NVIDIA_SMI_ARGS.join(' ')}" ] || { echo "bad arguments: $*" >&2; exit 2; }\ncat '${join(dir, `${name}.txt`)}'\n`)
  chmodSync(script, 0o755)
  return bin
}

async function withEnv<T> (vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map(k => [k, process.env[k]]))
  for (const [k, v] of Object.entries(vars)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(before)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
}

describe('the GPU probe reads nvidia-smi', () => {
  const twoCards = '0, NVIDIA A100-SXM4-40GB, 40960, 1200\n1, NVIDIA A100-SXM4-40GB, 40960, 3\n'

  it('lists each device with its memory, following CUDA_VISIBLE_DEVICES', async () => {
    // in real life… a GPU count said nothing about memory: a 40 GB model was sent to a 24 GB card.
    const bin = fakeNvidiaSmi('two', twoCards)
    const problems: string[] = []
    const all = await withEnv({ PATH: `${bin}:${process.env.PATH ?? ''}`, CUDA_VISIBLE_DEVICES: undefined }, async () => await probeMachine({ gpus: true, onProblem: p => { problems.push(p) } }))
    expect(problems).toEqual([])
    expect(all.gpus).toEqual([{ model: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960 }, { model: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960 }])
    // A daemon started on card 1 only: its device 0 is that card.
    const one = await withEnv({ PATH: `${bin}:${process.env.PATH ?? ''}`, CUDA_VISIBLE_DEVICES: '1' }, async () => await probeMachine({ gpus: true }))
    expect(one.gpus).toEqual([{ model: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960 }])
  })

  it('parses names with commas and skips lines that are not devices', () => {
    const text = 'WARNING: infoROM is corrupted at gpu 0000:01:00.0\n0, Tesla T4, rev 2, 15360, 0\n1, Tesla T4, [N/A], [N/A]\n\n2, NVIDIA L4, 23034, 10\n'
    expect(parseNvidiaSmi(text)).toEqual([
      { index: 0, model: 'Tesla T4, rev 2', memoryMB: 15360, usedMB: 0 },
      { index: 2, model: 'NVIDIA L4', memoryMB: 23034, usedMB: 10 }
    ])
  })
})

describe('a task is handed its shared device and the memory it may use', () => {
  it('exec: CUDA_VISIBLE_DEVICES lists the shared card and MESHWORK_GPU_MEMORY_MB its share, which the task env cannot set', async () => {
    const runner = new ExecRunner({ allow: ['sh'], scratchRoot: dir })
    const show = 'echo "[$CUDA_VISIBLE_DEVICES] [$MESHWORK_GPUS] [$MESHWORK_GPU_MEMORY_MB]"'
    const run = async (extra: Partial<RunRequest>): Promise<string> => {
      const out = await runner.run({
        jobId: 'j', taskId: 't', attempt: 1, index: 0, kind: 'exec', memoryMB: 0, upstream: {},
        exec: { command: ['sh', '-c', show], env: { MESHWORK_GPU_MEMORY_MB: '999999' }, inputs: {}, outputs: [], shell: false },
        ...extra
      }, ctx())
      if (!out.ok) throw new Error(out.error)
      return (out.value as { stdout: string }).stdout
    }
    expect(await run({ gpus: [1], gpuMemoryMB: 8000 })).toBe('[1] [1] [8000]\n')
    expect(await run({ gpus: [] })).toBe('[] [] []\n')
  })

  it('handler: ctx.gpus and ctx.gpuMemoryMB', async () => {
    const runner = new HandlerRunner({ threads: 1 })
    try {
      runner.register('show', (_input, c) => ({ gpus: c.gpus, gpuMemoryMB: c.gpuMemoryMB ?? null }))
      const out = await runner.run({ jobId: 'j', taskId: 't', attempt: 1, index: 0, kind: 'handler', handler: 'show', memoryMB: 0, upstream: {}, gpus: [0], gpuMemoryMB: 6000 }, ctx())
      expect(out).toEqual({ ok: true, value: { gpus: [0], gpuMemoryMB: 6000 } })
    } finally {
      await runner.close()
    }
  })
})


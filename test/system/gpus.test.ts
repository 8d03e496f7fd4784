/**
 * GPUs handed out one by one, through a real daemon: a peer declaring two
 * GPUs runs two GPU tasks at once, each seeing only its own card in
 * `CUDA_VISIBLE_DEVICES`, and a CPU task sees none; small tasks asking for
 * `gpuMemoryMB` share one card, and `mesh peers` shows what is left of it; a
 * task asking for more memory than any card has waits and says why. No GPU is
 * needed: the devices are declared (`resources.gpu: 2` with
 * `resources.gpuMemoryMB`), and the variables are what a CUDA program would read.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMesh, mesh, peersJson, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  // Unsandboxed: the tasks coordinate through files in the test's folder, which a sandbox hides.
  ({ daemons, dir, cleanup } = await startMesh(1, { resources: { gpu: 2, gpuMemoryMB: [16_384, 24_576] }, executor: { exec: { allow: ['sh'], sandbox: 'none' } } }))
})

afterAll(async () => { await cleanup() })

describe('GPUs on a real daemon', () => {
  it('two GPU tasks running at once get different cards; a CPU task gets none', async () => {
    // in real life… two fine-tuning runs on a 2-GPU workstation both landed on card 0.
    const started = join(dir, 'started')
    mkdirSync(started)
    // Each GPU task waits until both have started, so they surely hold their cards at the same time.
    const both = `echo "$CUDA_VISIBLE_DEVICES"; touch ${started}/$MESHWORK_TASK_INDEX; n=0; while [ "$(ls ${started} | wc -l)" -lt 2 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done`
    const spec = {
      name: 'gpus',
      tasks: {
        train: { kind: 'exec', command: [both], shell: true, count: 2, resources: { cpu: 0.5, gpu: 1 } },
        plain: { kind: 'exec', command: ['echo "[$CUDA_VISIBLE_DEVICES]"'], shell: true, resources: { cpu: 0.5 } }
      }
    }
    const job = join(dir, 'gpus.json')
    writeFileSync(job, JSON.stringify(spec))
    const r = await mesh(['submit', job, '--wait', '--json', '--config', daemons[0]!.config], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { state: string, results: Record<string, { stdout: string, exitCode: number }> }
    expect(out.state).toBe('done')
    expect([out.results['train[0]']!.stdout, out.results['train[1]']!.stdout].sort()).toEqual(['0\n', '1\n'])
    expect(out.results.plain!.stdout).toBe('[]\n')
  })

  it('three tasks asking for 5 GB of GPU memory share one card at once, and mesh peers shows what is left of it', async () => {
    // in real life… three small inference models each took a whole 16 GB card, and the fourth model waited for one.
    const started = join(dir, 'shares-started')
    const release = join(dir, 'shares-release')
    mkdirSync(started)
    // Each task waits until it is told to end, so all three surely hold their shares while mesh peers looks.
    const hold = `echo "$CUDA_VISIBLE_DEVICES $MESHWORK_GPU_MEMORY_MB"; touch ${started}/$MESHWORK_TASK_INDEX; n=0; while [ ! -e ${release} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done`
    const job = join(dir, 'shares.json')
    writeFileSync(job, JSON.stringify({ name: 'shares', tasks: { infer: { kind: 'exec', command: [hold], shell: true, count: 3, resources: { cpu: 0.5, gpuMemoryMB: 5120 } } } }))
    const done = mesh(['submit', job, '--wait', '--json', '--config', daemons[0]!.config], { timeoutMs: 60_000 })
    try {
      await waitFor('the three shares to run at once', () => readdirSync(started).length === 3, { timeoutMs: 30_000, intervalMs: 100 })
      // Card 0 holds the three shares (15 GB of its 16), card 1 is untouched.
      const gpus = await waitFor('the ad to show the shares', async () => {
        const g = (await peersJson(daemons[0]!.config)).peers.find(p => p.self)!.gpus
        return g[0]?.freeMemoryMB === 1024 ? g : undefined
      }, { timeoutMs: 10_000, intervalMs: 100 })
      expect(gpus).toEqual([{ model: 'GPU', memoryMB: 16_384, freeMemoryMB: 1024 }, { model: 'GPU', memoryMB: 24_576, freeMemoryMB: 24_576 }])
      const table = await mesh(['peers', '--config', daemons[0]!.config])
      expect(table.stdout).toContain('GPU0 1/16 GB free')
      expect(table.stdout).toContain('GPU1 24/24 GB free')
    } finally {
      writeFileSync(release, '')
    }
    const r = await done
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { state: string, results: Record<string, { stdout: string }> }
    expect(out.state).toBe('done')
    expect([0, 1, 2].map(i => out.results[`infer[${i}]`]!.stdout)).toEqual(['0 5120\n', '0 5120\n', '0 5120\n'])
    expect(existsSync(release)).toBe(true)
  })

  it('a task asking for more GPU memory than any card has waits, and mesh status says why', async () => {
    const job = join(dir, 'huge.json')
    writeFileSync(job, JSON.stringify({ name: 'huge', tasks: { train: { kind: 'exec', command: ['true'], shell: true, resources: { cpu: 0.5, gpuMemoryMB: 40_000 } } } }))
    const sub = await mesh(['submit', job, '--json', '--config', daemons[0]!.config])
    expect(sub.code, sub.stderr).toBe(0)
    const id = (JSON.parse(sub.stdout) as { id: string }).id
    type Snap = { tasks: Array<{ status: string, waiting?: string, why?: Array<{ peer: string, reason: string }> }> }
    const task = await waitFor('the task to say why it waits', async () => {
      const s = JSON.parse((await mesh(['status', id, '--json', '--config', daemons[0]!.config])).stdout) as Snap
      return s.tasks[0]?.why?.length === 1 ? s.tasks[0] : undefined
    }, { timeoutMs: 10_000, intervalMs: 200 })
    expect(task.status).toBe('pending')
    // The two cards hold 40 GB together, but no one card does.
    expect(task.waiting).toBe('no live peer offers a GPU with ≥ 40000 MB memory')
    expect(task.why![0]!.reason).toBe('lacks: a GPU with ≥ 40000 MB memory')
    expect((await mesh(['cancel', id, '--config', daemons[0]!.config])).code).toBe(0)
  })
})

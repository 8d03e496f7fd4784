/**
 * GPUs handed out one by one, through a real daemon: a peer declaring two
 * GPUs runs two GPU tasks at once, each seeing only its own card in
 * `CUDA_VISIBLE_DEVICES`, and a CPU task sees none. No GPU is needed: the
 * devices are declared (`resources.gpu: 2`), and the variables are what a
 * CUDA program would read.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'

let daemons: LocalDaemon[]
let dir: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  ({ daemons, dir, cleanup } = await startMesh(1, { resources: { gpu: 2 }, executor: { exec: { allow: ['sh'] } } }))
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
})

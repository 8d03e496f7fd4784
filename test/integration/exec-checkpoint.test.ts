/**
 * Exec checkpoints: a program that saves its progress in
 * $MESHWORK_CHECKPOINT_DIR has it sent as the attempt's checkpoint while it
 * runs; a later attempt given that checkpoint finds the files back and resumes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ExecRunner } from '../../node/execution/exec-runner.ts'
import { isExecCheckpoint } from '../../node/execution/exec-checkpoint.ts'
import type { RunRequest } from '../../src/execution/runner.ts'
import { waitFor } from '../helpers/wait.ts'

const root = mkdtempSync(join(tmpdir(), 'meshwork-ckpt-'))
afterAll(() => { rmSync(root, { recursive: true, force: true }) })

// Counts to 12, one step every 0.3 s, keeping the count in the checkpoint directory.
const SCRIPT = 'i=$(cat "$MESHWORK_CHECKPOINT_DIR/count" 2>/dev/null || echo 0); echo "start $i"; ' +
  'while [ "$i" -lt 12 ]; do i=$((i+1)); echo "$i" > "$MESHWORK_CHECKPOINT_DIR/count"; sleep 0.3; done; echo done'

function request (attempt: number, restored?: unknown): RunRequest {
  return {
    jobId: 'job', taskId: 'count', attempt, index: 0, kind: 'exec', memoryMB: 0, upstream: {}, restored,
    exec: { command: ['sh', '-c', SCRIPT], env: {}, inputs: {}, outputs: [], shell: false }
  }
}

describe('exec checkpoints', () => {
  it('sends the checkpoint directory while the program runs, and a later attempt resumes from it', async () => {
    const runner = new ExecRunner({ allow: ['sh'], scratchRoot: root })
    const saved: unknown[] = []
    const abort = new AbortController()
    const first = runner.run(request(1), { signal: abort.signal, progress: () => {}, checkpoint: s => { saved.push(s) } })
    const last = (): number => {
      const s = saved.at(-1)
      return isExecCheckpoint(s) ? Number(new TextDecoder().decode(s.files.count).trim()) : 0
    }
    await waitFor('a checkpoint with a count of at least 3', () => last() >= 3, { timeoutMs: 10_000 })
    abort.abort()
    expect((await first).ok).toBe(false)

    const resumedFrom = last()
    const second = await runner.run(request(2, saved.at(-1)), { signal: new AbortController().signal, progress: () => {} })
    expect(second.ok).toBe(true)
    const stdout = (second as { value: { stdout: string } }).value.stdout
    expect(stdout).toMatch(new RegExp(`^start ${resumedFrom}\\n`))
    expect(stdout.trim().endsWith('done')).toBe(true)
  })
})

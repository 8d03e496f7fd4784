/**
 * The task runners against real worker threads and real child processes:
 * handlers (embedded and in the piscina pool) and exec (allow list, scratch
 * dir, process-group kill, bounded capture, progress lines).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ExecRequest, RunContext, RunOutcome, RunRequest } from '../../src/execution/runner.ts'
import { HandlerRunner } from '../../node/execution/handler-runner.ts'
import { ExecRunner } from '../../node/execution/exec-runner.ts'
import { programAllowed as isAllowed } from '../../src/auction/requirements.ts'
import { waitFor } from '../helpers/wait.ts'

const fixture = fileURLToPath(new URL('../fixtures/handlers/basic.ts', import.meta.url))

interface Probe { ctx: RunContext, progress: Array<[number, string | undefined]>, abort: () => void }

function probe (): Probe {
  const controller = new AbortController()
  const progress: Array<[number, string | undefined]> = []
  return {
    ctx: { signal: controller.signal, progress: (f, m) => { progress.push([f, m]) } },
    progress,
    abort: () => { controller.abort() }
  }
}

function handlerReq (handler: string, extra: Partial<RunRequest> = {}): RunRequest {
  return { jobId: 'j1', taskId: 't', attempt: 1, index: 0, kind: 'handler', handler, memoryMB: 0, upstream: {}, ...extra }
}

function execReq (exec: Partial<ExecRequest>, extra: Partial<RunRequest> = {}): RunRequest {
  return {
    jobId: 'job-1',
    taskId: 'sweep[2]',
    attempt: 1,
    index: 2,
    count: 4,
    kind: 'exec',
    exec: { command: [], env: {}, inputs: {}, outputs: [], shell: false, ...exec },
    memoryMB: 0,
    upstream: {},
    ...extra
  }
}

function failure (out: RunOutcome): Extract<RunOutcome, { ok: false }> {
  if (out.ok) throw new Error(`expected a failure, got ${JSON.stringify(out.value)}`)
  return out
}

/** Alive and not a zombie (an orphan may wait to be reaped if PID 1 does not reap). */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

describe('HandlerRunner', () => {
  const runner = new HandlerRunner({ threads: 2 })
  runner.register('add', (input) => { const { a, b } = input as { a: number, b: number }; return a + b })
  runner.register('boom', async () => { await Promise.resolve(); throw new TypeError('x is undefined') })
  runner.register('forever', async (_input, ctx) => await new Promise((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => { reject(new Error('stopped')) })
  }))
  runner.register('fn', () => () => 1)
  runner.registerModule('describe', fixture)
  runner.registerModule('progress', `${fixture}#progress`)
  runner.registerModule('spin', `${fixture}#spin`)
  runner.registerModule('exit', `${fixture}#exit`)
  runner.registerModule('fail', `${fixture}#fail`)
  runner.registerModule('returnsFunction', `${fixture}#returnsFunction`)
  runner.registerModule('square', `${fixture}#square`)
  runner.registerModule('missing', `${fixture}#nope`)

  afterAll(async () => { await runner.close() })

  it('lists every registered handler and refuses bad registrations', () => {
    expect(runner.names()).toEqual(['add', 'boom', 'describe', 'exit', 'fail', 'fn', 'forever', 'missing', 'progress', 'returnsFunction', 'spin', 'square'])
    expect(() => { runner.register('add', () => 0) }).toThrow(/already registered/)
    expect(() => { runner.registerModule('rel', 'handlers/x.ts') }).toThrow(/absolute/)
    expect(() => { runner.registerModule('gone', '/nonexistent/x.ts#f') }).toThrow(/does not exist/)
  })

  it('runs an embedded handler on the main thread', async () => {
    expect(await runner.run(handlerReq('add', { input: { a: 2, b: 3 } }), probe().ctx)).toEqual({ ok: true, value: 5 })
  })

  it('turns a throwing embedded handler into a failed attempt', async () => {
    expect(await runner.run(handlerReq('boom'), probe().ctx))
      .toEqual({ ok: false, reason: 'error', error: 'TypeError: x is undefined', retryable: true })
  })

  it('refuses a result that cannot travel', async () => {
    expect(failure(await runner.run(handlerReq('fn'), probe().ctx)).error).toMatch(/returned a function at result/)
    expect(failure(await runner.run(handlerReq('returnsFunction'), probe().ctx)).error).toMatch(/function at result\.later/)
  })

  it('reports an unknown handler', async () => {
    expect(await runner.run(handlerReq('x'), probe().ctx))
      .toEqual({ ok: false, reason: 'unknown-handler', error: 'no handler "x" on this peer', retryable: false })
  })

  it('ends a stuck embedded handler on timeout or cancel', async () => {
    const out = failure(await runner.run(handlerReq('forever', { timeoutMs: 50 }), probe().ctx))
    expect(out).toEqual({ ok: false, reason: 'timeout', error: 'timed out after 50 ms', retryable: true })
    const p = probe()
    const running = runner.run(handlerReq('forever'), p.ctx)
    p.abort()
    expect(await running).toEqual({ ok: false, reason: 'cancelled', error: 'cancelled', retryable: false })
  })

  it('runs a module handler in a worker thread with index, count, upstream and input', async () => {
    const upstream = { prep: [1, 2], seed: { n: 7 } }
    const out = await runner.run(handlerReq('describe', { input: { x: new Uint8Array([1, 2]) }, index: 3, count: 8, attempt: 2, upstream }), probe().ctx)
    if (!out.ok) throw new Error(out.error)
    const value = out.value as Record<string, unknown>
    expect(value.threadId).not.toBe(0)
    expect(value).toMatchObject({ index: 3, count: 8, attempt: 2, upstream, input: { x: new Uint8Array([1, 2]) } })
  })

  it('delivers progress from inside the worker', async () => {
    const p = probe()
    expect(await runner.run(handlerReq('progress'), p.ctx)).toEqual({ ok: true, value: 'done' })
    expect(p.progress).toEqual([[0.25, 'a quarter'], [0.75, undefined]])
  })

  it('keeps the error name of a module handler that throws', async () => {
    expect(await runner.run(handlerReq('fail'), probe().ctx))
      .toEqual({ ok: false, reason: 'error', error: 'RangeError: bad range', retryable: true })
    expect(failure(await runner.run(handlerReq('missing'), probe().ctx)).error).toMatch(/has no function as an export "nope"/)
  })

  it('stops a busy-looping module handler on timeout, then still runs tasks', async () => {
    const out = await runner.run(handlerReq('spin', { timeoutMs: 300 }), probe().ctx)
    expect(out).toEqual({ ok: false, reason: 'timeout', error: 'timed out after 300 ms', retryable: true })
    expect(await runner.run(handlerReq('square', { input: 9 }), probe().ctx)).toEqual({ ok: true, value: 81 })
  })

  it('stops a busy-looping module handler when cancelled', async () => {
    const p = probe()
    const running = runner.run(handlerReq('spin'), p.ctx)
    await waitFor('the handler to start', () => p.progress.length > 0)
    p.abort()
    expect(await running).toEqual({ ok: false, reason: 'cancelled', error: 'cancelled', retryable: false })
    expect(await runner.run(handlerReq('square', { input: 4 }), probe().ctx)).toEqual({ ok: true, value: 16 })
  })

  it('fails the attempt, not the peer, when a handler exits its worker', async () => {
    const out = failure(await runner.run(handlerReq('exit'), probe().ctx))
    expect(out).toMatchObject({ reason: 'error', retryable: true })
    expect(out.error).toMatch(/ended its worker thread \(exit code 3\)/)
    expect(await runner.run(handlerReq('square', { input: 3 }), probe().ctx)).toEqual({ ok: true, value: 9 })
  })

  it('fails the attempt when a worker runs out of memory', async () => {
    const small = new HandlerRunner({ threads: 1, maxMemoryMB: 32 })
    small.registerModule('hog', `${fixture}#hog`)
    small.registerModule('square', `${fixture}#square`)
    try {
      const out = failure(await small.run(handlerReq('hog'), probe().ctx))
      expect(out).toMatchObject({ reason: 'limit' })
      expect(out.error).toMatch(/ran out of memory \(worker heap cap 32 MB\)/)
      expect(await small.run(handlerReq('square', { input: 5 }), probe().ctx)).toEqual({ ok: true, value: 25 })
    } finally {
      await small.close()
    }
  })

  it("caps a module task's heap from its memoryMB", async () => {
    const roomy = new HandlerRunner({ threads: 1, maxMemoryMB: 2048 })
    roomy.registerModule('hog', `${fixture}#hog`)
    roomy.registerModule('square', `${fixture}#square`)
    try {
      const out = failure(await roomy.run(handlerReq('hog', { memoryMB: 100 }), probe().ctx))
      expect(out).toMatchObject({ reason: 'limit', error: 'handler "hog" ran out of memory (worker heap cap 128 MB, from the task\'s memoryMB 100)' })
      expect(await roomy.run(handlerReq('square', { input: 6, memoryMB: 100 }), probe().ctx)).toEqual({ ok: true, value: 36 })
    } finally {
      await roomy.close()
    }
  })
})

describe('ExecRunner', () => {
  let root: string
  let runner: ExecRunner
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'meshwork-exec-'))
    runner = new ExecRunner({ allow: ['sh', 'cat', '/bin/echo', 'printf', 'sleep'], scratchRoot: root })
  })
  afterEach(() => { expect(existsSync(join(root, 'job-1'))).toBe(false) }) // scratch removed
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('applies the allow rule exactly', () => {
    const allow = ['sh', '/usr/bin/python3']
    expect(isAllowed(allow, 'sh')).toBe(true)
    expect(isAllowed(allow, '/bin/sh')).toBe(false)
    expect(isAllowed(allow, 'python3')).toBe(false)
    expect(isAllowed(allow, '/usr/bin/python3')).toBe(true)
    expect(isAllowed(['./run'], './run')).toBe(false)
    // A shell task needs sh itself, whatever its command's first word.
    expect(isAllowed(['/bin/sh'], 'sh', true)).toBe(true)
    expect(isAllowed(['echo'], 'sh', true)).toBe(false)
  })

  it('refuses a program that is not allowed', async () => {
    expect(await runner.run(execReq({ command: ['rm', '-rf', '/'] }), probe().ctx)).toEqual({
      ok: false, reason: 'refused', error: 'program "rm" is not in executor.exec.allow on this peer', retryable: false
    })
    expect(failure(await runner.run(execReq({ command: ['/bin/sleep', '1'] }), probe().ctx)).reason).toBe('refused')
    const noShell = new ExecRunner({ allow: ['cat'], scratchRoot: root })
    expect(failure(await noShell.run(execReq({ command: ['cat'], shell: true }), probe().ctx)).error)
      .toBe('program "sh" is not in executor.exec.allow on this peer')
  })

  it('runs an allowed program with a clean environment and the Meshwork variables', async () => {
    process.env.MESHWORK_TEST_SECRET = 'leak'
    try {
      const out = await runner.run(execReq({
        command: ['sh', '-c', 'env | sort; pwd; cat "$MESHWORK_UPSTREAM_FILE"'],
        env: { GREETING: 'hi' }
      }, { upstream: { prep: [1, 2] } }), probe().ctx)
      if (!out.ok) throw new Error(out.error)
      const { stdout, exitCode } = out.value as { stdout: string, exitCode: number }
      expect(exitCode).toBe(0)
      expect(stdout).toContain('GREETING=hi\n')
      expect(stdout).toContain('MESHWORK_TASK_ID=sweep[2]\n')
      expect(stdout).toContain('MESHWORK_TASK_INDEX=2\n')
      expect(stdout).toContain('MESHWORK_ATTEMPT=1\n')
      expect(stdout).toContain(`MESHWORK_SCRATCH_DIR=${join(root, 'job-1', 'sweep%5B2%5D-a1')}\n`)
      expect(stdout).toContain(`${join(root, 'job-1', 'sweep%5B2%5D-a1')}\n`)
      expect(stdout).toContain('{"prep":[1,2]}')
      expect(stdout).not.toContain('MESHWORK_TEST_SECRET')
    } finally {
      delete process.env.MESHWORK_TEST_SECRET
    }
  })

  it('shows a task exactly its GPUs, which its own env cannot widen, and a task without GPUs none', async () => {
    const show = 'echo "[$CUDA_VISIBLE_DEVICES] [$HIP_VISIBLE_DEVICES] [$ROCR_VISIBLE_DEVICES] [$MESHWORK_GPUS]"'
    const stdoutOf = async (r: ExecRunner, gpus: number[]): Promise<string> => {
      const out = await r.run(execReq({ command: ['sh', '-c', show], env: { CUDA_VISIBLE_DEVICES: '0,1,2,3' } }, { gpus }), probe().ctx)
      if (!out.ok) throw new Error(out.error)
      return (out.value as { stdout: string }).stdout
    }
    expect(await stdoutOf(runner, [1, 2])).toBe('[1,2] [1,2] [1,2] [1,2]\n')
    expect(await stdoutOf(runner, [])).toBe('[] [] [] []\n')
    // A daemon started on cards 4 and 6 of the machine: its device 1 is card 6.
    const onSubset = new ExecRunner({ allow: ['sh'], scratchRoot: root, gpuIds: ['4', '6'] })
    expect(await stdoutOf(onSubset, [1])).toBe('[6] [6] [6] [1]\n')
  })

  it('stages inputs, passes stdin and collects outputs', async () => {
    const out = await runner.run(execReq({
      command: ['sh', '-c', 'mkdir -p out && cat data/in.txt - > out/result.txt && /bin/echo done'],
      stdin: 'from stdin\n',
      inputs: { 'data/in.txt': new TextEncoder().encode('from file\n') },
      outputs: ['out/result.txt']
    }), probe().ctx)
    if (!out.ok) throw new Error(out.error)
    expect(new TextDecoder().decode(out.outputs?.['out/result.txt'])).toBe('from file\nfrom stdin\n')
    expect(out.value).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '', truncated: false, outputs: { 'out/result.txt': 21 } })
  })

  it('runs through /bin/sh with shell: true', async () => {
    const out = await runner.run(execReq({ command: ['printf', '%s-%s', 'a', 'b', '|', 'cat'], shell: true }), probe().ctx)
    expect(out.ok && (out.value as { stdout: string }).stdout).toBe('a-b')
  })

  it('fails on a missing declared output and on an output escaping the scratch dir', async () => {
    const missing = failure(await runner.run(execReq({ command: ['/bin/echo', 'hi'], outputs: ['nope.txt'] }), probe().ctx))
    expect(missing).toMatchObject({ reason: 'error', error: 'declared output "nope.txt" was not produced', retryable: true })
    expect(missing.value?.stdout).toBe('hi\n')
    const link = failure(await runner.run(execReq({ command: ['sh', '-c', 'ln -s /etc/passwd p'], outputs: ['p'] }), probe().ctx))
    expect(link.error).toMatch(/not a regular file inside the scratch directory/)
    const escape = failure(await runner.run(execReq({ command: ['cat'], inputs: { '../x': new Uint8Array(1) } }), probe().ctx))
    expect(escape).toMatchObject({ reason: 'error', retryable: false })
  })

  it('refuses loader variables in the task env', async () => {
    expect(failure(await runner.run(execReq({ command: ['cat'], env: { LD_PRELOAD: './evil.so' } }), probe().ctx)))
      .toMatchObject({ reason: 'refused', retryable: false, error: expect.stringMatching(/^env "LD_PRELOAD" is not accepted/) })
  })

  it('reports a non-zero exit with its stderr', async () => {
    const out = failure(await runner.run(execReq({ command: ['sh', '-c', 'echo oops >&2; exit 2'] }), probe().ctx))
    expect(out).toMatchObject({ reason: 'exit', error: 'exit code 2', retryable: true })
    expect(out.value).toMatchObject({ exitCode: 2, stderr: 'oops\n' })
  })

  it('reports a program that cannot start', async () => {
    const missing = new ExecRunner({ allow: ['/nonexistent/prog', 'no-such-program-x'], scratchRoot: root })
    const abs = failure(await missing.run(execReq({ command: ['/nonexistent/prog'] }), probe().ctx))
    expect(abs).toMatchObject({ reason: 'error', retryable: false })
    expect(abs.error).toMatch(/^cannot start "\/nonexistent\/prog": ENOENT/)
    const bare = failure(await missing.run(execReq({ command: ['no-such-program-x'] }), probe().ctx))
    expect(bare.error).toMatch(/^cannot start "no-such-program-x": ENOENT/)
  })

  it('kills the whole process group on timeout', async () => {
    const out = failure(await runner.run(execReq({
      command: ['sh', '-c', 'sleep 30 & echo $!; sleep 30 & echo $!; wait'],
      outputs: []
    }, { timeoutMs: 1500 }), probe().ctx))
    expect(out).toMatchObject({ reason: 'timeout', error: 'timed out after 1500 ms', retryable: true })
    const pids = (out.value?.stdout ?? '').trim().split('\n').map(Number)
    expect(pids).toHaveLength(2)
    await waitFor('both sleeps to be gone', () => pids.every(pid => !alive(pid)))
  })

  it('kills the process group when cancelled, even a child that ignores SIGTERM', async () => {
    const p = probe()
    const running = runner.run(execReq({
      command: ['sh', '-c', 'sh -c \'trap "" TERM; echo MESHWORK_PROGRESS 0.5 $$; while :; do sleep 1; done\' & wait']
    }), p.ctx)
    await waitFor('the child to start', () => p.progress.length > 0)
    p.abort()
    const out = failure(await running)
    expect(out).toMatchObject({ reason: 'cancelled', error: 'cancelled', retryable: false })
    const pid = Number(p.progress[0]?.[1])
    expect(pid).toBeGreaterThan(0)
    await waitFor('the TERM-proof child to be gone', () => !alive(pid))
  })

  it('keeps the tail of a large output', async () => {
    const small = new ExecRunner({ allow: ['sh'], scratchRoot: root, captureBytes: 16 })
    const out = await small.run(execReq({ command: ['sh', '-c', 'i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done; echo end'] }), probe().ctx)
    if (!out.ok) throw new Error(out.error)
    expect(out.value).toMatchObject({ stdout: 'line98\nline99\nend\n'.slice(-16), truncated: true })
  })

  it('turns MESHWORK_PROGRESS lines into progress and still captures them', async () => {
    const p = probe()
    const out = await runner.run(execReq({
      command: ['sh', '-c', 'echo MESHWORK_PROGRESS 0.5 half way; echo noise; printf "MESHWORK_PRO"; sleep 0.1; echo "GRESS 1"']
    }), p.ctx)
    expect(out.ok && (out.value as { stdout: string }).stdout).toContain('MESHWORK_PROGRESS 0.5 half way\nnoise\n')
    expect(p.progress).toEqual([[0.5, 'half way'], [1, undefined]])
  })

  it('keeps the scratch dir when asked', async () => {
    const keep = new ExecRunner({ allow: ['sh'], scratchRoot: root, keepScratch: true })
    const out = await keep.run(execReq({ command: ['sh', '-c', 'echo kept > f'] }, { jobId: 'job-keep' }), probe().ctx)
    expect(out.ok).toBe(true)
    expect(readFileSync(join(root, 'job-keep', 'sweep%5B2%5D-a1', 'f'), 'utf8')).toBe('kept\n')
  })
})

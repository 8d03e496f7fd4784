/**
 * Safe to lend a machine (docs/ARCHITECTURE.md §8, "Limits" and "Sandbox"):
 * real daemons, driven by the CLI, with the sandbox off and on. A task that
 * allocates far past its memoryMB fails with the memory reason and the daemon
 * stays healthy; a fork bomb is held by the pids limit; a task that calls
 * setsid is gone after cancel; `mesh peers` shows the enforcement. With the
 * sandbox, a task cannot read the daemon's key or control token, write
 * outside its scratch directory, or reach the control API.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMesh, mesh, peersJson, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

const NODE = process.execPath

interface JobOut { state: string, results: Record<string, { stdout: string, stderr: string, exitCode: number }>, error?: string }

function countProcesses (marker: string): number {
  try {
    return Number(execFileSync('pgrep', ['-fc', marker], { encoding: 'utf8' }).trim())
  } catch {
    return 0 // pgrep exits 1 when nothing matches
  }
}

describe.each(['none', 'bwrap'] as const)('exec tasks on a real daemon, sandbox %s', sandbox => {
  let daemons: LocalDaemon[]
  let dir: string
  let cleanup: () => Promise<void>
  let jobs = 0

  beforeAll(async () => {
    ({ daemons, dir, cleanup } = await startMesh(1, { executor: { exec: { allow: ['sh', NODE], sandbox, pids: 128 } } }))
  })
  afterAll(async () => { await cleanup() })

  const config = (): string => daemons[0]!.config
  async function submit (tasks: Record<string, unknown>, wait = true): Promise<{ code: number, out: string, err: string }> {
    const file = join(dir, `job${++jobs}.json`)
    writeFileSync(file, JSON.stringify({ name: `confine${jobs}`, tasks }))
    const r = await mesh(['submit', file, ...(wait ? ['--wait', '--json'] : ['--json']), '--config', config()], { timeoutMs: 60_000 })
    return { code: r.code, out: r.stdout, err: r.stderr }
  }
  async function healthy (): Promise<void> {
    const r = await submit({ ok: { kind: 'exec', command: ['sh', '-c', 'echo fine'] } })
    expect(r.code, r.err).toBe(0)
    expect((JSON.parse(r.out) as JobOut).results.ok!.stdout).toBe('fine\n')
  }

  it('mesh peers shows what this peer enforces', async () => {
    const self = (await peersJson(config())).peers.find(p => p.self)!
    expect(self.caps.limits).toMatch(/^cgroup-v[12]$/)
    expect(self.caps.sandbox).toBe(sandbox)
    const table = await mesh(['peers', '--config', config()])
    expect(table.stdout).toMatch(/cgroup-v[12]/)
    expect(table.stdout).toContain(sandbox === 'bwrap' ? ' sandbox' : 'no sandbox')
  })

  it('fails a task that allocates far past its memoryMB with the memory reason, and stays healthy', async () => {
    const r = await submit({ hog: { kind: 'exec', command: [NODE, '-e', 'Buffer.alloc(800 * 1024 * 1024).fill(7)'], resources: { memoryMB: 128 } } })
    expect(r.code).not.toBe(0)
    expect(`${r.out}${r.err}`).toContain('memory limit 128 MB exceeded')
    await healthy()
  })

  it('holds a fork bomb to the pids limit, and leaves nothing behind', async () => {
    const tag = `bomb${sandbox}`
    // `exec sleep`: once the bomb holds every pid, a leader that needed a fork of its own would fail.
    const r = await submit({ bomb: { kind: 'exec', command: ['sh', '-c', `${tag}(){ ${tag}|${tag}& }; ${tag}; exec sleep 2`], timeoutMs: 20_000 } })
    expect(r.code, r.err).toBe(0)
    expect((JSON.parse(r.out) as JobOut).results.bomb!.stderr).toMatch(/Cannot fork|Resource temporarily unavailable/)
    await waitFor('the bomb to be gone', () => countProcesses(tag) === 0, { timeoutMs: 10_000, intervalMs: 100 })
    await healthy()
  })

  it('kills a process that called setsid when its job is cancelled', async () => {
    const marker = `sleep ${sandbox === 'bwrap' ? 7711 : 7712}`
    const r = await submit({ escape: { kind: 'exec', command: ['sh', '-c', `setsid ${marker} & ${marker}`] } }, false)
    expect(r.code, r.err).toBe(0)
    const jobId = (JSON.parse(r.out) as { id: string }).id
    await waitFor('both sleeps to run', () => countProcesses(marker) >= 2, { timeoutMs: 20_000, intervalMs: 100 })
    const c = await mesh(['cancel', jobId, '--config', config()])
    expect(c.code, c.stderr).toBe(0)
    await waitFor('every sleep to be gone', () => countProcesses(marker) === 0, { timeoutMs: 10_000, intervalMs: 100 })
  })

  it(sandbox === 'bwrap' ? 'keeps a task from the key, the token, other folders and the control API' : 'without the sandbox, a task still runs as the daemon sees fit (the key is readable)', async () => {
    const data = join(dir, 'data1')
    const control = new URL((JSON.parse(readFileSync(join(data, 'control.json'), 'utf8')) as { url: string }).url)
    const probe = [
      `cat ${data}/peer.key >/dev/null 2>&1 && echo key-read`,
      `cat ${data}/control.json 2>/dev/null | grep -q token && echo token-read`,
      `echo x > ${dir}/escaped-${sandbox} 2>/dev/null && echo wrote-outside`,
      'echo x > in-scratch && echo wrote-scratch'
    ].join('; ')
    const connect = `require("net").connect(${control.port}, "${control.hostname}").on("connect", () => { console.log("control-reached"); process.exit(0) }).on("error", () => console.log("no-connection"))`
    const r = await submit({
      files: { kind: 'exec', command: ['sh', '-c', probe] },
      net: { kind: 'exec', command: [NODE, '-e', connect] }
    })
    expect(r.code, `${r.err}${r.out}`).toBe(0)
    const out = JSON.parse(r.out) as JobOut
    if (sandbox === 'bwrap') {
      expect(out.results.files!.stdout).toBe('wrote-scratch\n')
      expect(existsSync(join(dir, `escaped-${sandbox}`))).toBe(false)
      expect(out.results.net!.stdout).toBe('no-connection\n')
    } else {
      expect(out.results.files!.stdout).toContain('key-read')
      expect(out.results.net!.stdout).toBe('control-reached\n')
    }
  })
})

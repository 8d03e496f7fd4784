/**
 * Exec tasks in their jail (docs/ARCHITECTURE.md §8, "Limits" and "Sandbox"),
 * through the real ExecRunner, cgroups and bubblewrap of this machine (CI runs
 * as root with cgroup v1 hierarchies and bubblewrap installed): the limits
 * with the sandbox off and on, and what the sandbox hides.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Confinement } from '../../node/execution/confine/confinement.ts'
import { ExecRunner } from '../../node/execution/exec-runner.ts'
import type { RunOutcome, RunRequest } from '../../src/execution/runner.ts'

const NODE = process.execPath
let seq = 0

function req (command: string[], extra: Partial<RunRequest> = {}, exec: Partial<NonNullable<RunRequest['exec']>> = {}): RunRequest {
  return {
    jobId: 'confine', taskId: `t${++seq}`, attempt: 1, index: 0, kind: 'exec', memoryMB: 256, cpu: 1, upstream: {}, timeoutMs: 30_000,
    exec: { command, env: {}, inputs: {}, outputs: [], shell: false, ...exec },
    ...extra
  }
}

const ctx = (signal = new AbortController().signal): Parameters<ExecRunner['run']>[1] => ({ signal, progress: () => {} })
const text = (o: RunOutcome): string => { const v = (o as { value?: { stdout: string, stderr: string } }).value; return `${v?.stdout ?? ''}${v?.stderr ?? ''}` }

/** Processes on this machine whose command line contains `needle`. */
async function processesWith (needle: string): Promise<number[]> {
  const out: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')
    if (cmd.split('\0').join(' ').includes(needle)) out.push(Number(name))
  }
  return out
}

async function until (what: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await what())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** A folder with a daemon's data directory (its key) and fake GPU device nodes 0–2 (`<root>/dev`). */
async function daemonLike (prefix: string): Promise<{ root: string, secret: string }> {
  const root = await mkdtemp(join(tmpdir(), prefix))
  const secret = join(root, 'daemon-data')
  await mkdir(join(root, 'dev'), { recursive: true })
  for (const n of ['nvidia0', 'nvidia1', 'nvidia2']) await writeFile(join(root, 'dev', n), n)
  await mkdir(secret)
  await writeFile(join(secret, 'peer.key'), 'the private key')
  return { root, secret }
}

describe.each(['none', 'bwrap'] as const)('exec confinement, sandbox %s', sandbox => {
  let root: string
  let secret: string
  let runner: ExecRunner
  let confinement: Confinement

  beforeAll(async () => {
    ({ root, secret } = await daemonLike('meshwork-confine-'))
    const found = await Confinement.detect({
      limits: 'cgroup', sandbox, pids: 64, diskMB: 20, network: false, readOnly: [NODE], hide: [secret],
      devDir: join(root, 'dev'), defaultMemoryMB: () => 512
    })
    if ('refuse' in found) throw new Error(found.refuse)
    confinement = found
    runner = new ExecRunner({ allow: ['sh', NODE], scratchRoot: join(secret, 'scratch'), confinement })
  })
  afterAll(async () => {
    await runner.close()
    await rm(root, { recursive: true, force: true })
  })

  it('says what it enforces', () => {
    expect(confinement.enforcement.limits).toMatch(/^cgroup-v[12]$/)
    expect(confinement.enforcement.sandbox).toBe(sandbox)
  })

  it('kills a task that allocates past its memoryMB, with the memory reason', async () => {
    const out = await runner.run(req([NODE, '-e', 'Buffer.alloc(600 * 1024 * 1024).fill(1); console.log("survived")'], { memoryMB: 128 }), ctx())
    expect(out).toMatchObject({ ok: false, reason: 'limit', error: 'memory limit 128 MB exceeded', retryable: true })
    const after = await runner.run(req(['sh', '-c', 'echo still here']), ctx())
    expect(text(after)).toBe('still here\n')
  })

  it('contains a fork bomb with the pids limit and leaves nothing behind', async () => {
    const tag = `bomb${seq}${sandbox}`
    const out = await runner.run(req(['sh', '-c', `${tag}(){ ${tag}|${tag}& }; ${tag}; sleep 1; echo done`]), ctx())
    expect(text(out)).toMatch(/Cannot fork|Resource temporarily unavailable/)
    await until(async () => (await processesWith(tag)).length === 0)
  })

  it('kills a process that left the group (setsid) when the task is cancelled', async () => {
    const marker = String(4000 + seq)
    const abort = new AbortController()
    const running = runner.run(req(['sh', '-c', `setsid sleep ${marker} & sleep ${marker}`]), ctx(abort.signal))
    await until(async () => (await processesWith(`sleep ${marker}`)).length >= 2)
    abort.abort()
    expect(await running).toMatchObject({ ok: false, reason: 'cancelled' })
    await until(async () => (await processesWith(`sleep ${marker}`)).length === 0)
  })

  it('kills a setsid process left behind by a task that ended', async () => {
    const marker = String(5000 + seq)
    const out = await runner.run(req(['sh', '-c', `setsid sleep ${marker} & echo started`]), ctx())
    expect(text(out)).toBe('started\n')
    await until(async () => (await processesWith(`sleep ${marker}`)).length === 0)
  })

  it('stops a task that fills its scratch directory past the disk cap', async () => {
    const out = await runner.run(req(['sh', '-c', 'head -c 40000000 /dev/zero > big; echo wrote']), ctx())
    expect(out).toMatchObject({ ok: false, reason: 'limit' })
    expect((out as { error: string }).error).toMatch(/^disk limit 20 MB exceeded/)
  })

  it('holds a busy task to its CPU quota', async () => {
    const spin = 'const t = Date.now(); while (Date.now() - t < 1500); const u = process.cpuUsage(); console.log((u.user + u.system) / 1000 / (Date.now() - t))'
    const out = await runner.run(req([NODE, '-e', spin], { cpu: 0.3 }), ctx())
    expect(out.ok).toBe(true)
    expect(Number(text(out))).toBeLessThan(0.5)
  })
})

describe('the exec sandbox', () => {
  let root: string
  let secret: string
  let server: Server
  let port: number
  let closed: ExecRunner
  let open: ExecRunner

  beforeAll(async () => {
    ({ root, secret } = await daemonLike('meshwork-sandbox-'))
    await writeFile(join(secret, 'control.json'), '{"token":"t"}')
    server = createServer(socket => { socket.end('hello from the host\n') })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
    const make = async (network: boolean): Promise<ExecRunner> => {
      const c = await Confinement.detect({
        limits: 'auto', sandbox: 'bwrap', pids: 256, diskMB: 100, network, readOnly: [NODE], hide: [secret],
        devDir: join(root, 'dev'), defaultMemoryMB: () => 512
      })
      if ('refuse' in c) throw new Error(c.refuse)
      return new ExecRunner({ allow: ['sh', NODE], scratchRoot: join(secret, 'scratch'), confinement: c })
    }
    closed = await make(false)
    open = await make(true)
  })
  afterAll(async () => {
    await closed.close()
    await open.close()
    server.close()
    await rm(root, { recursive: true, force: true })
  })

  it("hides the daemon's files and the home directory", async () => {
    const out = await closed.run(req(['sh', '-c', `cat ${secret}/peer.key; cat ${secret}/control.json; ls ${process.env.HOME ?? '/root'}; echo end`]), ctx())
    expect(text(out)).not.toMatch(/the private key|token/)
    expect(text(out)).toMatch(/end\n/)
  })

  it('lets a task write only in its scratch directory (by its absolute path too) and its private /tmp', async () => {
    const out = await closed.run(req(['sh', '-c', `echo x > ${root}/escaped; echo x > /etc/escaped; echo x > /usr/escaped; echo x > "$MESHWORK_SCRATCH_DIR/here" && echo x > /tmp/t && echo wrote`]), ctx())
    expect(text(out)).toMatch(/wrote\n/)
    await expect(readFile(join(root, 'escaped'))).rejects.toThrow(/ENOENT/)
    await expect(readFile('/etc/escaped')).rejects.toThrow(/ENOENT/)
  })

  it('gives no network: not the host, not the control API', async () => {
    const connect = `require("net").connect(${port}, "127.0.0.1").on("data", d => { process.stdout.write(String(d)) }).on("error", e => { console.log("refused", e.code) })`
    const out = await closed.run(req([NODE, '-e', connect]), ctx())
    expect(text(out)).toMatch(/^refused/)
    expect(text(out)).not.toMatch(/hello from the host/)
  })

  it('gives the network to a task that asks, where the peer allows it', async () => {
    const connect = `require("net").connect(${port}, "127.0.0.1").on("data", d => { process.stdout.write(String(d)) }).on("error", e => { console.log("refused", e.code) })`
    const out = await open.run(req([NODE, '-e', connect], {}, { network: true }), ctx())
    expect(text(out)).toBe('hello from the host\n')
    const refused = await closed.run(req([NODE, '-e', connect], {}, { network: true }), ctx())
    expect(refused).toMatchObject({ ok: false, reason: 'refused' })
    expect((refused as { error: string }).error).toMatch(/executor\.exec\.network/)
  })

  it('shows a GPU task only the device nodes of its own GPUs', async () => {
    const list = await closed.run(req(['sh', '-c', 'ls /dev | grep nvidia; cat /dev/nvidia*; echo " $CUDA_VISIBLE_DEVICES $MESHWORK_GPUS"'], { gpus: [1] }), ctx())
    // The only card it can open is its device 0 there; MESHWORK_GPUS keeps the peer's number.
    expect(text(list)).toBe('nvidia1\nnvidia1 0 1\n')
    const none = await closed.run(req(['sh', '-c', 'ls /dev | grep -c nvidia || true']), ctx())
    expect(text(none)).toBe('0\n')
  })

  it('runs an allowed program that lives under the host\'s /tmp (the sandbox\'s /tmp is its own)', async () => {
    const dir = await mkdtemp(join('/tmp', 'meshwork-prog-'))
    try {
      const prog = join(dir, 'hello')
      await writeFile(prog, '#!/bin/sh\necho hello from $0\n', { mode: 0o755 })
      await chmod(dir, 0o755)
      const c = await Confinement.detect({ limits: 'auto', sandbox: 'bwrap', pids: 64, diskMB: 100, network: false, readOnly: [prog], hide: [], defaultMemoryMB: () => 512 })
      if ('refuse' in c) throw new Error(c.refuse)
      const r = new ExecRunner({ allow: [prog], scratchRoot: join(dir, 'scratch'), confinement: c })
      try {
        expect(text(await r.run(req([prog]), ctx()))).toBe(`hello from ${prog}\n`)
      } finally {
        await r.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('runs an unprivileged program with no capabilities', async () => {
    const out = await closed.run(req(['sh', '-c', 'grep CapEff /proc/self/status; id -u']), ctx())
    expect(text(out)).toMatch(/CapEff:\s+0+\n/)
    if (process.getuid?.() === 0) expect(text(out)).toMatch(/\n65534\n$/)
  })
})

describe("a peer's exec tasks together", () => {
  it('are capped at what the peer offers, however little each reserved', async () => {
    const root = await mkdtemp(join(tmpdir(), 'meshwork-offer-'))
    const c = await Confinement.detect({ limits: 'cgroup', sandbox: 'none', pids: 64, diskMB: 100, network: false, readOnly: [], hide: [], defaultMemoryMB: () => 4096 })
    if ('refuse' in c) throw new Error(c.refuse)
    expect(await c.limitAll({ memoryMB: 160, cpu: 1 })).toBeUndefined()
    const runner = new ExecRunner({ allow: [NODE], scratchRoot: root, confinement: c })
    try {
      // Each stays under its own 300 MB and holds its buffer a while; the two together pass the peer's 160 MB.
      const hold = 'const b = Buffer.alloc(90 * 1024 * 1024, 1); setTimeout(() => console.log(b.length), 1500)'
      const outs = await Promise.all([0, 1].map(async () => await runner.run(req([NODE, '-e', hold], { memoryMB: 300 }), ctx())))
      // The kernel kills one, or both when the second asks for memory before the first's is freed.
      const failed = outs.filter(o => !o.ok)
      expect(failed.length).toBeGreaterThan(0)
      for (const f of failed) expect(f).toMatchObject({ reason: 'limit', error: "memory limit exceeded: this peer's exec tasks together passed the 160 MB it offers" })
    } finally {
      await runner.close()
      await rm(root, { recursive: true, force: true })
    }
  })
})

/**
 * Several real daemons on this machine, each a `mesh start` process on its own
 * loopback port and data directory, bootstrapped to all the others. Used by
 * `mesh demo`, the benchmarks and the system tests. Traffic stays on 127.0.0.1
 * and mDNS is off.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ControlClient } from './control/client.ts'
import { CLI_ENTRY, PACKAGE_ROOT } from './package.ts'

/** The repository (or installed package) root. */
export const ROOT = PACKAGE_ROOT
/** The `mesh` wrapper of a clone: the compiled CLI on the Node 22 that npm installed. */
export const MESH_BIN = join(ROOT, 'bin', 'mesh')

export interface LocalDaemonOptions {
  /**
   * The program and arguments before `start --config FILE`; by default this
   * Node running the compiled CLI. The benchmarks point it at another build
   * to measure a before and an after.
   */
  command?: string[]
}

export class LocalDaemon {
  readonly config: string
  readonly port: number
  readonly command: string[]
  proc: ChildProcess | undefined
  peerId = ''
  /** stdout lines and stderr chunks of the current process, for error messages. */
  output: string[] = []
  /** performance.now() when the current process was spawned and when it printed `ready:`. */
  spawnedAt = 0
  readyAt = 0

  constructor (config: string, port: number, opts: LocalDaemonOptions = {}) {
    this.config = config
    this.port = port
    this.command = opts.command ?? [process.execPath, CLI_ENTRY]
  }

  get pid (): number | undefined { return this.proc?.pid }

  /** A control API client for this daemon (it reads the current token from control.json). */
  client (): ControlClient {
    return ControlClient.find(this.config)
  }

  /** Spawn `mesh start --config …` and wait for its `ready:` line. */
  async start (timeoutMs = 15_000): Promise<void> {
    const [program, ...args] = this.command
    if (args[0] === CLI_ENTRY && !existsSync(CLI_ENTRY)) {
      throw new Error(`${CLI_ENTRY} is missing: build the package first (npm run build)`)
    }
    this.spawnedAt = performance.now()
    const proc = spawn(program!, [...args, 'start', '--config', this.config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    this.proc = proc
    this.output = []
    proc.stderr?.on('data', (d: Buffer) => { this.output.push(d.toString()) })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`daemon ${this.config} not ready in ${timeoutMs} ms: ${this.output.join('')}`)) }, timeoutMs)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`daemon ${this.config} exited with ${code}: ${this.output.join('')}`)) })
      createInterface({ input: proc.stdout! }).on('line', line => {
        this.output.push(line)
        const [key, value] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]
        if (key === 'peer') this.peerId = value
        if (key === 'ready') { this.readyAt = performance.now(); clearTimeout(timer); resolve() }
      })
    })
  }

  signal (sig: NodeJS.Signals): void {
    if (this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(sig)
  }

  /** Resolves with the exit code (or signal name) once the process has exited. */
  async exited (): Promise<number | string> {
    const p = this.proc
    if (p === undefined) return 0
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode ?? p.signalCode ?? 0
    return await new Promise(resolve => p.once('exit', (code, sig) => { resolve(code ?? sig ?? 0) }))
  }
}

export interface LocalMesh {
  dir: string
  daemons: LocalDaemon[]
  /** SIGKILL every daemon and delete the directory. */
  destroy: () => Promise<void>
  /** SIGTERM every daemon (clean leave) and delete the directory. */
  stop: () => Promise<void>
}

/** Free TCP ports on 127.0.0.1, for daemons whose addresses must be known before they start. */
export async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { resolve(s) })
  })))
  const ports = servers.map(s => (s.address() as { port: number }).port)
  await Promise.all(servers.map(async s => { await new Promise(resolve => s.close(resolve)) }))
  return ports
}

/**
 * Write `n` configs on free loopback ports (each bootstrapped to all others)
 * in a fresh temp directory. `extra(i)` adds fields to peer i's config.
 */
export async function createLocalMesh (n: number, extra: (i: number) => Record<string, unknown> = () => ({}), opts: LocalDaemonOptions = {}): Promise<LocalMesh> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-'))
  const ports = await freePorts(n)
  const addrs = ports.map(p => `/ip4/127.0.0.1/tcp/${p}`)
  const daemons = ports.map((port, i) => {
    const config = join(dir, `peer${i + 1}.json`)
    writeFileSync(config, JSON.stringify({
      listen: [addrs[i]],
      bootstrap: addrs.filter((_, j) => j !== i),
      mdns: false,
      dataDir: `./data${i + 1}`,
      control: { port: 0 },
      log: { level: 'warn' },
      // Several daemons on one machine each see the others' tasks as outside load;
      // on real machines, one daemon each, load shift stays on.
      yield: { policy: 'off' },
      ...extra(i)
    }, null, 2) + '\n')
    return new LocalDaemon(config, port, opts)
  })
  const end = async (sig: NodeJS.Signals): Promise<void> => {
    for (const d of daemons) {
      d.signal('SIGCONT')
      d.signal(sig)
    }
    await Promise.all(daemons.map(async d => await d.exited()))
    rmSync(dir, { recursive: true, force: true })
  }
  return { dir, daemons, destroy: async () => { await end('SIGKILL') }, stop: async () => { await end('SIGTERM') } }
}

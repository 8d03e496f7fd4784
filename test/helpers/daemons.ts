/**
 * Real daemon processes for system tests, started and queried only through the
 * `mesh` CLI (bin/mesh), as an operator would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { PeersReply } from '../../node/cli/peers.ts'
import { freePorts } from './ports.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const MESH = join(ROOT, 'bin', 'mesh')

export interface CliResult { code: number, stdout: string, stderr: string }

/** Run `mesh ARGS…` and collect its output (never rejects on a non-zero exit). */
export async function mesh (args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(MESH, args, { env: { ...process.env, NO_COLOR: '1', ...opts.env }, timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

export async function peersJson (config: string): Promise<PeersReply> {
  const r = await mesh(['peers', '--json', '--config', config])
  if (r.code !== 0) throw new Error(`mesh peers failed (${r.code}): ${r.stderr}`)
  return JSON.parse(r.stdout) as PeersReply
}

export class Daemon {
  readonly config: string
  readonly port: number
  proc: ChildProcess | undefined
  peerId = ''
  output: string[] = []

  constructor (config: string, port: number) {
    this.config = config
    this.port = port
  }

  /** Start `mesh start --config …` and wait for its `ready:` line. */
  async start (timeoutMs = 15_000): Promise<void> {
    const proc = spawn(MESH, ['start', '--config', this.config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    this.proc = proc
    this.output = []
    proc.stderr?.on('data', (d: Buffer) => { this.output.push(d.toString()) })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`daemon ${this.config} not ready in ${timeoutMs} ms: ${this.output.join('')}`)) }, timeoutMs)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`daemon ${this.config} exited with ${code}: ${this.output.join('')}`)) })
      createInterface({ input: proc.stdout! }).on('line', line => {
        this.output.push(line)
        const m = /^peer: (\S+)/.exec(line)
        if (m !== null) this.peerId = m[1]!
        if (line.startsWith('ready:')) { clearTimeout(timer); resolve() }
      })
    })
  }

  signal (sig: NodeJS.Signals): void {
    this.proc?.kill(sig)
  }

  /** Resolves with the exit code (or signal name) once the process has exited. */
  async exited (): Promise<number | string> {
    const p = this.proc
    if (p === undefined) return 0
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode ?? p.signalCode ?? 0
    return await new Promise(resolve => p.once('exit', (code, sig) => { resolve(code ?? sig ?? 0) }))
  }
}

/** n daemon configs on free loopback ports, each bootstrapped to all the others. */
export async function makeMesh (n: number, extra: Record<string, unknown> = {}): Promise<{ dir: string, daemons: Daemon[], cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-system-'))
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
      ...extra
    }, null, 2))
    return new Daemon(config, port)
  })
  const cleanup = async (): Promise<void> => {
    for (const d of daemons) {
      d.signal('SIGCONT')
      d.signal('SIGKILL')
    }
    await Promise.all(daemons.map(async d => await d.exited()))
    rmSync(dir, { recursive: true, force: true })
  }
  return { dir, daemons, cleanup }
}

/**
 * Real daemon processes for system tests, started and queried only through the
 * `mesh` CLI (bin/mesh), as an operator would.
 */
import { execFile } from 'node:child_process'
import type { PeersReply } from '../../node/control/api.ts'
import { createLocalMesh, LocalDaemon, MESH_BIN, ROOT } from '../../node/local-mesh.ts'
import { waitFor } from './wait.ts'

export { ROOT, LocalDaemon as Daemon }
export type { LocalDaemon }

export interface CliResult { code: number, stdout: string, stderr: string }

/** Run `mesh ARGS…` and collect its output (never rejects on a non-zero exit). */
export async function mesh (args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(MESH_BIN, args, { env: { ...process.env, NO_COLOR: '1', ...opts.env }, timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
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

/** n daemon configs on free loopback ports, each bootstrapped to all the others. */
export async function makeMesh (n: number, extra: Record<string, unknown> = {}): Promise<{ dir: string, daemons: LocalDaemon[], cleanup: () => Promise<void> }> {
  const m = await createLocalMesh(n, () => extra)
  return { dir: m.dir, daemons: m.daemons, cleanup: m.destroy }
}

/** `makeMesh`, then start every daemon and wait until each lists all of them alive (through `mesh peers`). */
export async function startMesh (n: number, extra: Record<string, unknown> = {}): ReturnType<typeof makeMesh> {
  const m = await makeMesh(n, extra)
  await Promise.all(m.daemons.map(async d => { await d.start() }))
  await waitFor('the mesh to form', async () => {
    for (const d of m.daemons) if ((await peersJson(d.config)).peers.filter(p => p.state === 'alive').length !== n) return false
    return true
  }, { timeoutMs: 15_000, intervalMs: 250 })
  return m
}

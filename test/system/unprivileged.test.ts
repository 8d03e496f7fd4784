/**
 * A daemon run by an ordinary user, as real daemons are (docs/ARCHITECTURE.md
 * §8, "Limits"): no cgroup is writable, so limits fall back to rlimits and the
 * log says so; bubblewrap runs in a user namespace; a fork bomb is held and a
 * setsid process dies with its job; a peer told to require cgroups or a
 * sandbox it cannot have refuses to start with one sentence (exit 2). As
 * root (CI), the test creates a user for it; as an ordinary user, it is one.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalMesh, ROOT, type LocalMesh } from '../../node/local-mesh.ts'
import { mesh, peersJson } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

const USER = 'meshwork-test'
const NODE = process.execPath
const CLI = join(ROOT, 'dist', 'cli', 'bin.js')
const isRoot = process.getuid?.() === 0
/** By absolute path: one refusal below runs with a PATH that has nothing but Node. */
const SETPRIV = isRoot ? execFileSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim() : ''

/** The uid and gid the daemon runs as: a user made for the test when we are root. */
function ordinaryUser (): { uid: number, gid: number } {
  if (!isRoot) return { uid: process.getuid!(), gid: process.getgid!() }
  if (spawnSync('id', ['-u', USER]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER])
  return { uid: Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' })) }
}

/** The daemon's user must reach the package and Node: every folder above them must let others through. */
function assertReachable (path: string): void {
  for (let d = dirname(path); d !== '/'; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users; this test runs a daemon as an ordinary user (chmod o+x ${d})`)
  }
}

function chownTree (dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid)
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) chownSync(join(e.parentPath, e.name), uid, gid)
}

function countProcesses (marker: string): number {
  try { return Number(execFileSync('pgrep', ['-fc', marker], { encoding: 'utf8' }).trim()) } catch { return 0 }
}

describe('a daemon run by an ordinary user', () => {
  let m: LocalMesh
  let user: { uid: number, gid: number }
  const as = (): string[] => isRoot ? [SETPRIV, `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', NODE, CLI] : [NODE, CLI]

  beforeAll(async () => {
    assertReachable(CLI)
    assertReachable(NODE)
    user = ordinaryUser()
    m = await createLocalMesh(1, () => ({ executor: { exec: { allow: ['sh', NODE], pids: 128 } } }), { command: as() })
    chownTree(m.dir, user.uid, user.gid)
    await m.daemons[0]!.start()
  })
  afterAll(async () => { await m?.destroy() })

  const config = (): string => m.daemons[0]!.config

  it('falls back to rlimits, says why in its log and its ad, and still sandboxes', async () => {
    const self = (await peersJson(config())).peers.find(p => p.self)!
    expect(self.caps.limits).toBe('rlimit')
    // bubblewrap needs unprivileged user namespaces, which this machine (and CI) allows.
    expect(self.caps.sandbox).toBe('bwrap')
    expect(m.daemons[0]!.output.join('')).toMatch(/no cgroup limits \(.* is not writable by this user \(uid \d+\)\)/)
  })

  it('holds a fork bomb and kills a setsid process when its job is cancelled', async () => {
    const job = join(m.dir, 'bomb.json')
    writeFileSync(job, JSON.stringify({ name: 'bomb', tasks: { bomb: { kind: 'exec', command: ['sh', '-c', 'ubomb(){ ubomb|ubomb& }; ubomb; exec sleep 2'], timeoutMs: 20_000 } } }))
    const r = await mesh(['submit', job, '--wait', '--json', '--config', config()], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    await waitFor('the bomb to be gone', () => countProcesses('ubomb') === 0, { timeoutMs: 10_000, intervalMs: 100 })
    const escape = join(m.dir, 'escape.json')
    writeFileSync(escape, JSON.stringify({ name: 'escape', tasks: { e: { kind: 'exec', command: ['sh', '-c', 'setsid sleep 8123 & sleep 8123'] } } }))
    const s = await mesh(['submit', escape, '--json', '--config', config()])
    const id = (JSON.parse(s.stdout) as { id: string }).id
    await waitFor('both sleeps to run', () => countProcesses('sleep 8123') >= 2, { timeoutMs: 20_000, intervalMs: 100 })
    expect((await mesh(['cancel', id, '--config', config()])).code).toBe(0)
    await waitFor('every sleep to be gone', () => countProcesses('sleep 8123') === 0, { timeoutMs: 10_000, intervalMs: 100 })
  })

  it('fails a task that allocates past its memoryMB, saying how memory is capped here', async () => {
    const job = join(m.dir, 'hog.json')
    writeFileSync(job, JSON.stringify({ name: 'hog', tasks: { hog: { kind: 'exec', command: [NODE, '-e', 'const a = []; for (;;) a.push(Buffer.alloc(64 * 1024 * 1024, 1))'], resources: { memoryMB: 256 } } } }))
    const r = await mesh(['submit', job, '--wait', '--json', '--config', config()], { timeoutMs: 60_000 })
    expect(r.code).not.toBe(0)
    expect(r.stdout).toContain('memory is capped here at 256 MB of data per process by rlimit')
  })

  it('refuses to start, exit 2 and one sentence, when told to require what it cannot have', async () => {
    const refusals = await createLocalMesh(2, i => ({ executor: { exec: i === 0 ? { limits: 'cgroup' } : { sandbox: 'bwrap' } } }), { command: as() })
    try {
      chownTree(refusals.dir, user.uid, user.gid)
      const [cgroup, bwrap] = refusals.daemons
      const noCgroup = spawnSync(as()[0]!, [...as().slice(1), 'start', '--config', cgroup!.config], { encoding: 'utf8', timeout: 20_000 })
      expect(noCgroup.status).toBe(2)
      expect(noCgroup.stderr.trim()).toMatch(/^mesh: executor\.exec\.limits is "cgroup" but no cgroup can be written here: .* is not writable by this user \(uid \d+\); run the daemon as root or in a delegated cgroup, or set executor\.exec\.limits to "auto" \[MESH_ERR_CONFIG\]$/)
      // Without bubblewrap on its PATH, a peer that requires the sandbox cannot have it.
      const env = { ...process.env, PATH: dirname(NODE) }
      const noBwrap = spawnSync(as()[0]!, [...as().slice(1), 'start', '--config', bwrap!.config], { encoding: 'utf8', timeout: 20_000, env })
      expect(noBwrap.status).toBe(2)
      expect(noBwrap.stderr.trim()).toBe('mesh: executor.exec.sandbox is "bwrap" but bubblewrap cannot run here: bwrap is not installed; install the bubblewrap package (and allow unprivileged user namespaces), or set executor.exec.sandbox to "none" [MESH_ERR_CONFIG]')
    } finally {
      await refusals.destroy()
    }
  })
})

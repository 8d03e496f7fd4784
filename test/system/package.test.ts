/**
 * The package as a user gets it: `npm pack`, then the embedding example
 * (examples/embed) installed from the tarball into a fresh folder with npm,
 * type-checked with `strict` against the shipped .d.ts, and run end to end:
 * two peers in one process, a job over both, its results.
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/daemons.ts'

interface Run { code: number, stdout: string, stderr: string }

async function run (cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return await new Promise(resolve => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

const dir = mkdtempSync(join(tmpdir(), 'meshwork-pkg-'))
const app = join(dir, 'app')
let files: string[] = []

beforeAll(async () => {
  // dist/ is built by the test run's global setup; pack it as it is.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)
  expect(packed.code, packed.stderr).toBe(0)
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  files = info!.files.map(f => f.path)
  cpSync(join(ROOT, 'examples', 'embed'), app, { recursive: true, filter: src => !/[/\\](node_modules|dist)$/.test(src) })
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  pkg.dependencies.meshwork = `file:${join(dir, info!.filename)}`
  writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2))
  const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app, 150_000)
  expect(installed.code, installed.stderr).toBe(0)
}, 200_000)

afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('the packed package', () => {
  it('holds the compiled package and nothing else', () => {
    for (const f of ['package.json', 'README.md', 'mesh.config.json', 'dist/cli/bin.js', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/src/index.d.ts', 'dist/examples/pi/handlers.js', 'examples/pi/pi.json']) {
      expect(files).toContain(f)
    }
    const stray = files.filter(f => /^(test|bench|scripts|src|node|protocols)\//.test(f) || f.endsWith('.tsbuildinfo') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))
    expect(stray).toEqual([])
  })

  it('type-checks a strict TypeScript app against its .d.ts', async () => {
    // The example's own settings (strict, skipLibCheck as most apps have it)…
    const build = await run('npm', ['run', 'build'], app)
    expect(build.code, build.stdout + build.stderr).toBe(0)
    // …and every shipped declaration file checked too. libp2p's declarations use DOM event types.
    const full = await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', '.', '--noEmit', '--skipLibCheck', 'false', '--lib', 'es2023,dom'], app)
    expect(full.code, full.stdout + full.stderr).toBe(0)
  }, 120_000)

  it('runs the embedding example from node_modules: two peers, a job over both, its results', async () => {
    const r = await run(process.execPath, ['dist/app.js'], app, 60_000)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^job \S+: done$/m)
    // Eight prime counts from worker threads on either peer, summed by the app's own handler.
    const total = JSON.parse(/^total: (.*)$/m.exec(r.stdout)?.[1] ?? 'null') as { runs: number, primes: number } | null
    expect(total?.runs).toBe(8)
    expect(total?.primes).toBeGreaterThan(0)
    expect(/^tasks per peer: (.*)$/m.exec(r.stdout)?.[1]?.split(',')).toHaveLength(2)
  }, 60_000)

  it('installs a working `mesh` command, whose demo runs from the package', async () => {
    const mesh = join(app, 'node_modules', '.bin', 'mesh')
    const version = await run(process.execPath, [mesh, '--version'], app)
    expect(version.code, version.stderr).toBe(0)
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)
    // Three daemons from the installed package, the compiled example handlers, one killed midway.
    const demo = await run(process.execPath, [mesh, 'demo'], app, 90_000)
    expect(demo.code, demo.stdout + demo.stderr).toBe(0)
    expect(demo.stdout).toMatch(/^result: π ≈ 3\.1\d*$/m)
  }, 100_000)
})

/**
 * Job files a new user might write, through the real CLI against a real
 * daemon: a file nested 100,000 arrays deep crashed `mesh submit` with a Node
 * stack (exit 1); a 300 MB inline input was uploaded for 13 s, then refused
 * with "daemon answered 413" (exit 3). Each is refused by the CLI before
 * anything is sent: exit 2 and one sentence, nothing reaches the daemon.
 */
import { createWriteStream, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { finished } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-jobfiles-'))
let daemon: LocalDaemon
let cleanup: () => Promise<void>

beforeAll(async () => {
  const m = await makeMesh(1)
  daemon = m.daemons[0]!
  cleanup = m.cleanup
  await daemon.start()
})
afterAll(async () => {
  await cleanup()
  rmSync(dir, { recursive: true, force: true })
})

const ARTIFACTS = 'give a task large data as an artifact instead ("artifacts": {"data.bin": "./data.bin"}; see Artifacts in the README)'

/** `mesh submit FILE` against the daemon; exit 2 and a one-line reason, and no job on the daemon. */
async function refused (file: string): Promise<string> {
  const r = await mesh(['submit', file, '--config', daemon.config])
  expect(r.code, r.stderr).toBe(2)
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at /m)
  expect((await mesh(['status', '--json', '--config', daemon.config])).stdout.trim()).toBe('[]')
  return r.stderr.trim()
}

/** A job file of one handler task whose inline input is a string of `bytes` x's, written in pieces. */
async function writeInlineJob (file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file)
  out.write('{"name":"big","tasks":{"t":{"kind":"handler","handler":"h","input":"')
  const piece = 'x'.repeat(1024 * 1024)
  for (let left = bytes; left > 0; left -= piece.length) out.write(left >= piece.length ? piece : piece.slice(0, left))
  out.end('"}}}')
  await finished(out)
}

describe('mesh submit refuses a job file it cannot send', () => {
  it('nested 100,000 arrays deep: exit 2, one sentence, no stack', async () => {
    const file = join(dir, 'deep.json')
    writeFileSync(file, `{"name":"x","tasks":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)
    expect(await refused(file)).toBe(`mesh: ${file}: it nests arrays and objects more than 1000 levels deep, which no job, config or request needs [MESH_ERR_JOB_SPEC]`)
  })

  it('a 300 MB inline input: refused before uploading, saying how large a job may be and pointing to artifacts', async () => {
    const file = join(dir, 'big.json')
    await writeInlineJob(file, 300 * 1000 * 1000)
    expect(await refused(file)).toBe(`mesh: ${file} is 286.1 MiB, but a job file may be at most 16.0 MiB with its inline "input" values: ${ARTIFACTS} [MESH_ERR_JOB_SPEC]`)
  })

  it('a 10 GB file is not read at all', async () => {
    const file = join(dir, 'sparse.json')
    writeFileSync(file, '')
    truncateSync(file, 10 * 1024 ** 3)
    expect(await refused(file)).toMatch(/is 10240\.0 MiB, but a job file may be at most 16\.0 MiB/)
  })

  it('a job under the cap whose exec input files take the request past it', async () => {
    const file = join(dir, 'inputs.json')
    writeFileSync(join(dir, 'data.bin'), Buffer.alloc(6 * 1024 * 1024, 1))
    writeFileSync(file, JSON.stringify({ name: 'inputs', tasks: { t: { kind: 'exec', command: ['cat', 'd'], inputs: { d: './data.bin' } }, u: { kind: 'handler', handler: 'h', input: 'x'.repeat(9 * 1024 * 1024) } } }))
    expect(await refused(file)).toMatch(/^mesh: .*inputs\.json: the job is 17\.\d MiB as sent to the daemon \(its spec with inline "input" values, and exec input files base64\), but the daemon takes at most 16\.0 MiB: give a task large data as an artifact/)
  })

  it('exec input files over their cap are refused before they are read whole', async () => {
    const file = join(dir, 'many-inputs.json')
    writeFileSync(join(dir, 'huge.bin'), '')
    truncateSync(join(dir, 'huge.bin'), 2 * 1024 ** 3)
    writeFileSync(file, JSON.stringify({ name: 'inputs', tasks: { t: { kind: 'exec', command: ['cat', 'd'], inputs: { d: './huge.bin' } } } }))
    expect(await refused(file)).toBe(`mesh: input file ./huge.bin takes the job's exec input files past 12.0 MiB, the most that travels with a job: ${ARTIFACTS} [MESH_ERR_JOB_SPEC]`)
  })
})

/**
 * Durable storage (docs/ARCHITECTURE.md §1.4): the LMDB journal and outbox, and the
 * content-addressed blob directory. Round trips (with raw bytes inside),
 * reopening from the same directory, and a writer SIGKILLed right after a put
 * resolved: everything it was told is durable must be there after the crash.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { JournalAttempt, JournalJob, JournalResult } from '../../src/jobs/journal.ts'
import type { StoredResult } from '../../src/execution/outbox.ts'
import { parseJobSpec } from '../../src/jobs/spec.ts'
import { LmdbJournal } from '../../node/storage/lmdb-journal.ts'
import { LmdbOutboxStore } from '../../node/storage/lmdb-outbox.ts'
import { openStore } from '../../node/storage/db.ts'
import { DiskBlobBackend, MemoryBlobBackend, collectBlobRefs } from '../../node/storage/disk-blobs.ts'
import { ROOT } from '../helpers/daemons.ts'

const NODE = join(ROOT, 'node_modules', 'node', 'bin', 'node')
const WRITER = join(ROOT, 'test', 'fixtures', 'journal-writer.ts')
const base = mkdtempSync(join(tmpdir(), 'meshwork-storage-'))
let dirs = 0
const freshDir = (): string => join(base, `d${dirs++}`)

afterAll(() => { rmSync(base, { recursive: true, force: true }) })

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function job (id: string, files: JournalJob['files'] = {}): JournalJob {
  return {
    id,
    spec: parseJobSpec({ name: id, tasks: { a: { kind: 'handler', handler: 'echo', input: { n: 1 }, count: 2 }, b: { kind: 'exec', command: ['cat', 'in.bin'], inputs: { 'in.bin': '/tmp/in.bin' }, outputs: ['out.bin'] } } }),
    origin: '12D3KooWorigin',
    submittedAt: 1_700_000_000_000,
    files
  }
}

function result (taskId: string, over: Partial<JournalResult> = {}): JournalResult {
  return { taskId, attempt: 1, peer: '12D3KooWpeer', value: { ok: taskId }, outputs: {}, durationMs: 12.5, at: 1_700_000_000_100, ...over }
}

describe('LmdbJournal', () => {
  it('round-trips a job with inline bytes and blob refs, attempts, results and its end state', async () => {
    const dir = freshDir()
    const bytes = randomBytes(1000)
    const big = randomBytes(300 * 1024)
    const ref = { sha256: sha(big), size: big.byteLength }
    const j = await LmdbJournal.open(dir)
    const submitted = job('job-1', { 'in.bin': { inline: new Uint8Array(bytes) }, 'big.bin': { blob: ref } })
    await j.putJob(submitted)
    await j.putAttempt('job-1', { taskId: 'a[0]', attempt: 1, peer: 'p1', at: 1 })
    await j.putAttempt('job-1', { taskId: 'a[1]', attempt: 1, peer: 'p1', at: 2 })
    const later: JournalAttempt = { taskId: 'a[0]', attempt: 2, peer: 'p2', at: 3 }
    await j.putAttempt('job-1', later)
    const r0 = result('a[0]', { attempt: 2, peer: 'p2', value: { nested: { list: [1, 'two', null, true], bytes: new Uint8Array([9, 8, 7]) } } })
    const r1 = result('b', { value: null, outputs: { 'out.bin': { inline: new Uint8Array(big.subarray(0, 200 * 1024)) }, 'huge.bin': { blob: ref } } })
    await j.putResult('job-1', r0)
    await j.putResult('job-1', r1)
    await j.putJobState('job-1', { state: 'failed', at: 99, error: 'task b failed' })
    // Writes for a job never put are ignored, as MemoryJournal does.
    await j.putResult('nope', result('x'))

    const snap = await j.load()
    expect(snap.jobs).toHaveLength(1)
    const e = snap.jobs[0]!
    expect(e.job).toEqual(submitted)
    const inline = e.job.files['in.bin']
    expect(inline !== undefined && 'inline' in inline).toBe(true)
    if (inline !== undefined && 'inline' in inline) {
      expect(inline.inline).toBeInstanceOf(Uint8Array)
      expect(Buffer.isBuffer(inline.inline)).toBe(false)
      expect(Buffer.from(inline.inline).equals(bytes)).toBe(true)
    }
    expect(e.attempts).toEqual([later, { taskId: 'a[1]', attempt: 1, peer: 'p1', at: 2 }])
    expect(e.results).toEqual([r0, r1])
    const out = e.results[1]!.outputs['out.bin']
    expect(out !== undefined && 'inline' in out && out.inline.byteLength === 200 * 1024).toBe(true)
    expect(e.end).toEqual({ state: 'failed', at: 99, error: 'task b failed' })
    await j.close()
  })

  it('keeps jobs in submission order and comes back the same after a reopen', async () => {
    const dir = freshDir()
    const j = await LmdbJournal.open(dir)
    // Ids deliberately out of lexical order.
    for (const id of ['zeta', 'alpha', 'mid', 'beta']) await j.putJob(job(id))
    await j.putResult('alpha', result('a[0]'))
    await j.putAttempt('mid', { taskId: 'b', attempt: 3, peer: 'p', at: 5 })
    await j.putJobState('zeta', { state: 'done', at: 7 })
    const before = await j.load()
    expect(before.jobs.map(x => x.job.id)).toEqual(['zeta', 'alpha', 'mid', 'beta'])
    await j.close()

    const again = await LmdbJournal.open(dir)
    expect(await again.load()).toEqual(before)
    // The order carries on after the reopen; putting a job again starts it afresh in place.
    await again.putJob(job('gamma'))
    await again.putJob(job('alpha'))
    const after = await again.load()
    expect(after.jobs.map(x => x.job.id)).toEqual(['zeta', 'alpha', 'mid', 'beta', 'gamma'])
    expect(after.jobs[1]!.results).toEqual([])
    await again.close()
  })

  it('drops every record of a job (history compaction), for good, leaving the others as they were', async () => {
    const dir = freshDir()
    const j = await LmdbJournal.open(dir)
    for (const id of ['old', 'kept']) {
      await j.putJob(job(id))
      await j.putAttempt(id, { taskId: 'b', attempt: 2, peer: 'p', at: 5 })
      await j.putResult(id, result('a[0]'))
      await j.putJobState(id, { state: 'done', at: 7 })
    }
    const kept = (await j.load()).jobs[1]
    await j.deleteJob('old')
    await j.deleteJob('never-there')
    expect((await j.load()).jobs).toEqual([kept])
    // A late write for the dropped job is ignored, as for any unknown job.
    await j.putResult('old', result('a[1]'))
    await j.close()
    const again = await LmdbJournal.open(dir)
    expect((await again.load()).jobs).toEqual([kept])
    await again.close()
  })

  it('loses no acknowledged write when the writing process is SIGKILLed', async () => {
    const dir = freshDir()
    const N = 200
    const child = spawn(NODE, [WRITER, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<NodeJS.Signals | null>(resolve => child.on('exit', (_code, signal) => { resolve(signal) }))
    let acknowledged = -1
    await new Promise<void>((resolve, reject) => {
      let buf = ''
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString()
        let nl
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          const m = /^written (\d+)$/.exec(line)
          if (m !== null && acknowledged < N - 1) {
            acknowledged = Number(m[1])
            // Kill at once, while the writer is already committing the next put.
            if (acknowledged === N - 1) { child.kill('SIGKILL'); resolve() }
          }
        }
      })
      child.on('exit', () => { if (acknowledged < N - 1) reject(new Error(`writer exited early after ${acknowledged + 1} writes: ${stderr}`)) })
    })
    expect(await exited).toBe('SIGKILL')

    const j = await LmdbJournal.open(dir)
    const snap = await j.load()
    await j.close()
    expect(snap.jobs).toHaveLength(1)
    const got = new Map(snap.jobs[0]!.results.map(r => [r.taskId, r]))
    for (let i = 0; i < N; i++) {
      const r = got.get(`t${i}`)
      expect(r, `result t${i}`).toBeDefined()
      expect((r!.value as { i: number }).i).toBe(i)
      const o = r!.outputs['out.bin']
      expect(o !== undefined && 'inline' in o ? [...o.inline] : undefined).toEqual([i & 0xff, (i >> 8) & 0xff, 7])
    }
    console.log(`[storage] crash test: ${N} acknowledged, ${got.size} on disk after SIGKILL`)
  })

  it('times 1000 sequential awaited putResult calls (printed, not asserted)', async () => {
    const dir = freshDir()
    const j = await LmdbJournal.open(dir)
    await j.putJob(job('timed'))
    const outputs = { 'out.txt': { inline: new Uint8Array(256).fill(1) } }
    const t0 = performance.now()
    for (let i = 0; i < 1000; i++) await j.putResult('timed', result(`t${i}`, { outputs }))
    const ms = performance.now() - t0
    console.log(`[storage] 1000 sequential awaited journal putResult: ${ms.toFixed(0)} ms (${(ms / 1000).toFixed(3)} ms each)`)
    expect((await j.load()).jobs[0]!.results).toHaveLength(1000)
    await j.close()
  })
})

describe('LmdbOutboxStore', () => {
  const entry = (task: string, attempt: number): StoredResult => ({
    key: `job-1\n${task}\n${attempt}`,
    origin: '12D3KooWorigin',
    jobId: 'job-1',
    result: { taskId: task, attempt, ok: true, value: { v: task }, outputs: { 'o.bin': { inline: new Uint8Array([1, 2, 3]) } }, durationMs: 5 },
    at: 1000 + attempt
  })

  it('puts, deletes, loads, and comes back the same after a reopen', async () => {
    const dir = freshDir()
    const o = await LmdbOutboxStore.open(dir)
    const a = entry('a', 1)
    const b = entry('b', 2)
    const c: StoredResult = { ...entry('c', 1), result: { taskId: 'c', attempt: 1, ok: false, error: 'boom', reason: 'exit', retryable: true, durationMs: 1 } }
    await o.put(a)
    await o.put(b)
    await o.put(c)
    await o.delete(b.key)
    await o.delete('no such key')
    expect(await o.load()).toEqual([a, c])
    const loaded = (await o.load())[0]!.result
    expect(loaded.ok && loaded.outputs?.['o.bin'] !== undefined && 'inline' in loaded.outputs['o.bin'] && loaded.outputs['o.bin'].inline instanceof Uint8Array).toBe(true)
    await o.close()

    const again = await LmdbOutboxStore.open(dir)
    expect(await again.load()).toEqual([a, c])
    await again.put(b)
    await again.delete(a.key)
    expect(await again.load()).toEqual([b, c])
    await again.close()
  })

  it('shares one environment with the journal; each closes its own reference', async () => {
    const dir = freshDir()
    const j = new LmdbJournal(openStore(dir))
    const o = new LmdbOutboxStore(openStore(dir))
    await Promise.all([j.putJob(job('shared')), o.put(entry('x', 1))])
    await j.close()
    await o.put(entry('y', 1))
    expect((await o.load()).map(e => e.result.taskId)).toEqual(['x', 'y'])
    await o.close()
    const j2 = await LmdbJournal.open(dir)
    expect((await j2.load()).jobs.map(x => x.job.id)).toEqual(['shared'])
    await j2.close()
  })
})

describe('DiskBlobBackend', () => {
  it('serves a put at once from memory, then from a verified file in <dataDir>/blobs/<2 hex>/<sha>', async () => {
    const dir = freshDir()
    const blobs = await DiskBlobBackend.open(dir)
    const bytes = randomBytes(512 * 1024)
    const h = sha(bytes)
    blobs.put(h, bytes)
    expect(await blobs.get(h)).toBe(bytes) // pending: from memory
    await blobs.flush()
    const file = join(dir, 'blobs', h.slice(0, 2), h)
    expect(blobs.pathOf(h)).toBe(file)
    expect(readFileSync(file).equals(bytes)).toBe(true)
    const back = await blobs.get(h)
    expect(back).not.toBe(bytes) // now from disk
    expect(Buffer.from(back!).equals(bytes)).toBe(true)
    expect(await blobs.has(h)).toBe(true)
    expect(await blobs.get('0'.repeat(64))).toBeUndefined()
    expect(await blobs.get('../../etc/passwd')).toBeUndefined()
    expect(readdirSync(join(dir, 'blobs', h.slice(0, 2)))).toEqual([h]) // no temporary file left
  })

  it('treats a corrupted file as missing and deletes it', async () => {
    const dir = freshDir()
    const errors: string[] = []
    const blobs = await DiskBlobBackend.open(dir, { onError: err => { errors.push(err.message) } })
    const bytes = randomBytes(4096)
    const h = sha(bytes)
    blobs.put(h, bytes)
    await blobs.flush()
    const file = blobs.pathOf(h)
    const onDisk = readFileSync(file)
    onDisk[1234] = onDisk[1234]! ^ 0x01
    writeFileSync(file, onDisk)
    expect(await blobs.get(h)).toBeUndefined()
    await blobs.flush()
    expect(existsSync(file)).toBe(false)
    expect(errors.join()).toMatch(/fails its sha-256/)
  })

  it('counts references: the blob goes when the last one is dropped', async () => {
    const dir = freshDir()
    const blobs = await DiskBlobBackend.open(dir)
    const bytes = randomBytes(1000)
    const h = sha(bytes)
    blobs.put(h, bytes)
    blobs.put(h, new Uint8Array(bytes))
    expect(blobs.refCount(h)).toBe(2)
    await blobs.flush()
    blobs.drop(h)
    await blobs.flush()
    expect(Buffer.from((await blobs.get(h))!).equals(bytes)).toBe(true)
    blobs.drop(h)
    expect(await blobs.get(h)).toBeUndefined() // at once, even before the unlink
    await blobs.flush()
    expect(existsSync(blobs.pathOf(h))).toBe(false)

    // delete then put again before either reached the disk: the later put wins.
    blobs.put(h, bytes)
    blobs.delete(h)
    blobs.put(h, bytes)
    await blobs.flush()
    expect(existsSync(blobs.pathOf(h))).toBe(true)
    expect(blobs.refCount(h)).toBe(1)
  })

  it('keeps blobs across a restart until sweep removes the unreferenced ones', async () => {
    const dir = freshDir()
    const first = await DiskBlobBackend.open(dir)
    const keepBytes = randomBytes(2000)
    const dropBytes = randomBytes(3000)
    const keep = sha(keepBytes)
    const gone = sha(dropBytes)
    first.put(keep, keepBytes)
    first.put(gone, dropBytes)
    await first.flush()
    // A write that was cut short by a crash, in a folder of its own (not one of the random blobs').
    const tmpDir = ['ab', 'cd', 'ef'].find(p => !keep.startsWith(p) && !gone.startsWith(p))!
    mkdirSync(join(dir, 'blobs', tmpDir), { recursive: true })
    writeFileSync(join(dir, 'blobs', tmpDir, `${tmpDir.repeat(32)}.999999.0000.tmp`), 'partial')

    const restarted = await DiskBlobBackend.open(dir)
    expect(await restarted.has(keep)).toBe(true)
    expect(await restarted.has(gone)).toBe(true)
    // What the journal and outbox still reference.
    const snapshot = { jobs: [{ job: job('j', { 'f.bin': { blob: { sha256: keep, size: keepBytes.byteLength } } }), results: [], attempts: [] }] }
    const refs = collectBlobRefs(snapshot, [])
    expect([...refs]).toEqual([keep])
    expect(await restarted.sweep(refs)).toEqual({ removed: 2, kept: 1 })
    expect(await restarted.has(gone)).toBe(false)
    expect(existsSync(restarted.pathOf(gone))).toBe(false)
    expect(readdirSync(join(dir, 'blobs', tmpDir))).toEqual([])
    expect(Buffer.from((await restarted.get(keep))!).equals(keepBytes)).toBe(true)
    // A kept blob adopted by a reference is deleted when that reference is dropped.
    restarted.retain(keep)
    restarted.drop(keep)
    await restarted.flush()
    expect(await restarted.has(keep)).toBe(false)
  })

  it('MemoryBlobBackend has the same shape', async () => {
    const m = new MemoryBlobBackend()
    const bytes = new Uint8Array([1, 2, 3])
    m.put(sha(bytes), bytes)
    expect(m.get(sha(bytes))).toBe(bytes)
    m.delete(sha(bytes))
    expect(m.get(sha(bytes))).toBeUndefined()
  })
})

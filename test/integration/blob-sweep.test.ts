/**
 * Blobs after a restart: reference counts live in memory, so a restarted peer
 * removes the blobs no durable record names (a job's input file stays, a blob
 * nothing names goes), or its data directory would only grow.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createPeer } from '../../node/index.ts'
import { DiskBlobBackend } from '../../node/storage/disk-blobs.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-sweep-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('blobs across a restart', () => {
  it('keeps the blobs the journal names and removes the rest', async () => {
    const config = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dataDir: join(dir, 'data') }
    const quiet = pino({ level: 'silent' })
    const first = await createPeer({ config, logger: quiet })
    await first.start()
    // A 1 MiB input file travels as a blob the journal names; nothing can run the task, so the job stays.
    writeFileSync(join(dir, 'in.bin'), randomBytes(1024 * 1024))
    const job = await first.submit({ name: 'waits', tasks: { t: { kind: 'exec', command: ['nothing-runs-this'], inputs: { 'in.bin': 'in.bin' } } } }, { baseDir: dir })
    const input = job.files['in.bin']!
    expect('blob' in input).toBe(true)
    const stray = first.blobs.put(randomBytes(300 * 1024))
    await first.blobs.flush()
    await first.stop()
    const disk = new DiskBlobBackend(config.dataDir)
    const inputSha = 'blob' in input ? input.blob.sha256 : ''
    expect([existsSync(disk.pathOf(inputSha)), existsSync(disk.pathOf(stray.sha256))]).toEqual([true, true])

    const again = await createPeer({ config, logger: quiet })
    expect([existsSync(disk.pathOf(inputSha)), existsSync(disk.pathOf(stray.sha256))]).toEqual([true, false])
    expect(again.job(job.id)?.state).toBe('running')
    await again.stop()
  })
})

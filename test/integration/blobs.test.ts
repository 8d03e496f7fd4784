/**
 * Large data between real libp2p peers: an exec task's input of 2, 3 and
 * 64 MiB travels from the origin to the executor, its output comes back, and
 * a handler's 1 MiB result value returns as a blob. Everything over the inline limit goes
 * over `/meshwork/blob/1.0.0` in chunks checked by sha-256.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createPeer, type Peer } from '../../node/index.ts'
import { waitFor } from '../helpers/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-blobs-'))
let origin: Peer
let worker: Peer

beforeAll(async () => {
  // The origin can run neither kind of task here, so everything must travel to the worker and back.
  origin = await createPeer({ config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }, ephemeral: true, logger: pino({ level: 'silent' }) })
  await origin.start()
  worker = await createPeer({
    config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: origin.addresses(), executor: { exec: { allow: ['cp'] } } },
    ephemeral: true,
    logger: pino({ level: 'silent' })
  })
  worker.handle('big', () => 'x'.repeat(1024 * 1024))
  await worker.start()
  await waitFor('the two peers to see each other', () => [origin, worker].every(p => p.peers().filter(v => v.state === 'alive').length === 2), { timeoutMs: 5000 })
})

afterAll(async () => {
  await Promise.all([origin.stop(), worker.stop()])
  rmSync(dir, { recursive: true, force: true })
})

describe('blobs', () => {
  it('moves a 2 MiB input to the executor and a 2 MiB output back, byte for byte', async () => {
    const data = randomBytes(2 * 1024 * 1024)
    writeFileSync(join(dir, 'in.bin'), data)
    const job = await origin.submit({
      name: 'copy',
      tasks: { copy: { kind: 'exec', command: ['cp', 'in.bin', 'out.bin'], inputs: { 'in.bin': 'in.bin' }, outputs: ['out.bin'], resources: { cpu: 0.5 } } }
    }, { baseDir: dir })
    expect(await job.finished()).toBe('done')
    const task = job.tasks.get('copy')!
    expect(task.attempts.at(-1)?.peer).toBe(worker.id)
    const out = task.outputs?.['out.bin']
    expect(out !== undefined && 'blob' in out).toBe(true)
    const bytes = 'blob' in out! ? await origin.blobs.fetch(origin.id, out.blob) : new Uint8Array()
    expect(Buffer.compare(Buffer.from(bytes), data)).toBe(0)
  })

  it('returns a handler value larger than the inline limit', async () => {
    const job = await origin.submit({ name: 'big', tasks: { big: { kind: 'handler', handler: 'big' } } })
    const results = await job.results()
    expect(typeof results.big).toBe('string')
    expect((results.big as string).length).toBe(1024 * 1024)
  })

  // Over 2 MiB an input never reached another peer: the blob reader's 2 MiB buffer overflowed
  // ("Read buffer overflow - 2097333 > 2097152") and, with no retries, the job failed.
  it.each([3, 64])('moves a %i MiB input to a remote executor with no retries allowed', async mib => {
    const data = randomBytes(mib * 1024 * 1024)
    writeFileSync(join(dir, `in-${mib}.bin`), data)
    const job = await origin.submit({
      name: `copy-${mib}`,
      tasks: { copy: { kind: 'exec', command: ['cp', 'in.bin', 'out.bin'], inputs: { 'in.bin': `in-${mib}.bin` }, outputs: ['out.bin'], resources: { cpu: 0.5 }, retries: 0 } }
    }, { baseDir: dir })
    expect(await job.finished()).toBe('done')
    const task = job.tasks.get('copy')!
    expect(task.attempts.map(a => [a.peer, a.state])).toEqual([[worker.id, 'done']])
    const out = task.outputs?.['out.bin']
    const bytes = out !== undefined && 'blob' in out ? await origin.blobs.fetch(origin.id, out.blob) : new Uint8Array()
    expect(Buffer.compare(Buffer.from(bytes), data)).toBe(0)
  }, 60_000)
})

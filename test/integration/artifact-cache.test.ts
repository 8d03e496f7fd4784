/**
 * The artifact cache on a real disk, and the multi-holder fetch over in-process
 * channels whose holders can be made to lie: LRU eviction that spares pinned
 * artifacts, restarts, verification, a disk that refuses writes, chunks and
 * manifests that do not match.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ARTIFACT_CHUNK_BYTES, adArtifactId, type ArtifactReply, type ArtifactRequest } from '../../protocols/artifact.ts'
import { ArtifactCache, hashFile } from '../../node/artifacts/cache.ts'
import { fetchArtifact, type ArtifactChannel } from '../../node/artifacts/fetch.ts'

const root = mkdtempSync(join(tmpdir(), 'meshwork-artcache-'))
afterAll(() => { rmSync(root, { recursive: true, force: true }) })
let n = 0
const fresh = (): string => join(root, `d${n++}`)
const MB = 1024 * 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const quiet = { onError: () => {} }

function fileOf (bytes: Uint8Array): string {
  const p = join(root, `f${n++}`)
  writeFileSync(p, bytes)
  return p
}

describe('ArtifactCache', () => {
  it('ingests a file under its sha-256, read-only, and finds it again after a restart', async () => {
    const dir = fresh()
    const bytes = randomBytes(3 * MB + 17)
    const c = await ArtifactCache.open(dir, 100 * MB, quiet)
    const r = await c.ingest(fileOf(bytes))
    expect(r).toMatchObject({ sha256: sha(bytes), size: bytes.byteLength, cached: true })
    expect(r.manifest.byteLength).toBe(4 * 32)
    const path = await c.use(r.sha256)
    expect(readFileSync(path!)).toEqual(bytes)
    expect(statSync(path!).mode & 0o777).toBe(0o400)
    const again = await ArtifactCache.open(dir, 100 * MB, quiet)
    expect(again.has(r.sha256)).toBe(true)
    expect(again.usedBytes).toBe(bytes.byteLength)
    expect(Buffer.from((await again.manifest(r.sha256))!)).toEqual(Buffer.from(r.manifest))
  })

  it('deletes a file that no longer matches its name when it is next used', async () => {
    const dir = fresh()
    const bytes = randomBytes(MB)
    const c = await ArtifactCache.open(dir, 100 * MB, quiet)
    const { sha256 } = await c.ingest(fileOf(bytes))
    chmodSync(c.pathOf(sha256), 0o600)
    writeFileSync(c.pathOf(sha256), randomBytes(MB))
    const reopened = await ArtifactCache.open(dir, 100 * MB, quiet)
    expect(await reopened.use(sha256)).toBeUndefined()
    expect(reopened.has(sha256)).toBe(false)
    expect(existsSync(c.pathOf(sha256))).toBe(false)
  })

  it('evicts the least recently used artifacts, never a pinned one', async () => {
    const c = await ArtifactCache.open(fresh(), 3 * MB, quiet)
    const a = await c.ingest(fileOf(randomBytes(MB)))
    const b = await c.ingest(fileOf(randomBytes(MB)))
    const d = await c.ingest(fileOf(randomBytes(MB)))
    await c.use(a.sha256) // a is now more recent than b
    c.pin(b.sha256)
    const e = await c.ingest(fileOf(randomBytes(MB)))
    expect(e.cached).toBe(true)
    // b is the oldest but pinned: d goes.
    expect([c.has(a.sha256), c.has(b.sha256), c.has(d.sha256), c.has(e.sha256)]).toEqual([true, true, false, true])
    expect([a, b, d, e].map(x => c.hasId(adArtifactId(x.sha256)))).toEqual([true, true, false, true])
    expect(c.usedBytes).toBeLessThanOrEqual(3 * MB)
    // Everything pinned: a new artifact does not fit, and nothing is evicted for it.
    for (const x of [a, e]) c.pin(x.sha256)
    const f = await c.ingest(fileOf(randomBytes(MB)))
    expect(f.cached).toBe(false)
    expect(c.count).toBe(3)
    // Larger than the whole cache: refused outright.
    expect(await c.beginWrite('f'.repeat(64), 4 * MB)).toBeUndefined()
  })

  it('degrades to "not cached" when the disk refuses writes', async () => {
    const dir = fresh()
    const c = await ArtifactCache.open(dir, 100 * MB, quiet)
    rmSync(dir, { recursive: true })
    writeFileSync(dir, 'not a directory') // every write under it now fails (ENOTDIR), as on a full or read-only disk
    const r = await c.ingest(fileOf(randomBytes(MB)))
    expect(r.cached).toBe(false)
    expect(c.has(r.sha256)).toBe(false)
  })
})

/** A holder in memory: serves `bytes`, optionally lying about one chunk or about the manifest. */
function holder (bytes: Uint8Array, lie: { chunk?: number, manifest?: boolean, missing?: boolean } = {}): { channel: () => Promise<ArtifactChannel>, served: number[] } {
  const served: number[] = []
  const chunks = Math.ceil(bytes.byteLength / ARTIFACT_CHUNK_BYTES)
  const digests = Buffer.concat(Array.from({ length: chunks }, (_, i) => createHash('sha256').update(bytes.subarray(i * ARTIFACT_CHUNK_BYTES, (i + 1) * ARTIFACT_CHUNK_BYTES)).digest()))
  const ask = async (req: ArtifactRequest): Promise<ArtifactReply> => {
    await new Promise(resolve => setImmediate(resolve))
    if (lie.missing === true) return { v: 1, ok: false, error: 'not held here' }
    if (req.op === 'manifest') {
      const m = new Uint8Array(digests)
      if (lie.manifest === true) { m.set(createHash('sha256').update(bytes.subarray(0, 5)).digest(), 0) }
      return { v: 1, ok: true, size: bytes.byteLength, chunks: m }
    }
    served.push(req.index)
    const data = new Uint8Array(bytes.subarray(req.index * ARTIFACT_CHUNK_BYTES, (req.index + 1) * ARTIFACT_CHUNK_BYTES))
    if (lie.chunk === req.index) data[0] = data[0]! ^ 0xff
    return { v: 1, ok: true, data }
  }
  return { channel: async () => ({ ask, close: () => {} }), served }
}

describe('fetchArtifact', () => {
  const bytes = randomBytes(6 * MB + 5)
  const plan = (holders: string[]) => ({ sha256: sha(bytes), size: bytes.byteLength, holders, dest: join(root, `out${n++}`) })

  it('takes chunks from every holder at once and checks the whole', async () => {
    const hs = { a: holder(bytes), b: holder(bytes) }
    const p = plan(['a', 'b'])
    const out = await fetchArtifact(p, async peer => await hs[peer as 'a' | 'b'].channel())
    expect(sha(readFileSync(p.dest))).toBe(p.sha256)
    expect(hs.a.served.length).toBeGreaterThan(0)
    expect(hs.b.served.length).toBeGreaterThan(0)
    expect(hs.a.served.length + hs.b.served.length).toBe(7)
    expect(out.dropped).toEqual([])
  })

  it('drops a holder that sends a bad chunk and gets that chunk elsewhere', async () => {
    const hs = { bad: holder(bytes, { chunk: 0 }), good: holder(bytes) }
    const p = plan(['bad', 'good'])
    const out = await fetchArtifact({ ...p, streamsPerHolder: 1 }, async peer => await hs[peer as 'bad' | 'good'].channel())
    expect(sha(readFileSync(p.dest))).toBe(p.sha256)
    expect(out.dropped).toEqual([{ peer: 'bad', why: 'sent chunk 0 that fails its sha-256' }])
  })

  it('refuses a manifest that does not match the artifact and starts over with another holder', async () => {
    const hs = { liar: holder(bytes, { manifest: true }), good: holder(bytes) }
    const p = plan(['liar', 'good'])
    const out = await fetchArtifact(p, async peer => await hs[peer as 'liar' | 'good'].channel())
    expect(sha(readFileSync(p.dest))).toBe(p.sha256)
    expect(out.dropped.map(d => d.peer)).toContain('liar')
  })

  it('fails with a message naming each holder when none can supply it', async () => {
    const hs = { x: holder(bytes, { missing: true }), y: holder(bytes, { chunk: 3 }) }
    await expect(fetchArtifact(plan(['x', 'y']), async peer => await hs[peer as 'x' | 'y'].channel()))
      .rejects.toThrow(/no peer could supply artifact .*x: not held here.*y: sent chunk 3 that fails its sha-256/)
    await expect(fetchArtifact(plan([]), async () => await hs.x.channel())).rejects.toThrow(/no peer holds it/)
  })

  it('hashFile agrees with a one-shot hash on chunk boundaries', async () => {
    for (const size of [0, 1, ARTIFACT_CHUNK_BYTES, ARTIFACT_CHUNK_BYTES + 1]) {
      const b = randomBytes(size)
      const h = await hashFile(fileOf(b))
      expect(h.sha256).toBe(sha(b))
      expect(h.manifest.byteLength).toBe(Math.ceil(size / ARTIFACT_CHUNK_BYTES) * 32)
    }
  })
})

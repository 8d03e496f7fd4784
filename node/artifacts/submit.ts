/**
 * What an origin does with the artifacts a job names (docs/ARCHITECTURE.md §8):
 * a path is read into the artifact cache and named by its sha-256 from then
 * on; a sha-256 must be held here or advertised by some live peer. The
 * artifacts of a live job stay pinned in the origin's cache, so the copy every
 * other peer can fall back on is not evicted while the job runs.
 */
import { resolve } from 'node:path'
import { adArtifactId } from '../../protocols/artifact.ts'
import { MeshError } from '../../src/errors.ts'
import type { JobView } from '../../src/jobs/job-view.ts'
import type { ArtifactSource, JobSpec } from '../../src/jobs/spec.ts'
import type { PeerArtifacts } from './store.ts'

/** The spec with every artifact named by sha-256 and size; paths read (relative ones against `baseDir`). */
export async function resolveArtifacts (spec: JobSpec, baseDir: string, store: PeerArtifacts, holders: (adId: string) => string[]): Promise<JobSpec> {
  const read = new Map<string, Promise<{ sha256: string, size: number }>>()
  const tasks: JobSpec['tasks'] = {}
  for (const [name, t] of Object.entries(spec.tasks)) {
    const artifacts: Record<string, ArtifactSource> = {}
    for (const [a, src] of Object.entries(t.artifacts)) {
      const at = `tasks.${name}.artifacts.${a}`
      if ('path' in src) {
        const path = resolve(baseDir, src.path)
        let p = read.get(path)
        if (p === undefined) read.set(path, p = store.ingest(path))
        try {
          artifacts[a] = await p
        } catch (err) {
          throw new MeshError('MESH_ERR_JOB_SPEC', `${at}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
        }
      } else {
        if (!store.cache.has(src.sha256) && holders(adArtifactId(src.sha256)).length === 0) {
          throw new MeshError('MESH_ERR_JOB_SPEC', `${at}: no live peer holds artifact ${src.sha256.slice(0, 12)}… (name it by path on this machine, or run a job that brings it first)`)
        }
        artifacts[a] = src
      }
    }
    tasks[name] = { ...t, artifacts }
  }
  return { ...spec, tasks }
}

/** Keep the job's artifacts in this origin's cache until it ends. */
export function pinWhileLive (job: JobView, store: PeerArtifacts): void {
  const shas = new Set<string>()
  for (const t of Object.values(job.spec.tasks)) for (const src of Object.values(t.artifacts)) if ('sha256' in src) shas.add(src.sha256)
  if (shas.size === 0) return
  for (const sha of shas) store.pin(sha)
  void job.finished().catch(() => {}).finally(() => { for (const sha of shas) store.unpin(sha) })
}

/**
 * Exec tasks name input files on the submitting machine; the origin keeps their
 * contents (inline when small, else as blobs) so any executor can fetch them.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { TASK_LIMITS, type FileData } from '../protocols/task.ts'
import type { BlobStore } from '../src/execution/executor.ts'
import type { JobSpec } from '../src/jobs/spec.ts'
import { MeshError } from '../src/errors.ts'

/** Every input path the job's exec tasks name (after `{i}` expansion the same paths may repeat). */
export function inputPaths (spec: JobSpec): string[] {
  const out = new Set<string>()
  for (const t of Object.values(spec.tasks)) {
    if (t.kind !== 'exec') continue
    const n = t.count ?? 1
    for (const src of Object.values(t.inputs)) {
      if (src.includes('{i}')) for (let i = 0; i < n; i++) out.add(src.replaceAll('{i}', String(i)))
      else out.add(src)
    }
  }
  return [...out]
}

/** Read the job's input files from disk, relative to `baseDir`. */
export async function readJobFiles (spec: JobSpec, baseDir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {}
  for (const p of inputPaths(spec)) {
    try {
      files[p] = await readFile(resolve(baseDir, p))
    } catch (err) {
      throw new MeshError('MESH_ERR_JOB_SPEC', `input file ${p}: ${(err as Error).message}`, { cause: err })
    }
  }
  return files
}

export function storeJobFiles (files: Record<string, Uint8Array>, blobs: BlobStore): Record<string, FileData> {
  const out: Record<string, FileData> = {}
  for (const [p, bytes] of Object.entries(files)) {
    out[p] = bytes.byteLength <= TASK_LIMITS.inlineBytes ? { inline: bytes } : { blob: blobs.put(bytes) }
  }
  return out
}

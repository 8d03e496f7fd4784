/**
 * Reading a job from disk: the job file itself, and the input files its exec
 * tasks name on the submitting machine. Used by `mesh submit` (which sends
 * the contents to its daemon) and by `peer.submit`. It loads no schema: the
 * spec is validated once, by the peer that accepts it, so this walks the
 * spec's JSON defensively instead of trusting its shape.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { MeshError } from '../src/errors.ts'
import { instanceValues } from '../src/jobs/placeholder.ts'

/** A job file's JSON; unreadable or not JSON is a MESH_ERR_JOB_SPEC naming the file. */
export async function readJobFile (file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new MeshError('MESH_ERR_JOB_SPEC', `${file}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Every input path the spec's exec tasks name, `{i}` expanded for each
 * instance, each once. Lazy, so a huge `count` in a spec that has not been
 * validated yet costs nothing until its files are read.
 */
export function * inputPaths (spec: unknown): Generator<string> {
  const tasks = isObject(spec) && isObject(spec.tasks) ? Object.values(spec.tasks) : []
  const seen = new Set<string>()
  for (const t of tasks) {
    if (!isObject(t) || t.kind !== 'exec' || !isObject(t.inputs)) continue
    const count = Number.isSafeInteger(t.count) && (t.count as number) >= 1 ? t.count as number : 1
    for (const src of Object.values(t.inputs)) {
      if (typeof src !== 'string') continue
      for (const path of instanceValues(src, count)) {
        if (!seen.has(path)) { seen.add(path); yield path }
      }
    }
  }
}

/** Read the job's input files from disk, relative to `baseDir`. */
export async function readJobFiles (spec: unknown, baseDir: string): Promise<Record<string, Uint8Array>> {
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

/**
 * The spec with every artifact named by a relative path made absolute against
 * `baseDir` (the job file's folder), so the daemon that reads them finds the
 * files the user meant. Other values are left as they are, for validation.
 */
export function absoluteArtifactPaths (spec: unknown, baseDir: string): unknown {
  if (!isObject(spec) || !isObject(spec.tasks)) return spec
  const tasks: Record<string, unknown> = {}
  for (const [name, t] of Object.entries(spec.tasks)) {
    if (!isObject(t) || !isObject(t.artifacts)) { tasks[name] = t; continue }
    const artifacts: Record<string, unknown> = {}
    for (const [a, src] of Object.entries(t.artifacts)) {
      if (typeof src === 'string') artifacts[a] = resolve(baseDir, src)
      else if (isObject(src) && typeof src.path === 'string') artifacts[a] = { ...src, path: resolve(baseDir, src.path) }
      else artifacts[a] = src
    }
    tasks[name] = { ...t, artifacts }
  }
  return { ...spec, tasks }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

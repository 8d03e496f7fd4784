/**
 * Reading a job from disk: the job file itself, and the input files its exec
 * tasks name on the submitting machine. Used by `mesh submit` (which sends
 * the contents to its daemon) and by `peer.submit`. It loads no schema: the
 * spec is validated once, by the peer that accepts it, so this walks the
 * spec's JSON defensively instead of trusting its shape.
 */
import { resolve } from 'node:path'
import { MeshError } from '../src/errors.ts'
import { instanceValues } from '../src/jobs/placeholder.ts'
import { FileTooLarge, readFileAtMost } from './bounded-read.ts'
import { JsonInputError, mib, parseJsonText } from './json-input.ts'

/**
 * The largest job file read: the daemon takes a spec of at most 16 MiB as JSON
 * (JOB_LIMITS.maxSpecBytes, which a unit test keeps equal), inline inputs
 * included, so anything larger is refused before it is read or uploaded.
 */
export const MAX_JOB_FILE_BYTES = 16 * 1024 * 1024
/**
 * The exec input files of one job, together: they travel base64 (4/3 larger)
 * in the same 16 MiB request as the spec. Larger data belongs in artifacts,
 * which the daemon reads from disk itself.
 */
export const MAX_INPUT_FILES_BYTES = 12 * 1024 * 1024

/** Where the README says to put large data; every size refusal ends with it. */
export const USE_ARTIFACTS = 'give a task large data as an artifact instead ("artifacts": {"data.bin": "./data.bin"}; see Artifacts in the README)'

/** A job file's JSON; unreadable, too large, too deeply nested or not JSON is a MESH_ERR_JOB_SPEC naming the file. */
export async function readJobFile (file: string): Promise<unknown> {
  let bytes: Buffer
  try {
    bytes = await readFileAtMost(file, MAX_JOB_FILE_BYTES)
  } catch (err) {
    if (err instanceof FileTooLarge) throw jobFileTooLarge(file, err.size)
    throw new MeshError('MESH_ERR_JOB_SPEC', `${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseJobFile(bytes, file)
}

/** A job file's bytes as JSON, with readJobFile's refusals: the part of reading a job file that fuzzing drives. */
export function parseJobFile (bytes: Uint8Array, file: string): unknown {
  if (bytes.byteLength > MAX_JOB_FILE_BYTES) throw jobFileTooLarge(file, bytes.byteLength)
  try {
    return parseJsonText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    if (err instanceof JsonInputError || err instanceof SyntaxError) throw new MeshError('MESH_ERR_JOB_SPEC', `${file}: ${err.message}`, { cause: err })
    throw err
  }
}

function jobFileTooLarge (file: string, size: number): MeshError {
  return new MeshError('MESH_ERR_JOB_SPEC', `${file} is ${mib(size)}, but a job file may be at most ${mib(MAX_JOB_FILE_BYTES)} with its inline "input" values: ${USE_ARTIFACTS}`)
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

/**
 * Read the job's input files from disk, relative to `baseDir`, refusing them
 * past `maxBytes` together: the CLI passes MAX_INPUT_FILES_BYTES (they go in
 * one request); `peer.submit` reads them in-process into blobs, uncapped.
 */
export async function readJobFiles (spec: unknown, baseDir: string, maxBytes = Infinity): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {}
  let total = 0
  for (const p of inputPaths(spec)) {
    try {
      files[p] = await readFileAtMost(resolve(baseDir, p), maxBytes - total)
      total += files[p].byteLength
    } catch (err) {
      if (err instanceof FileTooLarge) {
        throw new MeshError('MESH_ERR_JOB_SPEC', `input file ${p} takes the job's exec input files past ${mib(maxBytes)}, the most that travels with a job: ${USE_ARTIFACTS}`)
      }
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

/**
 * Checkpoints of exec tasks: the program writes whatever it needs to resume
 * into `$MESHWORK_CHECKPOINT_DIR`. While it runs, the directory is scanned every
 * second; when its files changed, their contents become the attempt's
 * checkpoint (it travels to the origin). A later attempt of the task, after a
 * migration, finds the files back in its own checkpoint directory before it starts.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'

export const CHECKPOINT_DIR = 'checkpoint'
/** A checkpoint larger than this is not sent (the task still runs; it just would restart from scratch). */
const MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
const MAX_FILES = 1024

export interface ExecCheckpoint { kind: 'exec-checkpoint', files: Record<string, Uint8Array> }

export function isExecCheckpoint (v: unknown): v is ExecCheckpoint {
  return typeof v === 'object' && v !== null && (v as ExecCheckpoint).kind === 'exec-checkpoint' &&
    typeof (v as ExecCheckpoint).files === 'object' && (v as ExecCheckpoint).files !== null
}

/** Create the checkpoint directory and put a restored checkpoint's files back in it. */
export async function prepareCheckpointDir (dir: string, restored: unknown): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  if (!isExecCheckpoint(restored)) return
  for (const [rel, bytes] of Object.entries(restored.files)) {
    const abs = join(dir, rel)
    // Names come from our own earlier scan, but they travelled over the network: stay inside.
    if (relative(dir, abs).startsWith('..') || !(bytes instanceof Uint8Array)) continue
    await mkdir(dirname(abs), { recursive: true, mode: 0o700 })
    await writeFile(abs, bytes, { mode: 0o600 })
  }
}

/** Scans `dir` every `periodMs` and calls `save` with the files whenever they changed. */
export function watchCheckpointDir (dir: string, save: (state: ExecCheckpoint) => void, periodMs = 1000): () => Promise<void> {
  let last = ''
  let running: Promise<void> = Promise.resolve()
  const scan = async (): Promise<void> => {
    const files = await listFiles(dir)
    const signature = files.map(f => `${f.rel}:${f.size}:${f.mtimeMs}`).join('\n')
    if (signature === last || files.length === 0) return
    const total = files.reduce((a, f) => a + f.size, 0)
    if (total > MAX_CHECKPOINT_BYTES) return
    last = signature
    const out: Record<string, Uint8Array> = {}
    for (const f of files) out[f.rel] = new Uint8Array(await readFile(join(dir, f.rel)))
    save({ kind: 'exec-checkpoint', files: out })
  }
  const timer = setInterval(() => { running = running.then(scan).catch(() => {}) }, periodMs)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await running
  }
}

async function listFiles (root: string): Promise<Array<{ rel: string, size: number, mtimeMs: number }>> {
  const out: Array<{ rel: string, size: number, mtimeMs: number }> = []
  let entries: string[]
  try {
    entries = await readdir(root, { recursive: true })
  } catch {
    return out
  }
  for (const rel of entries.slice(0, MAX_FILES)) {
    try {
      const s = await stat(join(root, rel))
      if (s.isFile()) out.push({ rel: rel.split(sep).join('/'), size: s.size, mtimeMs: s.mtimeMs })
    } catch { /* removed meanwhile */ }
  }
  return out.sort((a, b) => a.rel.localeCompare(b.rel))
}

/**
 * The scratch directory's size cap (`executor.exec.diskMB`). No kernel
 * mechanism caps one directory of a shared file system without root and a
 * file system of its own, so the watcher measures the directory (blocks
 * really used, so sparse files count what they take) every `periodMs` and
 * reports when it passes the cap; RLIMIT_FSIZE (set by the wrapper) keeps any
 * single file from growing past the cap between two looks.
 */
import { lstat, opendir } from 'node:fs/promises'
import { join } from 'node:path'

/** More entries than this in one scratch directory is itself a limit hit (a walk must stay cheap). */
export const MAX_SCRATCH_ENTRIES = 100_000

export type DiskHit = { kind: 'bytes', bytes: number } | { kind: 'entries' }

/** Bytes used under `dir`, or `entries` once more than `maxEntries` files were seen. */
export async function usage (dir: string, maxEntries = MAX_SCRATCH_ENTRIES): Promise<{ bytes: number, entries: number }> {
  let bytes = 0
  let entries = 0
  const stack = [dir]
  while (stack.length > 0 && entries <= maxEntries) {
    const d = stack.pop() as string
    let handle
    try { handle = await opendir(d) } catch { continue }
    for await (const e of handle) {
      if (++entries > maxEntries) break
      const p = join(d, e.name)
      if (e.isDirectory()) { stack.push(p); continue }
      const st = await lstat(p).catch(() => undefined)
      if (st !== undefined) bytes += st.blocks * 512
    }
  }
  return { bytes, entries }
}

/**
 * Calls `onHit` once when `dir` passes `capBytes` or holds too many entries;
 * returns a stop function. Looks every `periodMs`, or, for a directory of
 * many files whose walk takes long, after four times the walk: the watcher
 * spends at most a fifth of a core on one attempt however the task fills it.
 */
export function watchDisk (dir: string, capBytes: number, onHit: (hit: DiskHit) => void, periodMs = 500): () => void {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const look = async (): Promise<void> => {
    const started = performance.now()
    const u = await usage(dir)
    if (stopped) return
    if (u.entries > MAX_SCRATCH_ENTRIES) { stopped = true; onHit({ kind: 'entries' }); return }
    if (u.bytes > capBytes) { stopped = true; onHit({ kind: 'bytes', bytes: u.bytes }); return }
    timer = setTimeout(() => { void look() }, Math.max(periodMs, 4 * (performance.now() - started)))
    timer.unref()
  }
  timer = setTimeout(() => { void look() }, periodMs)
  timer.unref()
  return () => { stopped = true; clearTimeout(timer) }
}

/**
 * `<dataDir>/control.json`: how the CLI finds and authenticates with its daemon.
 * Written atomically with mode 0600 (only the owner can read the token) and
 * removed on clean exit; a leftover file whose pid is dead is stale.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const CONTROL_FILE = 'control.json'

export interface ControlInfo { url: string, token: string, pid: number, peerId: string }

export function writeControlFile (dataDir: string, info: ControlInfo): void {
  const file = join(dataDir, CONTROL_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

/** The control info in `dataDir`, or undefined when there is none (or it is unreadable). */
export function readControlFile (dataDir: string): ControlInfo | undefined {
  try {
    return asControlInfo(JSON.parse(readFileSync(join(dataDir, CONTROL_FILE), 'utf8')))
  } catch {
    return undefined
  }
}

/**
 * Checked by hand rather than with the schema library: every client command
 * reads this file, and loading zod would cost each of them about 13 MB and
 * 60 ms for four fields.
 */
function asControlInfo (v: unknown): ControlInfo | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const { url, token, pid, peerId } = v as Record<string, unknown>
  if (typeof url !== 'string' || !URL.canParse(url)) return undefined
  if (typeof token !== 'string' || token.length < 16) return undefined
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined
  if (typeof peerId !== 'string' || peerId === '') return undefined
  return { url, token, pid, peerId }
}

export function removeControlFile (dataDir: string, pid = process.pid): void {
  // Only remove our own: a second daemon that failed to start must not delete the first one's file.
  if (readControlFile(dataDir)?.pid === pid) rmSync(join(dataDir, CONTROL_FILE), { force: true })
}

export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

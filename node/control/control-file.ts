/**
 * `<dataDir>/control.json`: how the CLI finds and authenticates with its daemon.
 * Written atomically with mode 0600 (only the owner can read the token) and
 * removed on clean exit; a leftover file whose pid is dead is stale.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'

export const CONTROL_FILE = 'control.json'

const controlInfoSchema = z.object({
  url: z.string().url(),
  token: z.string().min(16),
  pid: z.number().int().positive(),
  peerId: z.string().min(1)
})
export type ControlInfo = z.infer<typeof controlInfoSchema>

export function writeControlFile (dataDir: string, info: ControlInfo): void {
  const file = join(dataDir, CONTROL_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

/** The control info in `dataDir`, or undefined when there is none (or it is unreadable). */
export function readControlFile (dataDir: string): ControlInfo | undefined {
  try {
    const parsed = controlInfoSchema.safeParse(JSON.parse(readFileSync(join(dataDir, CONTROL_FILE), 'utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
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

/**
 * The daemon survives an error that escapes every handler (node/daemon.ts
 * `containProcessErrors`): an exception thrown from a listener or a timer and
 * a rejected promise nobody awaited are logged and counted, and the process
 * goes on. Without it, Node ends the process with exit code 1.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../node/package.ts'

describe('contained errors', () => {
  it('logs, counts and survives an uncaught exception and an unhandled rejection', async () => {
    const { code, stdout } = await new Promise<{ code: number, stdout: string }>(resolve => {
      execFile(process.execPath, [join(PACKAGE_ROOT, 'test/fixtures/contained-errors.ts')], { timeout: 10_000 }, (err, stdout) => {
        resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout })
      })
    })
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual([['uncaught', 1], ['rejection', 1]])
  })
})

/**
 * The dashboard as a person sees it, in real headless Chromium (Debian's
 * `chromium`, which `.ci/run` installs; MESHWORK_CHROMIUM names another):
 * the login link opens the page, every peer is named, the job is listed
 * with its progress, and a new job appears without a reload. A screenshot of
 * the page is saved for whoever is building it to look at.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'

/** Where the screenshots go (printed by the test). */
const SHOTS = join(tmpdir(), 'meshwork-dashboard-shots')

function chromiumPath (): string {
  const given = process.env.MESHWORK_CHROMIUM
  if (given !== undefined) return given
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('no Chromium here: install Debian\'s chromium (apt-get install chromium), as .ci/run does, or set MESHWORK_CHROMIUM')
  }
}

let daemons: LocalDaemon[]
let cleanup: () => Promise<void>
let browser: Browser

beforeAll(async () => {
  ({ daemons, cleanup } = await startMesh(2, { executor: { exec: { allow: ['true', 'sleep'] } } }))
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await cleanup()
})

describe('the dashboard in Chromium', () => {
  it('shows every peer and the jobs, and a new job appears live', async () => {
    const first = await mesh(['run', '--count', '3', '--wait', '--config', daemons[0]!.config, '--', 'true'], { timeoutMs: 30_000 })
    expect(first.code, first.stderr).toBe(0)
    const link = (await mesh(['dashboard', '--no-open', '--config', daemons[0]!.config])).stdout.split('\n')[0]!
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } })
    await page.goto(link)
    expect(new URL(page.url()).pathname).toBe('/dashboard/')
    // Every peer, named by the end of its id, alive; the job done with 3 of 3 tasks.
    for (const d of daemons) await page.locator(`#peers tr[data-peer="${d.peerId}"]`, { hasText: 'alive' }).waitFor({ timeout: 10_000 })
    await page.locator('#jobs tr', { hasText: 'run true' }).filter({ hasText: 'done' }).filter({ hasText: '3/3' }).waitFor({ timeout: 10_000 })
    expect(await page.locator('#status').textContent()).toMatch(/^live/)
    // A job submitted now shows up without a reload, first running, then done.
    const running = mesh(['run', '--wait', '--config', daemons[0]!.config, '--', 'sleep', '1'], { timeoutMs: 30_000 })
    await page.locator('#jobs tr', { hasText: 'run sleep' }).filter({ hasText: 'running' }).waitFor({ timeout: 10_000 })
    mkdirSync(SHOTS, { recursive: true })
    await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true })
    expect((await running).code).toBe(0)
    await page.locator('#jobs tr', { hasText: 'run sleep' }).filter({ hasText: 'done' }).waitFor({ timeout: 10_000 })
    expect(existsSync(join(SHOTS, 'dashboard.png'))).toBe(true)
  })
})

/**
 * The dashboard as a person sees it, in real headless Chromium (Debian's
 * `chromium`, which `.ci/run` installs; MESHWORK_CHROMIUM names another):
 * the login link opens the page; every peer is a card, alive, with its
 * resource bars; a job is listed with its progress and a new one appears
 * without a reload; a job's page draws the task stream with a bar per
 * attempt, marks a retry, and shows a failed attempt's stdout and stderr;
 * the auction page lists the rounds with their winners and, opened, the
 * bids. Screenshots of each view are saved for whoever builds the page to
 * look at (the README's comes from here).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'

/** Where the screenshots go. */
const SHOTS = process.env.MESHWORK_DASHBOARD_SHOTS ?? join(tmpdir(), 'meshwork-dashboard-shots')

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
let page: Page
/** Errors the page's scripts threw: none are expected. */
const pageErrors: string[] = []

beforeAll(async () => {
  ({ daemons, cleanup } = await startMesh(3, { executor: { exec: { allow: ['true', 'sleep', 'sh'] } }, resources: { custom: { licence: 2 } } }))
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] })
  mkdirSync(SHOTS, { recursive: true })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await cleanup()
})

/** `mesh run --wait` on the first daemon; a failure is an error unless the job is meant to fail. */
const run = async (args: string[], meantToFail = false): Promise<void> => {
  const r = await mesh(['run', '--wait', '--config', daemons[0]!.config, ...args], { timeoutMs: 60_000 })
  if ((r.code !== 0) !== meantToFail) throw new Error(`mesh run ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
}

describe('the dashboard in Chromium', () => {
  it('logs in and shows every peer as a card with its resources, and the jobs', async () => {
    await run(['--count', '4', '--', 'true'])
    const link = (await mesh(['dashboard', '--no-open', '--config', daemons[0]!.config])).stdout.split('\n')[0]!
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('pageerror', e => { pageErrors.push(e.message) })
    await page.goto(link)
    expect(new URL(page.url()).pathname).toBe('/dashboard/')
    for (const d of daemons) {
      const card = page.locator(`#peers article[data-peer="${d.peerId}"]`)
      await card.locator('.badge', { hasText: 'alive' }).waitFor({ timeout: 10_000 })
      await card.locator('.bar-row', { hasText: 'cores reserved' }).waitFor()
      await card.locator('.bar-row', { hasText: 'memory' }).waitFor()
      await card.locator('.bar-row', { hasText: 'licence' }).filter({ hasText: '0 / 2 in use' }).waitFor()
    }
    await page.locator('#peers-alive', { hasText: '3' }).waitFor()
    await page.locator('#jobs tr', { hasText: 'run true' }).filter({ hasText: 'done' }).filter({ hasText: '4/4' }).waitFor({ timeout: 10_000 })
    expect(await page.locator('#status').textContent()).toMatch(/^live/)
    // The chart of tasks running per peer is drawn (uPlot's canvas).
    await page.locator('#running-chart canvas').first().waitFor()
  })

  it('shows a new job live, first running, then done', async () => {
    // Long enough to be seen running: the page updates every 250 ms, or 20× its last build time
    // when that is more (a cold daemon's first builds are slow), and a 1 s job was once missed.
    const running = run(['--', 'sleep', '3'])
    await page.locator('#jobs tr', { hasText: 'run sleep' }).filter({ hasText: 'running' }).waitFor({ timeout: 10_000 })
    await page.screenshot({ path: join(SHOTS, 'mesh.png'), fullPage: true })
    await running
    await page.locator('#jobs tr', { hasText: 'run sleep' }).filter({ hasText: 'done' }).waitFor({ timeout: 10_000 })
  })

  it('draws a job\'s task stream, marks its retries, and shows a failed attempt\'s output', async () => {
    // Two instances that fail and are retried once, and fail again: four attempts, two of them retries.
    await run(['--count', '2', '--retries', '1', '--', 'sh', '-c', 'echo to stdout {i}; echo to stderr {i} >&2; sleep 0.3; exit 3'], true)
    await page.locator('#jobs tr', { hasText: 'run sh' }).locator('a').click()
    await page.locator('#job-state', { hasText: 'failed' }).waitFor({ timeout: 10_000 })
    // One bar per attempt (both tasks, both attempts), the retries marked.
    await page.locator('#timeline g.attempt').nth(3).waitFor({ timeout: 10_000 })
    expect(await page.locator('#timeline g.attempt.failed').count()).toBeGreaterThanOrEqual(3)
    expect(await page.locator('#timeline g.attempt.retry').count()).toBeGreaterThanOrEqual(1)
    expect(await page.locator('#timeline g.lane').count()).toBeGreaterThanOrEqual(1)
    // A task opens to its attempts: the peer, the reason, the tail of stdout and stderr.
    const task = page.locator('#tasks tr.task').first()
    await task.click()
    const detail = page.locator('#tasks .task-detail')
    await detail.locator('pre.stdout', { hasText: 'to stdout' }).first().waitFor({ timeout: 10_000 })
    await detail.locator('pre.stderr', { hasText: 'to stderr' }).first().waitFor()
    await detail.getByText('exit code 3').first().waitFor()
    await detail.getByText('retry after a failure').first().waitFor()
    await page.screenshot({ path: join(SHOTS, 'job-failed.png'), fullPage: true })
  })

  it('draws a running job\'s timeline as it grows', async () => {
    const running = run(['--count', '6', '--', 'sleep', '1'])
    await page.goto(new URL('/dashboard/#/', page.url()).toString())
    await page.locator('#jobs tr', { hasText: 'run sleep' }).filter({ hasText: 'running' }).locator('a').click()
    await page.locator('#timeline g.attempt.running').first().waitFor({ timeout: 10_000 })
    await page.locator('#job-state', { hasText: 'done' }).waitFor({ timeout: 30_000 })
    await page.locator('#timeline g.attempt.done').nth(5).waitFor({ timeout: 10_000 })
    expect(await page.locator('#tasks tr.task', { hasText: 'done' }).count()).toBe(6)
    await page.locator('#done-chart canvas').first().waitFor()
    await page.screenshot({ path: join(SHOTS, 'job.png'), fullPage: true })
    await running
  })

  it('shows why a task waits, each peer\'s reason', async () => {
    const file = join(SHOTS, 'needs-tpu.json')
    writeFileSync(file, JSON.stringify({ name: 'needs a tpu', tasks: { train: { kind: 'exec', command: ['true'], resources: { cpu: 1, custom: { tpu: 1 } } } } }))
    const sub = await mesh(['submit', file, '--json', '--config', daemons[0]!.config])
    expect(sub.code, sub.stderr).toBe(0)
    const { id } = JSON.parse(sub.stdout) as { id: string }
    await page.goto(new URL(`/dashboard/#/jobs/${id}`, page.url()).toString())
    const row = page.locator('#tasks tr.task', { hasText: 'train' })
    await row.locator('.badge', { hasText: 'pending' }).waitFor({ timeout: 10_000 })
    await row.getByText(/tpu/).waitFor()
    await row.click()
    // Each peer, named, with its reason.
    for (const d of daemons) await page.locator('.why-list li', { hasText: d.peerId.slice(-8) }).filter({ hasText: /tpu/ }).waitFor()
    await page.screenshot({ path: join(SHOTS, 'job-waiting.png'), fullPage: true })
    expect((await mesh(['cancel', id, '--config', daemons[0]!.config])).code).toBe(0)
    await page.locator('#job-state', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 })
  })

  it('lists the auction\'s rounds with their winners, and a round\'s bids', async () => {
    await page.locator('nav a', { hasText: 'Auction' }).click()
    const rows = page.locator('#rounds tr.round')
    await rows.first().waitFor({ timeout: 10_000 })
    // Winners are named with their ETA: "task → peer (ETA)".
    const names = daemons.map(d => d.peerId.slice(-8))
    const winners = await page.locator('#rounds td.winners').allTextContents()
    expect(winners.some(w => names.some(n => w.includes(`→ ${n}`)))).toBe(true)
    await rows.first().click()
    await page.locator('#rounds table.bids td.won').first().waitFor()
    await page.locator('#rounds-chart canvas').first().waitFor()
    await page.screenshot({ path: join(SHOTS, 'auction.png'), fullPage: true })
    expect(existsSync(join(SHOTS, 'auction.png'))).toBe(true)
    expect(pageErrors).toEqual([])
  })
})

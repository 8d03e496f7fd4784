/**
 * The README's pictures of the dashboard, taken on the demo mesh: runs the
 * built `mesh demo --dashboard --no-open`, opens the printed link in headless
 * Chromium (Debian's `chromium`, or MESHWORK_CHROMIUM), and once the π job
 * has ended (peer 3 killed halfway, its tasks migrated) saves the mesh view
 * and the job's page to docs/images/. Then stops the demo with Ctrl-C.
 *
 *   npm run build && node scripts/dashboard-screenshots.ts
 */
import { execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const root = join(import.meta.dirname, '..')
const out = join(root, 'docs', 'images')
const chromiumPath = process.env.MESHWORK_CHROMIUM ?? execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim()
const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] })
const demo = spawn(process.execPath, [join(root, 'dist', 'cli', 'bin.js'), 'demo', '--dashboard', '--no-open'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } })
const lines = createInterface({ input: demo.stdout })
let link: string | undefined
const lingering = new Promise<void>((resolve, reject) => {
  lines.on('line', line => {
    process.stdout.write(`demo | ${line}\n`)
    link ??= /dashboard: (http:\S+)/.exec(line)?.[1]
    if (line.includes('press Ctrl-C')) resolve()
  })
  demo.once('exit', code => { reject(new Error(`the demo exited with ${code}`)) })
})
try {
  while (link === undefined) await new Promise(resolve => setTimeout(resolve, 50))
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 })
  await page.goto(link)
  await lingering
  await page.locator('#peers-alive', { hasText: '3' }).waitFor()
  await page.waitForTimeout(1500) // a few more samples on the chart
  await page.screenshot({ path: join(out, 'dashboard-mesh.png') })
  await page.locator('#jobs tr a').first().click()
  await page.locator('#timeline g.attempt').first().waitFor()
  await page.screenshot({ path: join(out, 'dashboard-job.png'), fullPage: false })
  console.log(`saved ${join(out, 'dashboard-mesh.png')} and dashboard-job.png`)
} finally {
  await browser.close()
  demo.kill('SIGINT')
}

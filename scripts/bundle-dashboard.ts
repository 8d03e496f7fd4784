/**
 * Builds the dashboard (dashboard/, plain JavaScript modules on Preact, htm
 * and uPlot) into dist/dashboard/: one minified module, one stylesheet and
 * the page, which the daemon serves itself (node/control/dashboard-routes.ts).
 * One file each, so a browser on a slow link to a small edge box makes three
 * requests, not thirty, and nothing comes from outside the mesh.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = join(import.meta.dirname, '..')
const src = join(root, 'dashboard')
const out = join(root, 'dist', 'dashboard')

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
await build({
  entryPoints: { app: join(src, 'main.js') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox111', 'safari16.4'],
  minify: true,
  logLevel: 'warning'
})
copyFileSync(join(src, 'index.html'), join(out, 'index.html'))

if (process.argv.includes('--sizes')) {
  for (const f of ['app.js', 'app.css', 'index.html']) {
    const p = join(out, f)
    console.log(`${f}: ${statSync(p).size} bytes, ${gzipSync(readFileSync(p), { level: 9 }).byteLength} gzipped`)
  }
}

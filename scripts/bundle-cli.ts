/**
 * Bundles the compiled CLI (dist/node/cli/bin.js, what `mesh` runs, the
 * daemon included) into dist/cli/ with esbuild: one chunk per command, loaded
 * when the command runs, so `mesh peers` still loads only its client.
 *
 * Why: the daemon imports about 1,000 modules (libp2p and its dependencies),
 * and Node keeps a record, the source and the compiled code of each. Bundled,
 * an idle daemon holds about 10 MB less and starts about 300 ms sooner
 * (README, "Design notes"). The library (`import … from 'meshwork'`) stays
 * unbundled: an app bundles, dedupes and patches its dependencies itself.
 *
 * Kept out of the bundle: packages with native addons or files they load by
 * path at run time (lmdb, msgpackr's optional native part, the HiGHS wasm,
 * piscina's worker, systeminformation), pino, whose transports run in
 * worker threads by file name, and prom-client, a CommonJS package loaded by
 * a dynamic import on the first scrape (bundled, its named exports are lost).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

const root = join(import.meta.dirname, '..')
const dist = join(root, 'dist')
const out = join(dist, 'cli')

rmSync(out, { recursive: true, force: true })
await build({
  // Files loaded by path next to the code that starts them (see node/package.ts, siblingModule).
  entryPoints: {
    bin: join(dist, 'node', 'cli', 'bin.js'),
    'handler-worker': join(dist, 'node', 'execution', 'handler-worker.js'),
    'gpu-probe': join(dist, 'node', 'resources', 'gpu-probe.js')
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: ['lmdb', 'msgpackr', 'highs', 'piscina', 'systeminformation', 'pino', 'prom-client'],
  // Whitespace and syntax only: names stay, so stack traces stay readable.
  // No source maps here: to be of use they would carry the sources of every
  // dependency (7 MB); the library's own files in dist/ keep theirs.
  minifyWhitespace: true,
  minifySyntax: true,
  // CommonJS dependencies (fastify, commander) call require() for Node's own modules.
  banner: { js: "import { createRequire as __meshworkRequire } from 'node:module'; const require = __meshworkRequire(import.meta.url);" },
  logLevel: 'warning'
})

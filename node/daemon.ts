/**
 * `mesh start`: run one peer in the foreground until SIGINT/SIGTERM.
 * Prints the peer id, listen addresses and control URL on stdout (one per line,
 * `key: value`, so scripts can read them), logs to stderr.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { parseConfig, type MeshConfig } from '../src/config.ts'
import { MeshError } from '../src/errors.ts'
import { loadConfigFile, resolvePaths } from './config-file.ts'
import { defaultConfigPath } from './config-paths.ts'
import { isProcessAlive, readControlFile, removeControlFile, writeControlFile } from './control/control-file.ts'
import { startControlServer, startMetricsServer } from './control/server.ts'
import { createLogger } from './logger.ts'
import { createPeer } from './peer.ts'
import type { MeshMetrics } from '../src/metrics.ts'
import type { Logger } from 'pino'

/** Load the config: the given file, else the default path if present, else all defaults. */
export function loadDaemonConfig (configPath?: string): { config: MeshConfig, source: string } {
  if (configPath !== undefined) return { config: loadConfigFile(configPath), source: configPath }
  const fallback = defaultConfigPath()
  if (existsSync(fallback)) return { config: loadConfigFile(fallback), source: fallback }
  return { config: resolvePaths(parseConfig({}, 'defaults'), process.cwd()), source: 'defaults (no config file)' }
}

export async function runDaemon (configPath?: string, out: (line: string) => void = line => { process.stdout.write(line + '\n') }): Promise<void> {
  const t0 = performance.now()
  const { config, source } = loadDaemonConfig(configPath)
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })

  // One daemon per data directory: two would share an identity and fight over the journal.
  const existing = readControlFile(config.dataDir)
  if (existing !== undefined && existing.pid !== process.pid && isProcessAlive(existing.pid)) {
    throw new MeshError('MESH_ERR_STATE', `another daemon (pid ${existing.pid}, ${existing.url}) is already using ${config.dataDir}`)
  }

  const log = createLogger(config.log.level)
  const peer = await createPeer({ resolvedConfig: config, logger: log })
  containProcessErrors(log, peer.core.metrics)
  await peer.start()
  const control = await startControlServer(peer, config.control.host, config.control.port)
  const metrics = config.metrics.port === null ? undefined : await startMetricsServer(peer, config.control.host, config.metrics.port)
  writeControlFile(config.dataDir, { url: control.url, token: control.token, pid: process.pid, peerId: peer.id })

  out(`peer: ${peer.id}`)
  for (const addr of peer.addresses()) out(`listen: ${addr}`)
  out(`control: ${control.url}`)
  if (metrics !== undefined) out(`metrics: ${metrics.url}/metrics`)
  out(`config: ${source}`)
  out(`dataDir: ${config.dataDir}`)
  out(`ready: ${Math.round(performance.now() - t0)} ms`)
  log.info({ peer: peer.id, control: control.url, config: source }, 'peer started')

  let stopping = false
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      // A second signal means "now": skip the goodbye.
      process.exit(130)
    }
    stopping = true
    log.info({ signal }, 'stopping')
    try {
      await control.close()
      await metrics?.close()
      await peer.stop()
    } finally {
      removeControlFile(config.dataDir)
      out('stopped')
      log.flush()
      process.exit(0)
    }
  }
  process.on('SIGINT', () => { void stop('SIGINT') })
  process.on('SIGTERM', () => { void stop('SIGTERM') })
}

/** Logged in full this many times a minute at most; past that, only counted. */
const CONTAINED_LOGS_PER_MINUTE = 20

/**
 * The daemon's last line of defence (docs/ARCHITECTURE.md §1.3). Every handler
 * of ours catches its own errors, but libp2p's event listeners and promises run
 * network-driven code we do not wrap, and by default one exception thrown there
 * (or one rejected promise nobody awaited) ends the process, and with it every
 * task running here and every job this peer is the origin of. A daemon serves
 * peers it does not control: such an error is logged with its stack, counted
 * (`meshwork_contained_errors_total`), and the daemon carries on. The
 * connection it came from is typically closed by then; liveness closes it if not.
 */
export function containProcessErrors (log: Logger, metrics: MeshMetrics): void {
  let windowStart = 0
  let logged = 0
  const contain = (where: 'uncaught' | 'rejection') => (err: unknown): void => {
    metrics.inc('meshwork_contained_errors_total', { where })
    const now = Date.now()
    if (now - windowStart > 60_000) { windowStart = now; logged = 0 }
    if (logged++ < CONTAINED_LOGS_PER_MINUTE) log.error({ err, where }, 'an error escaped its handler; contained, the daemon carries on')
  }
  process.on('uncaughtException', contain('uncaught'))
  process.on('unhandledRejection', contain('rejection'))
}

/**
 * `/metrics`: the peer in Prometheus's text format, through prom-client
 * (docs/ARCHITECTURE.md §10). prom-client is loaded on the first scrape, not
 * at start: it costs about 55 ms and 17 MB of RSS, which a peer nobody
 * scrapes should not pay. Until then the core counts in plain numbers
 * (src/metrics.ts); gauges are read from the peer when scraped.
 *
 * Every series is listed in the README.
 */
import type { Registry } from 'prom-client'
import { SERIES, type MeshMetrics, type SeriesName } from '../src/metrics.ts'
import type { Peer } from './peer.ts'

interface Sample { metricName?: string, labels: Record<string, string | number>, value: number }
interface Collected { name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: Sample[] }

/** A series whose samples are computed when scraped: prom-client takes any object with `name` and `get()`. */
function series (name: string, help: string, type: Collected['type'], values: () => Sample[]): { name: string, get: () => Promise<Collected> } {
  return { name, get: async () => ({ name, help, type, values: values() }) }
}

export class MetricsExporter {
  readonly #peer: Peer
  #registry: Promise<Registry> | undefined

  /**
   * `registry`: the one libp2p already reports into (`metrics.libp2p`; it
   * also collects the process metrics there); otherwise one is made on the
   * first scrape.
   */
  constructor (peer: Peer, registry?: Registry) {
    this.#peer = peer
    if (registry !== undefined) {
      this.#registry = Promise.resolve(registry).then(r => this.#register(r))
      // A failure shows in the scrape that awaits it; unobserved, it must not take the peer down.
      this.#registry.catch(() => {})
    }
  }

  /** The exposition, and its content type. */
  async render (): Promise<{ type: string, text: string }> {
    this.#registry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
      const registry = new Registry()
      collectDefaultMetrics({ register: registry })
      return this.#register(registry)
    })
    const registry = await this.#registry
    return { type: registry.contentType, text: await registry.metrics() }
  }

  #register (registry: Registry): Registry {
    const peer = this.#peer
    const m = (): MeshMetrics => peer.core.metrics
    for (const [name, def] of Object.entries(SERIES) as Array<[SeriesName, (typeof SERIES)[SeriesName]]>) {
      if (def.type === 'counter') {
        registry.registerMetric(series(name, def.help, 'counter', () => m().counter(name).map(c => ({ labels: { ...c.labels }, value: c.value }))) as never)
      } else {
        registry.registerMetric(series(name, def.help, 'histogram', () => m().histogram(name).flatMap(h => [
          ...h.buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...h.labels, le }, value: h.counts[i]! })),
          { metricName: `${name}_bucket`, labels: { ...h.labels, le: '+Inf' }, value: h.count },
          { metricName: `${name}_sum`, labels: { ...h.labels }, value: h.sum },
          { metricName: `${name}_count`, labels: { ...h.labels }, value: h.count }
        ])) as never)
      }
    }
    const counts = <K extends string>(keys: readonly K[], of: Iterable<K>): Sample[] => {
      const n = new Map<K, number>(keys.map(k => [k, 0]))
      for (const k of of) n.set(k, (n.get(k) ?? 0) + 1)
      return keys.map(k => ({ labels: { state: k }, value: n.get(k)! }))
    }
    const gauges: Array<[string, string, () => Sample[]]> = [
      ['meshwork_peers', 'Peers this peer knows, itself included, by state (alive, suspect, gone).', () => counts(['alive', 'suspect', 'gone'], peer.peers().map(p => p.state))],
      ['meshwork_jobs', 'Jobs this peer is the origin of and still remembers, by state.', () => counts(['running', 'done', 'failed', 'cancelled'], peer.jobs().map(j => j.state))],
      ['meshwork_tasks', 'Tasks of the jobs this peer is the origin of and still remembers, by status.', () => {
        const byStatus = new Map<string, number>()
        for (const j of peer.jobs()) for (const [status, n] of Object.entries(j.counts())) byStatus.set(status, (byStatus.get(status) ?? 0) + n)
        return [...byStatus].map(([state, value]) => ({ labels: { state }, value }))
      }],
      ['meshwork_executor_attempts', 'Attempts this peer runs for the mesh now, by state (running, queued).', () => {
        const c = peer.core.executor.counts()
        return [{ labels: { state: 'running' }, value: c.running }, { labels: { state: 'queued' }, value: c.queued }]
      }],
      ['meshwork_outbox_results', 'Finished results waiting for their origin to acknowledge them.', () => [{ labels: {}, value: peer.stats().executor.outbox }]],
      ['meshwork_artifact_cache_bytes', 'Bytes in the artifact cache, and its cap (limit="max").', () => [
        { labels: { limit: 'used' }, value: peer.artifacts.cache.usedBytes },
        { labels: { limit: 'max' }, value: peer.artifacts.cache.maxBytes }
      ]],
      ['meshwork_warm_models', 'Models warm in this peer\'s handler threads (ctx.warm keys).', () => [{ labels: {}, value: peer.runner.handlers.warmKeys().length }]]
    ]
    for (const [name, help, values] of gauges) registry.registerMetric(series(name, help, 'gauge', values) as never)
    registry.registerMetric(series('meshwork_dropped_messages_total', 'Network messages dropped as bad, by reason (oversize, malformed, schema, version, signer).', 'counter',
      () => Object.entries(peer.stats().dropped.byReason).map(([reason, value]) => ({ labels: { reason }, value }))) as never)
    registry.registerMetric(series('meshwork_artifact_bytes_total', 'Artifact bytes fetched from other peers (direction="fetched") and served to them ("served").', 'counter',
      () => [{ labels: { direction: 'fetched' }, value: peer.artifacts.totals.fetched }, { labels: { direction: 'served' }, value: peer.artifacts.totals.served }]) as never)
    return registry
  }
}

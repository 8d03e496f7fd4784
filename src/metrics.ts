/**
 * What the core counts for operators (docs/ARCHITECTURE.md §10): plain numbers
 * kept in memory as things happen, read out as Prometheus series by `node/`
 * only when `/metrics` is scraped, so a peer nobody scrapes pays a few map
 * updates per event and never loads a metrics library.
 *
 * Every series is declared in `SERIES` with its help text; the README lists
 * them. Label values come from small fixed sets (never ids), so the number of
 * series stays bounded however long a peer runs.
 */

export type Labels = Readonly<Record<string, string>>

interface SeriesDef { type: 'counter' | 'histogram', help: string, buckets?: readonly number[] }

/** Seconds, from a millisecond up to a minute: rounds close in tens of ms, awards wait up to seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const

export const SERIES = {
  meshwork_auction_rounds_total: { type: 'counter', help: 'Auction rounds this peer closed as an origin.' },
  meshwork_auction_round_duration_seconds: { type: 'histogram', help: 'From a round opening to its awards being decided, at the origin.', buckets: LATENCY_BUCKETS },
  meshwork_award_latency_seconds: { type: 'histogram', help: 'From a task becoming ready to its award, at the origin.', buckets: LATENCY_BUCKETS },
  meshwork_bids_sent_total: { type: 'counter', help: 'Task bids this peer sent to origins (one per task bid for).' },
  meshwork_bids_won_total: { type: 'counter', help: 'Tasks awarded to this peer that it accepted.' },
  meshwork_attempts_total: { type: 'counter', help: 'Attempts of this origin\'s tasks that ended, by outcome (done, failed, migrated).' },
  meshwork_migrations_total: { type: 'counter', help: 'Attempts of this origin\'s tasks moved to another peer, by cause (peer-gone, lease-expired, released: given back by a busy peer).' },
  meshwork_jobs_ended_total: { type: 'counter', help: 'Jobs this peer was the origin of that ended, by state (done, failed, cancelled).' },
  meshwork_peer_faults_total: { type: 'counter', help: 'Work this origin gave a peer that the peer did not do, by kind (lease-expired, peer-gone, deadline, stalled, transfer, rejected, wrong-result).' },
  meshwork_verifications_total: { type: 'counter', help: 'Verdicts on verified tasks at this origin, by verdict (agreed: a majority of replicas agreed; trusted: one peer with a long record of agreement ran it alone; failed: no majority within verify.max).' },
  meshwork_peers_quarantined_total: { type: 'counter', help: 'Peers this peer cut off for a while because their gossip score fell below the graylist threshold (invalid messages, or work they failed).' },
  meshwork_contained_errors_total: { type: 'counter', help: 'Errors that escaped every handler (uncaught exceptions, unhandled rejections), logged and survived by the daemon, by where (uncaught, rejection).' }
} as const satisfies Record<string, SeriesDef>

export type SeriesName = keyof typeof SERIES
type CounterName = { [K in SeriesName]: (typeof SERIES)[K]['type'] extends 'counter' ? K : never }[SeriesName]
type HistogramName = { [K in SeriesName]: (typeof SERIES)[K]['type'] extends 'histogram' ? K : never }[SeriesName]

export interface CounterValue { labels: Labels, value: number }
export interface HistogramValue { labels: Labels, buckets: number[], counts: number[], sum: number, count: number }

const key = (labels: Labels): string => Object.keys(labels).sort().map(k => `${k}=${labels[k]!}`).join(',')

export class MeshMetrics {
  readonly #counters = new Map<SeriesName, Map<string, CounterValue>>()
  readonly #histograms = new Map<SeriesName, Map<string, HistogramValue>>()

  inc (name: CounterName, labels: Labels = {}, by = 1): void {
    let series = this.#counters.get(name)
    if (series === undefined) this.#counters.set(name, series = new Map())
    const k = key(labels)
    const v = series.get(k)
    if (v === undefined) series.set(k, { labels, value: by })
    else v.value += by
  }

  /** Record one value (in the series' unit: seconds for durations). */
  observe (name: HistogramName, value: number, labels: Labels = {}): void {
    let series = this.#histograms.get(name)
    if (series === undefined) this.#histograms.set(name, series = new Map())
    const k = key(labels)
    let h = series.get(k)
    if (h === undefined) {
      const buckets = [...SERIES[name].buckets]
      series.set(k, h = { labels, buckets, counts: buckets.map(() => 0), sum: 0, count: 0 })
    }
    // Cumulative buckets, as Prometheus has them: a value counts in every bucket at or above it.
    for (let i = 0; i < h.buckets.length; i++) if (value <= h.buckets[i]!) h.counts[i]!++
    h.sum += value
    h.count++
  }

  counter (name: SeriesName): CounterValue[] { return [...this.#counters.get(name)?.values() ?? []] }
  histogram (name: SeriesName): HistogramValue[] { return [...this.#histograms.get(name)?.values() ?? []] }
}

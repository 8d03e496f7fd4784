/**
 * `/metrics` on real daemons: after a job, each scrape is valid Prometheus
 * text (checked line by line, histograms included) and says what happened —
 * rounds, bids, attempts, peers — on the control port with the token only,
 * and on the optional `metrics.port` without one; libp2p's own series when
 * `metrics.libp2p` is on.
 */
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readControlFile } from '../../node/control/control-file.ts'
import { createLocalMesh, type LocalMesh } from '../../node/local-mesh.ts'
import { mesh, peersJson } from '../helpers/daemons.ts'
import { parseExposition, valueOf } from '../helpers/prometheus.ts'
import { waitFor } from '../helpers/wait.ts'

let m: LocalMesh

beforeAll(async () => {
  m = await createLocalMesh(2, i => ({
    executor: { exec: { allow: ['true'] } },
    metrics: i === 0 ? { port: 0 } : { libp2p: true }
  }))
  await Promise.all(m.daemons.map(async d => { await d.start() }))
  await waitFor('the mesh to form', async () => (await peersJson(m.daemons[0]!.config)).peers.filter(p => p.state === 'alive').length === 2, { timeoutMs: 15_000, intervalMs: 250 })
}, 60_000)

afterAll(async () => { await m.destroy() })

const control = (i: number): { url: string, token: string } => {
  const cfg = JSON.parse(readFileSync(m.daemons[i]!.config, 'utf8')) as { dataDir: string }
  return readControlFile(join(m.dir, cfg.dataDir))!
}

async function scrape (url: string, token?: string): Promise<{ status: number, type: string, text: string }> {
  const r = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() }
}

describe('/metrics', () => {
  it('is valid Prometheus text that counts a job\'s rounds, bids and attempts, behind the control token', async () => {
    const r = await mesh(['run', '--count', '6', '--cpu', '0.5', '--wait', '--config', m.daemons[0]!.config, '--', 'true'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const { url, token } = control(0)
    expect((await scrape(`${url}/metrics`)).status).toBe(401)
    expect((await scrape(`${url}/metrics`, 'not-the-token')).status).toBe(401)
    const ok = await scrape(`${url}/metrics`, token)
    expect(ok.status).toBe(200)
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/)
    const f = parseExposition(ok.text)
    expect(valueOf(f, 'meshwork_attempts_total', { outcome: 'done' })).toBe(6)
    expect(valueOf(f, 'meshwork_jobs_ended_total', { state: 'done' })).toBe(1)
    expect(valueOf(f, 'meshwork_jobs', { state: 'done' })).toBe(1)
    expect(valueOf(f, 'meshwork_tasks', { state: 'done' })).toBe(6)
    expect(valueOf(f, 'meshwork_auction_rounds_total')).toBeGreaterThanOrEqual(1)
    expect(valueOf(f, 'meshwork_auction_round_duration_seconds_count')).toBe(valueOf(f, 'meshwork_auction_rounds_total'))
    expect(valueOf(f, 'meshwork_award_latency_seconds_count')).toBeGreaterThanOrEqual(6)
    expect(valueOf(f, 'meshwork_peers', { state: 'alive' })).toBe(2)
    expect(valueOf(f, 'meshwork_dropped_messages_total', { reason: 'schema' })).toBe(0)
    expect(f.get('process_cpu_user_seconds_total')?.type).toBe('counter')
    // The bids that won the six tasks, wherever they ran.
    const other = parseExposition((await scrape(`${control(1).url}/metrics`, control(1).token)).text)
    expect((valueOf(f, 'meshwork_bids_won_total') ?? 0) + (valueOf(other, 'meshwork_bids_won_total') ?? 0)).toBe(6)
    expect((valueOf(f, 'meshwork_bids_sent_total') ?? 0) + (valueOf(other, 'meshwork_bids_sent_total') ?? 0)).toBeGreaterThanOrEqual(6)
  })

  it('serves the same without a token on its own loopback port (metrics.port), and nothing else there', async () => {
    const line = m.daemons[0]!.output.find(l => l.startsWith('metrics: '))
    expect(line).toMatch(/^metrics: http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const url = line!.slice('metrics: '.length)
    const r = await scrape(url)
    expect(r.status).toBe(200)
    expect(valueOf(parseExposition(r.text), 'meshwork_peers', { state: 'alive' })).toBe(2)
    expect((await scrape(url.replace('/metrics', '/v1/peers'))).status).toBe(404)
  })

  it('includes libp2p\'s own series when metrics.libp2p is on', async () => {
    const f = parseExposition((await scrape(`${control(1).url}/metrics`, control(1).token)).text)
    expect([...f.keys()].filter(n => n.startsWith('libp2p_')).length).toBeGreaterThan(0)
    const plain = parseExposition((await scrape(`${control(0).url}/metrics`, control(0).token)).text)
    expect([...plain.keys()].filter(n => n.startsWith('libp2p_'))).toEqual([])
  })
})

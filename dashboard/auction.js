// The auction: recent rounds with their bids, who won each task and by what ETA.
import { useState } from 'preact/hooks'
import { clock, duration, html, short } from './ui.js'
import { Chart } from './chart.js'
import { useStream } from './live.js'

function BidMatrix ({ r }) {
  const peers = [...new Set(r.bids.map(b => b.peer))].sort()
  const tasks = [...new Set([...r.winners.map(w => w.taskId), ...r.bids.map(b => b.taskId)])].slice(0, 20)
  const eta = new Map(r.bids.map(b => [`${b.taskId} ${b.peer}`, b]))
  const best = Math.max(1, ...r.bids.map(b => b.etaMs))
  return html`<table class="bids">
    <thead><tr><th>task</th>${peers.map(p => html`<th title=${p}>${short(p)}</th>`)}</tr></thead>
    <tbody>${tasks.map(t => html`<tr>
      <td>${t}</td>
      ${peers.map(p => {
        const b = eta.get(`${t} ${p}`)
        if (b === undefined) return html`<td class="muted">–</td>`
        return html`<td class=${b.won ? 'won' : ''} title=${`${short(p)} bid ETA ${b.etaMs} ms${b.queued ? ' (a queue slot)' : ' (start now)'}${b.won ? ': won' : ''}`}>
          <span class="eta-bar"><i style=${`width:${100 * b.etaMs / best}%`}></i></span>${duration(b.etaMs)}${b.queued ? ' q' : ''}${b.won ? ' ✓' : ''}</td>`
      })}
    </tr>`)}</tbody>
  </table>
  ${r.bidCount > r.bids.length && html`<p class="muted small">${r.bidCount - r.bids.length} more bids not kept.</p>`}`
}

export function AuctionView () {
  const { state } = useStream('/dashboard/api/auction/events')
  const [open, setOpen] = useState(undefined)
  if (state === undefined) return html`<p class="muted">loading…</p>`
  const rounds = state.rounds
  if (rounds.length === 0) return html`<p class="muted" id="rounds-empty">No auction rounds yet: rounds appear here when this peer submits a job.</p>`
  const chrono = [...rounds].reverse()
  const data = [chrono.map(r => r.closedAt / 1000), chrono.map(r => r.closedAt - r.openedAt), chrono.map(r => r.bidCount)]
  return html`<section>
    <${Chart} id="rounds-chart" dots title="Recent rounds: how long each took to decide (ms), and the bids it got" data=${data}
      series=${[{ label: 'round duration (ms)', stroke: '#3b7ddd' }, { label: 'bids', stroke: '#d29922' }]} />
    <table id="rounds" class="wide">
      <thead><tr><th>closed</th><th>job</th><th>round</th><th>took</th><th>window</th><th>tasks</th><th>peers answered</th><th>bids</th><th>won</th><th>unbid</th></tr></thead>
      <tbody>${rounds.map(r => {
        const key = `${r.jobId}:${r.round}`
        return html`<tr key=${key} data-round=${key} class="round" onClick=${() => setOpen(open === key ? undefined : key)}>
          <td>${open === key ? '▾' : '▸'} ${clock(r.closedAt)}</td><td>${r.jobName}</td><td>${r.round}</td><td>${duration(r.closedAt - r.openedAt)}</td><td>${r.windowMs} ms</td>
          <td>${r.tasks}${r.backups > 0 ? ` (${r.backups} backup)` : ''}</td><td>${r.answered}/${r.expected}</td><td>${r.bidCount}</td>
          <td class="winners">${r.deferred > 0 ? html`<span class="muted" title="the best bid was a queue slot while a peer had room now: announced again">${r.deferred} deferred </span>` : ''}${r.winners.slice(0, 4).map(w => `${w.taskId} → ${short(w.peer)} (${duration(w.etaMs)})`).join(', ')}${r.winners.length > 4 ? ` +${r.winners.length - 4}` : ''}</td>
          <td class=${r.unbid > 0 ? 'bad' : ''}>${r.unbid}</td>
        </tr>
        ${open === key && html`<tr class="detail"><td colspan="10"><${BidMatrix} r=${r} /></td></tr>`}`
      })}</tbody>
    </table>
  </section>`
}

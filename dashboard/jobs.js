// This peer's jobs: progress, rate, time left, failures; each links to its own page.
import { Bar, clock, duration, html, num } from './ui.js'

export function JobsTable ({ jobs }) {
  if (jobs.length === 0) return html`<p class="muted">No jobs submitted to this peer yet (mesh submit job.json, or mesh run -- cmd).</p>`
  const sorted = [...jobs].sort((a, b) => b.submittedAt - a.submittedAt)
  return html`<table id="jobs" class="wide">
    <thead><tr><th>job</th><th>name</th><th>state</th><th>progress</th><th>rate</th><th>time left</th><th>running</th><th>failed</th><th>submitted</th><th>took</th></tr></thead>
    <tbody>${sorted.map(j => html`<tr key=${j.id} data-job=${j.id}>
      <td><a href=${`#/jobs/${encodeURIComponent(j.id)}`}>${j.id}</a></td>
      <td>${j.name}</td>
      <td><span class=${`badge ${j.state}`}>${j.state}</span></td>
      <td class="progress"><${Bar} label="" used=${j.counts.done} total=${j.total} tone=${j.state === 'failed' ? 'bad' : 'good'} text=${`${j.counts.done}/${j.total}`} /></td>
      <td>${j.ratePerS !== undefined ? `${num(j.ratePerS, 2)}/s` : '–'}</td>
      <td>${j.etaMs !== undefined ? duration(j.etaMs) : '–'}</td>
      <td>${j.counts.running}</td>
      <td class=${j.counts.failed > 0 ? 'bad wrap' : 'wrap'}>${j.counts.failed}${j.error !== undefined ? html` <span class="small" title=${j.error}>${j.error.slice(0, 60)}</span>` : ''}</td>
      <td>${clock(j.submittedAt)}</td>
      <td>${j.endedAt !== undefined ? duration(j.endedAt - j.submittedAt) : '–'}</td>
    </tr>`)}</tbody>
  </table>`
}

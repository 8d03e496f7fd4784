// One job: its progress, the task stream, completions over time, and every task with its
// attempts; a task opens to show each attempt's peer, reason and the tail of its output.
import { useEffect, useState } from 'preact/hooks'
import { Bar, clock, duration, html, num, short, KIND_MARK, KIND_TEXT } from './ui.js'
import { Chart } from './chart.js'
import { Timeline } from './timeline.js'
import { useStream } from './live.js'

/** A verified task's verdict, as a mark in its row and as words in its detail. */
const VERDICT_MARK = { agreed: '✔', trusted: '✔', disagreed: '⚠', failed: '✘', pending: '…' }
const VERDICT_TEXT = { agreed: 'replicas agreed', trusted: 'run by one trusted peer (a long record of agreement)', disagreed: 'replicas disagreed', failed: 'no majority: failed', pending: 'waiting for replicas' }

function TaskDetail ({ jobId, taskId, version }) {
  const [detail, setDetail] = useState(undefined)
  const [error, setError] = useState(undefined)
  useEffect(() => {
    fetch(`/dashboard/api/jobs/${encodeURIComponent(jobId)}/tasks/${encodeURIComponent(taskId)}`)
      .then(async r => { if (!r.ok) throw new Error((await r.json()).error); return r.json() })
      .then(setDetail, e => { setError(e.message) })
  }, [jobId, taskId, version])
  if (error !== undefined) return html`<p class="bad">${error}</p>`
  if (detail === undefined) return html`<p class="muted">loading…</p>`
  const v = detail.verification
  return html`<div class="task-detail" data-detail=${taskId}>
    ${detail.why?.length > 0 && html`<h4>Why it is not running</h4><ul class="why-list">${detail.why.map(w => html`<li><b>${short(w.peer)}</b>: ${w.reason}</li>`)}</ul>`}
    ${v !== undefined && html`<div class="verification" data-verdict=${v.verdict ?? 'pending'}>
      <h4>Verification: ${VERDICT_TEXT[v.verdict ?? 'pending']} <span class="muted small">(${v.results.length} result${v.results.length === 1 ? '' : 's'}, verdict out of ${v.of}, at most ${v.max})</span></h4>
      <ul class="why-list">${v.results.map(r => html`<li class=${r.agreed === false ? 'bad' : ''}><b title=${r.peer}>${short(r.peer)}</b> attempt ${r.attempt}: digest <code>${r.digest}</code>${r.agreed === true ? ' · agreed' : r.agreed === false ? ' · disagreed with the majority' : ''}</li>`)}</ul>
    </div>`}
    ${detail.attempts.map(a => html`<div class="attempt-row">
      <p><b>attempt ${a.attempt}</b> ${KIND_MARK[a.kind]} on <b title=${a.peer}>${short(a.peer)}</b> · <span class=${`badge ${a.state}`}>${a.state}</span>
        ${a.kind !== 'first' ? ` · ${KIND_TEXT[a.kind]}` : ''}
        · awarded ${clock(a.awardedAt)}${a.startedAt !== undefined ? `, ran ${duration((a.endedAt ?? Date.now()) - a.startedAt)}` : ''}${a.checkpoints > 0 ? `, ${a.checkpoints} checkpoint${a.checkpoints === 1 ? '' : 's'}` : ''}
        ${a.reason ? html` · <span class="bad">${a.reason}</span>` : ''}</p>
      ${a.output !== undefined && html`<div class="output"><h5>stdout (tail)</h5><pre class="stdout">${a.output.stdout || '(empty)'}</pre><h5>stderr (tail)</h5><pre class="stderr">${a.output.stderr || '(empty)'}</pre></div>`}
    </div>`)}
  </div>`
}

function TaskRow ({ t, jobId, open, toggle, version }) {
  return html`<tr data-task=${t.id} class=${`task ${t.status}`} onClick=${() => toggle(t.id)}>
      <td><a href=${`#/jobs/${encodeURIComponent(jobId)}`} onClick=${e => e.preventDefault()}>${open ? '▾' : '▸'} ${t.id}</a></td>
      <td><span class=${`badge ${t.status}`}>${t.status}</span></td>
      <td>${t.peer !== undefined ? short(t.peer) : '–'}</td>
      <td>${t.attempts}${t.kinds.slice(1).map(k => ` ${KIND_MARK[k]}`).join('')}${t.verdict !== undefined ? html` <span class=${`verdict ${t.verdict}`} title=${VERDICT_TEXT[t.verdict]}>${VERDICT_MARK[t.verdict]}</span>` : ''}</td>
      <td>${t.fraction !== undefined && t.status === 'running' ? `${Math.round(t.fraction * 100)} %` : ''}</td>
      <td class="small">${t.error ?? t.waiting ?? (t.why !== undefined ? t.why.map(w => `${short(w.peer)}: ${w.reason}`).join(' · ') : '')}</td>
    </tr>
    ${open && html`<tr class="detail"><td colspan="6"><${TaskDetail} jobId=${jobId} taskId=${t.id} version=${version} /></td></tr>`}`
}

export function JobView ({ id }) {
  const { state } = useStream(`/dashboard/api/jobs/${encodeURIComponent(id)}/events`)
  const [open, setOpen] = useState(new Set())
  if (state === undefined) return html`<p class="muted">loading job ${id}…</p>`
  if (state === null) return html`<p class="bad">Job ${id} is no longer kept here.</p>`
  const j = state.job
  const toggle = taskId => { const next = new Set(open); if (next.has(taskId)) next.delete(taskId); else next.add(taskId); setOpen(next) }
  const to = j.endedAt ?? state.at
  const done = state.done
  const chartData = [[j.submittedAt / 1000, ...done.map(([t]) => t / 1000)], [0, ...done.map(([, n]) => n)]]
  const version = `${j.counts.done}/${j.counts.failed}/${j.counts.running}`
  return html`<section class="job" data-job=${j.id}>
    <h2>${j.name} <span class="muted small">${j.id}</span> <span class=${`badge ${j.state}`} id="job-state">${j.state}</span></h2>
    ${j.error !== undefined && html`<p class="bad">${j.error}</p>`}
    <div class="tiles">
      <div class="tile wide-tile"><${Bar} label="done" used=${j.counts.done} total=${j.total} tone="good" text=${`${j.counts.done} of ${j.total} tasks`} /></div>
      <div class="tile"><b>${j.counts.running}</b> running</div>
      <div class="tile"><b class=${j.counts.failed > 0 ? 'bad' : ''}>${j.counts.failed}</b> failed</div>
      <div class="tile"><b>${j.ratePerS !== undefined ? num(j.ratePerS, 2) : '–'}</b> tasks/s</div>
      <div class="tile"><b>${j.etaMs !== undefined ? duration(j.etaMs) : j.endedAt !== undefined ? duration(j.endedAt - j.submittedAt) : '–'}</b> ${j.endedAt !== undefined ? 'took' : 'left'}</div>
      <div class="tile"><b>${j.rounds}</b> auction rounds</div>
    </div>
    ${state.timeline.length > 0
      ? html`<${Timeline} bars=${state.timeline} peers=${state.peers} from=${j.submittedAt} to=${to} />`
      : html`<p class="muted">No attempt yet.</p>`}
    ${state.attempts > state.timeline.length && html`<p class="muted small">The timeline shows the latest ${state.timeline.length} of ${state.attempts} attempts.</p>`}
    ${done.length > 0 && html`<${Chart} id="done-chart" title="Tasks done over time" stepped series=${[{ label: 'done', stroke: '#2ea043', fill: '#2ea04322' }]} data=${chartData} yLabel="tasks" />`}
    <h3>Tasks</h3>
    <table id="tasks" class="wide">
      <thead><tr><th>task</th><th>status</th><th>peer</th><th>attempts</th><th>progress</th><th>error, or why it waits</th></tr></thead>
      <tbody>${state.tasks.map(t => html`<${TaskRow} key=${t.id} t=${t} jobId=${j.id} open=${open.has(t.id)} toggle=${toggle} version=${version} />`)}</tbody>
    </table>
    ${state.taskCount > state.tasks.length && html`<p class="muted small">Showing ${state.tasks.length} of ${state.taskCount} tasks: the unfinished first, then the latest done.</p>`}
  </section>`
}

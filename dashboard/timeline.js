// The task stream (after Dask's): one lane per peer, split into rows so attempts that ran at
// the same time on that peer sit one above the other (as Dask gives each worker thread a row);
// one bar per attempt over time, coloured by task name. A thin pale line before a bar is the
// wait between award and start (an attempt queued on its peer); marks say how the attempt came to be (retry, migration, backup),
// a cross that it failed or was lost, and white ticks where it saved a checkpoint.
import { html, short, KIND_MARK, KIND_TEXT, duration, PALETTE } from './ui.js'
import { timeTicks } from './ticks.js'

const ROW = 20
const LEFT = 90
const WIDTH = 1000

/** When an attempt began to run (or, if it never ran, when it was awarded). */
const begin = b => b.startedAt ?? b.awardedAt

/** Rows within each peer's lane: the first row free when an attempt starts (interval colouring), so rows ≈ the attempts running at once. */
function layout (bars, to) {
  const rowsOf = new Map()
  const placed = []
  for (const b of [...bars].sort((x, y) => begin(x) - begin(y))) {
    const ends = rowsOf.get(b.peer) ?? []
    rowsOf.set(b.peer, ends)
    let row = ends.findIndex(end => end <= begin(b))
    if (row < 0) { row = ends.length; ends.push(0) }
    ends[row] = Math.max(b.endedAt ?? to, begin(b))
    placed.push({ ...b, row })
  }
  return { placed, rowsOf }
}

export function Timeline ({ bars, peers, from, to }) {
  const { placed, rowsOf } = layout(bars, to)
  // Peers in the mesh's order, then any that have left it.
  const lanes = [...new Set([...peers.map(p => p.id).filter(id => rowsOf.has(id)), ...rowsOf.keys()])]
  const top = new Map()
  let y = 0
  for (const id of lanes) { top.set(id, y); y += rowsOf.get(id).length * ROW + 6 }
  const height = y + 22
  const span = Math.max(1, to - from)
  const x = t => LEFT + (WIDTH - LEFT - 14) * Math.min(1, Math.max(0, (t - from) / span))
  const ticks = timeTicks(span).map(t => from + t)
  const names = [...new Set(bars.map(b => b.name))]
  const colour = name => PALETTE[names.indexOf(name) % PALETTE.length]
  return html`<figure class="timeline" id="timeline">
    <figcaption>Task stream: each attempt on the peer that ran it, over time</figcaption>
    <svg viewBox=${`0 0 ${WIDTH} ${height}`} role="img" aria-label="task stream">
      ${lanes.map((id, i) => html`<g class="lane" data-lane=${id}>
        <rect x="0" y=${top.get(id)} width=${WIDTH} height=${rowsOf.get(id).length * ROW + 6} class=${i % 2 === 0 ? 'even' : 'odd'} />
        <text x="4" y=${top.get(id) + 15} class="lane-label">${short(id)}</text>
      </g>`)}
      ${ticks.map(t => html`<g class="tick"><line x1=${x(t)} x2=${x(t)} y1="0" y2=${y} /><text x=${x(t)} y=${y + 16}>${duration(t - from)}</text></g>`)}
      ${placed.map(b => b.startedAt !== undefined && b.startedAt > b.awardedAt && html`<line class="wait" x1=${x(b.awardedAt)} x2=${x(b.startedAt)} y1=${top.get(b.peer) + 3 + b.row * ROW + (ROW - 4) / 2} y2=${top.get(b.peer) + 3 + b.row * ROW + (ROW - 4) / 2} stroke=${colour(b.name)} />`)}
      ${placed.map(b => {
        const top0 = top.get(b.peer) + 3 + b.row * ROW
        const h = ROW - 4
        // An attempt that never started (lost or cancelled while queued) is drawn from its award, pale.
        const start = b.startedAt ?? b.awardedAt
        const end = b.endedAt ?? to
        const fill = colour(b.name)
        const title = `${b.task}, attempt ${b.attempt} on ${short(b.peer)}: ${b.state}${b.kind !== 'first' ? ` (${KIND_TEXT[b.kind]})` : ''}${b.reason ? ` — ${b.reason}` : ''}; ran ${b.startedAt !== undefined ? duration(end - b.startedAt) : 'not at all'}`
        return html`<g class=${`attempt ${b.state} ${b.kind}${b.startedAt !== undefined ? ' started' : ''}`} data-task=${b.task} data-attempt=${b.attempt}>
          <title>${title}</title>
          <rect x=${x(start)} y=${top0} width=${Math.max(1.5, x(end) - x(start))} height=${h} fill=${fill} class="run" />
          ${(b.checkpoints ?? []).map(c => html`<line class="checkpoint" x1=${x(c)} x2=${x(c)} y1=${top0} y2=${top0 + h} />`)}
          ${b.kind !== 'first' && html`<text class="mark" x=${x(b.awardedAt) - 1} y=${top0 + 12} text-anchor="end">${KIND_MARK[b.kind]}</text>`}
          ${(b.state === 'failed' || b.state === 'lost' || b.state === 'rejected') && html`<text class="mark bad" x=${x(end) + 1} y=${top0 + 12}>✕</text>`}
        </g>`
      })}
    </svg>
    <div class="legend">
      ${names.slice(0, 12).map(n => html`<span><i style=${`background:${colour(n)}`}></i>${n}</span>`)}
      <span>↻ retry</span><span>⇢ migration</span><span>⊕ backup</span><span>✕ failed or lost</span><span><i class="ck"></i>checkpoint</span><span><i class="pale"></i>awarded, queued on its peer</span>
    </div>
  </figure>`
}

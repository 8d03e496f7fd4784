// The task stream (after Dask's): one lane per peer, one bar per attempt over time, coloured by
// task name. The pale start of a bar is the wait between award and start; marks say how the
// attempt came to be (retry, migration, backup) and ticks where it saved a checkpoint.
import { html, colourOf, short, KIND_MARK, KIND_TEXT, duration } from './ui.js'

const LANE = 26
const LEFT = 90
const WIDTH = 1000

export function Timeline ({ bars, peers, from, to }) {
  const lanes = [...new Set([...peers.filter(p => bars.some(b => b.peer === p.id)).map(p => p.id), ...bars.map(b => b.peer)])]
  const span = Math.max(1, to - from)
  const x = t => LEFT + (WIDTH - LEFT - 10) * Math.min(1, Math.max(0, (t - from) / span))
  const height = lanes.length * LANE + 24
  const ticks = Array.from({ length: 6 }, (_, i) => from + span * i / 5)
  const names = [...new Set(bars.map(b => b.name))]
  return html`<figure class="timeline" id="timeline">
    <figcaption>Task stream: each attempt on the peer that ran it, over time</figcaption>
    <svg viewBox=${`0 0 ${WIDTH} ${height}`} role="img" aria-label="task stream">
      ${lanes.map((id, i) => html`<g class="lane" data-lane=${id}>
        <rect x="0" y=${i * LANE} width=${WIDTH} height=${LANE} class=${i % 2 === 0 ? 'even' : 'odd'} />
        <text x="4" y=${i * LANE + 17} class="lane-label">${short(id)}</text>
      </g>`)}
      ${ticks.map(t => html`<g class="tick"><line x1=${x(t)} x2=${x(t)} y1="0" y2=${lanes.length * LANE} /><text x=${x(t)} y=${lanes.length * LANE + 16}>${duration(t - from)}</text></g>`)}
      ${bars.map(b => {
        const lane = lanes.indexOf(b.peer)
        const y = lane * LANE + 4
        const start = b.startedAt ?? b.endedAt ?? to
        const end = b.endedAt ?? to
        const colour = colourOf(b.name)
        const title = `${b.task}, attempt ${b.attempt} on ${short(b.peer)}: ${b.state}${b.kind !== 'first' ? ` (${KIND_TEXT[b.kind]})` : ''}${b.reason ? ` — ${b.reason}` : ''}; ran ${b.startedAt !== undefined ? duration(end - b.startedAt) : 'not at all'}`
        return html`<g class=${`attempt ${b.state} ${b.kind}`} data-task=${b.task} data-attempt=${b.attempt}>
          <title>${title}</title>
          <rect x=${x(b.awardedAt)} y=${y} width=${Math.max(0.5, x(start) - x(b.awardedAt))} height=${LANE - 8} fill=${colour} opacity="0.25" />
          <rect x=${x(start)} y=${y} width=${Math.max(1.5, x(end) - x(start))} height=${LANE - 8} fill=${colour} class="run" />
          ${(b.checkpoints ?? []).map(c => html`<line class="checkpoint" x1=${x(c)} x2=${x(c)} y1=${y} y2=${y + LANE - 8} />`)}
          ${b.kind !== 'first' && html`<text class="mark" x=${x(b.awardedAt) - 1} y=${y + 13} text-anchor="end">${KIND_MARK[b.kind]}</text>`}
          ${(b.state === 'failed' || b.state === 'lost' || b.state === 'rejected') && html`<text class="mark bad" x=${x(end) + 1} y=${y + 13}>✕</text>`}
        </g>`
      })}
    </svg>
    <div class="legend">
      ${names.slice(0, 12).map(n => html`<span><i style=${`background:${colourOf(n)}`}></i>${n}</span>`)}
      <span>↻ retry</span><span>⇢ migration</span><span>⊕ backup</span><span>✕ failed or lost</span><span><i class="ck"></i>checkpoint</span><span><i class="pale"></i>awarded, waiting to start</span>
    </div>
  </figure>`
}

// The mesh: every peer as a card with its resources as bars, and a chart of the tasks each runs.
import { Bar, gb, html, num, peerColour, short } from './ui.js'
import { Chart } from './chart.js'

function stateText (p) {
  if (p.state !== 'alive') return p.state
  return p.busy !== undefined ? 'yielding' : 'alive'
}

function gpuBars (p) {
  return p.gpus.map((g, i) => {
    const label = `GPU${i}`
    if (g.memoryMB > 0 && g.freeMemoryMB !== undefined) {
      const used = g.memoryMB - g.freeMemoryMB
      return html`<${Bar} label=${label} used=${used} total=${g.memoryMB} text=${`${gb(used)} / ${gb(g.memoryMB)} used${g.whole ? ', whole card held' : ''}`} />`
    }
    return html`<${Bar} label=${label} used=${g.whole ? 1 : 0} total=${1} text=${g.whole ? 'held' : 'free'} />`
  })
}

/** What this daemon, as an origin, saw the peer do with its work. */
function Record ({ r }) {
  const faults = Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(', ')
  return html`<p class=${`small record${r.reliability < 0.5 ? ' bad' : ''}`} title=${faults}>record here: ${num(r.delivered)} done${r.faults > 0 ? `, ${num(r.faults)} faults (${faults})` : ''} · reliability ${Math.round(r.reliability * 100)} %</p>`
}

function PeerCard ({ p, now }) {
  const cap = p.capacity
  const free = p.free
  const custom = Object.keys(cap.custom ?? {})
  const quarantined = p.quarantinedUntil !== undefined && p.quarantinedUntil > now
  return html`<article class=${`peer ${p.state}${p.busy !== undefined ? ' yielding' : ''}${quarantined ? ' quarantined' : ''}`} data-peer=${p.id}>
    <header>
      <strong title=${p.id}>${p.self ? '★ ' : ''}${short(p.id)}</strong>
      <span class=${`badge ${quarantined ? 'quarantined' : p.state}`}>${quarantined ? 'quarantined' : stateText(p)}</span>
    </header>
    ${quarantined && html`<p class="why bad">cut off for misbehaving (invalid gossip, or work it failed) for ${Math.ceil((p.quarantinedUntil - now) / 1000)} s more</p>`}
    ${p.busy !== undefined && html`<p class="why">yielding: ${p.busy}</p>`}
    ${p.record !== undefined && html`<${Record} r=${p.record} />`}
    <p class="muted small">${p.cpuModel}${p.speed > 0 ? ` · speed ${num(p.speed, 2)}` : ''}</p>
    <${Bar} label="CPU" used=${cap.cpu - free.cpu} total=${cap.cpu} text=${`${num(cap.cpu - free.cpu)} / ${num(cap.cpu)} cores reserved`} />
    <${Bar} label="memory" used=${cap.memoryMB - free.memoryMB} total=${cap.memoryMB} text=${`${gb(cap.memoryMB - free.memoryMB)} / ${gb(cap.memoryMB)} reserved`} />
    ${gpuBars(p)}
    ${custom.map(name => html`<${Bar} label=${name} used=${cap.custom[name] - (free.custom?.[name] ?? 0)} total=${cap.custom[name]} text=${`${num(cap.custom[name] - (free.custom?.[name] ?? 0))} / ${num(cap.custom[name])} in use`} />`)}
    <${Bar} label="load" used=${p.load.cpuBusy} total=${100} tone="load" text=${`machine ${Math.round(p.load.cpuBusy)} % busy${p.load.meshCpuBusy !== undefined ? `, mesh work ${Math.round(p.load.meshCpuBusy)} %` : ''}`} />
    <p class="small">tasks: <b class="running">${p.tasks.running}</b> running, <b>${p.tasks.queued}</b> queued${p.cache !== undefined ? html` · cache ${gb(p.cache.usedMB)} / ${gb(p.cache.maxMB)}, ${p.cache.artifacts} artifact${p.cache.artifacts === 1 ? '' : 's'}` : ''}${p.warm?.length ? ` · warm: ${p.warm.map(w => w.key).join(', ')}` : ''}</p>
  </article>`
}

/** Tasks running per peer over the time this page has been open (the samples kept by main.js). */
export function MeshView ({ state, samples }) {
  const peers = state.peers
  const alive = peers.filter(p => p.state === 'alive').length
  const ids = samples.peers
  const series = ids.map(id => ({ label: short(id), stroke: peerColour(id, ids) }))
  const data = [samples.at, ...ids.map(id => samples.running[id])]
  const running = peers.reduce((n, p) => n + p.tasks.running, 0)
  const cores = peers.reduce((n, p) => n + p.capacity.cpu, 0)
  const reserved = peers.reduce((n, p) => n + p.capacity.cpu - p.free.cpu, 0)
  return html`<section>
    <div class="tiles">
      <div class="tile"><b id="peers-alive">${alive}</b> of ${peers.length} peers alive</div>
      <div class="tile"><b>${running}</b> tasks running</div>
      <div class="tile"><b>${num(reserved)}</b> of ${num(cores)} cores reserved</div>
      <div class="tile"><b>${state.jobs.filter(j => j.state === 'running').length}</b> jobs running here</div>
    </div>
    <div class="peers" id="peers">${peers.map(p => html`<${PeerCard} key=${p.id} p=${p} now=${state.at} />`)}</div>
    ${ids.length > 0 && html`<${Chart} id="running-chart" title="Tasks running on each peer" stepped series=${series} data=${data} yLabel="tasks" />`}
  </section>`
}

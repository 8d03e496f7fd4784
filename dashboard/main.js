// The Meshwork dashboard: one page with three views (the mesh and its jobs, one job, the
// auction), chosen by the location hash, each fed by the daemon's server-sent events.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { html, clock } from './ui.js'
import { useRoute, useStream } from './live.js'
import { MeshView } from './mesh.js'
import { JobsTable } from './jobs.js'
import { JobView } from './job.js'
import { AuctionView } from './auction.js'
import 'uplot/dist/uPlot.min.css'
import './style.css'

/** How long the mesh chart looks back (samples arrive when something changes, at most 4 a second). */
const SAMPLE_WINDOW_S = 600

/** Tasks running on each peer at each update, for the mesh chart. */
function useSamples (state) {
  const [samples, setSamples] = useState({ at: [], peers: [], running: {} })
  useEffect(() => {
    if (state === undefined) return
    setSamples(prev => {
      const now = state.at / 1000
      const peers = [...new Set([...prev.peers, ...state.peers.map(p => p.id)])]
      const keep = prev.at.findIndex(t => t >= now - SAMPLE_WINDOW_S)
      const from = keep < 0 ? prev.at.length : keep
      const running = {}
      for (const id of peers) {
        const old = (prev.running[id] ?? prev.at.map(() => null)).slice(from)
        const p = state.peers.find(q => q.id === id)
        running[id] = [...old, p === undefined || p.state === 'gone' ? null : p.tasks.running]
      }
      return { at: [...prev.at.slice(from), now], peers, running }
    })
  }, [state])
  return samples
}

function Nav ({ route, live, at }) {
  const tab = route[0] ?? 'mesh'
  return html`<header class="top">
    <h1>Meshwork</h1>
    <nav>
      <a href="#/" class=${tab === 'mesh' ? 'on' : ''}>Mesh and jobs</a>
      <a href="#/auction" class=${tab === 'auction' ? 'on' : ''}>Auction</a>
      ${tab === 'jobs' && html`<a class="on" href=${location.hash}>Job ${route[1]}</a>`}
    </nav>
    <span id="status" class=${live ? 'live' : 'muted'}>${live ? `live · ${clock(at)}` : 'reconnecting…'}</span>
  </header>`
}

function App () {
  const route = useRoute()
  const { state, live } = useStream('/dashboard/api/events')
  const samples = useSamples(state)
  let body
  if (route[0] === 'jobs' && route[1] !== undefined) body = html`<${JobView} id=${route[1]} />`
  else if (route[0] === 'auction') body = html`<${AuctionView} />`
  else if (state === undefined) body = html`<p class="muted">connecting…</p>`
  else {
    body = html`<${MeshView} state=${state} samples=${samples} />
      <h2>Jobs submitted here</h2>
      <${JobsTable} jobs=${state.jobs} />`
  }
  return html`<${Nav} route=${route} live=${live} at=${state?.at ?? Date.now()} /><main>${body}</main>`
}

const root = document.getElementById('app')
root.replaceChildren() // the page's "Loading…" placeholder
render(html`<${App} />`, root)

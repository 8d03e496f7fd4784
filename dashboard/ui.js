// Small shared pieces of the dashboard: the html tag, formatting, bars, colours.
import { h } from 'preact'
import htm from 'htm'

export const html = htm.bind(h)

/** The end of a peer id: enough to tell peers apart at a glance. */
export const short = id => (id ?? '').slice(-8)

export const num = (x, digits = 1) => (Math.round(x * 10 ** digits) / 10 ** digits).toLocaleString()

export function duration (ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${num(ms / 1000)} s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`
}

export const clock = at => new Date(at).toLocaleTimeString()

export const gb = mb => `${num(mb / 1024)} GB`

/** A labelled bar: `used` of `total`, with the text beside it. */
export function Bar ({ label, used, total, text, tone }) {
  const pct = total > 0 ? Math.min(100, Math.max(0, 100 * used / total)) : 0
  return html`<div class="bar-row" title=${`${label}: ${text}`}>
    <span class="bar-label">${label}</span>
    <span class="bar"><i class=${tone ?? (pct > 85 ? 'hot' : '')} style=${`width:${pct}%`}></i></span>
    <span class="bar-text">${text}</span>
  </div>`
}

/** Colours readable on white: task names in the timeline, peers in the charts. */
export const PALETTE = ['#3b7ddd', '#2ea043', '#d29922', '#a371f7', '#db61a2', '#1b998b', '#e16f24', '#6e7781', '#0969da', '#8250df']
/** Peers get a stable colour too (the charts' series). */
export function peerColour (id, all) {
  const i = [...all].sort().indexOf(id)
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length]
}

export const KIND_MARK = { first: '', retry: '↻', migration: '⇢', backup: '⊕' }
export const KIND_TEXT = { first: 'first attempt', retry: 'retry after a failure', migration: 'migrated: its peer was lost or gave it back', backup: 'backup for a straggler' }

/**
 * The dashboard's page, served by the daemon itself (nothing outside the mesh
 * is reachable): one HTML document and one JavaScript module, kept here as
 * strings so the compiled package carries them without a copy step. The
 * page subscribes to `/dashboard/api/events` (server-sent events) and redraws
 * on each update; it never polls.
 */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Meshwork</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d232b; background: #f7f8fa }
  h1 { font-size: 1.3rem; margin: 0 0 1rem } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem }
  table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0001 }
  th, td { padding: .35rem .7rem; text-align: left; border-bottom: 1px solid #e5e8ec; vertical-align: top }
  .bar { width: 9rem; height: .6rem; background: #e5e8ec; border-radius: .3rem; overflow: hidden; display: inline-block; vertical-align: middle; margin-right: .4rem }
  .bar > i { display: block; height: 100%; background: #3b7ddd }
  .alive { color: #1a7f37 } .suspect { color: #9a6700 } .gone { color: #cf222e }
  .muted { color: #6b7480 } #status { float: right; font-size: .85rem }
</style>
</head>
<body>
<h1>Meshwork <span id="status" class="muted">connecting…</span></h1>
<h2>Peers</h2>
<table id="peers"><thead><tr><th>peer</th><th>state</th><th>CPU reserved</th><th>memory reserved</th><th>GPUs</th><th>tasks run/queue</th><th>speed</th></tr></thead><tbody></tbody></table>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>name</th><th>state</th><th>progress</th><th>running</th><th>failed</th></tr></thead><tbody></tbody></table>
<script type="module" src="/dashboard/app.js"></script>
</body>
</html>
`

export const APP_JS = `// Meshwork dashboard: redraws the tables from each server-sent state.
const $ = sel => document.querySelector(sel)
const text = s => document.createTextNode(String(s))
function cell (...children) { const td = document.createElement('td'); for (const c of children) td.append(typeof c === 'string' || typeof c === 'number' ? text(c) : c); return td }
function bar (used, total, label) {
  const wrap = document.createElement('span')
  const b = document.createElement('span'); b.className = 'bar'
  const fill = document.createElement('i'); fill.style.width = (total > 0 ? Math.min(100, 100 * used / total) : 0) + '%'
  b.append(fill); wrap.append(b, text(label)); return wrap
}
const num = x => Math.round(x * 10) / 10
function render (state) {
  const peers = $('#peers tbody'); peers.replaceChildren()
  for (const p of state.peers) {
    const tr = document.createElement('tr'); tr.dataset.peer = p.id
    const st = document.createElement('span'); st.className = p.state; st.textContent = p.busy ? 'alive, yielding' : p.state
    const gpus = p.gpus.map((g, i) => 'GPU' + i + (g.memoryMB > 0 && g.freeMemoryMB !== undefined ? ' ' + num(g.freeMemoryMB / 1024) + '/' + num(g.memoryMB / 1024) + ' GB free' : '')).join(', ') || '-'
    tr.append(
      cell((p.self ? '★ ' : '') + p.id.slice(-10)), cell(st),
      cell(bar(p.capacity.cpu - p.free.cpu, p.capacity.cpu, num(p.capacity.cpu - p.free.cpu) + '/' + num(p.capacity.cpu))),
      cell(bar(p.capacity.memoryMB - p.free.memoryMB, p.capacity.memoryMB, num((p.capacity.memoryMB - p.free.memoryMB) / 1024) + '/' + num(p.capacity.memoryMB / 1024) + ' GB')),
      cell(gpus), cell(p.tasks.running + '/' + p.tasks.queued), cell(num(p.speed)))
    peers.append(tr)
  }
  const jobs = $('#jobs tbody'); jobs.replaceChildren()
  for (const j of [...state.jobs].sort((a, b) => b.submittedAt - a.submittedAt)) {
    const tr = document.createElement('tr'); tr.dataset.job = j.id
    tr.append(cell(j.id), cell(j.name), cell(j.state), cell(bar(j.counts.done, j.total, j.counts.done + '/' + j.total)), cell(j.counts.running), cell(j.counts.failed))
    jobs.append(tr)
  }
  $('#status').textContent = 'live · ' + new Date(state.at).toLocaleTimeString()
}
const events = new EventSource('/dashboard/api/events')
events.addEventListener('state', e => render(JSON.parse(e.data)))
events.onerror = () => { $('#status').textContent = 'reconnecting…' }
`

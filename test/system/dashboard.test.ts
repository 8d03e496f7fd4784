/**
 * The dashboard's access and live data through a real daemon (the page in a
 * real browser comes with the rest of the dashboard): `mesh dashboard
 * --no-open` prints a one-time login link; the link sets a session cookie
 * once; the cookie opens the dashboard's page, state and event stream but not
 * the control API; the bundled module is served gzipped to browsers that take
 * it; the stream sends the state again when a job appears; a job's and a
 * task's detail name their attempts, and unknown ones answer 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMesh, mesh, type LocalDaemon } from '../helpers/daemons.ts'

let daemons: LocalDaemon[]
let cleanup: () => Promise<void>

beforeAll(async () => {
  ({ daemons, cleanup } = await startMesh(2, { executor: { exec: { allow: ['true'] } } }))
}, 60_000)

afterAll(async () => { await cleanup() })

async function login (): Promise<{ base: string, cookie: string, link: string }> {
  const r = await mesh(['dashboard', '--no-open', '--config', daemons[0]!.config])
  expect(r.code, r.stderr).toBe(0)
  const link = r.stdout.split('\n')[0]!
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?code=[A-Za-z0-9_-]{32}$/)
  const res = await fetch(link, { redirect: 'manual' })
  expect(res.status).toBe(303)
  expect(res.headers.get('location')).toBe('/dashboard/')
  const set = res.headers.get('set-cookie') ?? ''
  expect(set).toMatch(/^meshwork_session=[A-Za-z0-9_-]+; HttpOnly; SameSite=Strict; Path=\/dashboard/)
  return { base: new URL(link).origin, cookie: set.split(';')[0]!, link }
}

describe('the dashboard', () => {
  it('logs a browser in once through a one-time link, and the cookie opens only the dashboard', async () => {
    const { base, cookie, link } = await login()
    expect((await fetch(`${base}/dashboard/`)).status).toBe(401)
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(401) // used already
    const page = await fetch(`${base}/dashboard/`, { headers: { cookie } })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js">')
    expect((await fetch(`${base}/dashboard/app.js`, { headers: { cookie } })).headers.get('content-type')).toMatch(/^text\/javascript/)
    const state = await (await fetch(`${base}/dashboard/api/state`, { headers: { cookie } })).json() as { peers: Array<{ id: string, state: string }> }
    expect(state.peers.map(p => p.id).sort()).toEqual(daemons.map(d => d.peerId).sort())
    expect((await fetch(`${base}/v1/peers`, { headers: { cookie } })).status).toBe(401)
    expect((await fetch(`${base}/dashboard/api/state`, { headers: { cookie: 'meshwork_session=forged' } })).status).toBe(401)
  })

  it('serves the bundled page gzipped to a browser that takes it, plain to one that does not', async () => {
    const { base, cookie } = await login()
    const gz = await fetch(`${base}/dashboard/app.js`, { headers: { cookie, 'accept-encoding': 'gzip' } })
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    const js = await gz.text() // fetch decodes it
    expect(js).toContain('/dashboard/api/events')
    const plain = await fetch(`${base}/dashboard/app.js`, { headers: { cookie, 'accept-encoding': 'identity' } })
    expect(plain.headers.get('content-encoding')).toBeNull()
    expect(Number(plain.headers.get('content-length'))).toBe(Buffer.byteLength(js))
    expect(Number(plain.headers.get('content-length'))).toBeGreaterThan(Number(gz.headers.get('content-length')))
    expect((await fetch(`${base}/dashboard/app.css`, { headers: { cookie } })).headers.get('content-type')).toMatch(/^text\/css/)
  })

  it('gives a job in detail, with each attempt and its output, and 404 for what it does not keep', async () => {
    const { base, cookie } = await login()
    const r = await mesh(['run', '--count', '2', '--json', '--wait', '--config', daemons[0]!.config, '--', 'true'], { timeoutMs: 30_000 })
    expect(r.code, r.stderr).toBe(0)
    const jobs = (await (await fetch(`${base}/dashboard/api/state`, { headers: { cookie } })).json() as { jobs: Array<{ id: string, name: string, state: string }> }).jobs
    const job = jobs.find(j => j.name === 'run true' && j.state === 'done')!
    const detail = await (await fetch(`${base}/dashboard/api/jobs/${job.id}`, { headers: { cookie } })).json() as {
      timeline: Array<{ task: string, peer: string, state: string, kind: string, awardedAt: number, startedAt?: number, endedAt?: number }>
      tasks: Array<{ id: string, status: string }>
      done: Array<[number, number]>
    }
    expect(detail.tasks.map(t => t.status)).toEqual(['done', 'done'])
    expect(detail.done.map(([, n]) => n)).toEqual([1, 2])
    for (const bar of detail.timeline) {
      expect(daemons.map(d => d.peerId)).toContain(bar.peer)
      expect(bar.kind).toBe('first')
      expect(bar.endedAt).toBeGreaterThanOrEqual(bar.awardedAt)
    }
    const taskId = detail.tasks[0]!.id
    const task = await (await fetch(`${base}/dashboard/api/jobs/${job.id}/tasks/${encodeURIComponent(taskId)}`, { headers: { cookie } })).json() as { attempts: Array<{ state: string, output?: { stdout: string, stderr: string } }> }
    expect(task.attempts.at(-1)).toMatchObject({ state: 'done', output: { stdout: '', stderr: '' } })
    const missing = await fetch(`${base}/dashboard/api/jobs/nope`, { headers: { cookie } })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: string }).error).toMatch(/no job nope here/)
    expect((await fetch(`${base}/dashboard/api/jobs/${job.id}/tasks/nope`, { headers: { cookie } })).status).toBe(404)
    expect((await fetch(`${base}/dashboard/api/jobs/${job.id}`)).status).toBe(401)
  })

  it('streams the state as server-sent events, again when a job appears', async () => {
    const { base, cookie } = await login()
    const ac = new AbortController()
    const res = await fetch(`${base}/dashboard/api/events`, { headers: { cookie }, signal: ac.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    const next = async (): Promise<{ jobs: Array<{ name: string, state: string }>, peers: unknown[] }> => {
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block.split('\n').find(l => l.startsWith('data: '))
          if (block.includes('event: state') && data !== undefined) return JSON.parse(data.slice(6))
          continue
        }
        const { value, done } = await reader.read()
        if (done) throw new Error('the stream ended')
        buffer += decoder.decode(value, { stream: true })
      }
    }
    try {
      const first = await next()
      expect(first.peers).toHaveLength(2)
      const r = await mesh(['run', '--wait', '--config', daemons[0]!.config, '--', 'true'], { timeoutMs: 30_000 })
      expect(r.code, r.stderr).toBe(0)
      for (;;) {
        const s = await next()
        if (s.jobs.some(j => j.name === 'run true' && j.state === 'done')) break
      }
    } finally {
      ac.abort()
    }
  })
})

/**
 * `mesh demo --dashboard --no-open`: the π demo prints a login link to peer
 * 2's dashboard as it starts; the link logs a client in; once the demo is
 * through, the mesh keeps running, the dashboard lists the π job done with
 * the attempts that migrated when peer 3 was killed; Ctrl-C then stops the
 * mesh and the demo exits cleanly.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { MESH_BIN } from '../../node/local-mesh.ts'

describe('mesh demo --dashboard', () => {
  it('serves the demo mesh\'s dashboard and keeps the mesh until Ctrl-C', async () => {
    const demo = spawn(MESH_BIN, ['demo', '--dashboard', '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    const output: string[] = []
    demo.stderr.on('data', (d: Buffer) => { output.push(d.toString()) })
    const exited = new Promise<number | null>(resolve => { demo.once('exit', code => { resolve(code) }) })
    try {
      let link: string | undefined
      const lingering = new Promise<void>((resolve, reject) => {
        createInterface({ input: demo.stdout }).on('line', line => {
          output.push(line)
          link ??= /dashboard: (http:\S+)/.exec(line)?.[1]
          if (line.includes('press Ctrl-C')) resolve()
        })
        void exited.then(code => { reject(new Error(`the demo exited (${code}) before it was through:\n${output.join('\n')}`)) })
      })
      await lingering
      expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?code=/)
      const login = await fetch(link!, { redirect: 'manual' })
      expect(login.status).toBe(303)
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
      const base = new URL(link!).origin
      expect((await fetch(`${base}/dashboard/`, { headers: { cookie } })).status).toBe(200)
      const state = await (await fetch(`${base}/dashboard/api/state`, { headers: { cookie } })).json() as { peers: Array<{ state: string }>, jobs: Array<{ id: string, name: string, state: string, total: number }> }
      expect(state.peers.filter(p => p.state === 'alive')).toHaveLength(3)
      const pi = state.jobs.find(j => j.name === 'pi')!
      expect(pi).toMatchObject({ state: 'done', total: 33 })
      const detail = await (await fetch(`${base}/dashboard/api/jobs/${pi.id}`, { headers: { cookie } })).json() as { timeline: Array<{ kind: string, state: string }> }
      // Peer 3 was killed a third of the way through: what it held ran again elsewhere.
      expect(detail.timeline.some(b => b.state === 'lost')).toBe(true)
      expect(detail.timeline.some(b => b.kind === 'migration' && b.state === 'done')).toBe(true)
      demo.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(output.join('\n')).toMatch(/^done\.$/m)
    } finally {
      demo.kill('SIGKILL')
    }
  }, 120_000)
})

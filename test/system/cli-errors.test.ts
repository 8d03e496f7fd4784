/**
 * What an operator sees when something is wrong: a bad config names the field
 * and the daemon does not start; a second daemon on the same data directory is
 * refused; a wrong control token is a clear error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Daemon, makeMesh, mesh } from '../helpers/daemons.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-cli-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function writeConfig (name: string, content: string): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}

describe('mesh start with a bad config', () => {
  it.each([
    ['unknown field', '{"mdns": false, "gosip": {}}', /gosip: unknown field/],
    ['wrong type', '{"gossip": {"intervalMs": "fast"}}', /gossip\.intervalMs: must be a number of milliseconds/],
    ['impossible value', '{"resources": {"cpu": 0}}', /resources\.cpu: must be "auto" or a number of cores > 0/],
    ['cross-field rule', '{"failure": {"heartbeatMs": 3000}}', /failure\.heartbeatMs: must be less than failure\.leaseMs/],
    ['bad multiaddr', '{"bootstrap": ["127.0.0.1:4001"]}', /bootstrap\.0: not a valid multiaddr/],
    ['not JSON', '{"mdns": false,', /is not valid JSON/],
    ['nested 100,000 levels deep', `{"tags": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, /: it nests arrays and objects more than 1000 levels deep, which no job, config or request needs \[MESH_ERR_CONFIG_FILE\]$/m]
  ])('%s: exits non-zero and names the problem', async (_name, content, message) => {
    const r = await mesh(['start', '--config', writeConfig(`bad-${_name.replace(/\W/g, '')}.json`, content)])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stdout).not.toMatch(/ready:/)
  })

  it('a missing config file is named', async () => {
    const r = await mesh(['start', '--config', join(dir, 'nope.json')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/cannot read config .*nope\.json/)
  })
})

describe('one daemon per data directory, and the control token', () => {
  it('refuses a second daemon on the same dataDir, and rejects a wrong token', async () => {
    const { daemons, cleanup } = await makeMesh(1)
    try {
      const first = daemons[0]!
      await first.start()
      const second = new Daemon(first.config, first.port)
      await expect(second.start()).rejects.toThrow(/already using/)

      const info = await mesh(['peers', '--json', '--config', first.config])
      expect(info.code).toBe(0)
      const url = /control: (\S+)/.exec(first.output.join('\n'))?.[1]
      expect(url).toBeDefined()
      const r = await mesh(['peers'], { env: { MESHWORK_CONTROL: url, MESHWORK_TOKEN: 'x'.repeat(32) } })
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(/401.*control token/)

      // The daemon validates specs; the CLI names the file and every problem, and exits 2.
      const bad = writeConfig('bad-job.json', JSON.stringify({ name: 'bad', tasks: { a: { kind: 'handler', handler: 'h', resources: { cpu: 0 } }, b: { kind: 'handler', handler: 'h', after: ['sampel'] } } }))
      const spec = await mesh(['submit', bad, '--config', first.config])
      expect(spec.code).toBe(2)
      expect(spec.stderr).toContain(`mesh: ${bad}: `)
      expect(spec.stderr).toMatch(/^ {2}tasks\.a\.resources\.cpu: must be > 0$/m)
      expect(spec.stderr).toMatch(/^ {2}tasks\.b\.after\.0: unknown task "sampel"/m)
      expect((await mesh(['status', '--json', '--config', first.config])).stdout.trim()).toBe('[]')

      // Bad use is named by the option and exits 2, before anything reaches the daemon.
      const count = await mesh(['run', '--count', '2.5', '--config', first.config, '--', 'echo', 'hi'])
      expect(count.code).toBe(2)
      expect(count.stderr).toMatch(/--count must be a whole number/)
    } finally {
      await cleanup()
    }
  })
})

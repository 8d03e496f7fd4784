import { describe, it, expect } from 'vitest'
import { defaultConfig, parseConfig } from '../../src/config.ts'
import { ConfigError, MeshError } from '../../src/errors.ts'

/** Parse `raw`, expecting a ConfigError; returns it. */
function configError (raw: unknown, source?: string): ConfigError {
  try {
    parseConfig(raw, source)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`)
}

describe('parseConfig defaults', () => {
  it('expands {} to a full config', () => {
    const c = parseConfig({})
    expect(c.gossip.intervalMs).toBe(1000)
    expect(c.failure).toEqual(expect.objectContaining({ suspectMs: 2500, goneMs: 2500, heartbeatMs: 500, leaseMs: 2000, pingIntervalMs: 500, pingTimeoutMs: 750 }))
    expect(c.auction.bidWindowMs).toBe(50)
    expect(c.mdns).toBe(true)
    expect(c.listen).toEqual(['/ip4/0.0.0.0/tcp/4001'])
    expect(c.bootstrap).toEqual([])
    expect(c.control).toEqual({ host: '127.0.0.1', port: 7370 })
    expect(c.resources).toEqual(expect.objectContaining({ cpu: 'auto', memoryMB: 'auto', gpu: 'auto', reserve: { cpu: 0, memoryMB: 512 }, custom: {} }))
    expect(c.yield.policy).toBe('queued')
    expect(c.trust.submitters).toBe('mesh')
  })

  it('defaultConfig() is parseConfig({})', () => {
    expect(defaultConfig()).toEqual(parseConfig({}))
  })

  it('keeps given values and fills in the rest of the same section', () => {
    const c = parseConfig({ mdns: false, failure: { suspectMs: 4000 }, resources: { cpu: 2.5, custom: { 'licence:matlab': 2 } } })
    expect(c.mdns).toBe(false)
    expect(c.failure).toEqual(expect.objectContaining({ suspectMs: 4000, goneMs: 2500 }))
    expect(c.resources).toEqual(expect.objectContaining({ cpu: 2.5, memoryMB: 'auto', custom: { 'licence:matlab': 2 } }))
  })

  it('accepts every loopback control host', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) expect(parseConfig({ control: { host } }).control.host).toBe(host)
  })
})

describe('parseConfig rejects bad configs, naming the field', () => {
  /** [what, config, field, a fragment of the problem] */
  const cases: Array<[string, unknown, string, string | RegExp]> = [
    ['an unknown top-level field', { gosip: {} }, 'gosip', 'unknown field'],
    ['an unknown nested field', { gossip: { intervall: 500 } }, 'gossip.intervall', 'unknown field'],
    ['an unknown deeply nested field', { resources: { reserve: { gpu: 1 } } }, 'resources.reserve.gpu', 'unknown field'],
    ['a string where a number belongs', { gossip: { intervalMs: '1000' } }, 'gossip.intervalMs', 'must be a number of milliseconds'],
    ['fractional milliseconds', { auction: { bidWindowMs: 12.5 } }, 'auction.bidWindowMs', 'whole number of milliseconds'],
    ['a gossip interval below the minimum', { gossip: { intervalMs: 10 } }, 'gossip.intervalMs', 'must be ≥ 50 ms'],
    ['a string where a boolean belongs', { mdns: 'yes' }, 'mdns', /boolean/],
    ['zero CPUs', { resources: { cpu: 0 } }, 'resources.cpu', />\s*0/],
    ['a word instead of "auto"', { resources: { memoryMB: 'lots' } }, 'resources.memoryMB', /auto/],
    ['a port above 65535', { control: { port: 70_000 } }, 'control.port', 'must be a TCP port (0–65535)'],
    ['heartbeat ≥ lease', { failure: { heartbeatMs: 2000, leaseMs: 2000 } }, 'failure.heartbeatMs', 'must be less than failure.leaseMs (2000)'],
    ['suspectMs ≤ gossip interval', { gossip: { intervalMs: 3000 } }, 'failure.suspectMs', 'must be greater than gossip.intervalMs (3000)'],
    ['suspectMs equal to the gossip interval', { gossip: { intervalMs: 2500 } }, 'failure.suspectMs', 'must be greater than gossip.intervalMs'],
    ['a reserve of all the CPUs', { resources: { cpu: 4, reserve: { cpu: 4 } } }, 'resources.reserve.cpu', 'must be less than resources.cpu (4)'],
    ['a non-loopback control host', { control: { host: '0.0.0.0' } }, 'control.host', 'must be a loopback address'],
    ['an invalid listen multiaddr', { listen: ['0.0.0.0:4001'] }, 'listen.0', 'not a valid multiaddr'],
    ['an invalid bootstrap multiaddr (second entry)', { bootstrap: ['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/port'] }, 'bootstrap.1', 'not a valid multiaddr'],
    ['an empty listen list', { listen: [] }, 'listen', 'needs at least one address'],
    ['a bad custom resource name', { resources: { custom: { 'licence matlab': 1 } } }, 'resources.custom.licence matlab', 'bad name: resource names use letters'],
    ['a negative custom resource', { resources: { custom: { slots: -1 } } }, 'resources.custom.slots', />=\s*0/],
    ['an unknown yield policy', { yield: { policy: 'sometimes' } }, 'yield.policy', /queued.*checkpointed.*all/],
    ['a bad submitters value', { trust: { submitters: 'everyone' } }, 'trust.submitters', 'must be "mesh", "self" or a list of peer ids'],
    ['an unknown log level', { log: { level: 'verbose' } }, 'log.level', /info/],
    ['a non-object config', ['listen'], '(root)', /object/]
  ]

  it.each(cases)('%s', (_what, raw, field, problem) => {
    const err = configError(raw)
    expect(err.code).toBe('MESH_ERR_CONFIG')
    expect(err).toBeInstanceOf(MeshError)
    expect(err.problems).toEqual([{ field, problem: typeof problem === 'string' ? expect.stringContaining(problem) : expect.stringMatching(problem) }])
    expect(err.message).toContain(`${field}: `)
  })

  it('reports all problems at once', () => {
    const err = configError({
      colour: 'blue',
      gossip: { intervalMs: 'fast' },
      control: { port: -1, host: '10.0.0.5' },
      yield: { policy: 'sometimes' },
      resources: { custom: { 'no spaces': 1 } }
    })
    expect(err.problems.map(p => p.field).sort()).toEqual([
      'colour', 'control.host', 'control.port', 'gossip.intervalMs', 'resources.custom.no spaces', 'yield.policy'
    ])
    for (const { field } of err.problems) expect(err.message).toContain(field)
  })

  it('reports several cross-field problems together', () => {
    const err = configError({ gossip: { intervalMs: 5000 }, failure: { heartbeatMs: 3000 } })
    expect(err.problems).toEqual([
      expect.objectContaining({ field: 'failure.suspectMs' }),
      expect.objectContaining({ field: 'failure.heartbeatMs' })
    ])
  })

  it('names the source in the message', () => {
    const err = configError({ mdns: 1 }, '/etc/mesh.config.json')
    expect(err.message).toMatch(/^\/etc\/mesh\.config\.json: mdns: /)
    expect(err.name).toBe('ConfigError')
  })
})


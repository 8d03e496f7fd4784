/**
 * `mesh.config.json` (docs/ARCHITECTURE.md §9): the schema, its defaults and its
 * validation. Pure: reading the file and expanding `~` happen in `node/config-file.ts`.
 *
 * Every field has a default, so `{}` is a valid single-machine peer. Unknown
 * fields, wrong types and impossible values are errors that name the field;
 * the daemon does not start with a bad config.
 */
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { ConfigError, type ConfigProblem } from './errors.ts'
import { RESOURCE_NAME } from '../protocols/resources.ts'
import { DEFAULT_DATA_DIR } from './config-defaults.ts'

const multiaddrString = z.string().refine(s => {
  try { multiaddr(s); return true } catch { return false }
}, { error: 'not a valid multiaddr (e.g. "/ip4/0.0.0.0/tcp/4001")' })

const ms = (min: number, max = 24 * 3600_000) =>
  z.number({ error: 'must be a number of milliseconds' }).int({ error: 'must be a whole number of milliseconds' })
    .min(min, { error: `must be ≥ ${min} ms` }).max(max, { error: `must be ≤ ${max} ms` })

const autoOr = (num: z.ZodNumber, what: string) =>
  z.union([z.literal('auto'), num], { error: `must be "auto" or ${what}` })

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export const configSchema = z.strictObject({
  /** Multiaddrs to listen on. Use `/ip4/0.0.0.0/tcp/4001` on a LAN. */
  listen: z.array(multiaddrString).min(1, { error: 'needs at least one address' }).default(['/ip4/0.0.0.0/tcp/4001']),
  /** Peers to dial at start and re-dial while unreachable. */
  bootstrap: z.array(multiaddrString).default([]),
  /** Find peers on the local network by multicast DNS. */
  mdns: z.boolean().default(true),
  /** Identity key, journal and control.json live here. `~` is the user's home. */
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  /**
   * What the journal and outbox survive before a write counts as done: a killed
   * process (`process`, flushed to disk right behind) or a power cut too (`power`,
   * a disk flush on every award and result).
   */
  durability: z.enum(['process', 'power']).default('process'),
  /** A libp2p pnet swarm key: only peers holding the same key can connect. */
  swarmKeyFile: z.string().min(1).nullable().default(null),
  control: z.strictObject({
    host: z.string().refine(h => LOOPBACK.has(h), { error: 'must be a loopback address (127.0.0.1, ::1 or localhost): the control API is for this machine only' }).default('127.0.0.1'),
    /** 0 picks a free port; control.json records the one chosen. */
    port: z.number().int().min(0).max(65535, { error: 'must be a TCP port (0–65535)' }).default(7370)
  }).prefault({}),
  resources: z.strictObject({
    cpu: autoOr(z.number().positive({ error: 'must be "auto" or a number of cores > 0' }), 'a number of cores > 0').default('auto'),
    memoryMB: autoOr(z.number().int({ error: 'must be "auto" or a whole number of MB' }).positive({ error: 'must be "auto" or a whole number of MB > 0' }), 'a whole number of MB > 0').default('auto'),
    gpu: autoOr(z.number().int({ error: 'must be "auto" or a whole number' }).min(0, { error: 'must be "auto" or a whole number ≥ 0' }), 'a whole number ≥ 0').default('auto'),
    /**
     * Each GPU's memory, MB: one number for every device, or one per device
     * (device 0 first; then `gpu` must be that many). Overrides what the probe
     * found. Absent with a declared `gpu`: the memory is unknown, and those
     * devices take whole-GPU tasks but no `gpuMemoryMB` shares.
     */
    gpuMemoryMB: z.union([
      z.number().int({ error: 'must be a whole number of MB > 0' }).positive({ error: 'must be a whole number of MB > 0' }),
      z.array(z.number().int({ error: 'must be a whole number of MB > 0' }).positive({ error: 'must be a whole number of MB > 0' })).min(1, { error: 'must list at least one device' }).max(16, { error: 'at most 16 devices' })
    ], { error: 'must be a whole number of MB > 0, or a list of them (one per GPU)' }).optional(),
    /** Kept for the machine's owner and never offered to the mesh. */
    reserve: z.strictObject({
      cpu: z.number().min(0).default(0),
      memoryMB: z.number().int().min(0).default(512)
    }).prefault({}),
    /** Named resources this peer offers, e.g. `{"licence:matlab": 2}`. */
    custom: z.record(z.string().regex(RESOURCE_NAME, { error: 'resource names use letters, digits and _ . : - (1–64 chars)' }), z.number().min(0)).default({}),
    /** Speed score; "auto" calibrates at start-up (1.0 = the reference machine). */
    speed: autoOr(z.number().positive({ error: 'must be "auto" or a number > 0' }), 'a number > 0').default('auto')
  }).prefault({}),
  /** Free-form capability tags advertised to the mesh, e.g. `site=lab1`. */
  tags: z.array(z.string().min(1).max(128)).max(32).default([]),
  executor: z.strictObject({
    /** Handler name → module path exporting it. */
    handlers: z.record(z.string().min(1), z.string().min(1)).default({}),
    exec: z.strictObject({
      /** Programs this peer runs for others (names or absolute paths). */
      allow: z.array(z.string().min(1)).default([]),
      /** Confine exec tasks with bubblewrap: "bwrap" requires it, "auto" uses it where it works, "none" never. */
      sandbox: z.enum(['auto', 'bwrap', 'none'], { error: 'must be "auto", "bwrap" or "none"' }).default('auto'),
      /** "cgroup" refuses to start where no cgroup can be written; "auto" falls back to rlimits. */
      limits: z.enum(['auto', 'cgroup'], { error: 'must be "auto" or "cgroup"' }).default('auto'),
      /** Processes and threads one attempt may have at once. */
      pids: z.number({ error: 'must be a whole number from 16 to 1000000' }).int({ error: 'must be a whole number from 16 to 1000000' }).min(16, { error: 'must be at least 16' }).max(1_000_000, { error: 'must be at most 1000000' }).default(1024),
      /** The most an attempt's scratch directory may hold, MB. */
      diskMB: z.number({ error: 'must be a whole number of MB' }).int({ error: 'must be a whole number of MB' }).min(1, { error: 'must be at least 1' }).max(1e9).default(10_240),
      /** Tasks that ask for the network (`"network": true`) may have it; others never do in the sandbox. */
      network: z.boolean().default(false),
      /** More host paths shown read-only in the sandbox (a virtualenv, a conda install, model folders). */
      readOnlyPaths: z.array(z.string().min(1).refine(p => p.startsWith('/') || p.startsWith('~'), { error: 'must be an absolute path' })).max(64).default([]),
      /** Host paths shown writable in the sandbox (a shared results folder); every task can write there. */
      writablePaths: z.array(z.string().min(1).refine(p => p.startsWith('/') || p.startsWith('~'), { error: 'must be an absolute path' })).max(64).default([])
    }).prefault({}),
    warm: z.strictObject({
      /** `ctx.warm` objects (loaded models) each handler thread keeps, least recently used out. */
      max: z.number().int().min(0).max(1000).default(4)
    }).prefault({})
  }).prefault({}),
  history: z.strictObject({
    /** How long an ended job stays listable (`mesh status --all`) before it is dropped from memory and the journal. */
    keepDays: z.number({ error: 'must be a number of days' }).positive({ error: 'must be > 0' }).max(3650, { error: 'must be at most 3650 days' }).default(7)
  }).prefault({}),
  metrics: z.strictObject({
    /** A second loopback port serving only `/metrics`, without the control token, for a local Prometheus; null: none. */
    port: z.number().int().min(0).max(65535, { error: 'must be a TCP port (0–65535)' }).nullable().default(null),
    /** libp2p's own metrics (connections, streams, bytes by protocol) in `/metrics`; loads prom-client at start. */
    libp2p: z.boolean().default(false)
  }).prefault({}),
  cache: z.strictObject({
    /** Where artifacts (models, datasets) are kept; default `<dataDir>/artifacts`. */
    dir: z.string().min(1).nullable().default(null),
    /** The most the artifact cache holds, MB; least recently used artifacts go first. 0 keeps none. */
    maxMB: z.number({ error: 'must be a number of MB' }).int({ error: 'must be a whole number of MB' }).min(0, { error: 'must be ≥ 0' }).max(1e9).default(20_480)
  }).prefault({}),
  trust: z.strictObject({
    /** Whose jobs this peer runs: any peer of the mesh, only itself, or listed peer ids. */
    submitters: z.union([z.enum(['mesh', 'self']), z.array(z.string().min(1))], { error: 'must be "mesh", "self" or a list of peer ids' }).default('mesh')
  }).prefault({}),
  gossip: z.strictObject({
    intervalMs: ms(50, 60_000).default(1000)
  }).prefault({}),
  auction: z.strictObject({
    bidWindowMs: ms(1, 60_000).default(50),
    queueDepth: z.number().int().min(0).max(1000).default(1)
  }).prefault({}),
  failure: z.strictObject({
    heartbeatMs: ms(10).default(500),
    leaseMs: ms(50).default(2000),
    /** No ad for this long: suspect. */
    suspectMs: ms(50).default(2500),
    /** Suspect for this long more: gone. */
    goneMs: ms(0).default(2500),
    /** A gone peer stays listed (as gone) this long, then is forgotten. */
    forgetMs: ms(0).default(60_000),
    /** An executor keeps a result for an origin that is away this long, resending with backoff. */
    resultTtlMs: ms(1000, 30 * 24 * 3600_000).default(24 * 3600_000),
    /** Connection-monitor ping period; a frozen peer's connection closes after about this plus pingTimeoutMs. */
    pingIntervalMs: ms(100).default(500),
    pingTimeoutMs: ms(100).default(750)
  }).prefault({}),
  yield: z.strictObject({
    /** What to give back when the machine gets busy with other work; "off" never yields. */
    policy: z.enum(['queued', 'checkpointed', 'all', 'off']).default('queued'),
    cpuBusyPercent: z.number().min(1).max(100).default(85),
    sustainMs: ms(0).default(5000)
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info')
  }).prefault({})
}).superRefine((c, ctx) => {
  // Cross-field rules: each would make the peer misbehave rather than fail.
  if (c.failure.suspectMs <= c.gossip.intervalMs) {
    ctx.addIssue({ code: 'custom', path: ['failure', 'suspectMs'], message: `must be greater than gossip.intervalMs (${c.gossip.intervalMs}), or healthy peers turn suspect between ads` })
  }
  if (c.failure.heartbeatMs >= c.failure.leaseMs) {
    ctx.addIssue({ code: 'custom', path: ['failure', 'heartbeatMs'], message: `must be less than failure.leaseMs (${c.failure.leaseMs}), or every lease expires between heartbeats` })
  }
  const gpuMemory = c.resources.gpuMemoryMB
  if (Array.isArray(gpuMemory) && gpuMemory.length !== c.resources.gpu) {
    ctx.addIssue({
      code: 'custom',
      path: ['resources', 'gpuMemoryMB'],
      message: typeof c.resources.gpu === 'number'
        ? `lists ${gpuMemory.length} GPUs but resources.gpu is ${c.resources.gpu}: give one memory size per GPU, or one number for all`
        : 'a list (one memory size per GPU) needs resources.gpu set to that many GPUs; or give one number for all'
    })
  }
  if (typeof c.resources.cpu === 'number' && c.resources.cpu > 0 && c.resources.reserve.cpu >= c.resources.cpu) {
    ctx.addIssue({ code: 'custom', path: ['resources', 'reserve', 'cpu'], message: `must be less than resources.cpu (${c.resources.cpu}), or the peer offers no CPU` })
  }
})

export type MeshConfig = z.output<typeof configSchema>
/** What a user may write: every field optional. */
export type MeshConfigInput = z.input<typeof configSchema>

/** Validate a parsed JSON value as a config; throws `ConfigError` naming every bad field. */
export function parseConfig (raw: unknown, source = 'config'): MeshConfig {
  const result = configSchema.safeParse(raw)
  if (result.success) return result.data
  throw new ConfigError(result.error.issues.flatMap(describeIssue), source)
}

function describeIssue (issue: z.core.$ZodIssue): ConfigProblem[] {
  const at = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map(k => ({ field: at === '' ? k : `${at}.${k}`, problem: 'unknown field' }))
  }
  if (issue.code === 'invalid_key') {
    return [{ field: at, problem: `bad name: ${issue.issues[0]?.message ?? issue.message}` }]
  }
  return [{ field: at === '' ? '(root)' : at, problem: issue.message }]
}

/** The full default configuration, as `{}` expands. */
export function defaultConfig (): MeshConfig {
  return parseConfig({})
}

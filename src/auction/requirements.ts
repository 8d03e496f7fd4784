/**
 * What a task needs from the peer that runs it, derived in one place and used
 * by every party that judges it: the origin (whose answer to wait for, why a
 * task waits), the bidder (what to bid for), the award check (accept or
 * reject) and the exec runner (the allow-list). Before this module each had
 * its own copy and they disagreed (docs/ARCHITECTURE.md §8).
 */
import type { OpenTask } from '../../protocols/auction.ts'
import type { AwardedTask } from '../../protocols/task.ts'
import type { Resources } from '../../protocols/resources.ts'
import type { TaskSpec } from '../jobs/spec.ts'

export interface Requirements {
  kind: 'handler' | 'exec'
  /** For handler tasks: the handler the peer must have registered. */
  handler?: string
  /** For exec tasks: the program that will actually be started (`sh` for `shell: true`). */
  program?: string
  /** True when the program is `/bin/sh -c <command joined>`. */
  shell?: boolean
  tags: readonly string[]
  demand: Resources
  /** For exec tasks: the confinement the peer must give (`limits`: cgroups; `sandbox`: bubblewrap and cgroups). */
  isolation?: Isolation
  /** For exec tasks: the task needs the network. */
  network?: boolean
}

export type Isolation = 'limits' | 'sandbox'

/** Whether a peer whose ad says `limits` and `sandbox` gives a task the `isolation` it asks for. */
export function givesIsolation (caps: { limits?: string, sandbox?: string }, isolation: Isolation | undefined): boolean {
  if (isolation === undefined) return true
  const cgroups = caps.limits === 'cgroup-v1' || caps.limits === 'cgroup-v2'
  return isolation === 'limits' ? cgroups : cgroups && caps.sandbox === 'bwrap'
}

/** An isolation name from the wire: unknown values are kept off every peer (judged as the strictest). */
function isolationOf (v: string | undefined): Isolation | undefined {
  return v === undefined ? undefined : v === 'limits' ? 'limits' : 'sandbox'
}

/** The exec-only requirement fields, present only when set. */
function execExtras (isolation: Isolation | string | undefined, network: boolean | undefined): Pick<Requirements, 'isolation' | 'network'> {
  const i = isolationOf(isolation)
  return { ...(i !== undefined ? { isolation: i } : {}), ...(network === true ? { network: true } : {}) }
}

/** The program an exec task starts: its `command[0]`, or `sh` when it runs through the shell. */
export function programOf (exec: { command: readonly string[], shell: boolean }): string {
  return exec.shell ? 'sh' : (exec.command[0] ?? '')
}

/**
 * The allow-list rule (`executor.exec.allow`), exact comparison only: a bare
 * name (`python3`) allows only that bare name, looked up on the peer's PATH; an
 * absolute path allows only itself; a relative path with a slash (`./run`) is
 * never allowed. A shell task needs `sh` or `/bin/sh` (allowing a shell allows
 * anything).
 */
export function programAllowed (allow: readonly string[], program: string, shell = false): boolean {
  if (shell) return allow.includes('sh') || allow.includes('/bin/sh')
  if (program === '') return false
  if (!program.startsWith('/') && program.includes('/')) return false
  return allow.includes(program)
}

/** Whether a peer that runs only some submitters' jobs (`caps.origins`) runs `origin`'s. */
export function acceptsOrigin (origins: readonly string[] | undefined, origin: string): boolean {
  return origins === undefined || origins.includes(origin)
}

export function requirementsOf (spec: TaskSpec): Requirements {
  if (spec.kind === 'handler') return { kind: 'handler', handler: spec.handler, tags: spec.tags, demand: spec.resources }
  return { kind: 'exec', program: programOf(spec), ...(spec.shell ? { shell: true } : {}), tags: spec.tags, demand: spec.resources, ...execExtras(spec.isolation === 'any' ? undefined : spec.isolation, spec.network) }
}

/** The requirements an open task (a call for bids) carries on the wire. */
export function requirementsOfOpen (t: OpenTask): Requirements {
  return { kind: t.kind, handler: t.handler, program: t.command, ...(t.shell === true ? { shell: true } : {}), tags: t.tags, demand: t.demand, ...execExtras(t.isolation, t.network) }
}

/** The requirements of an awarded task, re-checked by the executor before it accepts. */
export function requirementsOfAward (t: AwardedTask): Requirements {
  if (t.kind === 'handler' || t.exec === undefined) return { kind: t.kind, handler: t.handler, tags: [], demand: t.demand }
  return { kind: 'exec', program: programOf(t.exec), ...(t.exec.shell ? { shell: true } : {}), tags: [], demand: t.demand, ...execExtras(t.exec.isolation, t.exec.network) }
}

/** The fields of an open task that carry its requirements. */
export function openFields (r: Requirements): Pick<OpenTask, 'kind' | 'handler' | 'command' | 'shell' | 'tags' | 'demand' | 'isolation' | 'network'> {
  return { kind: r.kind, handler: r.handler, command: r.program, ...(r.shell === true ? { shell: true } : {}), tags: [...r.tags], demand: r.demand, ...execExtras(r.isolation, r.network) }
}

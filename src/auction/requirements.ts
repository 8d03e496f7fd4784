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
  return { kind: 'exec', program: programOf(spec), ...(spec.shell ? { shell: true } : {}), tags: spec.tags, demand: spec.resources }
}

/** The requirements an open task (a call for bids) carries on the wire. */
export function requirementsOfOpen (t: OpenTask): Requirements {
  return { kind: t.kind, handler: t.handler, program: t.command, ...(t.shell === true ? { shell: true } : {}), tags: t.tags, demand: t.demand }
}

/** The requirements of an awarded task, re-checked by the executor before it accepts. */
export function requirementsOfAward (t: AwardedTask): Requirements {
  if (t.kind === 'handler' || t.exec === undefined) return { kind: t.kind, handler: t.handler, tags: [], demand: t.demand }
  return { kind: 'exec', program: programOf(t.exec), ...(t.exec.shell ? { shell: true } : {}), tags: [], demand: t.demand }
}

/** The fields of an open task that carry its requirements. */
export function openFields (r: Requirements): Pick<OpenTask, 'kind' | 'handler' | 'command' | 'shell' | 'tags' | 'demand'> {
  return { kind: r.kind, handler: r.handler, command: r.program, ...(r.shell === true ? { shell: true } : {}), tags: [...r.tags], demand: r.demand }
}

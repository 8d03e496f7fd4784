/**
 * The peer's `Confinement` from its config: what to hide from tasks (every
 * file of the daemon's own) and what to show them (the allowed programs and
 * `executor.exec.readOnlyPaths`). A configured confinement this machine cannot
 * give is a `MeshError`: `mesh start` prints its sentence and exits 2.
 */
import { realpathSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import type { MeshConfig } from '../../../src/config.ts'
import { MeshError } from '../../../src/errors.ts'
import { Confinement } from './confinement.ts'

export async function detectConfinement (config: MeshConfig, ephemeral: boolean, offeredMemoryMB: () => number): Promise<Confinement> {
  const e = config.executor.exec
  const programs = e.allow.filter(p => isAbsolute(p)).flatMap(p => [p, real(p)])
  // control.json and the key are in dataDir, masked whole where it is under a visible path.
  const hide = [config.dataDir, config.cache.dir, config.swarmKeyFile]
    .filter((p): p is string => p !== null && !ephemeral).map(real)
  const found = await Confinement.detect({
    limits: e.limits,
    sandbox: e.sandbox,
    pids: e.pids,
    diskMB: e.diskMB,
    network: e.network,
    readOnly: [...new Set([...programs, ...e.readOnlyPaths])],
    writable: e.writablePaths,
    hide: [...new Set(hide)],
    defaultMemoryMB: offeredMemoryMB
  })
  if ('refuse' in found) throw new MeshError('MESH_ERR_CONFIG', found.refuse)
  return found
}

function real (p: string): string {
  try { return realpathSync(p) } catch { return p }
}

/**
 * Loading `mesh.config.json`: read, parse JSON, validate (src/config.ts), and
 * resolve paths (`~`, and relative paths against the config file's folder, so a
 * config means the same thing from any working directory).
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parseConfig, type MeshConfig } from '../src/config.ts'
import { MeshError } from '../src/errors.ts'

/** Where `mesh` looks when no `--config` is given. */
export function defaultConfigPath (): string {
  return process.env.MESHWORK_CONFIG ?? join(homedir(), '.meshwork', 'mesh.config.json')
}

export function loadConfigFile (file: string): MeshConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `cannot read config ${file}: ${(err as Error).message}`, { cause: err })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `config ${file} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  return resolvePaths(parseConfig(raw, file), dirname(resolve(file)))
}

/** Expand `~` and make relative paths absolute against `baseDir`. */
export function resolvePaths (config: MeshConfig, baseDir: string): MeshConfig {
  const fix = (p: string): string => {
    if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1))
    return isAbsolute(p) ? p : resolve(baseDir, p)
  }
  const handlers = Object.fromEntries(Object.entries(config.executor.handlers).map(([k, v]) => [k, fix(v)]))
  return {
    ...config,
    dataDir: fix(config.dataDir),
    swarmKeyFile: config.swarmKeyFile === null ? null : fix(config.swarmKeyFile),
    executor: { ...config.executor, handlers }
  }
}

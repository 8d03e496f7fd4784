/**
 * Loading `mesh.config.json`: read, parse JSON, validate (src/config.ts), and
 * resolve paths (`~`, and relative paths against the config file's folder, so a
 * config means the same thing from any working directory).
 */
import { dirname, resolve } from 'node:path'
import { parseConfig, type MeshConfig } from '../src/config.ts'
import { readConfigJson, resolveConfigPath } from './config-paths.ts'

export function loadConfigFile (file: string): MeshConfig {
  return resolvePaths(parseConfig(readConfigJson(file), file), dirname(resolve(file)))
}

/** Expand `~` and make relative paths absolute against `baseDir`. */
export function resolvePaths (config: MeshConfig, baseDir: string): MeshConfig {
  const fix = (p: string): string => resolveConfigPath(p, baseDir)
  const handlers = Object.fromEntries(Object.entries(config.executor.handlers).map(([k, v]) => [k, fix(v)]))
  return {
    ...config,
    dataDir: fix(config.dataDir),
    swarmKeyFile: config.swarmKeyFile === null ? null : fix(config.swarmKeyFile),
    cache: { ...config.cache, dir: config.cache.dir === null ? null : fix(config.cache.dir) },
    executor: { ...config.executor, handlers, exec: { ...config.executor.exec, readOnlyPaths: config.executor.exec.readOnlyPaths.map(fix), writablePaths: config.executor.exec.writablePaths.map(fix) } }
  }
}

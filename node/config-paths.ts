/**
 * Reading a config file and resolving the paths in it, without the schema:
 * the light half of config-file.ts. Client commands use it to find their
 * daemon's dataDir; loading and validating the whole config (zod, multiaddr
 * parsing) is for the daemon, which refuses a bad file before it writes the
 * control.json these commands look for.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config-defaults.ts'
import { ConfigError, MeshError } from '../src/errors.ts'

/** Where `mesh` looks when no `--config` is given. */
export function defaultConfigPath (): string {
  return process.env.MESHWORK_CONFIG ?? join(homedir(), '.meshwork', 'mesh.config.json')
}

/** `~` is the home directory; a relative path is relative to `baseDir` (the config file's folder). */
export function resolveConfigPath (p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1))
  return isAbsolute(p) ? p : resolve(baseDir, p)
}

/** The file's JSON; an unreadable file or bad JSON is a MESH_ERR_CONFIG_FILE naming the file. */
export function readConfigJson (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `cannot read config ${file}: ${(err as Error).message}`, { cause: err })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new MeshError('MESH_ERR_CONFIG_FILE', `config ${file} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

/** The data directory a config file names, resolved as the daemon resolves it. */
export function dataDirOf (file: string): string {
  const raw = readConfigJson(file)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError([{ field: '(config)', problem: 'must be a JSON object' }], file)
  const dataDir = (raw as { dataDir?: unknown }).dataDir ?? DEFAULT_DATA_DIR
  if (typeof dataDir !== 'string' || dataDir === '') throw new ConfigError([{ field: 'dataDir', problem: 'must be a path' }], file)
  return resolveConfigPath(dataDir, dirname(resolve(file)))
}

/**
 * Reading a config file and resolving the paths in it, without the schema:
 * the light half of config-file.ts. Client commands use it to find their
 * daemon's dataDir; loading and validating the whole config (zod, multiaddr
 * parsing) is for the daemon, which refuses a bad file before it writes the
 * control.json these commands look for.
 */
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config-defaults.ts'
import { ConfigError, MeshError } from '../src/errors.ts'
import { FileTooLarge, readFileAtMostSync } from './bounded-read.ts'
import { JsonInputError, mib, parseJsonText } from './json-input.ts'

/** A config file is a few KB; this bounds what a wrong path (a log, a disk image) costs. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024

/** Where `mesh` looks when no `--config` is given. */
export function defaultConfigPath (): string {
  return process.env.MESHWORK_CONFIG ?? join(homedir(), '.meshwork', 'mesh.config.json')
}

/** `~` is the home directory; a relative path is relative to `baseDir` (the config file's folder). */
export function resolveConfigPath (p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1))
  return isAbsolute(p) ? p : resolve(baseDir, p)
}

/** The file's JSON; an unreadable, too large or too deeply nested file, or bad JSON, is a MESH_ERR_CONFIG_FILE naming the file. */
export function readConfigJson (file: string): unknown {
  let bytes: Buffer
  try {
    bytes = readFileAtMostSync(file, MAX_CONFIG_FILE_BYTES)
  } catch (err) {
    if (err instanceof FileTooLarge) throw configTooLarge(file, err.size)
    throw new MeshError('MESH_ERR_CONFIG_FILE', `cannot read config ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseConfigFile(bytes, file)
}

/** A config file's bytes as JSON, with readConfigJson's refusals: the part of reading a config that fuzzing drives. */
export function parseConfigFile (bytes: Uint8Array, file: string): unknown {
  if (bytes.byteLength > MAX_CONFIG_FILE_BYTES) throw configTooLarge(file, bytes.byteLength)
  try {
    return parseJsonText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    if (err instanceof JsonInputError) throw new MeshError('MESH_ERR_CONFIG_FILE', `config ${file}: ${err.message}`, { cause: err })
    if (err instanceof SyntaxError) throw new MeshError('MESH_ERR_CONFIG_FILE', `config ${file} is not valid JSON: ${err.message}`, { cause: err })
    throw err
  }
}

function configTooLarge (file: string, size: number): MeshError {
  return new MeshError('MESH_ERR_CONFIG_FILE', `cannot read config ${file}: it is ${mib(size)}, and a config file may be at most ${mib(MAX_CONFIG_FILE_BYTES)}`)
}

/** The data directory a config file names, resolved as the daemon resolves it. */
export function dataDirOf (file: string): string {
  const raw = readConfigJson(file)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError([{ field: '(config)', problem: 'must be a JSON object' }], file)
  const dataDir = (raw as { dataDir?: unknown }).dataDir ?? DEFAULT_DATA_DIR
  if (typeof dataDir !== 'string' || dataDir === '') throw new ConfigError([{ field: 'dataDir', problem: 'must be a path' }], file)
  return resolveConfigPath(dataDir, dirname(resolve(file)))
}

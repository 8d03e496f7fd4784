/**
 * The CLI's side of the control API: find the daemon (`--config` → its dataDir's
 * control.json; else MESHWORK_CONTROL + MESHWORK_TOKEN; else the default config
 * or ~/.meshwork) and call it.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { MeshError } from '../../src/errors.ts'
import { defaultConfigPath, loadConfigFile } from '../config-file.ts'
import { CONTROL_FILE, readControlFile } from './control-file.ts'

export interface ControlTarget { url: string, token: string }

export function findDaemon (configPath?: string): ControlTarget {
  if (configPath === undefined && process.env.MESHWORK_CONTROL !== undefined) {
    const token = process.env.MESHWORK_TOKEN
    if (token === undefined) throw new MeshError('MESH_ERR_CONTROL', 'MESHWORK_CONTROL is set but MESHWORK_TOKEN is not')
    return { url: process.env.MESHWORK_CONTROL, token }
  }
  const file = configPath ?? defaultConfigPath()
  const dataDir = configPath !== undefined || existsSync(file) ? loadConfigFile(file).dataDir : join(homedir(), '.meshwork')
  const info = readControlFile(dataDir)
  if (info === undefined) {
    throw new MeshError('MESH_ERR_CONTROL', `no running daemon found: ${join(dataDir, CONTROL_FILE)} is missing or unreadable (start one with \`mesh start${configPath !== undefined ? ` --config ${configPath}` : ''}\`)`)
  }
  return { url: info.url, token: info.token }
}

/** Read a streaming NDJSON endpoint, calling `onLine` for each parsed line, until it ends. */
export async function streamDaemon (target: ControlTarget, path: string, onLine: (value: unknown) => void, signal?: AbortSignal): Promise<void> {
  const res = await fetch(new URL(path, target.url), { headers: { authorization: `Bearer ${target.token}` }, signal })
  if (!res.ok || res.body === null) throw new MeshError('MESH_ERR_CONTROL', `daemon answered ${res.status} for ${path}`)
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true })
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim() !== '') onLine(JSON.parse(line))
    }
  }
}

export async function callDaemon<T> (target: ControlTarget, path: string, init: { method?: string, body?: unknown } = {}): Promise<T> {
  let res: Response
  try {
    res = await fetch(new URL(path, target.url), {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${target.token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal: AbortSignal.timeout(10_000)
    })
  } catch (err) {
    throw new MeshError('MESH_ERR_CONTROL', `cannot reach the daemon at ${target.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err })
  }
  const body = await res.json().catch(() => ({})) as T & { error?: string }
  if (!res.ok) throw new MeshError('MESH_ERR_CONTROL', `daemon answered ${res.status}: ${body.error ?? res.statusText}`)
  return body
}

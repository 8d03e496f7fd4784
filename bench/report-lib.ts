/** What the report's sections share: reading result files and formatting figures. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { RESULTS_DIR } from './lib.ts'

// The JSON files are our own output; `any` keeps each section a plain read of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any

export function read (name: string): Json {
  const file = join(RESULTS_DIR, `${name}.json`)
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined
}

export const ms = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x * 10) / 10} ms`
export const ratio = (a: number, b: number): string => Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—'
export const pct = (x: number | undefined): string => x === undefined ? '—' : `${Math.round(x * 100)} %`

/** One line of the targets table. */
export interface Target { what: string, target: string, measured: string, met: boolean | undefined, note?: string }


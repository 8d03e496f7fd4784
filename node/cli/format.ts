/** Small formatting helpers shared by CLI commands. */
import { styleText } from 'node:util'

const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined

export function color (style: 'green' | 'yellow' | 'red' | 'dim' | 'bold', text: string): string {
  return useColor ? styleText(style, text) : text
}

/** `…` + the last 8 characters: enough to tell peers apart in a table. */
export function shortId (id: string): string {
  return id.length > 10 ? `…${id.slice(-8)}` : id
}

/** `/ip4/10.0.0.5/tcp/4001/p2p/…` → `10.0.0.5:4001`; prefers a non-loopback address. */
export function hostPort (addrs: string[]): string {
  const parsed = addrs.map(a => {
    const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(a)
    return m === null ? a : m[1] === 'ip6' ? `[${m[2]}]:${m[3]}` : `${m[2]}:${m[3]}`
  })
  return parsed.find(a => !a.startsWith('127.') && !a.startsWith('[::1]')) ?? parsed[0] ?? '-'
}

export function ago (ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms ago`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s ago`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m ago`
  return `${Math.round(ms / 3_600_000)}h ago`
}

export function num (x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1)
}

export function gb (mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)}G` : `${Math.round(mb)}M`
}

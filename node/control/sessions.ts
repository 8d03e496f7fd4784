/**
 * How a browser logs in to the dashboard without the control token in its
 * address bar or in any log: `mesh dashboard` asks the daemon (with the token)
 * for a one-time login code, valid for a minute, and opens
 * `/dashboard/login?code=…`; the daemon exchanges the code for a session
 * cookie (HttpOnly, SameSite=Strict) and redirects to the dashboard. The
 * cookie opens the dashboard's pages and data only, never the control API.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export const SESSION_COOKIE = 'meshwork_session'
const CODE_TTL_MS = 60_000
const SESSION_TTL_MS = 12 * 3600_000
/** Bounds what a flood of login requests can hold in memory. */
const MAX_LIVE = 1000

const token = (): string => randomBytes(24).toString('base64url')

export class DashboardSessions {
  readonly #codes = new Map<string, number>()
  readonly #sessions = new Map<string, number>()
  readonly #now: () => number

  constructor (now: () => number = Date.now) { this.#now = now }

  /** A fresh one-time login code. */
  code (): string {
    this.#prune()
    const c = token()
    this.#codes.set(c, this.#now() + CODE_TTL_MS)
    return c
  }

  /** Trade a login code (once) for a new session id; undefined when the code is unknown, used or expired. */
  redeem (code: string): string | undefined {
    const until = this.#codes.get(code)
    this.#codes.delete(code)
    if (until === undefined || until < this.#now()) return undefined
    this.#prune()
    const id = token()
    this.#sessions.set(id, this.#now() + SESSION_TTL_MS)
    return id
  }

  /** Whether the request carries a live session cookie. */
  valid (req: IncomingMessage): boolean {
    const id = cookie(req, SESSION_COOKIE)
    if (id === undefined) return false
    for (const [known, until] of this.#sessions) {
      if (known.length === id.length && timingSafeEqual(Buffer.from(known), Buffer.from(id))) return until >= this.#now()
    }
    return false
  }

  /** The Set-Cookie header for a session. */
  static setCookie (id: string): string {
    return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age=${SESSION_TTL_MS / 1000}`
  }

  #prune (): void {
    const now = this.#now()
    for (const m of [this.#codes, this.#sessions]) {
      for (const [k, until] of m) if (until < now) m.delete(k)
      // Oldest first (insertion order) when still too many.
      for (const k of m.keys()) { if (m.size < MAX_LIVE) break; m.delete(k) }
    }
  }
}

function cookie (req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return v.join('=')
  }
  return undefined
}

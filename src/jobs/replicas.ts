/**
 * Verified results (docs/ARCHITECTURE.md §17): a task with `verify` runs on
 * several peers and its origin accepts the result most of them agree on.
 *
 * Each replica's result is reduced to a digest (sha-256 over its value and its
 * output files, blobs by their content address), so comparing never needs the
 * blobs themselves. Out of `of` replicas, a digest reported by a strict
 * majority wins: with `replicas: 2` both must agree. A disagreement asks for
 * one replica more, up to `max`; then the task fails, naming each digest's
 * peers. Replicas go to distinct peers (Meshwork does not know owners yet: a
 * peer is the unit of trust).
 *
 * Adaptive replication, after BOINC: a peer whose last `after` checked results
 * all agreed with the majority is trusted alone, except at random `rate` of
 * the time; one disagreement resets its count. The random draw is the
 * origin's (not derived from anything a peer can see), so a peer cannot tell
 * which of its results will be checked.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { encodeMessage } from '../../protocols/codec.ts'
import type { TaskResult } from '../../protocols/task.ts'
import type { VerifySpec } from './spec.ts'

export interface ReplicaResult { attempt: number, peer: string, digest: string, result: Extract<TaskResult, { ok: true }> }

export type Verdict = 'agreed' | 'trusted' | 'disagreed'

export interface ReplicaState {
  /** How many replicas the verdict is out of: `replicas`, one more per disagreement, at most `max`. */
  of: number
  max: number
  /** The peer trusted alone (adaptive replication), when one is. */
  trusted?: string
  /** Results in, oldest first. */
  results: ReplicaResult[]
  /** Once decided: the attempt whose result was accepted, and how. */
  accepted?: { attempt: number, digest: string, verdict: Verdict }
}

export type Decision =
  | { kind: 'accept', replica: ReplicaResult, verdict: Verdict, agreeing: string[], disagreeing: string[] }
  | { kind: 'wait' }
  | { kind: 'more' }
  | { kind: 'fail' }

/** The state for a task verified with `spec` (absent: the task is not verified). */
export function replicaState (spec: VerifySpec, trusted?: string): ReplicaState {
  return trusted !== undefined ? { of: 1, max: spec.max, trusted, results: [] } : { of: spec.replicas, max: spec.max, results: [] }
}

/** Agreeing results a digest needs out of `of`: a strict majority. */
export function majority (of: number): number { return Math.floor(of / 2) + 1 }

/**
 * What the results in say, with `live` replicas still running: accept a
 * digest a majority reported; wait for the running ones; ask for one more
 * replica; or give up.
 */
export function decide (s: ReplicaState, live: number): Decision {
  const groups = byDigest(s.results)
  for (const [digest, g] of groups) {
    if (g.length < majority(s.of)) continue
    const disagreeing = s.results.filter(r => r.digest !== digest).map(r => r.peer)
    return { kind: 'accept', replica: g[0]!, verdict: s.of === 1 && s.trusted !== undefined ? 'trusted' : 'agreed', agreeing: g.map(r => r.peer), disagreeing }
  }
  // Could a majority still form among the results to come?
  const best = Math.max(0, ...[...groups.values()].map(g => g.length))
  if (live > 0 && best + live >= majority(s.of)) return { kind: 'wait' }
  if (s.results.length + live < s.of) return { kind: 'wait' }
  if (s.of < s.max) return { kind: 'more' }
  if (live > 0) return { kind: 'wait' }
  return { kind: 'fail' }
}

/** The results in, grouped by digest, in the order each digest was first reported. */
export function byDigest (results: readonly ReplicaResult[]): Map<string, ReplicaResult[]> {
  const groups = new Map<string, ReplicaResult[]>()
  for (const r of results) {
    const g = groups.get(r.digest)
    if (g === undefined) groups.set(r.digest, [r])
    else g.push(r)
  }
  return groups
}

/** Replicas still to ask for: the verdict's count less the results in and the replicas running. */
export function missing (s: ReplicaState, live: number): number {
  if (s.accepted !== undefined) return 0
  return Math.max(0, s.of - s.results.length - live)
}

/**
 * A result's digest: its value (as it travels, msgpack) or its value blob's
 * sha-256 (the same bytes), and each output file's sha-256 (inline bytes
 * hashed, blobs by their address), by path.
 */
export function resultDigest (r: Extract<TaskResult, { ok: true }>): string {
  const value = r.valueBlob !== undefined ? r.valueBlob.sha256 : hex(sha256(encodeMessage(r.value ?? null)))
  const outputs = Object.entries(r.outputs ?? {})
    .map(([path, d]) => [path, 'blob' in d ? d.blob.sha256 : hex(sha256(d.inline))])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
  return hex(sha256(encodeMessage({ value, outputs })))
}

function hex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

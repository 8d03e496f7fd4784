/**
 * The control API's routes and the shapes of their bodies, shared by the
 * server (server.ts, jobs-routes.ts) and its one client (client.ts). Types,
 * and one number: importing this file loads nothing.
 *
 *   GET  /v1/health             → HealthReply
 *   GET  /v1/peers              → PeersReply
 *   POST /v1/jobs               SubmitRequest → 201 SubmitReply | 400 ErrorReply (with `problems` for a bad spec)
 *   GET  /v1/jobs               → JobsReply
 *   GET  /v1/jobs/:id[?tasks=0] → JobSnapshot (`tasks=0` leaves out the per-task list)
 *   GET  /v1/jobs/:id/events    → NDJSON, one JobEvent per line from the start, ending when the job ends
 *   GET  /v1/jobs/:id/results   → ResultsReply
 *   GET  /v1/jobs/:id/output?task=T&path=P → the output file's bytes
 *   POST /v1/jobs/:id/cancel    → CancelReply
 *
 * Every request carries `Authorization: Bearer <token>` (the token is in
 * control.json); any error is an ErrorReply with a 4xx or 5xx status. A body
 * is at most CONTROL_BODY_LIMIT bytes (413 beyond), JSON nested at most
 * MAX_JSON_DEPTH levels (node/json-input.ts; 400 beyond).
 */
import type { ErrorCode, JobSpecProblem } from '../../src/errors.ts'
import type { JobEvent, JobSnapshot, WhyNot } from '../../src/jobs/job-view.ts'
import type { PeerStats, PeerView } from '../../src/peer.ts'

export type { JobEvent, JobSnapshot, PeerStats, PeerView, WhyNot }

/**
 * The largest request body: a job spec travels whole, with its exec input
 * files base64, and a spec is at most 16 MiB (JOB_LIMITS.maxSpecBytes). The
 * CLI checks its request against it before sending (a 300 MB job used to be
 * uploaded for 13 s, then refused).
 */
export const CONTROL_BODY_LIMIT = 16 * 1024 * 1024

export interface HealthReply { ok: true, peerId: string }

export interface PeersReply { self: string, peers: PeerView[], stats: PeerStats }

export interface SubmitRequest {
  /** The job spec, validated by the daemon. */
  spec: unknown
  /** Exec input files by the path the spec names them with, base64. */
  files?: Record<string, string>
}
export interface SubmitReply { id: string }

export interface JobsReply { jobs: JobSnapshot[] }

export interface ResultsReply {
  id: string
  name: string
  state: JobSnapshot['state']
  /** Each done task's value. */
  results: Record<string, unknown>
  /** Each done task's output files: path → size in bytes. */
  outputs: Record<string, Record<string, number>>
  /** The error of each task that has one. */
  errors: Record<string, string>
}

export interface CancelReply { cancelled: boolean, state: JobSnapshot['state'] }

export interface ErrorReply { error: string, code?: ErrorCode, problems?: JobSpecProblem[] }

/** `mesh submit | run | status | results | cancel`: jobs through the daemon's control API. */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import Table from 'cli-table3'
import type { JobSnapshot } from '../../src/jobs/job-view.ts'
import { parseJobSpec, type JobSpec } from '../../src/jobs/spec.ts'
import { MeshError } from '../../src/errors.ts'
import { callDaemon, findDaemon, type ControlTarget } from '../control/client.ts'
import { readJobFiles } from '../job-files.ts'
import { color, shortId } from './format.ts'
import { followJob } from './progress.ts'

interface Common { config?: string, json?: boolean }
interface Results { id: string, name: string, state: string, results: Record<string, unknown>, outputs: Record<string, Record<string, number>>, errors: Record<string, string> }

const out = (s: string): void => { process.stdout.write(s + '\n') }

/** Read and validate a job spec file; a missing file or bad JSON is a spec error naming the file. */
export async function readJobSpecFile (file: string): Promise<JobSpec> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new MeshError('MESH_ERR_JOB_SPEC', `${file}: ${(err as Error).message}`)
  }
  return parseJobSpec(raw, file)
}

export async function submitCommand (file: string, opts: Common & { wait?: boolean }): Promise<number> {
  const spec = await readJobSpecFile(file)
  const files = await readJobFiles(spec, dirname(resolve(file)))
  return await submitSpec(spec, files, opts)
}

export async function runCommand (argv: string[], opts: Common & { wait?: boolean, count?: string, cpu?: string, mem?: string, retries?: string }): Promise<number> {
  if (argv.length === 0) throw new MeshError('MESH_ERR_JOB_SPEC', 'mesh run needs a command after --, e.g. mesh run --count 4 -- echo {i}')
  const count = opts.count === undefined ? undefined : Number(opts.count)
  const spec = parseJobSpec({
    name: `run ${basename(argv[0]!)}`.slice(0, 128),
    tasks: {
      run: {
        kind: 'exec',
        command: argv,
        ...(count !== undefined ? { count } : {}),
        resources: { cpu: opts.cpu === undefined ? 1 : Number(opts.cpu), memoryMB: opts.mem === undefined ? 0 : Number(opts.mem) },
        retries: opts.retries === undefined ? 0 : Number(opts.retries)
      }
    }
  }, 'mesh run')
  return await submitSpec(spec, {}, { ...opts, printOutput: true })
}

async function submitSpec (spec: JobSpec, files: Record<string, Uint8Array>, opts: Common & { wait?: boolean, printOutput?: boolean }): Promise<number> {
  const target = findDaemon(opts.config)
  const body = { spec, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, Buffer.from(b).toString('base64')])) }
  const { id } = await callDaemon<{ id: string }>(target, '/v1/jobs', { method: 'POST', body })
  if (opts.wait !== true) {
    out(opts.json === true ? JSON.stringify({ id }) : `submitted job ${id} (${Object.keys(spec.tasks).length} task kinds); follow it with: mesh status ${id}`)
    return 0
  }
  if (opts.json !== true) out(`job ${id} submitted`)
  const snap = await followJob(target, id, { quiet: opts.json === true })
  const results = await callDaemon<Results>(target, `/v1/jobs/${encodeURIComponent(id)}/results`)
  if (opts.json === true) {
    out(JSON.stringify({ ...results, counts: snap.counts, peers: snap.peers, submittedAt: snap.submittedAt, endedAt: snap.endedAt, error: snap.error }, null, 2))
  } else {
    printEnd(snap, results, opts.printOutput === true)
  }
  return snap.state === 'done' ? 0 : 1
}

function printEnd (snap: JobSnapshot, r: Results, printOutput: boolean): void {
  const secs = ((snap.endedAt ?? Date.now()) - snap.submittedAt) / 1000
  const by = Object.entries(snap.peers).map(([p, v]) => `${shortId(p)}: ${v.done}`).join(', ')
  out(`${snap.state === 'done' ? color('green', 'done') : color('red', snap.state)} in ${secs.toFixed(2)} s — tasks per peer: ${by}`)
  if (snap.error !== undefined) out(color('red', snap.error))
  if (printOutput) {
    for (const [task, v] of Object.entries(r.results)) {
      const stdout = (v as { stdout?: string } | null)?.stdout
      out(`${color('bold', task)}: ${stdout !== undefined ? stdout.trimEnd() : JSON.stringify(v)}`)
    }
  } else {
    const entries = Object.entries(r.results)
    for (const [task, v] of entries.slice(-5)) out(`${color('bold', task)}: ${JSON.stringify(v)?.slice(0, 200)}`)
    if (entries.length > 5) out(color('dim', `… ${entries.length} results; see: mesh results ${r.id}`))
  }
}

export async function statusCommand (job: string | undefined, opts: Common): Promise<number> {
  const target = findDaemon(opts.config)
  if (job === undefined) {
    const { jobs } = await callDaemon<{ jobs: JobSnapshot[] }>(target, '/v1/jobs')
    if (opts.json === true) { out(JSON.stringify(jobs, null, 2)); return 0 }
    const t = new Table({ head: ['job', 'name', 'state', 'done/total', 'running', 'failed', 'age'], style: { head: [], border: [] } })
    for (const j of jobs) t.push([j.id, j.name, j.state, `${j.counts.done}/${j.total}`, j.counts.running, j.counts.failed, `${((Date.now() - j.submittedAt) / 1000).toFixed(0)} s`])
    out(jobs.length === 0 ? 'no jobs on this peer' : t.toString())
    return 0
  }
  const snap = await callDaemon<JobSnapshot>(target, `/v1/jobs/${encodeURIComponent(job)}`)
  if (opts.json === true) { out(JSON.stringify(snap, null, 2)); return 0 }
  out(`job ${snap.id} "${snap.name}": ${snap.state}${snap.error !== undefined ? ` — ${snap.error}` : ''}`)
  const t = new Table({ head: ['task', 'state', 'peer', 'attempts', 'duration', 'reason'], style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } })
  for (const task of snap.tasks ?? []) {
    const last = task.attempts.at(-1)
    const reasons = task.attempts.filter(a => a.reason !== undefined).map(a => `#${a.attempt} ${shortId(a.peer)}: ${a.reason!}`)
    t.push([
      task.id, task.status, task.peer === undefined ? '-' : shortId(task.peer), task.attempts.length,
      last?.durationMs === undefined ? '-' : `${(last.durationMs / 1000).toFixed(2)} s`,
      [task.waiting, ...reasons].filter(x => x !== undefined).join('\n').slice(0, 300)
    ])
  }
  out(t.toString())
  return 0
}

export async function resultsCommand (job: string, opts: Common & { out?: string }): Promise<number> {
  const target = findDaemon(opts.config)
  const r = await callDaemon<Results>(target, `/v1/jobs/${encodeURIComponent(job)}/results`)
  if (opts.out !== undefined) await writeResults(target, r, opts.out)
  if (opts.json === true) { out(JSON.stringify(r, null, 2)); return r.state === 'done' ? 0 : 1 }
  out(`job ${r.id} "${r.name}": ${r.state}, ${Object.keys(r.results).length} results`)
  for (const [task, v] of Object.entries(r.results)) out(`${color('bold', task)}: ${JSON.stringify(v)}`)
  for (const [task, e] of Object.entries(r.errors)) out(color('red', `${task}: ${e}`))
  if (opts.out !== undefined) out(`written to ${opts.out}`)
  return r.state === 'done' ? 0 : 1
}

/** `--out DIR`: DIR/<task>.json per result, and DIR/<task>/<path> per output file. */
async function writeResults (target: ControlTarget, r: Results, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_')
  for (const [task, v] of Object.entries(r.results)) await writeFile(join(dir, `${safe(task)}.json`), JSON.stringify(v, null, 2) + '\n')
  for (const [task, files] of Object.entries(r.outputs)) {
    for (const path of Object.keys(files)) {
      const res = await fetch(new URL(`/v1/jobs/${encodeURIComponent(r.id)}/output?task=${encodeURIComponent(task)}&path=${encodeURIComponent(path)}`, target.url), { headers: { authorization: `Bearer ${target.token}` } })
      if (!res.ok) throw new MeshError('MESH_ERR_CONTROL', `output ${path} of ${task}: ${res.status}`)
      const dest = join(dir, safe(task), path)
      await mkdir(dirname(dest), { recursive: true })
      await writeFile(dest, Buffer.from(await res.arrayBuffer()))
    }
  }
}

export async function cancelCommand (job: string, opts: Common): Promise<number> {
  const r = await callDaemon<{ cancelled: boolean, state: string }>(findDaemon(opts.config), `/v1/jobs/${encodeURIComponent(job)}/cancel`, { method: 'POST' })
  out(opts.json === true ? JSON.stringify(r) : r.cancelled ? `job ${job} cancelled` : `job ${job} was not running (${r.state})`)
  return r.cancelled ? 0 : 1
}

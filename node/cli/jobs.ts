/** `mesh submit | run | status | results | cancel`: jobs through the daemon's control API. */
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { JobSnapshot, ResultsReply, WhyNot } from '../control/api.ts'
import { ControlClient } from '../control/client.ts'
import { MAX_INPUT_FILES_BYTES, absoluteArtifactPaths, readJobFile, readJobFiles } from '../job-files.ts'
import { ago, color, shortId } from './format.ts'

interface Common { config?: string, json?: boolean }

const out = (s: string): void => { process.stdout.write(s + '\n') }

/** The daemon validates the spec; a bad one comes back as a JobSpecError naming `file`. */
export async function submitCommand (file: string, opts: Common & { wait?: boolean }): Promise<number> {
  // Artifacts stay on disk: the daemon (on this machine) reads them itself, by absolute path.
  const spec = absoluteArtifactPaths(await readJobFile(file), dirname(resolve(file)))
  const files = await readJobFiles(spec, dirname(resolve(file)), MAX_INPUT_FILES_BYTES)
  return await submitSpec(spec, files, file, opts)
}

export async function runCommand (argv: string[], opts: Common & { wait?: boolean, count?: number, cpu?: number, mem?: number, retries?: number }): Promise<number> {
  const spec = {
    name: `run ${basename(argv[0]!)}`.slice(0, 128),
    tasks: {
      run: {
        kind: 'exec',
        command: argv,
        ...(opts.count !== undefined ? { count: opts.count } : {}),
        resources: { cpu: opts.cpu ?? 1, memoryMB: opts.mem ?? 0 },
        retries: opts.retries ?? 0
      }
    }
  }
  return await submitSpec(spec, {}, 'mesh run', { ...opts, printOutput: true })
}

async function submitSpec (spec: unknown, files: Record<string, Uint8Array>, source: string, opts: Common & { wait?: boolean, printOutput?: boolean }): Promise<number> {
  const client = ControlClient.find(opts.config)
  const { id } = await client.submit(spec, { files, source })
  if (opts.wait !== true) {
    out(opts.json === true ? JSON.stringify({ id }) : `submitted job ${id}; follow it with: mesh status ${id}`)
    return 0
  }
  if (opts.json !== true) out(`job ${id} submitted`)
  const { followJob } = await import('./progress.ts')
  const snap = await followJob(client, id, { quiet: opts.json === true })
  const results = await client.results(id)
  if (opts.json === true) {
    out(JSON.stringify({ ...results, counts: snap.counts, peers: snap.peers, submittedAt: snap.submittedAt, endedAt: snap.endedAt, error: snap.error }, null, 2))
  } else {
    printEnd(snap, results, opts.printOutput === true)
  }
  return snap.state === 'done' ? 0 : 1
}

function printEnd (snap: JobSnapshot, r: ResultsReply, printOutput: boolean): void {
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

/** Without `--all`, `mesh status` lists running jobs and those that ended in the last hour. */
const RECENT_MS = 3600_000

export async function statusCommand (job: string | undefined, opts: Common & { all?: boolean }): Promise<number> {
  const client = ControlClient.find(opts.config)
  if (job === undefined) {
    const now = Date.now()
    const jobs = (await client.jobs()).filter(j => opts.all === true || j.state === 'running' || (j.endedAt ?? now) > now - RECENT_MS)
    if (opts.json === true) { out(JSON.stringify(jobs, null, 2)); return 0 }
    if (jobs.length === 0) { out('no jobs on this peer'); return 0 }
    const t = await table(['job', 'name', 'state', 'done/total', 'running', 'failed', 'submitted', 'took'])
    for (const j of jobs) {
      const took = j.endedAt === undefined ? '-' : `${((j.endedAt - j.submittedAt) / 1000).toFixed(1)} s`
      t.push([j.id, j.name, j.state, `${j.counts.done}/${j.total}`, j.counts.running, j.counts.failed, ago(now - j.submittedAt), took])
    }
    out(t.toString())
    return 0
  }
  const snap = await client.job(job)
  if (opts.json === true) { out(JSON.stringify(snap, null, 2)); return 0 }
  out(`job ${snap.id} "${snap.name}": ${snap.state}${snap.error !== undefined ? ` — ${snap.error}` : ''}`)
  const t = await table(['task', 'state', 'peer', 'attempts', 'duration', 'reason'], { compact: true })
  for (const task of snap.tasks ?? []) {
    const last = task.attempts.at(-1)
    const reasons = task.attempts.filter(a => a.reason !== undefined).map(a => `#${a.attempt} ${shortId(a.peer)}: ${a.reason!}`)
    t.push([
      task.id, task.status, task.peer === undefined ? '-' : shortId(task.peer), task.attempts.length,
      last?.durationMs === undefined ? '-' : `${(last.durationMs / 1000).toFixed(2)} s`,
      [verificationLine(task.verification), task.waiting, ...reasons].filter(x => x !== undefined).join('\n').slice(0, 300)
    ])
  }
  out(t.toString())
  for (const line of whyLines(snap)) out(line)
  return 0
}

/** A verified task's verdict: `verified: 2 of 2 agreed`, `verified: 2 of 3 agreed; disagreed: 8a1c… from …tRpw`, `trusted alone`. */
function verificationLine (v: NonNullable<JobSnapshot['tasks']>[number]['verification']): string | undefined {
  if (v === undefined) return undefined
  if (v.verdict === 'trusted') return 'verified: trusted alone (a long record of agreement)'
  const agreed = v.results.filter(r => r.agreed === true).length
  const against = v.results.filter(r => r.agreed === false).map(r => `${r.digest} from ${shortId(r.peer)}`)
  if (v.verdict === 'agreed') return `verified: ${agreed} of ${v.of} agreed${against.length > 0 ? `; disagreed: ${against.join(', ')}` : ''}`
  if (v.verdict === 'failed') return `verification failed: no majority among ${v.results.length} results`
  return `verifying: ${v.results.length} of ${v.of} results in`
}

/**
 * Why pending tasks do not run, per peer, readably: tasks with the same
 * reasons are listed together ("3 tasks: a, b, c"), then one line per peer.
 */
function whyLines (snap: JobSnapshot): string[] {
  const groups = new Map<string, { tasks: string[], why: WhyNot[] }>()
  for (const task of snap.tasks ?? []) {
    if (task.why === undefined) continue
    const key = task.why.map(w => `${w.peer}\0${w.reason}`).join('\n')
    const g = groups.get(key)
    if (g === undefined) groups.set(key, { tasks: [task.id], why: task.why })
    else g.tasks.push(task.id)
  }
  const lines: string[] = []
  for (const { tasks, why } of groups.values()) {
    const names = tasks.length > 6 ? `${tasks.slice(0, 5).join(', ')} … and ${tasks.length - 5} more` : tasks.join(', ')
    lines.push('', `${color('bold', 'why not running')} (${tasks.length === 1 ? 'task' : `${tasks.length} tasks`}: ${names}):`)
    if (why.length === 0) lines.push('  no live peer')
    for (const w of why) lines.push(`  ${shortId(w.peer)}: ${w.reason}`)
  }
  return lines
}

export async function resultsCommand (job: string, opts: Common & { out?: string }): Promise<number> {
  const client = ControlClient.find(opts.config)
  const r = await client.results(job)
  if (opts.out !== undefined) await writeResults(client, r, opts.out)
  if (opts.json === true) { out(JSON.stringify(r, null, 2)); return r.state === 'done' ? 0 : 1 }
  out(`job ${r.id} "${r.name}": ${r.state}, ${Object.keys(r.results).length} results`)
  for (const [task, v] of Object.entries(r.results)) out(`${color('bold', task)}: ${JSON.stringify(v)}`)
  for (const [task, e] of Object.entries(r.errors)) out(color('red', `${task}: ${e}`))
  if (opts.out !== undefined) out(`written to ${opts.out}`)
  return r.state === 'done' ? 0 : 1
}

/** `--out DIR`: DIR/<task>.json per result, and DIR/<task>/<path> per output file. */
async function writeResults (client: ControlClient, r: ResultsReply, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_')
  for (const [task, v] of Object.entries(r.results)) await writeFile(join(dir, `${safe(task)}.json`), JSON.stringify(v, null, 2) + '\n')
  for (const [task, files] of Object.entries(r.outputs)) {
    for (const path of Object.keys(files)) {
      const dest = join(dir, safe(task), path)
      await mkdir(dirname(dest), { recursive: true })
      await writeFile(dest, await client.output(r.id, task, path))
    }
  }
}

export async function cancelCommand (job: string, opts: Common): Promise<number> {
  const r = await ControlClient.find(opts.config).cancel(job)
  out(opts.json === true ? JSON.stringify(r) : r.cancelled ? `job ${job} cancelled` : `job ${job} was not running (${r.state})`)
  return r.cancelled ? 0 : 1
}

/** A text table (cli-table3, loaded only by the commands that print one). */
async function table (head: string[], opts: { compact?: boolean } = {}): Promise<{ push: (row: Array<string | number>) => void, toString: () => string }> {
  const { default: Table } = await import('cli-table3')
  return new Table({ head, style: { head: [], border: [] }, ...(opts.compact === true ? { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } } : {}) })
}

/**
 * Real ML on the mesh (issue 12): `mesh demo inference --json`, the built CLI,
 * as a user runs it: an ONNX model (examples/ml/model.onnx) over 8,000 digits
 * on a 3-peer local mesh, twice. Recorded per run: makespan, model bytes over
 * the network and from caches, accuracy, and what warm sessions saved (tasks
 * that loaded the model against tasks that found it warm in their thread).
 */
import { execFile } from 'node:child_process'
import { MESH_BIN } from '../node/local-mesh.ts'
import { machine, writeResult } from './lib.ts'

const log = (s: string): void => { process.stderr.write(`[ml] ${s}\n`) }

interface DemoRun {
  makespanMs: number
  artifactBytes: { network: number, cache: number }
  accuracy: number
  loaded: number
  warm: number
  meanLoadMs: number
  meanTaskMsLoading: number
  meanTaskMsWarm: number
}

export async function benchMl (): Promise<Record<string, unknown>> {
  const t0 = Date.now()
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(MESH_BIN, ['demo', 'inference', '--json'], { timeout: 180_000, maxBuffer: 1 << 20 }, (err, out, errOut) => {
      if (err !== null) reject(new Error(`mesh demo inference failed: ${err.message}\n${errOut}`))
      else resolve(out)
    })
  })
  const { runs } = JSON.parse(stdout) as { runs: DemoRun[] }
  for (const [i, r] of runs.entries()) log(`run ${i + 1}: ${r.makespanMs} ms, network ${r.artifactBytes.network} B, cache ${r.artifactBytes.cache} B, accuracy ${r.accuracy}, ${r.loaded} loaded (${Math.round(r.meanLoadMs)} ms), ${r.warm} warm`)
  const result = {
    what: 'mesh demo inference --json: examples/ml/model.onnx (3.3 MB) over 8,000 held-out digits in 8 tasks and a score, on 3 local daemons, twice on one mesh',
    machine: machine(),
    wallMs: Date.now() - t0,
    runs,
    how: 'the built CLI (bin/mesh); makespan is the job\'s endedAt − submittedAt from the origin; artifact bytes are the tasks\' artifactBytes summed; load and task times are measured by each ml.infer task (performance.now() in its worker thread) and averaged by ml.score'
  }
  writeResult('ml', result)
  return result
}

// `node bench/ml.ts` runs this benchmark alone.
if (import.meta.filename === process.argv[1]) {
  await benchMl()
  process.exit(0)
}

/**
 * `mesh`: the Meshwork CLI. Commander parses arguments (subcommands, help,
 * errors for unknown options) so every command gets the same conventions.
 */
import { generateKey } from '@libp2p/pnet'
import { Command } from 'commander'
import { MeshError } from '../../src/errors.ts'
import { JobSpecError } from '../../src/jobs/spec.ts'
import { runDaemon } from '../daemon.ts'
import { runDemo } from '../demo.ts'
import { peersCommand } from './peers.ts'
import { planCommand } from './plan.ts'
import { cancelCommand, resultsCommand, runCommand, statusCommand, submitCommand } from './jobs.ts'

const program = new Command()
  .name('mesh')
  .description('Meshwork: a peer-to-peer cooperative compute mesh')
  .showHelpAfterError()

program.command('start')
  .description('run the peer daemon in the foreground')
  .option('-c, --config <file>', 'config file (default: $MESHWORK_CONFIG or ~/.meshwork/mesh.config.json)')
  .action(async (opts: { config?: string }) => { await runDaemon(opts.config) })

program.command('peers')
  .description('the mesh as this peer sees it: peers, resources, load, tasks')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .action(async (opts: { config?: string, json?: boolean }) => { await peersCommand(opts) })

const setExit = (code: number): void => { process.exitCode = code }

program.command('submit')
  .description('submit a job file; --wait shows live progress and exits non-zero if the job fails')
  .argument('<job.json>', 'the job spec')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('-w, --wait', 'follow the job until it ends')
  .option('--json', 'print JSON for scripts')
  .action(async (file: string, opts: { config?: string, json?: boolean, wait?: boolean }) => { setExit(await submitCommand(file, opts)) })

program.command('run')
  .description('run a command as an exec job; {i} in the arguments becomes the task index')
  .option('-n, --count <n>', 'how many instances')
  .option('--cpu <cores>', 'cores per instance (default 1)')
  .option('--mem <MB>', 'memory per instance in MB (default 0)')
  .option('--retries <n>', 'retries per instance (default 0)')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('-w, --wait', 'follow the job and print each instance\'s output')
  .option('--json', 'print JSON for scripts')
  .argument('<command...>', 'the program and its arguments (after --)')
  .action(async (argv: string[], opts: { config?: string, json?: boolean, wait?: boolean, count?: string, cpu?: string, mem?: string, retries?: string }) => { setExit(await runCommand(argv, opts)) })

program.command('plan')
  .description('the best placement of a job on the live mesh (a MIP solved by HiGHS), beside what the auction would do; runs nothing')
  .argument('<job.json>', 'the job spec; every task needs estimateMs')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--time-limit <seconds>', 'time for the solver (default 30)')
  .option('--json', 'print JSON for scripts')
  .action(async (file: string, opts: { config?: string, json?: boolean, timeLimit?: string }) => { setExit(await planCommand(file, opts)) })

program.command('status')
  .description('jobs on this peer, or one job\'s tasks: state, peer, attempts, duration, reasons')
  .argument('[job]', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .action(async (job: string | undefined, opts: { config?: string, json?: boolean }) => { setExit(await statusCommand(job, opts)) })

program.command('results')
  .description('a job\'s results')
  .argument('<job>', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .option('-o, --out <dir>', 'write each result as <dir>/<task>.json and output files under <dir>/<task>/')
  .action(async (job: string, opts: { config?: string, json?: boolean, out?: string }) => { setExit(await resultsCommand(job, opts)) })

program.command('cancel')
  .description('cancel a job everywhere')
  .argument('<job>', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .action(async (job: string, opts: { config?: string, json?: boolean }) => { setExit(await cancelCommand(job, opts)) })

program.command('swarm-key')
  .description('print a new pnet swarm key; give the same file to every peer as swarmKeyFile for a private mesh')
  .action(() => {
    const key = new Uint8Array(95)
    generateKey(key)
    process.stdout.write(new TextDecoder().decode(key))
  })

program.command('demo')
  .description('a 3-peer mesh on this machine: peers find each other, one is killed, the others notice, it comes back')
  .action(async () => { await runDemo() })

try {
  await program.parseAsync()
} catch (err) {
  if (err instanceof MeshError) {
    process.stderr.write(`mesh: ${err.message} [${err.code}]\n`)
    if (err instanceof JobSpecError && err.problems.length > 1) {
      for (const p of err.problems) process.stderr.write(`  ${p.path}: ${p.problem}\n`)
    }
    process.exit(err.code === 'MESH_ERR_CONTROL' ? 3 : 2)
  }
  throw err
}

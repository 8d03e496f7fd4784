/**
 * `mesh`: the Meshwork CLI. Commander parses arguments (subcommands, help,
 * errors for unknown options) so every command gets the same conventions.
 *
 * Each command loads its code when it runs. The client commands (`peers`,
 * `submit`, `run`, `status`, `results`, `cancel`) need only the control
 * client and the formatting; the peer itself (libp2p, HiGHS, piscina, zod)
 * loads only for `start`, `plan` and `demo`. Keep it that way: every module
 * imported here is paid for by every command, `--help` included.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { JobSpecError, MeshError } from '../../src/errors.ts'
import { packageVersion } from '../package.ts'

const program = new Command()
  .name('mesh')
  .description('Meshwork: a peer-to-peer cooperative compute mesh')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError()
  // Throw instead of exiting, so bad use exits 2 like a bad config (below).
  .exitOverride()

const setExit = (code: number): void => { process.exitCode = code }

/** Commander option parsers: the type here, the range where the job spec is validated. */
const number = (what: string) => (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number.`)
  return n
}
const wholeNumber = (what: string) => (value: string): number => {
  const n = number(what)(value)
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${what} must be a whole number.`)
  return n
}

program.command('start')
  .description('run the peer daemon in the foreground')
  .option('-c, --config <file>', 'config file (default: $MESHWORK_CONFIG or ~/.meshwork/mesh.config.json)')
  .action(async (opts: { config?: string }) => { await (await import('../daemon.ts')).runDaemon(opts.config) })

program.command('peers')
  .description('the mesh as this peer sees it: peers, resources, load, tasks')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .action(async (opts: { config?: string, json?: boolean }) => { await (await import('./peers.ts')).peersCommand(opts) })

program.command('dashboard')
  .description('open this daemon\'s dashboard in a browser (a one-time login link; --no-open only prints it)')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--no-open', 'print the link, do not open a browser')
  .action(async (opts: { config?: string, open: boolean }) => { setExit(await (await import('./dashboard.ts')).dashboardCommand(opts)) })

program.command('submit')
  .description('submit a job file; --wait shows live progress and exits non-zero if the job fails')
  .argument('<job.json>', 'the job spec')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('-w, --wait', 'follow the job until it ends')
  .option('--json', 'print JSON for scripts')
  .action(async (file: string, opts: { config?: string, json?: boolean, wait?: boolean }) => { setExit(await (await import('./jobs.ts')).submitCommand(file, opts)) })

program.command('run')
  .description('run a command as an exec job; {i} in the arguments becomes the task index')
  .option('-n, --count <n>', 'how many instances', wholeNumber('--count'))
  .option('--cpu <cores>', 'cores per instance (default 1)', number('--cpu'))
  .option('--mem <MB>', 'memory per instance in MB (default 0)', number('--mem'))
  .option('--retries <n>', 'retries per instance (default 0)', wholeNumber('--retries'))
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('-w, --wait', 'follow the job and print each instance\'s output')
  .option('--json', 'print JSON for scripts')
  .argument('<command...>', 'the program and its arguments (after --)')
  .action(async (argv: string[], opts: { config?: string, json?: boolean, wait?: boolean, count?: number, cpu?: number, mem?: number, retries?: number }) => {
    setExit(await (await import('./jobs.ts')).runCommand(argv, opts))
  })

program.command('plan')
  .description('the best placement of a job on the live mesh (a MIP solved by HiGHS), beside what the auction would do; runs nothing')
  .argument('<job.json>', 'the job spec; every task needs estimateMs')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--time-limit <seconds>', 'time for the solver (default 30)')
  .option('--json', 'print JSON for scripts')
  .action(async (file: string, opts: { config?: string, json?: boolean, timeLimit?: string }) => { setExit(await (await import('./plan.ts')).planCommand(file, opts)) })

program.command('status')
  .description('jobs on this peer, or one job\'s tasks: state, peer, attempts, duration, reasons')
  .argument('[job]', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .option('-a, --all', 'every job the daemon keeps (history.keepDays), not only running and recent ones')
  .action(async (job: string | undefined, opts: { config?: string, json?: boolean, all?: boolean }) => { setExit(await (await import('./jobs.ts')).statusCommand(job, opts)) })

program.command('results')
  .description('a job\'s results')
  .argument('<job>', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .option('-o, --out <dir>', 'write each result as <dir>/<task>.json and output files under <dir>/<task>/')
  .action(async (job: string, opts: { config?: string, json?: boolean, out?: string }) => { setExit(await (await import('./jobs.ts')).resultsCommand(job, opts)) })

program.command('cancel')
  .description('cancel a job everywhere')
  .argument('<job>', 'a job id')
  .option('-c, --config <file>', 'find the daemon through this config file')
  .option('--json', 'print JSON for scripts')
  .action(async (job: string, opts: { config?: string, json?: boolean }) => { setExit(await (await import('./jobs.ts')).cancelCommand(job, opts)) })

program.command('swarm-key')
  .description('print a new pnet swarm key; give the same file to every peer as swarmKeyFile for a private mesh')
  .action(async () => {
    process.stdout.write((await import('../libp2p/pnet.ts')).newSwarmKey())
  })

program.command('demo')
  .description('a 3-peer mesh on this machine: peers find each other, one is killed, the others notice, it comes back')
  .argument('[which]', 'pi (the default): Monte Carlo π; inference: an ONNX model over a dataset, run twice; sweep: hyperparameter search, a trainer killed and resumed')
  .option('--json', 'inference and sweep: print one JSON object of the figures')
  .option('--dashboard', 'pi: open the dashboard of peer 2 as the demo starts, and keep the mesh running afterwards until Ctrl-C')
  .option('--no-open', 'with --dashboard: print the login link only')
  .action(async (which: string | undefined, opts: { json?: boolean, dashboard?: boolean, open: boolean }) => {
    if (which === undefined || which === 'pi') await (await import('../demo.ts')).runDemo({ dashboard: opts.dashboard === true, open: opts.open })
    else if (which === 'inference') await (await import('../demo-ml.ts')).runInferenceDemo(opts)
    else if (which === 'sweep') await (await import('../demo-ml.ts')).runSweepDemo(opts)
    else throw new InvalidArgumentError(`unknown demo "${which}": pi, inference or sweep`)
  })

try {
  await program.parseAsync()
} catch (err) {
  // Commander has already printed help, the version or what was wrong.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2)
  if (err instanceof MeshError) {
    process.stderr.write(`mesh: ${err.message} [${err.code}]\n`)
    if (err instanceof JobSpecError && err.problems.length > 1) {
      for (const p of err.problems) process.stderr.write(`  ${p.path}: ${p.problem}\n`)
    }
    process.exit(err.code === 'MESH_ERR_CONTROL' ? 3 : 2)
  }
  throw err
}

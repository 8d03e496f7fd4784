/**
 * `mesh`: the Meshwork CLI. Commander parses arguments (subcommands, help,
 * errors for unknown options) so every command gets the same conventions.
 */
import { generateKey } from '@libp2p/pnet'
import { Command } from 'commander'
import { MeshError } from '../../src/errors.ts'
import { runDaemon } from '../daemon.ts'
import { runDemo } from '../demo.ts'
import { peersCommand } from './peers.ts'

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
    process.exit(err.code === 'MESH_ERR_CONTROL' ? 3 : 2)
  }
  throw err
}

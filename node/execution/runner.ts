/** The peer's runner: handler tasks to the handler runner, exec tasks to the exec runner. */
import type { RunContext, RunOutcome, RunRequest, TaskRunner } from '../../src/execution/runner.ts'
import type { ExecRunner } from './exec-runner.ts'
import type { HandlerRunner } from './handler-runner.ts'

export class PeerRunner implements TaskRunner {
  readonly handlers: HandlerRunner
  readonly exec: ExecRunner
  constructor (handlers: HandlerRunner, exec: ExecRunner) {
    this.handlers = handlers
    this.exec = exec
  }

  async run (req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    return req.kind === 'exec' ? await this.exec.run(req, ctx) : await this.handlers.run(req, ctx)
  }
}

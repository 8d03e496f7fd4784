/**
 * Errors that reach a user or an embedding app carry a stable code, listed in
 * the README's error table. Outcomes (a rejected bid) are values, and bad network
 * input is dropped and counted; only misuse and bad configuration throw these.
 */
export const ERROR_CODES = {
  MESH_ERR_CONFIG: 'the configuration is invalid; the message names the field',
  MESH_ERR_CONFIG_FILE: 'the configuration file cannot be read or is not JSON',
  MESH_ERR_JOB_FAILED: 'the job failed or was cancelled; the message names the task and its error',
  MESH_ERR_STATE: 'the peer is not in a state that allows this call (e.g. not started)',
  MESH_ERR_CONTROL: 'the CLI cannot reach or authenticate with the daemon control API',
  MESH_ERR_JOB_SPEC: 'the job spec is invalid; the message names the path (tasks.train.resources.cpu)',
  MESH_ERR_NODE_VERSION: 'this Node.js is too old to run Meshwork; the message names the version found and the version needed'
} as const
export type ErrorCode = keyof typeof ERROR_CODES

export class MeshError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MeshError'
    this.code = code
  }
}

/** One problem in a configuration: which field and what is wrong with it. */
export interface ConfigProblem { field: string, problem: string }

export class ConfigError extends MeshError {
  readonly problems: ConfigProblem[]
  constructor (problems: ConfigProblem[], source = 'config') {
    super('MESH_ERR_CONFIG', `${source}: ` + problems.map(p => `${p.field}: ${p.problem}`).join('; '))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** One problem in a job spec: where (`tasks.train.resources.cpu`) and what. */
export interface JobSpecProblem { path: string, problem: string }

/** The longest problem list spelled out in an error message; `problems` keeps them all. */
export const MESSAGE_PROBLEMS = 20

/** A job spec that fails validation (src/jobs/spec.ts), with every problem. */
export class JobSpecError extends MeshError {
  readonly problems: JobSpecProblem[]
  constructor (problems: JobSpecProblem[], source = 'job spec') {
    const shown = problems.slice(0, MESSAGE_PROBLEMS).map(p => `${p.path}: ${p.problem}`)
    if (problems.length > MESSAGE_PROBLEMS) shown.push(`… and ${problems.length - MESSAGE_PROBLEMS} more`)
    super('MESH_ERR_JOB_SPEC', `${source}: ${shown.join('; ')}`)
    this.name = 'JobSpecError'
    this.problems = problems
  }
}

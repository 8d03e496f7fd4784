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
  MESH_ERR_JOB_SPEC: 'the job spec is invalid; the message names the path (tasks.train.resources.cpu)'
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

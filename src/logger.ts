/**
 * The logging the core needs. `node/` passes a pino child logger; tests pass
 * `silentLogger` or a recording one. Fields first, message second, as pino does.
 */
export interface Logger {
  debug: (fields: object, msg: string) => void
  info: (fields: object, msg: string) => void
  warn: (fields: object, msg: string) => void
  error: (fields: object, msg: string) => void
}

const noop = (): void => {}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

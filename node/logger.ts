/**
 * Logging: pino, because it is fast, structured (one JSON object per line, for
 * machines) and has a level per logger. The daemon writes logs to stderr so
 * stdout stays for what the user asked to see.
 */
import { pino, type Logger as Pino } from 'pino'
import type { Logger } from '../src/logger.ts'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'

export function createLogger (level: LogLevel, name = 'meshwork'): Pino {
  return pino({ name, level: process.env.MESHWORK_LOG ?? level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }))
}

/** Adapt pino to the core's Logger (identical call shape: fields, then message). */
export function coreLogger (log: Pino): Logger {
  return {
    debug: (f, m) => { log.debug(f, m) },
    info: (f, m) => { log.info(f, m) },
    warn: (f, m) => { log.warn(f, m) },
    error: (f, m) => { log.error(f, m) }
  }
}

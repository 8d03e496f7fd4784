/**
 * Runs `probeMachine` in a worker thread and posts the result. systeminformation
 * is large (all of its modules load on import) and needed once, at start: in a
 * thread that then exits, its memory goes with the thread instead of staying in
 * the daemon for its whole life.
 */
import { parentPort } from 'node:worker_threads'
import { probeMachine } from './machine.ts'

parentPort?.postMessage(await probeMachine())

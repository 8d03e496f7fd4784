export * from './codec.ts'
export * as resources from './resources.ts'
export * as auction from './auction.ts'
export * as task from './task.ts'

export * from './codec.ts'
export * as resources from './resources.ts'

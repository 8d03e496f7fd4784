import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Daemons run the compiled package: build it first when the sources changed.
    globalSetup: ['test/helpers/build.ts'],
    // System tests start real daemons; running two tiers' processes at once on
    // 2 cores only adds noise, so files run one at a time in CI.
    fileParallelism: process.env.CI === undefined,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default']
  }
})

/**
 * The Node.js this package needs. libp2p 3 and commander 15 need 22.12
 * (earlier Node fails deep inside them, e.g. `Promise.withResolvers is not a
 * function`), so `mesh` and `createPeer` check first and say so in one sentence.
 *
 * This module imports nothing, so the CLI's entry can load it and check before
 * anything that would fail on an old Node is even linked.
 */
export const NODE_NEEDED = { major: 22, minor: 12 } as const

/** Why `version` (e.g. `process.versions.node`) cannot run Meshwork, or undefined when it can. */
export function nodeVersionProblem (version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const { major: needMajor, minor: needMinor } = NODE_NEEDED
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined
  return `Meshwork needs Node.js ${needMajor}.${needMinor} or newer, but this is Node.js ${version}.`
}

/**
 * mDNS discovery, tested where its multicast cannot leave: a network namespace
 * of this test's own holding only loopback (`unshare -n`), as docs/ARCHITECTURE.md §12
 * requires. Two peers with no bootstrap list must find each other and keep a
 * single connection between them (both see the other; only the lower id dials).
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/daemons.ts'

const NODE = join(ROOT, 'node_modules', 'node', 'bin', 'node')
const SCRIPT = join(ROOT, 'test', 'fixtures', 'mdns-pair.ts')

describe('mDNS discovery (isolated network namespace)', () => {
  it('two peers with no bootstrap list find each other over mDNS, with one connection each', async () => {
    // The multicast route makes 224.0.0.251 reachable on the namespace's lone loopback.
    const cmd = `ip link set lo up && ip route add 224.0.0.0/4 dev lo && exec "${NODE}" "${SCRIPT}" 8000`
    const out = await new Promise<string>((resolve, reject) => {
      execFile('unshare', ['-n', 'sh', '-c', cmd], { timeout: 20_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`unshare -n failed (needs root or user namespaces): ${err.message}\n${stderr}`))
        else resolve(stdout)
      })
    })
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { found: boolean, connections: number[] }
    expect(result.found).toBe(true)
    expect(result.connections).toEqual([1, 1])
  })
})

/**
 * A daemon stopped and started again, over and over, each time as soon as it
 * is up: every time it hears its neighbour's ads again (and the neighbour
 * hears it). Gossipsub scores a peer down for grafting during the backoff its
 * last run left behind; before Meshwork forgave one such restart and redialled
 * peers whose ads never come, a quick restart could leave a daemon deaf to a
 * neighbour for as long as their connection lasted.
 * No timing is asserted: every wait is a condition with a deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peersJson, startMesh, type LocalDaemon } from '../helpers/daemons.ts'
import { waitFor } from '../helpers/wait.ts'

let daemons: LocalDaemon[]
let cleanup: () => Promise<void>

beforeAll(async () => {
  ({ daemons, cleanup } = await startMesh(2))
}, 60_000)

afterAll(async () => { await cleanup() })

const alive = async (d: LocalDaemon): Promise<string[]> => (await peersJson(d.config)).peers.filter(p => p.state === 'alive').map(p => p.id).sort()

describe('quick restarts', () => {
  it('a daemon restarted twelve times in a row hears its neighbour after each start', async () => {
    const [restarted, other] = daemons as [LocalDaemon, LocalDaemon]
    const both = [restarted.peerId, other.peerId].sort()
    for (let i = 0; i < 12; i++) {
      restarted.signal('SIGTERM')
      expect(await restarted.exited()).toBe(0)
      await restarted.start()
      await waitFor(`restart ${i + 1}: the restarted daemon to list both peers alive`, async () => (await alive(restarted)).join() === both.join(), { timeoutMs: 15_000, intervalMs: 100 })
    }
    expect(await alive(other)).toEqual(both)
  }, 180_000)
})

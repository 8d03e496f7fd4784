/** The wire codec keeps values as they were sent: typed arrays in results and checkpoints included. */
import { describe, expect, it } from 'vitest'
import { decodeTaskMessage, encodeTaskMessage, taskMsg } from '../../protocols/task.ts'

describe('codec', () => {
  it('carries typed arrays in a result value as themselves', () => {
    const value = { weights: new Float32Array([1.5, -2, 3.25]), ids: new Int32Array([-7, 9]), raw: new Uint8Array([1, 2, 255]), x: new Float64Array([0.1]) }
    const decoded = decodeTaskMessage(encodeTaskMessage(taskMsg.result('j', [{ taskId: 't', attempt: 1, ok: true, value, durationMs: 1 }])))
    expect(decoded.ok).toBe(true)
    const got = decoded.ok && decoded.value.type === 'result' ? decoded.value.results[0]!.ok && decoded.value.results[0]!.value : undefined
    expect(got).toEqual(value)
    expect((got as typeof value).weights).toBeInstanceOf(Float32Array)
  })
})

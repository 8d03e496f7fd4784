import { describe, it, expect } from 'vitest'
import { ManualClock, flushMicrotasks } from '../../src/testing/manual-clock.ts'
import { Alarm } from '../../src/clock.ts'

const START = 1_000_000

describe('ManualClock', () => {
  it('starts where it is told and moves only when advanced', () => {
    const clock = new ManualClock(START)
    expect(clock.now()).toBe(START)
    clock.advance(250)
    expect(clock.now()).toBe(START + 250)
    expect(new ManualClock().now()).toBe(1_700_000_000_000)
  })

  it('fires timers in deadline order, not the order they were set', () => {
    const clock = new ManualClock(START)
    const fired: string[] = []
    clock.setTimeout(() => fired.push('30'), 30)
    clock.setTimeout(() => fired.push('10'), 10)
    clock.setTimeout(() => fired.push('20'), 20)
    clock.setTimeout(() => fired.push('0'), 0)
    clock.advance(100)
    expect(fired).toEqual(['0', '10', '20', '30'])
  })

  it('fires timers with equal deadlines in the order they were set', () => {
    const clock = new ManualClock(START)
    const fired: number[] = []
    for (let i = 0; i < 20; i++) clock.setTimeout(() => fired.push(i), i % 2 === 0 ? 5 : 7)
    clock.advance(10)
    expect(fired).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19])
  })

  it('fires nothing synchronously, even with a 0 ms delay', () => {
    const clock = new ManualClock(START)
    let fired = false
    clock.setTimeout(() => { fired = true }, 0)
    expect(fired).toBe(false)
    clock.advance(0)
    expect(fired).toBe(true)
  })

  it('fires a timer exactly at its deadline, not before', () => {
    const clock = new ManualClock(START)
    let fired = 0
    clock.setTimeout(() => { fired++ }, 100)
    clock.advance(99)
    expect(fired).toBe(0)
    clock.advance(1)
    expect(fired).toBe(1)
    clock.advance(1000)
    expect(fired).toBe(1)
  })

  it('never fires cancelled timers, and does not count them as pending', () => {
    const clock = new ManualClock(START)
    const fired: string[] = []
    const a = clock.setTimeout(() => fired.push('a'), 10)
    clock.setTimeout(() => fired.push('b'), 20)
    const c = clock.setTimeout(() => fired.push('c'), 30)
    clock.clearTimeout(a)
    expect(clock.pending).toBe(2)
    expect(clock.nextAt()).toBe(START + 20)
    clock.advance(15)
    clock.clearTimeout(c)
    clock.advance(100)
    expect(fired).toEqual(['b'])
    expect(clock.pending).toBe(0)
    expect(clock.nextAt()).toBeUndefined()
  })

  it('lets a timer cancel a later one that falls in the same advance', () => {
    const clock = new ManualClock(START)
    const fired: string[] = []
    const later = clock.setTimeout(() => fired.push('later'), 20)
    clock.setTimeout(() => { fired.push('first'); clock.clearTimeout(later) }, 10)
    clock.advance(50)
    expect(fired).toEqual(['first'])
  })

  it('fires timers set during an advance when they fall within the window, and not those beyond it', () => {
    const clock = new ManualClock(START)
    const fired: Array<[string, number]> = []
    clock.setTimeout(() => {
      fired.push(['outer', clock.now() - START])
      clock.setTimeout(() => fired.push(['inner', clock.now() - START]), 30) // due at 40: inside
      clock.setTimeout(() => fired.push(['beyond', clock.now() - START]), 200) // due at 210: outside
    }, 10)
    clock.advance(100)
    expect(fired).toEqual([['outer', 10], ['inner', 40]])
    expect(clock.pending).toBe(1)
    clock.advance(110)
    expect(fired.at(-1)).toEqual(['beyond', 210])
  })

  it('runs a chain of 0 ms timers set from timers within the same advance', () => {
    const clock = new ManualClock(START)
    let count = 0
    const again = (): void => { if (++count < 50) clock.setTimeout(again, 0) }
    clock.setTimeout(again, 0)
    clock.advance(0)
    expect(count).toBe(50)
    expect(clock.now()).toBe(START)
  })

  it('shows each timer its own deadline as now(), then ends at the target', () => {
    const clock = new ManualClock(START)
    const seen: number[] = []
    for (const ms of [5, 17, 17, 64]) clock.setTimeout(() => seen.push(clock.now()), ms)
    clock.advance(100)
    expect(seen).toEqual([START + 5, START + 17, START + 17, START + 64])
    expect(clock.now()).toBe(START + 100)
  })

  it('treats a negative delay as 0', () => {
    const clock = new ManualClock(START)
    let at: number | undefined
    clock.setTimeout(() => { at = clock.now() }, -50)
    clock.advance(0)
    expect(at).toBe(START)
  })

  it('stays correct with many timers (heap order)', () => {
    const clock = new ManualClock(START)
    const fired: number[] = []
    // A fixed pseudo-random sequence of delays, with duplicates.
    let x = 12345
    const delays = Array.from({ length: 500 }, () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x % 1000 })
    delays.forEach((d, i) => clock.setTimeout(() => fired.push(i), d))
    clock.advance(1000)
    const expected = delays.map((d, i) => ({ d, i })).sort((p, q) => p.d - q.d || p.i - q.i).map(p => p.i)
    expect(fired).toEqual(expected)
  })

  it('advanceAsync lets promise callbacks run between timers, at the time they resolved', async () => {
    const clock = new ManualClock(START)
    const log: Array<[string, number]> = []
    const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => clock.setTimeout(resolve, ms)) }
    void (async () => {
      await sleep(20)
      log.push(['after 20', clock.now() - START])
      await sleep(30)
      log.push(['after 50', clock.now() - START])
    })()
    await clock.advanceAsync(100, 1)
    expect(log).toEqual([['after 20', 20], ['after 50', 50]])
    expect(clock.now()).toBe(START + 100)
  })

  it('flushMicrotasks runs chained promise callbacks', async () => {
    let done = false
    void Promise.resolve().then(() => undefined).then(() => { done = true })
    await flushMicrotasks()
    expect(done).toBe(true)
  })
})

describe('Alarm on a ManualClock', () => {
  it('keeps the earlier of two deadlines and fires once', () => {
    const clock = new ManualClock(START)
    const fired: number[] = []
    const alarm = new Alarm(clock, () => fired.push(clock.now() - START))
    alarm.armAt(START + 50)
    alarm.armAt(START + 80) // later: ignored
    alarm.armAt(START + 30) // earlier: replaces
    expect(clock.pending).toBe(1)
    clock.advance(100)
    expect(fired).toEqual([30])
  })

  it('can be cancelled and re-armed', () => {
    const clock = new ManualClock(START)
    const fired: number[] = []
    const alarm = new Alarm(clock, () => fired.push(clock.now() - START))
    alarm.armAt(START + 10)
    alarm.cancel()
    clock.advance(20)
    expect(fired).toEqual([])
    alarm.armAt(START + 40)
    clock.advance(30)
    expect(fired).toEqual([40])
  })

  it('fires at once (on the next advance) for a deadline in the past', () => {
    const clock = new ManualClock(START)
    const fired: number[] = []
    const alarm = new Alarm(clock, () => fired.push(clock.now() - START))
    alarm.armAt(START - 500)
    clock.advance(0)
    expect(fired).toEqual([0])
  })
})

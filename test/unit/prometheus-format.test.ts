/** The exposition reader the /metrics tests rely on refuses what Prometheus would refuse. */
import { describe, expect, it } from 'vitest'
import { parseExposition, valueOf } from '../helpers/prometheus.ts'

const ok = [
  '# HELP a_total Things.', '# TYPE a_total counter', 'a_total{kind="x"} 3', 'a_total{kind="y\\"z"} 1',
  '# TYPE h histogram', 'h_bucket{le="0.1"} 1', 'h_bucket{le="1"} 2', 'h_bucket{le="+Inf"} 2', 'h_sum 0.7', 'h_count 2',
  '# TYPE g gauge', 'g Nan', ''
].join('\n')

describe('parseExposition', () => {
  it('reads counters, gauges and histograms', () => {
    const f = parseExposition(ok)
    expect(valueOf(f, 'a_total', { kind: 'x' })).toBe(3)
    expect(valueOf(f, 'a_total', { kind: 'y\\"z' })).toBe(1)
    expect(valueOf(f, 'h_count')).toBe(2)
    expect(Number.isNaN(valueOf(f, 'g'))).toBe(true)
  })

  it.each([
    ['a sample of an undeclared family', 'x 1', /no TYPE/],
    ['a bad value', '# TYPE x gauge\nx one', /bad value/],
    ['a bad label', '# TYPE x gauge\nx{1a="b"} 1', /bad label/],
    ['a repeated series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2', /repeated/],
    ['buckets that shrink', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_count 2', /not cumulative/],
    ['a +Inf bucket that is not the count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3', /not the count/],
    ['an unknown type', '# TYPE x thing', /unknown type/]
  ])('refuses %s', (_what, text, error) => {
    expect(() => parseExposition(text)).toThrow(error)
  })
})

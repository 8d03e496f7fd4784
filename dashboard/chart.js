// A time-series chart on uPlot (small and fast: it draws tens of thousands of points on a canvas).
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import { html } from './ui.js'

/** Counts change in steps: draw them as steps, not slopes. */
const STEPPED = uPlot.paths.stepped({ align: 1 })

/** Separate events (auction rounds): a dot each, no line joining them as if they were a level over time. */
const DOTS = stroke => ({ paths: () => null, points: { show: true, space: 0, size: 7, fill: stroke } })

/**
 * `data`: [xs (seconds since 1970), ...one array per series]; `series`: [{ label, stroke, fill? }].
 * The chart is built once per set of series and only given new data afterwards.
 */
export function Chart ({ title, series, data, height = 180, id, yLabel, stepped = false, dots = false }) {
  const box = useRef(null)
  const plot = useRef(null)
  const key = series.map(s => s.label).join('|')
  useEffect(() => {
    const el = box.current
    const opts = {
      width: el.clientWidth || 600,
      height,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      // Time labels need room: at uPlot's default spacing a few seconds of data get a label every 250 ms.
      axes: [{ space: 90 }, { label: yLabel, size: 50 }],
      series: [{}, ...series.map(s => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: 2, points: { show: false }, ...(stepped ? { paths: STEPPED } : {}), ...(dots ? DOTS(s.stroke) : {}) }))]
    }
    plot.current = new uPlot(opts, data, el)
    const resize = new ResizeObserver(() => { plot.current?.setSize({ width: el.clientWidth, height }) })
    resize.observe(el)
    return () => { resize.disconnect(); plot.current?.destroy(); plot.current = null }
  }, [key, height])
  useEffect(() => { plot.current?.setData(data) }, [data])
  return html`<figure class="chart" id=${id}><figcaption>${title}</figcaption><div ref=${box}></div></figure>`
}

/**
 * Charts for bench/RESULTS.md: Vega-Lite specs rendered to SVG in Node (no
 * browser, no canvas), written to bench/charts/. Vega-Lite is the well-kept
 * way to say "bars of this by that"; we only describe the chart.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { RESULTS_DIR } from './lib.ts'

export const CHARTS_DIR = join(RESULTS_DIR, '..', 'charts')

export interface Bar { group: string, series: string, value: number, label?: string }

/**
 * Grouped horizontal bars: one row per `group`, one bar per `series`, the value
 * printed at the bar's end. `rule` draws a reference line (a target, a bound).
 */
export async function barChart (file: string, title: string, unit: string, bars: Bar[], opts: { log?: boolean, rule?: { value: number, label: string } } = {}): Promise<string> {
  const data = bars.filter(b => Number.isFinite(b.value)).map(b => ({ ...b, label: b.label ?? formatValue(b.value) }))
  const groups = [...new Set(data.map(b => b.group))]
  const series = [...new Set(data.map(b => b.series))]
  const x = { field: 'value', type: 'quantitative' as const, title: unit, ...(opts.log === true ? { scale: { type: 'log' as const } } : {}) }
  const layers: unknown[] = [
    { mark: { type: 'bar' }, encoding: { x, y: { field: 'series', type: 'nominal', title: null, axis: null, sort: series }, color: { field: 'series', type: 'nominal', title: null, sort: series, scale: { domain: series }, legend: { orient: 'bottom' } } } },
    { mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 }, encoding: { x, y: { field: 'series', type: 'nominal', sort: series }, text: { field: 'label' } } }
  ]
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 440,
    data: { values: data },
    facet: { row: { field: 'group', type: 'nominal', title: null, sort: groups, header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 11 } } },
    spec: { width: 440, height: { step: 16 }, layer: layers },
    config: { font: 'sans-serif', view: { stroke: null } }
  } as unknown as TopLevelSpec
  const svg = await render(spec, opts.rule)
  mkdirSync(CHARTS_DIR, { recursive: true })
  writeFileSync(join(CHARTS_DIR, file), svg)
  return `charts/${file}`
}

async function render (spec: TopLevelSpec, rule?: { value: number, label: string }): Promise<string> {
  const compiled = compile(spec).spec
  if (rule !== undefined) {
    // A caption under the title rather than a rule per facet: simpler and always legible.
    const t = compiled.title
    compiled.title = { text: typeof t === 'string' ? t : String((t as { text?: string } | undefined)?.text ?? ''), subtitle: `${rule.label}: ${formatValue(rule.value)}` }
  }
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' })
  return await view.toSVG()
}

function formatValue (v: number): string {
  if (Math.abs(v) >= 100) return String(Math.round(v))
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

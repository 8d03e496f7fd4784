/**
 * A strict reader of Prometheus's text exposition format (version 0.0.4), for
 * tests: it throws, naming the line, on anything a Prometheus server would
 * refuse or misread — a sample of an undeclared family, a bad name, label or
 * value, a repeated series, a histogram whose buckets are not cumulative or
 * whose +Inf bucket is not its count.
 */
export interface Sample { name: string, labels: Record<string, string>, value: number }
export interface Family { name: string, type: string, help: string, samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?\d+)?$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function parseExposition (text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    const at = `line ${i + 1} (${JSON.stringify(line.slice(0, 120))})`
    if (line === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) return // a plain comment
      const [, kind, name, rest] = m
      if (!NAME.test(name!)) throw new Error(`${at}: bad metric name`)
      const f = families.get(name!) ?? { name: name!, type: 'untyped', help: '', samples: [] }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest!)) throw new Error(`${at}: unknown type`)
        if (f.samples.length > 0) throw new Error(`${at}: TYPE after samples`)
        f.type = rest!
      } else f.help = rest!
      families.set(name!, f)
      return
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`${at}: not a sample line`)
    const [, name, , labelText, valueText] = m
    const labels: Record<string, string> = {}
    if (labelText !== undefined && labelText !== '') {
      for (const part of splitLabels(labelText)) {
        const l = LABEL.exec(part)
        if (l === null) throw new Error(`${at}: bad label ${part}`)
        if (Object.hasOwn(labels, l[1]!)) throw new Error(`${at}: label ${l[1]!} twice`)
        labels[l[1]!] = l[2]!
      }
    }
    // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes "Nan").
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(valueText!)
    const value = special !== null ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(valueText)
    if (special === null && (valueText === '' || Number.isNaN(value))) throw new Error(`${at}: bad value`)
    const family = familyOf(families, name!)
    if (family === undefined) throw new Error(`${at}: sample of a family with no TYPE`)
    const id = `${name!}{${Object.keys(labels).sort().map(k => `${k}=${labels[k]!}`).join(',')}}`
    if (seen.has(id)) throw new Error(`${at}: series ${id} repeated`)
    seen.add(id)
    family.samples.push({ name: name!, labels, value })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function familyOf (families: Map<string, Family>, sample: string): Family | undefined {
  const direct = families.get(sample)
  if (direct !== undefined && direct.type !== 'histogram') return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue
    const f = families.get(sample.slice(0, -suffix.length))
    if (f?.type === 'histogram' || f?.type === 'summary') return f
  }
  return direct
}

function splitLabels (text: string): string[] {
  const parts: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '\\' && quoted) { cur += c + (text[++i] ?? ''); continue }
    if (c === '"') quoted = !quoted
    if (c === ',' && !quoted) { parts.push(cur); cur = ''; continue }
    cur += c
  }
  if (cur !== '') parts.push(cur)
  return parts
}

function checkHistogram (f: Family): void {
  const groups = new Map<string, Sample[]>()
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels
    const k = JSON.stringify(Object.entries(rest).sort())
    groups.set(k, [...groups.get(k) ?? [], s])
  }
  for (const samples of groups.values()) {
    const buckets = samples.filter(s => s.name === `${f.name}_bucket`).map(s => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), value: s.value })).sort((a, b) => a.le - b.le)
    const count = samples.find(s => s.name === `${f.name}_count`)?.value
    if (buckets.length === 0 || buckets.at(-1)!.le !== Infinity) throw new Error(`${f.name}: no +Inf bucket`)
    for (let i = 1; i < buckets.length; i++) if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${f.name}: buckets not cumulative`)
    if (count !== buckets.at(-1)!.value) throw new Error(`${f.name}: +Inf bucket ${buckets.at(-1)!.value} is not the count ${String(count)}`)
  }
}

/** The value of one series, or undefined. */
export function valueOf (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
  }
  return undefined
}

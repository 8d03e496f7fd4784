/**
 * RESULTS.md section on fuzzing the decoders (`npm run fuzz`, test/fuzz/run.ts,
 * which writes bench/results/fuzz.json and rewrites this section in place).
 */
import { read } from './report-lib.ts'

export const FUZZ_HEADING = '## 10. Hostile input: every decoder fuzzed'

interface FuzzRow { decoder: string, cases: number, crashes: number, roundTrips: number, roundTripFailures: number, slowestMs: number, slowestInput: string, meanMs: number, heapGrowthMB: number, seconds: number }

export function fuzzSection (): string[] {
  const f = read('fuzz') as { when: string, command: string, machine: { cpus: number, node: string }, timeBound: string, seconds: number, rows: FuzzRow[] } | undefined
  if (f === undefined) return []
  return [FUZZ_HEADING, '',
    `\`${f.command}\` (test/fuzz/run.ts) on this ${f.machine.cpus}-core machine, Node ${f.machine.node}, ${f.when.slice(0, 10)}: ${f.seconds >= 120 ? `${Math.round(f.seconds / 60)} minutes` : `${f.seconds} s`} in all. ` +
    'Each decoder gets random bytes, valid messages mutated byte by byte (bit flips, overwrites, truncation, cuts, splices, duplicated ranges, huge length headers, deep nesting) ' +
    'and valid values mutated before encoding (wrong types, big numbers, huge strings, nesting up to 6,000 levels, `__proto__`/`constructor` keys, extra, missing and repeated fields). ' +
    `A crash is a throw outside the decoder's contract (protocol decoders never throw; the control API throws only its HTTP error, job and config files only their MeshError) or a case over ${f.timeBound}; what a decoder accepts must also encode again (the journal and the next message do). ` +
    'A tenth as many valid values must decode to what was encoded (round trips). Slowest: the one case that took longest, and what made it. Heap: heap used after the decoder\'s run minus before (after a GC).', '',
    '| decoder | cases | crashes | round trips | slowest case | mean | heap |', '| --- | --- | --- | --- | --- | --- | --- |',
    ...f.rows.map(r => `| ${r.decoder} | ${n(r.cases)} | ${r.crashes} | ${n(r.roundTrips - r.roundTripFailures)} of ${n(r.roundTrips)} | ${r.slowestMs} ms (${sized(r.slowestInput)}) | ${r.meanMs} ms | ${r.heapGrowthMB >= 0 ? '+' : ''}${r.heapGrowthMB} MB |`),
    '',
    'What fuzzing found, and the fixes, are kept as regression tests in test/unit/hostile-input.test.ts.', '',
    `Measured ${f.when.slice(0, 10)}.`]
}

const n = (x: number): string => x.toLocaleString('en-US')

/** `… (12163049 bytes)` as `… (11.6 MiB)`. */
function sized (how: string): string {
  return how.replace(/\((\d+) bytes\)$/, (_m, b: string) => {
    const bytes = Number(b)
    return `(${bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`})`
  })
}

/** `markdown` (RESULTS.md) with the fuzz section replaced, or put before "## Not compared" if it has none. */
export function withFuzzSection (markdown: string, section: string[]): string {
  const lines = markdown.split('\n')
  const start = lines.indexOf(FUZZ_HEADING)
  const end = start < 0 ? -1 : lines.findIndex((l, i) => i > start && l.startsWith('## '))
  if (start >= 0) lines.splice(start, (end < 0 ? lines.length : end) - start, ...section, '')
  else {
    const at = lines.indexOf('## Not compared')
    lines.splice(at < 0 ? lines.length : at, 0, ...section, '')
  }
  return lines.join('\n')
}

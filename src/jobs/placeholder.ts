/**
 * `{i}` in an exec task's fields becomes the instance index of a fan-out
 * (`count`). The one copy of the rule, shared by the job expansion and the
 * CLI's reading of input files (kept free of imports: the CLI loads it).
 */
/** The instance-index placeholder of exec tasks' fields. */
export const PLACEHOLDER = '{i}'

/** `s` for instance `index`: every `{i}` replaced by the index (the one copy of this rule). */
export function withIndex (s: string, index: number): string {
  return s.replaceAll(PLACEHOLDER, String(index))
}

/** The values `s` takes over `count` instances: one per index when it holds `{i}`, else itself. */
export function * instanceValues (s: string, count: number): Generator<string> {
  if (!s.includes(PLACEHOLDER)) { yield s; return }
  for (let i = 0; i < count; i++) yield withIndex(s, i)
}

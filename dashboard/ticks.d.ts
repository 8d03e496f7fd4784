/** Tick offsets (ms from the axis' start) for an axis `span` ms long: one round step apart, at most `most` steps. */
export function timeTicks (span: number, most?: number): number[]

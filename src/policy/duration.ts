/** Durations in policy files: "500ms", "30s", "10m", "6h", "10d" (or a number of seconds). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new RangeError(`not a duration: ${value}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

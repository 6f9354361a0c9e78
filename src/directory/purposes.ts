export const PURPOSES = ['two_factor', 'recovery', 'discovery'] as const;
export type Purpose = (typeof PURPOSES)[number];

// A bit set keeps the hot-path filter a single integer test in both SQL dialects.
const BITS: Record<Purpose, number> = { two_factor: 1, recovery: 2, discovery: 4 };
export const DISCOVERY_BIT = BITS.discovery;

export function purposesToBits(purposes: readonly Purpose[]): number {
  let bits = 0;
  for (const p of purposes) bits |= BITS[p];
  return bits;
}

export function bitsToPurposes(bits: number): Purpose[] {
  return PURPOSES.filter((p) => (bits & BITS[p]) !== 0);
}

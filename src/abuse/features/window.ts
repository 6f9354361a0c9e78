/**
 * Window primitives over a Float64Array slice, so a key's whole state is one typed array rather
 * than an object per counter (a million accounts would otherwise cost a million small objects each).
 *
 * Sliding counters use the two-bucket approximation (current and previous fixed bucket, the
 * previous one weighted by how much of it still overlaps the window): O(1) memory and update,
 * within a few percent of an exact sliding window for traffic that is not wildly bursty.
 * Decayed counters halve every half-life: totals over weeks without storing the weeks.
 */

/** Slots a sliding group of `n` counters takes: bucket index, n current, n previous. */
export function slidingSlots(n: number): number {
  return 1 + 2 * n;
}

/** Slots a decayed group of `n` counters takes: last update time, n values. */
export function decayedSlots(n: number): number {
  return 1 + n;
}

/**
 * Moves the group at `off` to the bucket of `at` and returns the slot offset to add into: the
 * current bucket, the previous one for a slightly late event, or -1 for one too late to count.
 */
export function slideTo(a: Float64Array, off: number, n: number, windowMs: number, at: number): number {
  const idx = Math.floor(at / windowMs);
  const cur = a[off]!;
  if (idx === cur) return off + 1;
  if (idx > cur) {
    if (idx === cur + 1) a.copyWithin(off + 1 + n, off + 1, off + 1 + n);
    else a.fill(0, off + 1 + n, off + 1 + 2 * n);
    a.fill(0, off + 1, off + 1 + n);
    a[off] = idx;
    return off + 1;
  }
  // Events from several nodes arrive slightly out of order: one bucket late still counts.
  return idx === cur - 1 ? off + 1 + n : -1;
}

/** The sliding sum of counter `field` over the window ending at `now`. */
export function slidingValue(a: Float64Array, off: number, n: number, windowMs: number, now: number, field: number): number {
  const idx = Math.floor(now / windowMs);
  const cur = a[off]!;
  const frac = (now - idx * windowMs) / windowMs;
  if (idx === cur) return a[off + 1 + n + field]! * (1 - frac) + a[off + 1 + field]!;
  if (idx === cur + 1) return a[off + 1 + field]! * (1 - frac);
  // A clock slightly behind the newest event still sees the current bucket whole.
  if (idx < cur) return a[off + 1 + field]!;
  return 0;
}

/** Brings the decayed group at `off` to time `at` and returns the factor for a value observed at `at`. */
export function decayTo(a: Float64Array, off: number, n: number, halfLifeMs: number, at: number): number {
  const last = a[off]!;
  if (at <= last) return at === last ? 1 : Math.pow(2, -(last - at) / halfLifeMs);
  if (last > 0) {
    const f = Math.pow(2, -(at - last) / halfLifeMs);
    for (let i = off + 1; i <= off + n; i++) a[i]! *= f;
  }
  a[off] = at;
  return 1;
}

/** Decayed counter `field` as seen at `now`. */
export function decayedValue(a: Float64Array, off: number, halfLifeMs: number, now: number, field: number): number {
  const last = a[off]!;
  const v = a[off + 1 + field]!;
  return now > last ? v * Math.pow(2, -(now - last) / halfLifeMs) : v;
}

/** One decayed rate with its own clock: the population's hit rate, a key's sign-up baseline. */
export class DecayedPair {
  private readonly a = new Float64Array(decayedSlots(2));
  constructor(private readonly halfLifeMs: number) {}

  add(at: number, x: number, y: number): void {
    const f = decayTo(this.a, 0, 2, this.halfLifeMs, at);
    this.a[1]! += x * f;
    this.a[2]! += y * f;
  }

  x(now: number): number {
    return decayedValue(this.a, 0, this.halfLifeMs, now, 0);
  }

  y(now: number): number {
    return decayedValue(this.a, 0, this.halfLifeMs, now, 1);
  }
}

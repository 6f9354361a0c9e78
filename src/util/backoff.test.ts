import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from './backoff.js';
import { SeededRandom } from './random.js';

describe('backoffDelay', () => {
  it('doubles from baseMs up to maxMs', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000]);
    // Attempt 0 (or less) waits baseMs; a huge attempt stays at the cap.
    expect(backoffDelay(0, 100, 1000)).toBe(100);
    expect(backoffDelay(5000, 100, 1000)).toBe(1000);
  });

  it('with random: equal jitter, between half the nominal delay and all of it', () => {
    expect(backoffDelay(3, 30_000, 6 * 3600_000, { float: () => 0 })).toBe(60_000);
    expect(backoffDelay(3, 30_000, 6 * 3600_000, { float: () => 0.5 })).toBe(90_000);
    expect(backoffDelay(3, 30_000, 6 * 3600_000, { float: () => 0.999999 })).toBe(120_000);
    const random = new SeededRandom(7);
    for (let a = 1; a <= 20; a++) {
      const nominal = Math.min(6 * 3600_000, 30_000 * 2 ** (a - 1));
      const d = backoffDelay(a, 30_000, 6 * 3600_000, random);
      expect(d).toBeGreaterThanOrEqual(nominal / 2);
      expect(d).toBeLessThanOrEqual(nominal);
    }
  });
});

describe('Backoff', () => {
  it('waits longer after each failure, up to the cap, and starts over after a success', () => {
    const b = new Backoff({ baseMs: 200, maxMs: 10_000 });
    expect(b.ms).toBe(0);
    expect(Array.from({ length: 8 }, () => b.failed())).toEqual([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    expect(b.ms).toBe(10_000);
    b.succeeded();
    expect(b.ms).toBe(0);
    expect(b.failed()).toBe(200);
  });

  it('draws jitter from the random source it was given', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: { float: () => 0 } });
    expect([b.failed(), b.failed(), b.failed()]).toEqual([50, 100, 200]);
  });
});

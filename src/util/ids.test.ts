import { describe, expect, it } from 'vitest';
import { timeOrderedId } from './ids.js';
import { SeededRandom } from './random.js';

describe('timeOrderedId', () => {
  it('is prefix, 12 hex digits of time, then base64url random bytes', () => {
    const random = new SeededRandom(1);
    const id = timeOrderedId({ prefix: 'cp', randomBytes: 10 }, 0x18c_0000_0001, random);
    expect(id).toMatch(/^cp_018c00000001[A-Za-z0-9_-]{14}$/);
    expect(timeOrderedId({ randomBytes: 12 }, 1, random)).toMatch(/^000000000001[A-Za-z0-9_-]{16}$/);
  });

  it('the same seed gives the same ids (the simulator replays byte for byte)', () => {
    const make = (): string[] => {
      const random = new SeededRandom(42);
      return [timeOrderedId({ randomBytes: 12 }, 1000, random), timeOrderedId({ prefix: 'cp', randomBytes: 10 }, 1000, random)];
    };
    expect(make()).toEqual(make());
  });

  it('sorts by time, and sequenced ids of one millisecond in the order they were made', () => {
    const random = new SeededRandom(3);
    const times = [0, 1, 15, 16, 255, 256, 1_700_000_000_000, 2 ** 47];
    const byTime = times.map((t) => timeOrderedId({ prefix: 'act', randomBytes: 8, sequenced: true }, t, random));
    expect([...byTime].sort()).toEqual(byTime);
    // Within a millisecond the counter orders them (it wraps after 65,536 ids; stay below that).
    const sameMs = Array.from({ length: 1000 }, () => timeOrderedId({ prefix: 'act', randomBytes: 8, sequenced: true }, 1_700_000_000_000, random));
    // A wrap of the 16-bit counter may fall inside the run once, never more.
    const breaks = sameMs.filter((id, i) => i > 0 && id < sameMs[i - 1]!).length;
    expect(breaks).toBeLessThanOrEqual(1);
    expect(new Set(sameMs).size).toBe(sameMs.length);
  });

  it('a fractional or negative time still gives 12 hex digits', () => {
    const random = new SeededRandom(5);
    expect(timeOrderedId({ randomBytes: 12 }, 1.5, random)).toMatch(/^000000000001/);
    expect(timeOrderedId({ randomBytes: 12 }, -5, random)).toMatch(/^000000000000/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exposurePeriods } from './exposure-periods.js';

/**
 * What the readers need of a pair's rows: for any boundary X the rows were split at, the first
 * answer at or after X and the first answer before X, exactly as the answers themselves say (the
 * holder's first exposure and its predecessor's; the first answer after a reinstatement).
 */
describe('exposurePeriods', () => {
  const times = fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 30 });
  const bounds = fc.array(fc.integer({ min: 1, max: 1_000 }), { maxLength: 6 });

  it('keeps, for every boundary, the first answer on each side of it', () => {
    fc.assert(
      fc.property(times, bounds, (answers, boundaries) => {
        const rows = exposurePeriods(answers, boundaries);
        for (const x of boundaries) {
          const after = answers.filter((a) => a >= x);
          const before = answers.filter((a) => a < x);
          const rowsAfter = rows.filter((r) => r.at >= x).map((r) => r.at);
          const rowsBefore = rows.filter((r) => r.at < x).map((r) => r.at);
          expect(rowsAfter.length > 0 ? Math.min(...rowsAfter) : undefined).toBe(after.length > 0 ? Math.min(...after) : undefined);
          expect(rowsBefore.length > 0 ? Math.min(...rowsBefore) : undefined).toBe(before.length > 0 ? Math.min(...before) : undefined);
        }
      }),
    );
  });

  it('starts with the pair\'s first answer at since 0, one row per period with an answer, each an answer', () => {
    fc.assert(
      fc.property(times, bounds, (answers, boundaries) => {
        const rows = exposurePeriods(answers, boundaries);
        expect(rows[0]).toEqual({ since: 0, at: Math.min(...answers) });
        const starts = [0, ...new Set(boundaries)].sort((a, b) => a - b);
        const nonEmpty = new Set(answers.map((a) => starts.filter((s) => s <= a).length));
        expect(rows).toHaveLength(nonEmpty.size);
        for (const [i, r] of rows.entries()) {
          expect(answers).toContain(r.at);
          if (i > 0) {
            expect(r.at).toBeGreaterThanOrEqual(r.since);
            expect(r.since).toBeGreaterThan(rows[i - 1]!.at);
          }
        }
        expect(new Set(rows.map((r) => r.since)).size).toBe(rows.length);
      }),
    );
  });

  it('adds nothing for a boundary with answers on one side only', () => {
    expect(exposurePeriods([5, 9, 7], [3])).toEqual([{ since: 0, at: 5 }]);
    expect(exposurePeriods([5, 9, 7], [10])).toEqual([{ since: 0, at: 5 }]);
    expect(exposurePeriods([5, 9, 12, 7], [10, 3])).toEqual([
      { since: 0, at: 5 },
      { since: 10, at: 12 },
    ]);
    // An answer at a boundary opens the period (the mirroring's own millisecond is the holder's).
    expect(exposurePeriods([4, 10], [10])).toEqual([
      { since: 0, at: 4 },
      { since: 10, at: 10 },
    ]);
  });
});

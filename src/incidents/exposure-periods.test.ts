import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keepAnswer, PeriodBounds, reconcile, type PeriodAnswer } from './exposure-periods.js';

/**
 * One pair's rows over a campaign's life: answers arrive (some late, earlier than the newest),
 * the attacker account is reinstated, the id is erased and mirrored for someone else, events pass
 * their retention, and the open campaign is recorded again and again. After every recording, under
 * the moments known then: each period an event still shows has a row in it, no later than the
 * period's first answer the events show; every row is an answer that happened; a row is announced
 * (inserted) only in a period that had none.
 */
const ID = 'id';
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('answer' as const), late: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reinstate' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remirror' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('record' as const) }) },
);

async function boundsOf(reinstated: number[], holder: number | undefined): Promise<PeriodBounds> {
  const b = new PeriodBounds(reinstated, async () => new Map(holder === undefined ? [] : [[ID, holder]]));
  await b.load([ID]);
  return b;
}

describe('exposure periods', () => {
  it('keep a row in every period the events show, however rows, retention and moments interleave', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), fc.integer({ min: 10, max: 120 }), fc.integer({ min: 1, max: 20 }), async (steps, retention, skew) => {
        let now = 1000;
        const answers: number[] = [];
        const reinstated: number[] = [];
        let holder: number | undefined = now - skew;
        const stored: number[] = [];
        for (const s of steps) {
          now += 7;
          if (s.kind === 'answer') answers.push(now - s.late);
          else if (s.kind === 'reinstate') reinstated.push(now + 1);
          else if (s.kind === 'remirror') holder = now - skew;
          else {
            const bounds = await boundsOf(reinstated, holder);
            const retained = answers.filter((a) => a > now - retention).sort((a, b) => a - b);
            const found: PeriodAnswer[] = [];
            for (const at of retained) keepAnswer(found, bounds.startOf(ID, at), at);
            const startOf = (at: number) => bounds.startOf(ID, at);
            const periodsBefore = new Set(stored.map(startOf));
            const { insert, move } = reconcile(found, stored, startOf);
            for (const at of insert) {
              expect(periodsBefore.has(startOf(at))).toBe(false);
              expect(stored).not.toContain(at);
              stored.push(at);
            }
            for (const { from, to } of move) {
              expect(startOf(from)).toBe(startOf(to));
              expect(stored).not.toContain(to);
              stored[stored.indexOf(from)] = to;
            }
            for (const at of stored) expect(answers).toContain(at);
            for (const at of retained) {
              const inPeriod = stored.filter((r) => startOf(r) === startOf(at));
              expect(inPeriod.length).toBeGreaterThan(0);
              expect(Math.min(...inPeriod)).toBeLessThanOrEqual(at);
            }
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps the first answer on each side of every moment', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 1_000 }), { maxLength: 4 }),
        fc.option(fc.integer({ min: 1, max: 1_000 }), { nil: undefined }),
        async (answers, reinstated, holder) => {
          const bounds = await boundsOf(reinstated, holder);
          const kept: PeriodAnswer[] = [];
          for (const at of [...answers].sort((a, b) => a - b)) keepAnswer(kept, bounds.startOf(ID, at), at);
          const rows = kept.map((k) => k.at);
          for (const x of [...reinstated, ...(holder === undefined ? [] : [holder])]) {
            const first = (xs: number[]) => (xs.length > 0 ? Math.min(...xs) : undefined);
            expect(first(rows.filter((a) => a >= x))).toBe(first(answers.filter((a) => a >= x)));
            expect(first(rows.filter((a) => a < x))).toBe(first(answers.filter((a) => a < x)));
          }
          expect(new Set(kept.map((k) => k.start)).size).toBe(kept.length);
        },
      ),
    );
  });

  it('adds nothing for a moment with answers on one side only', async () => {
    const keep = async (answers: number[], reinstated: number[], holder?: number) => {
      const bounds = await boundsOf(reinstated, holder);
      const kept: PeriodAnswer[] = [];
      for (const at of answers) keepAnswer(kept, bounds.startOf(ID, at), at);
      return kept;
    };
    expect(await keep([5, 7, 9], [3], 2)).toEqual([{ start: 3, at: 5 }]);
    expect(await keep([5, 7, 9], [10])).toEqual([{ start: 0, at: 5 }]);
    expect(await keep([5, 7, 9, 12], [10], 3)).toEqual([
      { start: 3, at: 5 },
      { start: 10, at: 12 },
    ]);
    // An answer at the holder's moment is the holder's.
    expect(await keep([4, 10], [], 10)).toEqual([
      { start: 0, at: 4 },
      { start: 10, at: 10 },
    ]);
    // Reading a period before the holder is known is a bug, not a guess.
    expect(() => new PeriodBounds([], async () => new Map()).startOf(ID, 1)).toThrow(/before load/);
  });

  it('matches stored rows to periods by their time: a row filed before the events aged out still counts', () => {
    // The predecessor's row (t=10) outlived its event; the holder (from 50) was answered at 60.
    const startOf = (at: number) => (at >= 50 ? 50 : 0);
    expect(reconcile([{ start: 50, at: 60 }], [10], startOf)).toEqual({ insert: [60], move: [] });
    // A late event shows an earlier answer in the holder's period: the row moves, nothing is announced.
    expect(reconcile([{ start: 0, at: 10 }, { start: 50, at: 55 }], [10, 60], startOf)).toEqual({ insert: [], move: [{ from: 60, to: 55 }] });
    // A late event before a reinstatement whose later answer is stored: a new row for the earlier period only.
    expect(reconcile([{ start: 0, at: 5 }, { start: 50, at: 60 }], [60], startOf)).toEqual({ insert: [5], move: [] });
  });
});

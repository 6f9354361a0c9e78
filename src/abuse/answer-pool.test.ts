import { describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY, type AnswersPolicy } from '../policy/index.js';
import { parsePool, poolStep, type AnswerPool } from './answer-pool.js';

const P: AnswersPolicy = DEFAULT_ABUSE_POLICY.realtime.answers!;
const DAY = 86_400_000;
const MEMORY = 28 * DAY;
const T0 = Date.UTC(2026, 0, 5);

/** `n` accounts no call named before. */
let named = 0;
const strangers = (n: number) => Array.from({ length: n }, () => `acct-${named++}`);

/** Calls (new numbers asked, accounts they matched, or how many strangers) one hour apart at the country's `rate`; the steps taken. */
function play(calls: readonly [number, number | readonly string[]][], rate = 0.13, gap = 3_600_000) {
  let pool: AnswerPool | undefined;
  return calls.map(([asked, matched], k) => {
    const step = poolStep(pool, asked, typeof matched === 'number' ? strangers(matched) : matched, T0 + k * gap, MEMORY, rate, P);
    if (step.changed) pool = step.next;
    return { ...step, pool };
  });
}

describe('the answer pool (pure)', () => {
  it('a first call that matched under five is no book; the first that matched five is', () => {
    const [a, b] = play([[30, 4], [30, 6]]);
    expect(a!.changed).toBe(false);
    expect(a!.pool).toBeUndefined();
    expect(b!.refuse).toBe(false);
    expect(b!.pool).toMatchObject({ bookAsked: 30, bookMatched: 6, calls: 0 });
  });

  it("slow-drip: a book and a batch both at a list's rate; the batch is refused, nothing added", () => {
    // slow-drip-00037 at 20,000 accounts: 40 numbers found 19, then 20 found 12, in Japan at 0.133.
    const [, second] = play([[40, 19], [20, 12]], 0.133);
    expect(second!.refuse).toBe(true);
    expect(second!.verdict?.z).toBeGreaterThan(4);
    expect(second!.pool).toMatchObject({ bookAsked: 40, bookMatched: 19, asked: 0, matched: 0, calls: 0 });
  });

  it('the same list cut into pieces under five matches is judged once the pieces reach five', () => {
    const steps = play([[40, 19], [6, 3], [6, 3]], 0.133);
    expect(steps[1]!.refuse).toBe(false);
    expect(steps[1]!.pool).toMatchObject({ pieceAsked: 6, pieceMatched: 3 });
    expect(steps[2]!.refuse).toBe(true);
    // Refused: the piece stays as it was, so a smaller retry is judged with it again.
    expect(steps[2]!.pool).toMatchObject({ pieceAsked: 6, pieceMatched: 3 });
    expect(poolStep(steps[2]!.pool, 2, strangers(2), T0 + 3 * 3_600_000, MEMORY, 0.133, P).refuse).toBe(true);
  });

  it("a person: an ordinary book, then new circles at twice the country's rate, never refused", () => {
    const steps = play([[200, 26], [40, 10], [30, 8], [25, 6]], 0.13, 5 * DAY);
    expect(steps.some((s) => s.refuse)).toBe(false);
    expect(steps[3]!.pool).toMatchObject({ asked: 95, matched: 24, calls: 3 });
  });

  it('a re-sync or a reinstall names the same friends again: nothing fresh, however dense the book', () => {
    // A small book nearly all on the app (13 of 30 where books hit 0.14), sent again whole, twice.
    const friends = strangers(13);
    const steps = play([[30, friends], [30, friends], [31, [...friends, ...strangers(1)]]], 0.14);
    expect(steps.some((s) => s.refuse)).toBe(false);
    expect(steps[2]!.pool).toMatchObject({ bookMatched: 13, pieceAsked: 61, pieceMatched: 1 });
    expect(steps[2]!.pool!.seen).toHaveLength(14);
  });

  it('a book forgotten after the memory without a call: the next batch starts a new book', () => {
    const [, later] = play([[40, 19], [20, 12]], 0.133, MEMORY + 1);
    expect(later!.refuse).toBe(false);
    expect(later!.pool).toMatchObject({ bookAsked: 20, bookMatched: 12 });
  });

  it("a refused account's calls keep its pool alive: retrying does not wait the memory out", () => {
    let pool = play([[40, 19]], 0.133)[0]!.pool;
    for (let k = 1; k <= 10; k++) {
      const step = poolStep(pool, 20, strangers(12), T0 + k * 20 * DAY, MEMORY, 0.133, P);
      expect(step.refuse, `call ${k}`).toBe(true);
      pool = step.next;
    }
  });

  it('the stored text back: anything malformed is no pool', () => {
    const pool = play([[40, 19]])[0]!.pool!;
    expect(parsePool(JSON.stringify(pool))).toEqual(pool);
    expect(parsePool(null)).toBeUndefined();
    expect(parsePool('{')).toBeUndefined();
    expect(parsePool(JSON.stringify({ ...pool, calls: -1 }))).toBeUndefined();
    expect(parsePool(JSON.stringify({ ...pool, asked: '3' }))).toBeUndefined();
    expect(parsePool(JSON.stringify({ ...pool, seen: [1] }))).toBeUndefined();
  });
});

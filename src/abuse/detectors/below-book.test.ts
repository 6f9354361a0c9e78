import { describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY } from '../../policy/index.js';
import { SeededRandom } from '../../util/random.js';
import { belowBookCheck } from './below-book.js';

const policy = DEFAULT_ABUSE_POLICY.realtime.belowBook!;

/** Mobile blocks of eight countries (calling code, block prefix); numbers are block + 4 digits. */
const COUNTRIES = [
  { cc: '1', prefix: '+1415555' },
  { cc: '44', prefix: '+4477009' },
  { cc: '49', prefix: '+4915120' },
  { cc: '91', prefix: '+9198123' },
  { cc: '55', prefix: '+5511987' },
  { cc: '62', prefix: '+6281220' },
  { cc: '90', prefix: '+9053212' },
  { cc: '63', prefix: '+6391712' },
] as const;

/** What books of each country hit (the rates the engine learned), as HitRates.rateOfCode gives them. */
const RATES: Record<string, number> = { '1': 0.07, '44': 0.12, '49': 0.13, '91': 0.17, '55': 0.12, '62': 0.11, '90': 0.07, '63': 0.04, '52': 0.15 };
const rateOf = (cc: string): number | undefined => RATES[cc];

/**
 * `count` numbers of one country, each a member with probability `hit` (which ones matched is
 * what the directory answered). Distinct within a call: every batch gets its own block.
 */
function numbers(rng: SeededRandom, prefix: string, count: number, hit: number, matched: Set<string>, block: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = `${prefix}${block % 10}${String(i).padStart(4, '0')}`;
    out.push(n);
    if (rng.float() < hit) matched.add(n);
  }
  return out;
}

function judge(book: string[], matched: Set<string>, ownCode: string | undefined, rates = rateOf) {
  return belowBookCheck(book, (n) => matched.has(n), ownCode, rates, policy);
}

describe('answers below a book (the census pattern)', () => {
  it("refuses a census batch: 5,000 random numbers over eight countries from an Austrian account, finding a few in a hundred of what those countries' books find", () => {
    const rng = new SeededRandom(7);
    const matched = new Set<string>();
    // Random numbers in the platform's own blocks hit at the share of the number space its users fill.
    const batch = COUNTRIES.flatMap((c, k) => numbers(rng, c.prefix, 625, 0.004, matched, k));
    const v = judge(batch, matched, '43');
    expect(v.judged).toBe(5000);
    expect(v.ratio).toBeLessThan(0.1);
    expect(v.below).toBe(true);
    // The same batch at a tenth of the books' rates overall (sparse blocks) is still far below.
    const sparse = new Set<string>();
    const again = COUNTRIES.flatMap((c, k) => numbers(new SeededRandom(8 + k), c.prefix, 625, (RATES[c.cc] ?? 0) / 10, sparse, k));
    expect(judge(again, sparse, '43').below).toBe(true);
  });

  it('holds a scattered batch to the looser scatteredRatio: a census where random numbers hit a third of what books do (the simulator at 20,000 accounts)', () => {
    const rng = new SeededRandom(9);
    const matched = new Set<string>();
    const batch = COUNTRIES.flatMap((c, k) => numbers(rng, c.prefix, 625, (RATES[c.cc] ?? 0) / 3, matched, k));
    const v = judge(batch, matched, '43');
    expect(v.ratio).toBeGreaterThan(policy.maxRatio);
    expect(v.ratio).toBeLessThan(policy.scatteredRatio);
    expect(v.below).toBe(false);
    expect(belowBookCheck(batch, (n) => matched.has(n), '43', rateOf, policy, true).below).toBe(true);
    // A migrant's two-country book at 0.42 of its countries' rate (the lowest the organic model showed) is not below either way.
    const m = new Set<string>();
    const migrant = [...numbers(rng, '+4477009', 1200, 0.03, m, 1), ...numbers(new SeededRandom(10), '+9230012', 1550, 0.0225, m, 2)];
    expect(belowBookCheck(migrant, (n) => m.has(n), '44', (cc) => (cc === '92' ? 0.053 : RATES[cc]), policy, false)).toMatchObject({ judged: 1550, below: false });
  });

  it("answers an expat's and a student's book, which hit each country at that country's rate", () => {
    const rng = new SeededRandom(11);
    const matched = new Set<string>();
    // An Indian in the UAE with a 3,000-number book: 70% Indian, 20% Emirati, friends in three more countries.
    const expat = [
      ...numbers(rng, '+9198123', 2100, RATES['91']!, matched, 1),
      ...numbers(rng, '+9715012', 600, 0.15, matched, 2),
      ...numbers(rng, '+4477009', 100, RATES['44']!, matched, 3),
      ...numbers(rng, '+1415555', 100, RATES['1']!, matched, 4),
      ...numbers(rng, '+6391712', 100, RATES['63']!, matched, 5),
    ];
    const v = judge(expat, matched, '971');
    expect(v.judged).toBe(2400);
    expect(v.ratio).toBeGreaterThan(0.7);
    expect(v.below).toBe(false);
    // A German student in Britain: home, host, and classmates in five countries.
    const s = new Set<string>();
    const student = [...numbers(rng, '+4915120', 400, RATES['49']!, s, 1), ...numbers(rng, '+4477009', 300, RATES['44']!, s, 2), ...COUNTRIES.slice(3).flatMap((c, k) => numbers(rng, c.prefix, 30, RATES[c.cc]!, s, k + 3))];
    expect(judge(student, s, '44').below).toBe(false);
  });

  it("never judges the caller's own country: a launch-day joiner's 5,000-number book, whose friends have not joined yet, is judged on its numbers abroad alone", () => {
    const rng = new SeededRandom(12);
    const matched = new Set<string>();
    // Mexico, launch day: nobody in the book is on the app yet, nor are most relatives in the US.
    const book = [...numbers(rng, '+5215512', 4500, 0, matched, 1), ...numbers(rng, '+1415555', 500, RATES['1']! / 2, matched, 2)];
    const v = judge(book, matched, '52');
    expect(v.judged).toBe(500);
    expect(v.below).toBe(false);
    // The worst case of it: the relatives abroad not on the app either, 500 American numbers and
    // none found. The rule alone would refuse it (z -2.5 against 0.07); what answers it is that a new
    // account's batch is judged only when it is scattered as well (AbuseService, and
    // test/abuse-below-book.test.ts through HTTP), and this book is one country and a second.
    const none = new Set<string>();
    const lonely = [...numbers(rng, '+5215512', 4500, 0, none, 1), ...numbers(rng, '+1415555', 500, 0, none, 2)];
    expect(judge(lonely, none, '52')).toMatchObject({ judged: 500, matched: 0, below: true });
  });

  it("does not judge numbers of a country whose books were hardly seen: a border resident's Guatemalan half, where the app has no one", () => {
    const rng = new SeededRandom(13);
    const matched = new Set<string>();
    const book = [...numbers(rng, '+5215512', 900, 0.1, matched, 1), ...numbers(rng, '+5023012', 540, 0, matched, 2)];
    // With Guatemala's rate unknown (rateOfCode undefined), nothing is judged...
    expect(judge(book, matched, '52')).toMatchObject({ judged: 0, below: false });
    // ...where the population's rate standing in for it (0.09) would have refused the book.
    const v = judge(book, matched, '52', (cc) => RATES[cc] ?? 0.09);
    expect(v.below).toBe(true);
  });

  it('leaves small batches and shortfalls within the spread of books alone', () => {
    const rng = new SeededRandom(14);
    const matched = new Set<string>();
    // 200 foreign numbers, none found: under minNumbers.
    const small = COUNTRIES.slice(0, 4).flatMap((c, k) => numbers(rng, c.prefix, 50, 0, matched, k));
    expect(judge(small, matched, '43')).toMatchObject({ judged: 200, below: false });
    // 1,000 foreign numbers at a third of the books' rate: low, but a book can.
    const low = new Set<string>();
    const third = COUNTRIES.slice(0, 4).flatMap((c, k) => numbers(new SeededRandom(20 + k), c.prefix, 250, RATES[c.cc]! / 3, low, k));
    const v = judge(third, low, '43');
    expect(v.ratio).toBeGreaterThan(policy.maxRatio);
    expect(v.below).toBe(false);
  });
});

import type { AnswersPolicy } from '../../policy/index.js';

/**
 * The arithmetic of "answers beyond a book's" (answers.ts), pure and apart so that the feature
 * store can use it too (it keeps calls that are far beyond a book out of the yardstick they are
 * measured against) without importing a detector.
 */

/** What the rule found in one call or one account's history; undefined fields when it did not apply. */
export interface AnswersVerdict {
  excessive: boolean;
  numbers: number;
  matched: number;
  expected: number;
  z: number;
  baseline: number;
}

/**
 * Correlation of members within one book (the intra-class correlation of a beta-binomial). A book is
 * not a random draw from the country: friends of members are members (the simulator's books are
 * neighbours in a social graph), so hit rates spread between books far more than a binomial says.
 * With the plain binomial z, a US book of 155 numbers with 35 friends on the app (0.23 against the
 * country's 0.07, z 7.8) was refused and its owner suspended in slow-drip at 2,000 accounts. The
 * variance of a book of n numbers is inflated by 1 + (n - 1) * rho; 0.01 puts that book at z 4.9,
 * while a leaked list's batch stays above the bar (150 numbers, half registered, against 0.15: z 8.1).
 * The price: for large n, z tends to (rate - base) / sqrt(base (1 - base) rho), so against a
 * country at 0.07 a batch needs about 3.4 times the rate, not 2.75, to reach z 6.
 */
export const BOOK_CORRELATION = 0.01;

/**
 * z of `matched` hits among `numbers` at rate `base`, as `books` independent books (a cluster's
 * members summed): each book's variance is overdispersed by BOOK_CORRELATION.
 */
export function bookZ(numbers: number, matched: number, base: number, books = 1): number {
  const b = Math.min(0.999, Math.max(1e-6, base));
  const perBook = Math.max(1, numbers / Math.max(1, books));
  const variance = numbers * b * (1 - b) * (1 + (perBook - 1) * BOOK_CORRELATION);
  return variance > 0 ? (matched - numbers * b) / Math.sqrt(variance) : 0;
}

/**
 * The rule, pure: `matched` of `numbers` new numbers against the caller's country's hit rate; a
 * batch scattered over many countries needs less excess (`scatteredRatio`), since spread is evidence too.
 */
export function answersCheck(numbers: number, matched: number, baseline: number, p: AnswersPolicy, scattered = false): AnswersVerdict {
  const base = Math.min(0.999, Math.max(p.floor, baseline));
  const expected = numbers * base;
  const z = bookZ(numbers, matched, base);
  const ratio = scattered ? p.scatteredRatio : p.ratio;
  const excessive = numbers >= p.minNumbers && matched - expected >= p.minExcess && matched >= ratio * expected && z >= p.minZ;
  return { excessive, numbers, matched, expected, z, baseline: base };
}


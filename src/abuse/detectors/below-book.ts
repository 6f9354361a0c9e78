import type { BelowBookPolicy } from '../../policy/index.js';
import { numberCallingCode } from '../features/blocks.js';
import { bookZ } from './book.js';

/**
 * "Answers below a book's": the census pattern (WhatsApp 2025: random valid numbers, 5,000 to a
 * sync, as fast as they are answered). Its first batch is the whole leak, since everything after it
 * is caught by the engine within minutes, so only a rule judged in the request, after the directory
 * was read and before anything is answered, can stop it. What gives the batch away is what it finds:
 * random numbers hit the platform's users at the rate they fill the number space, an address book
 * hits its owner's friends, who are members far more often.
 *
 * Each number is measured against the book hit rate of its own calling code (what books of that
 * country hit), so an expat's or a student's book, which hits each country at that country's rate,
 * is measured fairly. The caller's own country's numbers are never judged: a book is mostly its
 * owner's country, and that is where a book can hit low for reasons of its own (a country where the
 * app launches this week and friends have not joined yet, an owner whose friends are elsewhere).
 * A random scan is the whole world's number space: from any one country, nearly all of it is
 * foreign. Nor is a country judged whose books were hardly seen (a country where the app has almost
 * no users): what its numbers should hit is unknown, and in someone's book they hit nothing.
 *
 * Pure: numbers are read and forgotten, nothing is kept or logged.
 */

/** A sync's new phone numbers, and which of them matched (the gate's, after matching): read here, never kept. */
export interface FreshNumbers {
  numbers: readonly string[];
  matched: ReadonlySet<string>;
}

export interface BelowBookVerdict {
  below: boolean;
  /** New numbers in the batch (phones with a known calling code). */
  numbers: number;
  /** Of those, the ones judged: outside the caller's own calling code, in a country with a known book rate. */
  judged: number;
  /** Matches among the judged numbers. */
  matched: number;
  /** Matches books of those countries would find among the judged numbers. */
  expected: number;
  /** matched / expected (1 when nothing is expected). */
  ratio: number;
  /** Book-overdispersed z of matched against expected (negative: fewer than books find). */
  z: number;
}

/**
 * Judges a batch's new numbers: refused (`below`) when at least `minNumbers` of them are judged
 * (foreign to the caller, of a country whose book rate is known), their matches are at most
 * `maxRatio` of what books of those countries find (`scatteredRatio` for a batch the scatter bars
 * call scattered: a census is the whole world's number space, a book a country or two and a
 * diaspora), and the shortfall is at least `minZ` standard
 * deviations of a book's hit rate (book.ts: books spread far more than a binomial, and the bar is
 * measured with that spread). `rateOfCode` is the book hit rate of a calling code, undefined when
 * too few of that country's books were seen to say (HitRates.rateOfCode): such numbers are not judged.
 */
export function belowBookCheck(
  newNumbers: readonly string[],
  isMatched: (n: string) => boolean,
  ownCode: string | undefined,
  rateOfCode: (cc: string) => number | undefined,
  p: BelowBookPolicy,
  scattered = false,
): BelowBookVerdict {
  let numbers = 0;
  let judged = 0;
  let matched = 0;
  let expected = 0;
  // Rates per calling code, looked up once each: a batch has few countries and many numbers.
  const rates = new Map<string, number | null>();
  for (const s of newNumbers) {
    const cc = numberCallingCode(s);
    if (cc === undefined) continue;
    numbers++;
    if (cc === ownCode) continue;
    let r = rates.get(cc);
    if (r === undefined) rates.set(cc, (r = rateOfCode(cc) ?? null));
    if (r === null) continue;
    judged++;
    expected += r;
    if (isMatched(s)) matched++;
  }
  const base = judged > 0 ? expected / judged : 0;
  const z = judged > 0 ? bookZ(judged, matched, base) : 0;
  const ratio = expected > 0 ? matched / expected : 1;
  const below = judged >= p.minNumbers && expected > 0 && ratio <= (scattered ? p.scatteredRatio : p.maxRatio) && z <= -p.minZ;
  return { below, numbers, judged, matched, expected, ratio, z };
}

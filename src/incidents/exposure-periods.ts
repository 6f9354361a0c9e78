/**
 * Which answers of one (attacker account, revealed account id) pair an exposure row keeps.
 *
 * findguard's own idea, so written here: a pair's answers are not one fact. Two moments split them
 * into periods that the exposure rule (exposure-rule.ts) and the notices judge apart:
 * - the mirroring of the id's current holder (less the allowed clock skew): answers before it
 *   revealed a predecessor the app erased, answers from it on reveal the holder, another person;
 * - each operator's reinstatement of the attacker account: answers up to it were judged a person's
 *   own lookups, answers after it are judged again (a later scan exposes whoever it finds).
 * A single row with the pair's first answer lost the second period of each: the new holder found by
 * the same attacker account, the friend found organically and again in a later scan.
 *
 * So a pair keeps the first answer of every period that has one. The first of them has `since` 0
 * (the pair's first answer, as rows made before periods existed say), each later one the start of
 * its period. Boundaries that split nothing add no row: in the common case a pair keeps one row.
 */
export interface PeriodAnswer {
  /** 0 for the pair's first answer; otherwise the start of the period this answer opened. */
  since: number;
  /** The first answer in that period. */
  at: number;
}

/**
 * `answers`: the pair's answer times (any order, repeats allowed); `boundaries`: period starts, an
 * answer at a boundary belongs to the period it starts. Rows in time order.
 */
export function exposurePeriods(answers: readonly number[], boundaries: readonly number[]): PeriodAnswer[] {
  const starts = [...new Set(boundaries)].sort((a, b) => a - b);
  const first = new Map<number, number>();
  for (const at of answers) {
    const period = periodOf(starts, at);
    const before = first.get(period);
    if (before === undefined || at < before) first.set(period, at);
  }
  const periods = [...first.keys()].sort((a, b) => a - b);
  return periods.map((p, i) => ({ since: i === 0 ? 0 : starts[p - 1]!, at: first.get(p)! }));
}

/** How many boundaries are at or before `at` (0: before the first). */
function periodOf(starts: readonly number[], at: number): number {
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

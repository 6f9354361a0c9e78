/**
 * Which answers of one (attacker account, revealed account id) pair the exposures keep.
 *
 * findguard's own idea, so written here: a pair's answers are not one fact. Two moments split them
 * into periods that the exposure rule (exposure-rule.ts) and the notices judge apart:
 * - the mirroring of the id's current holder (less the allowed clock skew): answers before it
 *   revealed a predecessor the app erased, answers from it on reveal the holder, another person;
 * - each operator's reinstatement of the attacker account: answers up to it were judged a person's
 *   own lookups, answers after it are judged again (a later scan exposes whoever it finds).
 * One row with the pair's first answer lost the second period of each: the new holder found by the
 * same attacker account, the friend found organically and again in a later scan.
 *
 * So a pair keeps the first answer of every period that has one, a row each (its key holds the
 * time). Which period a stored row is in is read from its time under the moments known now, never
 * from how it was filed: a row outlives the events it came from (retention), and a late event can
 * show an earlier answer, so the recording matches rows to periods by time (`reconcile`).
 */
export interface PeriodAnswer {
  /** Where the period starts: 0 before the first moment, else the moment (an answer at it is in it). */
  start: number;
  /** The first answer in that period. */
  at: number;
}

/** The moments that split one attacker account's answers: its reinstatements, and per id, its holder's mirroring. */
export class PeriodBounds {
  private readonly reinstated: number[];

  /**
   * `reinstatedAfter`: the first moment after each reinstatement of the attacker account (its time
   * + 1 ms: the rule exempts answers up to it); `holdersOf`: the period start of each id's current
   * holder, for the ids the directory holds; `holders`: what was read of them, which one recording
   * shares between its attacker accounts (a holder does not depend on who found it).
   */
  constructor(
    reinstatedAfter: readonly number[],
    private readonly holdersOf: (ids: string[]) => Promise<Map<string, number>>,
    private readonly holders = new Map<string, number | null>(),
  ) {
    this.reinstated = [...new Set(reinstatedAfter)].sort((a, b) => a - b);
  }

  /** Reads the holders of the ids not read yet (before `startOf` is asked about them). */
  async load(ids: Iterable<string>): Promise<void> {
    const unknown = [...new Set(ids)].filter((id) => !this.holders.has(id));
    if (unknown.length === 0) return;
    const found = await this.holdersOf(unknown);
    for (const id of unknown) this.holders.set(id, found.get(id) ?? null);
  }

  /** The start of the period an answer about `id` at `at` falls in. */
  startOf(id: string, at: number): number {
    const holder = this.holders.get(id);
    if (holder === undefined) throw new Error('PeriodBounds.startOf before load');
    let start = 0;
    for (const r of this.reinstated) if (r <= at && r > start) start = r;
    return holder !== null && holder <= at && holder > start ? holder : start;
  }
}

/** Adds an answer, given in time order, to an id's kept answers: the first of each period. */
export function keepAnswer(kept: PeriodAnswer[], start: number, at: number): void {
  const last = kept.at(-1);
  if (last === undefined || last.start !== start) kept.push({ start, at });
}

/**
 * What the recording changes for one pair: `found` (keepAnswer's list from the events read now)
 * against the times of the pair's stored rows. A period with no stored row gets one (announced as
 * new); a period whose stored first is later than what the events show moves it earlier (the
 * same exposure, known better: not announced again). Stored rows the events no longer show stay.
 */
export function reconcile(found: readonly PeriodAnswer[], stored: readonly number[], startOf: (at: number) => number): { insert: number[]; move: Array<{ from: number; to: number }> } {
  const firstStored = new Map<number, number>();
  for (const at of stored) {
    const start = startOf(at);
    const before = firstStored.get(start);
    if (before === undefined || at < before) firstStored.set(start, at);
  }
  const insert: number[] = [];
  const move: Array<{ from: number; to: number }> = [];
  for (const { start, at } of found) {
    const before = firstStored.get(start);
    if (before === undefined) insert.push(at);
    else if (at < before) move.push({ from: before, to: at });
  }
  return { insert, move };
}

import type { AccountState } from '../features/store.js';

/** Behaviour of one account or the sum over a cluster's members. */
export interface Behaviour {
  members: number;
  newShort: number;
  newDay: number;
  asked: number;
  /** Of `asked`, the numbers asked anew (outside the caller's previous, token-covered set). */
  askedNew: number;
  foreign: number;
  answered: number;
  matched: number;
  denseNumbers: number;
  denseCalls: number;
  calls: number;
  hostingCalls: number;
  newMembers: number;
  bestRun: number;
  runFrom: string;
  runTo: string;
  denseBlocks: Set<string>;
  maxCountries: number;
  maxIps: number;
  /** Own calling codes of the members ("+98"), for the explanation. */
  ownCodes: Set<string>;
}

/** Sets shared by light behaviours, which never add to them (sumBehaviour makes its own). */
export const NO_VALUES: ReadonlySet<string> = new Set<string>();

/** Generations a row may go unused before its account is let go (an account the store expired). */
const PRUNE_EVERY = 64;

/** A row: a light behaviour's numbers (behaviourOf with full false) and its score. */
const R = {
  newShort: 0, newDay: 1, asked: 2, foreign: 3, answered: 4, matched: 5, denseNumbers: 6, denseCalls: 7,
  calls: 8, hostingCalls: 9, newMembers: 10, bestRun: 11, maxCountries: 12, maxIps: 13, score: 14, askedNew: 15,
} as const;
const WIDTH = 16;

/**
 * EnumerationDetector's memo: each account's light behaviour and score, valid for one generation
 * (an evaluation's instant). The numbers live in one Float64Array, a row per account that the
 * account keeps from one generation to the next, so a generation allocates nothing per account;
 * a light behaviour's strings are its account's, its sets empty. As objects (a behaviour and an
 * assessment per account, their doubles boxed, in a map made anew each time) they lived as long as
 * the evaluation that scores every member of every busy key, outlived the young generation's
 * collections and were promoted: twitter-2019 at 10,000 accounts promoted 1.1 GB instead of
 * 0.25 GB, and the old generation, collected only when it fills, doubled the peak memory.
 */
export class BehaviourMemo {
  private values = new Float64Array(WIDTH * 1024);
  private stamps = new Float64Array(1024).fill(-1);
  private readonly slots = new Map<AccountState, number>();
  private readonly free: number[] = [];
  private next = 0;
  private generation = 0;

  /** Every row becomes stale; rows unused for PRUNE_EVERY generations are released. */
  renew(): void {
    this.generation++;
    if (this.generation % PRUNE_EVERY !== 0) return;
    const oldest = this.generation - PRUNE_EVERY;
    for (const [acc, slot] of this.slots) {
      if (this.stamps[slot]! < oldest) {
        this.slots.delete(acc);
        this.free.push(slot);
      }
    }
  }

  /** The offset of the account's row if it was written in this generation, else -1. */
  find(acc: AccountState): number {
    const slot = this.slots.get(acc);
    return slot !== undefined && this.stamps[slot] === this.generation ? slot * WIDTH : -1;
  }

  /** Writes the account's row for this generation; returns its offset. */
  write(acc: AccountState, b: Behaviour, score: number): number {
    let slot = this.slots.get(acc);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.next++;
      if (slot >= this.stamps.length) this.grow();
      this.slots.set(acc, slot);
    }
    this.stamps[slot] = this.generation;
    const o = slot * WIDTH;
    const v = this.values;
    v[o + R.newShort] = b.newShort;
    v[o + R.newDay] = b.newDay;
    v[o + R.asked] = b.asked;
    v[o + R.askedNew] = b.askedNew;
    v[o + R.foreign] = b.foreign;
    v[o + R.answered] = b.answered;
    v[o + R.matched] = b.matched;
    v[o + R.denseNumbers] = b.denseNumbers;
    v[o + R.denseCalls] = b.denseCalls;
    v[o + R.calls] = b.calls;
    v[o + R.hostingCalls] = b.hostingCalls;
    v[o + R.newMembers] = b.newMembers;
    v[o + R.bestRun] = b.bestRun;
    v[o + R.maxCountries] = b.maxCountries;
    v[o + R.maxIps] = b.maxIps;
    v[o + R.score] = score;
    return o;
  }

  score(o: number): number {
    return this.values[o + R.score]!;
  }

  /** The share of the decayed calls made from hosting networks, 0 without calls. */
  hostingShare(o: number): number {
    const calls = this.values[o + R.calls]!;
    return calls > 0 ? this.values[o + R.hostingCalls]! / calls : 0;
  }

  /** The light behaviour the row was written from (equal to it while `acc` has not changed). */
  light(o: number, acc: AccountState): Behaviour {
    const v = this.values;
    return {
      members: 1,
      newShort: v[o + R.newShort]!,
      newDay: v[o + R.newDay]!,
      asked: v[o + R.asked]!,
      askedNew: v[o + R.askedNew]!,
      foreign: v[o + R.foreign]!,
      answered: v[o + R.answered]!,
      matched: v[o + R.matched]!,
      denseNumbers: v[o + R.denseNumbers]!,
      denseCalls: v[o + R.denseCalls]!,
      calls: v[o + R.calls]!,
      hostingCalls: v[o + R.hostingCalls]!,
      newMembers: v[o + R.newMembers]!,
      bestRun: v[o + R.bestRun]!,
      runFrom: acc.bestRunFrom,
      runTo: acc.bestRunTo,
      denseBlocks: NO_VALUES as Set<string>,
      maxCountries: v[o + R.maxCountries]!,
      maxIps: v[o + R.maxIps]!,
      ownCodes: NO_VALUES as Set<string>,
    };
  }

  /** Accounts holding a row (tests: the memo lets go of accounts no longer scored). */
  get size(): number {
    return this.slots.size;
  }

  private grow(): void {
    const rows = this.stamps.length * 2;
    const values = new Float64Array(rows * WIDTH);
    values.set(this.values);
    const stamps = new Float64Array(rows).fill(-1);
    stamps.set(this.stamps);
    this.values = values;
    this.stamps = stamps;
  }
}

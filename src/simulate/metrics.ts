/**
 * What a run measured (shared/DESIGN.md §8): exposure, containment, organic harm, attacker cost,
 * and hourly series for the report. Only simulated quantities go in, so the same seed gives the
 * same result byte for byte.
 */
import type { OrganicKind } from './international.js';

const HOUR = 3_600_000;

export interface AttackerTally {
  name: string;
  kind: string;
  accounts: Set<string>;
  ips: Set<string>;
  countries: Set<string>;
  /** Population indices of discoverable accounts the attacker is after. */
  targets: Set<number>;
  revealed: Set<number>;
  requests: number;
  numbersQueried: number;
  answered: number;
  refusedByStatus: Record<string, number>;
  refusedByScope: Record<string, number>;
  firstRequestAt?: number;
  /** Each attacker account's first request: containment is measured from it. */
  firstRequestOf: Map<string, number>;
  /** When each attacker account last got an answer, and whether it can still get one. */
  lastAnswerAt: Map<string, number>;
  blocked: Map<string, number>;
  series: Array<{ hour: number; exposure: number; requests: number; refused: number }>;
  extra: Record<string, unknown>;
  /** Each fake account's creation time, and whether the fleet calls from residential addresses in its own country. */
  createdAt: Map<string, number>;
  residential: boolean;
  /** SHA-256 hashes per second of the fleet's devices (proof-of-work cost in CPU time). */
  hashRate?: number;
}

export interface OrganicTally {
  syncs: number;
  syncsRefused: number;
  lookups: number;
  lookupsRefused: number;
  newAccounts: number;
  numbersSynced: number;
  refusedByScope: Record<string, number>;
  /** Refused syncs by what refused them (refusalReason): which rule costs real users. */
  syncsRefusedByReason: Record<string, number>;
  /** Syncs that sent the whole book without a token (first syncs, reinstalls, new devices). */
  fullSyncs: number;
  fullSyncsRefused: number;
  byKind: Partial<Record<OrganicKind, { syncs: number; syncsRefused: number; refusedByReason: Record<string, number> }>>;
  series: Array<{ hour: number; syncs: number; refused: number }>;
}

/** Launch day: the surge's arrivals and their first syncs. */
export interface SurgeTally {
  arrived: number;
  firstSyncs: number;
  /** First syncs whose first attempt was refused (whatever the retries did). */
  firstSyncsRefused: number;
  /** First syncs answered on some attempt. */
  answered: number;
  largestFirstSync: number;
  refusedByReason: Record<string, number>;
}

export class Recorder {
  readonly attackers = new Map<string, AttackerTally>();
  /** Organic accounts that acted during the run (population indices). */
  readonly organicActive = new Set<number>();
  readonly organic: OrganicTally = {
    syncs: 0,
    syncsRefused: 0,
    lookups: 0,
    lookupsRefused: 0,
    newAccounts: 0,
    numbersSynced: 0,
    refusedByScope: {},
    syncsRefusedByReason: {},
    fullSyncs: 0,
    fullSyncsRefused: 0,
    byKind: {},
    series: [],
  };
  readonly surge: SurgeTally = { arrived: 0, firstSyncs: 0, firstSyncsRefused: 0, answered: 0, largestFirstSync: 0, refusedByReason: {} };

  constructor(private readonly start: number) {}

  attacker(name: string, kind: string): AttackerTally {
    let t = this.attackers.get(name);
    if (!t) {
      t = {
        name,
        kind,
        accounts: new Set(),
        ips: new Set(),
        countries: new Set(),
        targets: new Set(),
        revealed: new Set(),
        requests: 0,
        numbersQueried: 0,
        answered: 0,
        refusedByStatus: {},
        refusedByScope: {},
        firstRequestOf: new Map(),
        lastAnswerAt: new Map(),
        blocked: new Map(),
        series: [],
        extra: {},
        createdAt: new Map(),
        residential: false,
      };
      this.attackers.set(name, t);
    }
    return t;
  }

  hourOf(at: number): number {
    return Math.max(0, Math.floor((at - this.start) / HOUR));
  }

  attackerResponse(t: AttackerTally, at: number, account: string, numbers: number, outcome: Outcome, revealed: Iterable<number>): void {
    t.requests++;
    t.numbersQueried += numbers;
    t.firstRequestAt ??= at;
    if (!t.firstRequestOf.has(account)) t.firstRequestOf.set(account, at);
    const hour = bucket(t.series, this.hourOf(at), () => ({ hour: this.hourOf(at), exposure: 0, requests: 0, refused: 0 }));
    hour.requests++;
    if (outcome.ok) {
      t.answered++;
      t.lastAnswerAt.set(account, at);
      t.blocked.delete(account);
      for (const r of revealed) if (t.targets.has(r)) t.revealed.add(r);
    } else {
      hour.refused++;
      count(t.refusedByStatus, String(outcome.status));
      if (outcome.scope) count(t.refusedByScope, outcome.scope);
      // Suspension (403) is final; anything else may pass later.
      if (outcome.status === 403 || outcome.status === 401) t.blocked.set(account, at);
    }
    hour.exposure = t.targets.size > 0 ? t.revealed.size / t.targets.size : 0;
  }

  organicSync(at: number, numbers: number, outcome: Outcome, kind: OrganicKind = 'domestic', full = false): void {
    const o = this.organic;
    if (at < this.start) return;
    o.syncs++;
    o.numbersSynced += numbers;
    if (full) o.fullSyncs++;
    const k = (o.byKind[kind] ??= { syncs: 0, syncsRefused: 0, refusedByReason: {} });
    k.syncs++;
    const hour = bucket(o.series, this.hourOf(at), () => ({ hour: this.hourOf(at), syncs: 0, refused: 0 }));
    hour.syncs++;
    if (!outcome.ok) {
      o.syncsRefused++;
      hour.refused++;
      if (full) o.fullSyncsRefused++;
      k.syncsRefused++;
      if (outcome.scope) count(o.refusedByScope, outcome.scope);
      count(o.syncsRefusedByReason, refusalReason(outcome));
      count(k.refusedByReason, refusalReason(outcome));
    }
  }

  /** A launch-day arrival's first sync, its first attempt (counted whenever it happens). */
  surgeFirstSync(numbers: number, outcome: Outcome): void {
    const s = this.surge;
    s.firstSyncs++;
    s.largestFirstSync = Math.max(s.largestFirstSync, numbers);
    if (!outcome.ok) {
      s.firstSyncsRefused++;
      count(s.refusedByReason, refusalReason(outcome));
    }
  }

  organicLookup(at: number, outcome: Outcome): void {
    if (at < this.start) return;
    this.organic.lookups++;
    if (!outcome.ok) {
      this.organic.lookupsRefused++;
      if (outcome.scope) count(this.organic.refusedByScope, outcome.scope);
    }
  }
}

export type Outcome = { ok: true } | { ok: false; status: number; code: string; scope?: string; rule?: string };

/** "429 rate_limited/account (scattered-list)": status, code, scope and, where known, the rule. */
export function refusalReason(outcome: Extract<Outcome, { ok: false }>): string {
  return `${outcome.status} ${outcome.code}${outcome.scope ? `/${outcome.scope}` : ''}${outcome.rule ? ` (${outcome.rule})` : ''}`;
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function bucket<T extends { hour: number }>(series: T[], hour: number, make: () => T): T {
  const last = series[series.length - 1];
  if (last && last.hour === hour) return last;
  const b = make();
  series.push(b);
  return b;
}

/**
 * What a run measured (shared/DESIGN.md §8): exposure, containment, organic harm, attacker cost,
 * and hourly series for the report. Only simulated quantities go in, so the same seed gives the
 * same result byte for byte.
 */
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
}

export interface OrganicTally {
  syncs: number;
  syncsRefused: number;
  lookups: number;
  lookupsRefused: number;
  newAccounts: number;
  numbersSynced: number;
  refusedByScope: Record<string, number>;
  series: Array<{ hour: number; syncs: number; refused: number }>;
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
    series: [],
  };

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

  organicSync(at: number, numbers: number, outcome: Outcome): void {
    const o = this.organic;
    if (at < this.start) return;
    o.syncs++;
    o.numbersSynced += numbers;
    const hour = bucket(o.series, this.hourOf(at), () => ({ hour: this.hourOf(at), syncs: 0, refused: 0 }));
    hour.syncs++;
    if (!outcome.ok) {
      o.syncsRefused++;
      hour.refused++;
      if (outcome.scope) count(o.refusedByScope, outcome.scope);
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

export type Outcome = { ok: true } | { ok: false; status: number; code: string; scope?: string };

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

import type { LookupEvent } from '../events.js';
import type { AccountState, CallFacts, InfraKind } from '../features/store.js';
import type { SignupEvent } from '../signup.js';

/**
 * The detector contract. The engine updates the feature store once per input, then hands every
 * detector the same observation; at evaluation it asks each for its current findings. A new
 * detector is one more entry in the engine's list: nothing else changes.
 */

/** One input after the feature store has taken it in. */
export type Observation =
  | { type: 'lookup'; event: LookupEvent; facts: CallFacts }
  | { type: 'signup'; event: SignupEvent; account: AccountState };

/** A shared piece of infrastructure a finding rests on. `members`: distinct accounts seen on it. */
export type InfraRef = {
  kind: InfraKind | 'block';
  key: string;
  members: number;
};

/**
 * What a detector concluded, with a sentence an operator can check against the data.
 * - `account`: evidence about one account's own behaviour (score = how abusive it looks);
 * - `link`: two accounts belong together (score = how strongly);
 * - `group`: the accounts belong together, as one body of evidence (a burst, a shared device).
 */
export interface Finding {
  detector: string;
  kind: 'account' | 'link' | 'group';
  accountIds: readonly string[];
  /** In [0, 1]. */
  score: number;
  /** Named signals behind the finding ("dense", "foreign", "shared-device", "signup-burst", ...). */
  signals: readonly string[];
  infra?: readonly InfraRef[];
  /** The time span of the evidence, epoch ms. */
  from: number;
  to: number;
  explanation: string;
}

/**
 * A finding whose explanation is written when first read (then kept): most findings of an
 * evaluation are never shown to anyone, and their sentences (numbers formatted for people) were a
 * large part of an evaluation's cost. `explain` must read only values captured when the finding was
 * made, so the text is the one an eager finding would have had, and only the few numbers and short
 * strings the sentence needs: a finding lives until the next evaluation, and what its closure
 * holds as long. The explanation is an own enumerable property, so JSON (the sharded stages'
 * summaries) and spreads carry it.
 */
export function explainedLater(f: Omit<Finding, 'explanation'>, explain: () => string): Finding {
  return new LazyFinding(f, explain);
}

/**
 * explainedLater's finding: an instance whose explanation is one accessor shared by all, its
 * closure in a private field. An object literal with its own getter (as it was) is a dictionary
 * of properties with two closures and their contexts per finding; coordination's shared keys
 * (434 group findings an evaluation in twitter-2019 at 10,000 accounts, each kept until the next)
 * promoted 0.25 GB more to the old generation over the run (491 -> 247 MB), and peak memory
 * followed (575 -> 517 MB).
 */
class LazyFinding implements Finding {
  // Declared only: the constructor assigns them in the literal's order (JSON and keys keep it).
  declare readonly detector: string;
  declare readonly kind: Finding['kind'];
  declare readonly accountIds: readonly string[];
  declare readonly score: number;
  declare readonly signals: readonly string[];
  declare readonly infra?: readonly InfraRef[];
  declare readonly from: number;
  declare readonly to: number;
  declare readonly explanation: string;
  #explain: (() => string) | undefined;
  #text: string | undefined;

  static readonly #explanation: PropertyDescriptor = {
    enumerable: true,
    configurable: true,
    get(this: LazyFinding): string {
      if (this.#text === undefined) {
        this.#text = this.#explain!();
        // Written once: what it was written from can go.
        this.#explain = undefined;
      }
      return this.#text;
    },
  };

  constructor(f: Omit<Finding, 'explanation'>, explain: () => string) {
    const self = this as Omit<Finding, 'explanation'>;
    self.detector = f.detector;
    self.kind = f.kind;
    self.accountIds = f.accountIds;
    self.score = f.score;
    self.signals = f.signals;
    // As the literal had it: no infra key at all when there is none.
    if (f.infra !== undefined) self.infra = f.infra;
    self.from = f.from;
    self.to = f.to;
    this.#explain = explain;
    this.#text = undefined;
    Object.defineProperty(this, 'explanation', LazyFinding.#explanation);
  }
}

export interface Detector {
  readonly name: string;
  /** Takes one input in; must be cheap (it runs for every event) and must not throw. */
  observe(obs: Observation): void;
  /** Current findings as of `now` (evidence older than the detector's memory is gone). */
  findings(now: number): Finding[];
}

/** Signal strength to weight, noisy-or: independent pieces of evidence each close part of the gap to 1. */
export function noisyOr(parts: Iterable<number>): number {
  let miss = 1;
  for (const p of parts) miss *= 1 - Math.min(1, Math.max(0, p));
  return 1 - miss;
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** "4,950" */
export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "0.21" */
export function rate(x: number): string {
  return x.toFixed(2);
}

/** "3h" / "45m" / "2d": spans in explanations. */
export function span(ms: number): string {
  const day = 86_400_000;
  const hour = 3_600_000;
  if (ms >= 2 * day || (ms >= day && ms % day === 0)) return `${Math.round(ms / day)}d`;
  if (ms >= 2 * hour || (ms >= hour && ms % hour === 0)) return `${Math.round(ms / hour)}h`;
  return `${Math.max(1, Math.round(ms / 60_000))}m`;
}

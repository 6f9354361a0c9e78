import type { AnswersPolicy, CompiledAbusePolicy } from '../../policy/index.js';
import { answersCheck } from './book.js';
import { decayed, L, type FeatureStore } from '../features/store.js';
import { clamp01, fmt, rate, type Detector, type Finding, type Observation } from './types.js';

/**
 * Answers beyond a book's: what a leaked list costs an impostor and a person's address book does
 * not. A book holds friends, family and colleagues, a few of them on the app and most not; how many
 * depends on the country (the app's share of its people), and the population of callers in that
 * country shows it: their syncs hit at a rate the engine learns (FeatureStore.countryHitRate). A
 * list of registered numbers hits at the registered share of the list, whoever its owner is. A
 * count far above a book's is evidence no volume bar can give, since it is there in the first
 * call: a list split across 40 aged accounts in organic-sized batches is under every budget, but
 * each batch still answers two or three times what a person's book would.
 *
 * The rule wants the excess three ways at once, so that ordinary spread among people does not
 * trip it: a rate at least `ratio` times the country's (a person whose circle is all on the app is
 * still bounded by the country's share), at least `minExcess` matches above the expected count (a
 * small book can hit high by chance), and a binomial z-score of at least `minZ`.
 */

export const ANSWERS = 'answers';

/** An answered history is judged alone only on this many numbers (decayed)... */
const HISTORY_MIN_NUMBERS = 50;
/** ...and suspends alone only this far past the rule's z (a challenge below it). */
const HISTORY_EXTRA_Z = 2;

export { answersCheck, bookZ, BOOK_CORRELATION, type AnswersVerdict } from './book.js';

/**
 * The engine's side: an account the request path refused for its answers (a `refused` event that
 * carries the matches it withheld). Its answered history, summed with what was withheld, is the
 * second signal when it is as far above its country's rate; the history alone opens no finding.
 */
export class AnswersDetector implements Detector {
  readonly name = ANSWERS;
  private readonly dirty = new Set<string>();
  /** Accounts with a call refused for its answers: when (the last one). */
  private readonly refused = new Map<string, { at: number; numbers: number; matched: number }>();
  private readonly active = new Map<string, Finding>();

  constructor(
    private readonly store: FeatureStore,
    private readonly policy: CompiledAbusePolicy,
  ) {}

  observe(obs: Observation): void {
    if (obs.type !== 'lookup') return;
    const e = obs.event;
    // A refusal for anything else carries no matches: nothing was matched before it.
    if (e.outcome === 'refused' && e.matched > 0) {
      this.refused.set(e.accountId, { at: e.at, numbers: e.newNumbers, matched: e.matched });
      this.dirty.add(e.accountId);
    } else if (e.outcome === 'allowed' && e.matched > 0) {
      this.dirty.add(e.accountId);
    }
  }

  findings(now: number): Finding[] {
    const p = this.policy.realtime.answers;
    if (!p) return [];
    const memory = this.store.policy.longHalfLifeMs * 4;
    for (const [id, r] of this.refused) if (now - r.at > memory) this.refused.delete(id);
    for (const id of this.active.keys()) this.dirty.add(id);
    for (const id of this.dirty) {
      const f = this.assess(id, now, p);
      if (f) this.active.set(id, f);
      else this.active.delete(id);
    }
    this.dirty.clear();
    return [...this.active.values()];
  }

  private assess(id: string, now: number, p: AnswersPolicy): Finding | undefined {
    const acc = this.store.account(id);
    if (!acc) return undefined;
    const refused = this.refused.get(id);
    // The request path does not judge a new account's first sync (AbuseService.answers): a launch
    // day's joiners hit high before any learned rate follows. Their history is judged here, after
    // the answer, with the bars of a history: sleepers worked a list from accounts days old (79.7%
    // exposed at 2,000 accounts while only the aged were judged).
    const baseline = this.store.countryHitRate(acc.phoneRegion, now);
    // The account's record: answered numbers and their matches, plus what a refusal withheld.
    const answered = decayed(this.store, acc, L.answered, now) + (refused?.numbers ?? 0);
    const matched = decayed(this.store, acc, L.matched, now) + (refused?.matched ?? 0);
    const history = answersCheck(answered, matched, baseline, p);
    const signals: string[] = [];
    const texts: string[] = [];
    if (refused) {
      signals.push('answers-refused');
      texts.push(`a sync of ${fmt(refused.numbers)} new numbers refused for its ${fmt(refused.matched)} matches`);
    }
    if (history.excessive) {
      signals.push('hit-rate-excess');
      texts.push(`${fmt(matched)} matches on ${fmt(answered)} numbers lately (hit rate ${rate(matched / Math.max(1, answered))}, z ${history.z.toFixed(1)})`);
    }
    if (signals.length === 0) return undefined;
    // History alone: batches under the request path's minimum (slow-drip asks ~20 numbers at a
    // time for 88 days) are judged on their sum. The history sums re-syncs of the same book, and an
    // expat's friends abroad hit at their own countries' rates, which is why it once opened no
    // finding (one organic account of 7,898 suspended with the plain binomial z); overdispersed
    // (bookZ), the z of a re-sent book tends to a bound a book's rate sets, so a history passes the
    // bars only at about 3 to 4 times its country's rate. It is judged once enough has been
    // answered for that to mean something, and suspends only further out still.
    if (!refused) {
      if (answered < HISTORY_MIN_NUMBERS) return undefined;
      const far = history.z >= p.minZ + HISTORY_EXTRA_Z;
      if (far) signals.push('sustained');
      return {
        detector: ANSWERS,
        kind: 'account',
        accountIds: [id],
        score: far ? 0.85 : 0.55,
        signals,
        from: acc.firstAt,
        to: acc.lastAt,
        explanation: `account ${id}: ${texts.join('; ')}${far ? ', far beyond any book' : ''}; its country's callers hit ${rate(history.baseline)}`,
      };
    }
    // The request path's refusal already met every bar on one call; a history as far above its
    // country, withheld matches included, is the second signal, and both together are what suspends.
    // Never 1: no single detector is certain (and a policy may put an action out of reach at 0.999).
    const score = Math.min(0.98, clamp01(0.6 + (history.excessive ? 0.3 + 0.02 * Math.min(10, history.z - p.minZ) : 0)));
    return {
      detector: ANSWERS,
      kind: 'account',
      accountIds: [id],
      score,
      signals,
      from: acc.firstAt,
      to: acc.lastAt,
      explanation: `account ${id}: ${texts.join('; ')}; its country's callers hit ${rate(history.baseline)}`,
    };
  }
}

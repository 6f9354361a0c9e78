import type { AnswersPolicy, CompiledAbusePolicy } from '../../policy/index.js';
import type { FeatureStore } from '../features/store.js';
import { bookZ } from './book.js';
import { fmt, rate, type Detector, type Finding, type Observation } from './types.js';

/**
 * The revelation graph (issue 15 point 3): who an account's answers named, call after call. A
 * person's book is one set of friends: the first sync names them and every later one names the
 * same people again (a re-sync, a reinstall, a second phone), plus the one or two contacts added
 * since and the friends who joined the app since. A leaked list worked in organic-sized batches
 * names new people at every call: people who were on the app all along, who never found the caller
 * (they do not have it in their books), at the list's hit rate. That is what this detector prices:
 * answers rather than questions, and only the answers a book cannot explain.
 *
 * Per account it keeps the set of accounts its answers named. A call's fresh answers are those
 * not named to it before, less
 * - accounts that named the caller themselves (a friend who has the caller in their book: the
 *   sleepers' fleet-mates find each other, and a person's friends find them);
 * - accounts that joined after the caller's book (friends arriving on the app: a launch day);
 * and never more than the call's own matches (an update's token-covered previous set is not asked).
 * The first call with at least FRESH_MIN fresh answers is the account's book; each later one is
 * a novel call. Novel calls whose fresh answers are far above the caller's country's rate (the
 * answers rule's scattered ratio, with an excess and z bar of its own) are the finding: one challenges, two
 * suspend (a second, independent book is what a person rarely brings; a third is a list).
 *
 * Bounded: an account's set holds at most SEEN_MAX ids, and an account idle for the memory (four
 * long half-lives, as the answers rule's) is forgotten.
 */

export const REVELATION = 'revelation';

/** Fresh answers a call needs to count (an update's one or two added contacts never do). */
export const FRESH_MIN = 5;
/** Fresh answers above the expected count over the novel calls... */
export const NOVEL_MIN_EXCESS = 8;
/** ...and their overdispersed z (BOOK_CORRELATION): lower than the answers rule's, novelty is the other half. */
export const NOVEL_MIN_Z = 3.5;
/** Novel calls that challenge, and that suspend. */
export const NOVEL_CHALLENGE_CALLS = 1;
export const NOVEL_SUSPEND_CALLS = 2;
/** Ids remembered per account: a maximal book (5,000 numbers) names fewer. */
const SEEN_MAX = 5000;

interface NovelCall {
  at: number;
  numbers: number;
  fresh: number;
}

class Revealed {
  readonly seen = new Set<string>();
  bookAt: number | undefined;
  novel: NovelCall[] = [];
  lastAt = 0;
}

export class RevelationDetector implements Detector {
  readonly name = REVELATION;
  private readonly accounts = new Map<string, Revealed>();
  private readonly dirty = new Set<string>();
  private readonly active = new Map<string, Finding>();
  /**
   * A lower bound of every account's oldest time the sweep in findings() looks at (its last call,
   * its first novel call): until the memory has passed since it, the sweep would change nothing, so
   * it is skipped. Walking every caller at every evaluation was 4.4% of a 1,000,000-account replay.
   */
  private oldest = Number.POSITIVE_INFINITY;

  constructor(
    private readonly store: FeatureStore,
    private readonly policy: CompiledAbusePolicy,
  ) {}

  observe(obs: Observation): void {
    if (obs.type !== 'lookup' || !this.policy.realtime.answers) return;
    const e = obs.event;
    if (e.outcome !== 'allowed' || e.revealed.length === 0) return;
    const caller = e.accountId;
    let r = this.accounts.get(caller);
    if (!r) {
      this.accounts.set(caller, (r = new Revealed()));
      this.oldest = Math.min(this.oldest, e.at);
    }
    r.lastAt = Math.max(r.lastAt, e.at);
    let fresh = 0;
    for (const id of e.revealed) {
      if (id === caller || r.seen.has(id)) continue;
      if (r.seen.size < SEEN_MAX) r.seen.add(id);
      // A friend: it named the caller (the caller is in its book).
      if (this.accounts.get(id)?.seen.has(caller)) continue;
      // Joined the app after the caller's book: a friend arriving, not a new list entry.
      const joined = this.store.account(id)?.createdAt;
      if (r.bookAt !== undefined && joined !== undefined && joined > r.bookAt) continue;
      fresh++;
    }
    fresh = Math.min(fresh, e.matched);
    if (fresh < FRESH_MIN) return;
    if (r.bookAt === undefined) {
      r.bookAt = e.at;
      return;
    }
    if (r.novel.length === 0) this.oldest = Math.min(this.oldest, e.at);
    r.novel.push({ at: e.at, numbers: Math.max(e.newNumbers, fresh), fresh });
    this.dirty.add(caller);
  }

  findings(now: number): Finding[] {
    const p = this.policy.realtime.answers;
    if (!p) return [];
    const memory = this.store.policy.longHalfLifeMs * 4;
    if (now - this.oldest > memory) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const [id, r] of this.accounts) {
        if (now - r.lastAt > memory) {
          this.accounts.delete(id);
          this.active.delete(id);
          continue;
        }
        if (r.novel.length > 0 && now - r.novel[0]!.at > memory) {
          r.novel = r.novel.filter((c) => now - c.at <= memory);
          this.dirty.add(id);
        }
        oldest = Math.min(oldest, r.lastAt, r.novel.length > 0 ? r.novel[0]!.at : Number.POSITIVE_INFINITY);
      }
      this.oldest = oldest;
    }
    for (const id of this.active.keys()) this.dirty.add(id);
    for (const id of this.dirty) {
      const r = this.accounts.get(id);
      const f = r ? this.assess(id, r, now, p) : undefined;
      if (f) this.active.set(id, f);
      else this.active.delete(id);
    }
    this.dirty.clear();
    return [...this.active.values()];
  }

  private assess(id: string, r: Revealed, now: number, p: AnswersPolicy): Finding | undefined {
    if (r.novel.length < NOVEL_CHALLENGE_CALLS) return undefined;
    const acc = this.store.account(id);
    const v = novelAnswers(r.novel, this.store.countryHitRate(acc?.phoneRegion, now), p);
    if (!v.excessive) return undefined;
    const suspend = r.novel.length >= NOVEL_SUSPEND_CALLS;
    return {
      detector: REVELATION,
      kind: 'account',
      accountIds: [id],
      // Two signals at 0.85 suspend on their own (suspendAccount: 0.8, two signals); one novel call challenges.
      score: suspend ? 0.85 : 0.6,
      signals: suspend ? ['novel-answers', 'unreciprocated'] : ['novel-answers'],
      from: r.novel[0]!.at,
      to: r.novel[r.novel.length - 1]!.at,
      explanation:
        `account ${id}: ${r.novel.length} call(s) after its book named ${fmt(v.fresh)} accounts it had not found before, ` +
        `none of which has it in their books, from ${fmt(v.numbers)} numbers (rate ${rate(v.fresh / Math.max(1, v.numbers))}, z ${v.z.toFixed(1)}); ` +
        `its country's callers hit ${rate(v.baseline)}`,
    };
  }
}

export interface NovelVerdict {
  excessive: boolean;
  numbers: number;
  fresh: number;
  z: number;
  baseline: number;
}

/** The novel calls' fresh answers against the country's rate: the answers rule's scatteredRatio, NOVEL_MIN_EXCESS and NOVEL_MIN_Z. */
export function novelAnswers(calls: readonly NovelCall[], baseline: number, p: AnswersPolicy): NovelVerdict {
  let numbers = 0;
  let fresh = 0;
  for (const c of calls) {
    numbers += c.numbers;
    fresh += c.fresh;
  }
  const base = Math.min(0.999, Math.max(p.floor, baseline));
  const expected = numbers * base;
  // Each novel call is its own draw (a book of its own, if it were one): overdispersed per call.
  const z = bookZ(numbers, fresh, base, calls.length);
  // The scattered ratio, not the book's: novelty, like spread, is evidence of its own. Sleepers at
  // 20,000 accounts named new people at 1.9-2.6 times their country's rate, call after call, under
  // the book's 2.75; no organic account had a second novel call (40 had one, none above z 3).
  const excessive = fresh - expected >= NOVEL_MIN_EXCESS && fresh >= p.scatteredRatio * expected && z >= NOVEL_MIN_Z;
  return { excessive, numbers, fresh, z, baseline: base };
}

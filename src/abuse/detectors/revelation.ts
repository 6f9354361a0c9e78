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
 * suspend (a second, independent book is what a person rarely brings; a third is a list). The
 * book and the novel calls pooled by every value they asked suspend at the first novel call when
 * the book was found at a list's rate too (pooledAnswers): a list is one from its first batch on.
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
/** The z the book and novel calls pooled need to suspend on one novel call (pooledAnswers). */
export const POOLED_MIN_Z = 4;
/** Ids remembered per account: a maximal book (5,000 numbers) names fewer. */
const SEEN_MAX = 5000;

interface NovelCall {
  at: number;
  numbers: number;
  fresh: number;
  /** Every value the call asked (its numbers less a token's previous set): what pooledAnswers divides by. */
  asked: number;
}

/** The account's book as the detector saw it: what it asked and how many of its answers were fresh. */
export interface Book {
  asked: number;
  fresh: number;
}

/**
 * What a partition cannot know of an account another partition keeps (abuse/stages.ts): whether
 * its answers named the caller, and when it joined. Read from the stored events and the directory
 * (revealed-facts.ts) before the partition evaluates.
 */
export interface RevealedFacts {
  /** When each of these accounts was created; an account not in the answer is unknown. */
  createdAt(ids: readonly string[]): Promise<Map<string, number>>;
  /** For those of `ids` whose answered calls named `caller` in [since, until], the first such call's time. */
  firstNamed(caller: string, ids: readonly string[], since: number, until: number): Promise<Map<string, number>>;
}

/** An own account not yet judged: whether it is fresh depends on the caller's book, itself waiting (a call before is pending). */
interface Candidate {
  createdAt: number | undefined;
}

/** A call whose fresh answers wait on what another partition keeps (foreign) and, when calls before it wait too, on its book. */
interface PendingCall {
  at: number;
  numbers: number;
  newNumbers: number;
  matched: number;
  /** Own accounts counted fresh, given the book as it stood (only when no call was pending before). */
  localFresh: number;
  /** Own accounts to judge once the calls before are (when one was pending). */
  local: Candidate[] | undefined;
  /** Accounts of other partitions, named to the caller for the first time. */
  foreign: string[];
  /** When (the engine's clock) a resolve() first found it waiting: it waits for the other partitions only so long. */
  waitingSince?: number;
}

class Revealed {
  readonly seen = new Set<string>();
  bookAt: number | undefined;
  book: Book | undefined;
  novel: NovelCall[] = [];
  lastAt = 0;
  /** In arrival order; only on a partition, only while a call waits. */
  pending: PendingCall[] | undefined;
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

  /** Callers with a pending call. */
  private readonly waiting = new Set<string>();

  /**
   * @param owns whether an account is this engine's to keep (a partition's); a single engine keeps
   * all. What the detector asks of an account it does not keep waits for resolve().
   */
  constructor(
    private readonly store: FeatureStore,
    private readonly policy: CompiledAbusePolicy,
    private readonly owns: (accountId: string) => boolean = () => true,
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
    // With a call waiting, this one's book is not known yet: its own accounts are judged later too.
    const queued = r.pending !== undefined;
    let fresh = 0;
    let local: Candidate[] | undefined;
    let foreign: string[] | undefined;
    for (const id of e.revealed) {
      if (id === caller || r.seen.has(id)) continue;
      if (r.seen.size < SEEN_MAX) r.seen.add(id);
      if (!this.owns(id)) {
        (foreign ??= []).push(id);
        continue;
      }
      // A friend: it named the caller (the caller is in its book).
      if (this.accounts.get(id)?.seen.has(caller)) continue;
      const joined = this.store.account(id)?.createdAt;
      if (queued) {
        (local ??= []).push({ createdAt: joined });
        continue;
      }
      // Joined the app after the caller's book: a friend arriving, not a new list entry.
      if (r.bookAt !== undefined && joined !== undefined && joined > r.bookAt) continue;
      fresh++;
    }
    if (!queued && !this.mustWait(r, fresh, foreign?.length ?? 0, e.matched)) {
      this.classify(caller, r, e.at, e.numbers, e.newNumbers, Math.min(fresh, e.matched));
      return;
    }
    (r.pending ??= []).push({ at: e.at, numbers: e.numbers, newNumbers: e.newNumbers, matched: e.matched, localFresh: fresh, local, foreign: foreign ?? [] });
    this.waiting.add(caller);
  }

  /**
   * Whether what other partitions keep can change what this call is. Not when it cannot reach
   * FRESH_MIN with every foreign account counted, nor when it is the book with its own accounts
   * alone (how many more are fresh does not matter to a book): most calls, so few wait.
   */
  private mustWait(r: Revealed, localFresh: number, foreign: number, matched: number): boolean {
    if (foreign === 0) return false;
    if (Math.min(localFresh + foreign, matched) < FRESH_MIN) return false;
    return !(r.bookAt === undefined && Math.min(localFresh, matched) >= FRESH_MIN);
  }

  /** A call's fresh answers known: the book, a novel call, or nothing. */
  private classify(caller: string, r: Revealed, at: number, asked: number, newNumbers: number, fresh: number): void {
    if (fresh < FRESH_MIN) return;
    if (r.bookAt === undefined) {
      r.bookAt = at;
      r.book = { asked: Math.max(asked, fresh), fresh };
      return;
    }
    if (r.novel.length === 0) this.oldest = Math.min(this.oldest, at);
    r.novel.push({ at, numbers: Math.max(newNumbers, fresh), fresh, asked: Math.max(asked, fresh) });
    this.dirty.add(caller);
  }

  /** Calls waiting on accounts of other partitions (tests). */
  get pendingCalls(): number {
    let n = 0;
    for (const id of this.waiting) n += this.accounts.get(id)?.pending?.length ?? 0;
    return n;
  }

  /**
   * Judges the waiting calls, in each caller's order of arrival, with what `facts` says of the
   * other partitions' accounts: those whose answers named the caller before its call are friends,
   * and those created after its book are friends arriving, as a single engine judges its own. A
   * call is judged once every partition has stored up to it (`storedUpTo`), or once it has waited
   * `waitMs` on `clock` (a partition down or far behind: then on what is stored). Without facts (a
   * replay with no database) the other partitions' accounts are strangers.
   */
  async resolve(facts: RevealedFacts | undefined, storedUpTo: number | undefined, clock: number, waitMs: number): Promise<void> {
    const due = new Map<string, PendingCall[]>();
    for (const caller of this.waiting) {
      const pending = this.accounts.get(caller)?.pending;
      if (!pending) {
        this.waiting.delete(caller);
        continue;
      }
      // The leading run that is ready: a later call never goes before an earlier one that waits.
      for (const c of pending) c.waitingSince ??= clock;
      let n = 0;
      while (n < pending.length && ((storedUpTo !== undefined && pending[n]!.at <= storedUpTo) || clock - pending[n]!.waitingSince! >= waitMs)) n++;
      if (n > 0) due.set(caller, pending.slice(0, n));
    }
    if (due.size === 0) return;
    const created = facts ? await facts.createdAt([...new Set([...due.values()].flatMap((calls) => calls.flatMap((c) => c.foreign)))]) : new Map<string, number>();
    for (const [caller, calls] of due) {
      const ids = [...new Set(calls.flatMap((c) => c.foreign))];
      let until = Number.NEGATIVE_INFINITY;
      for (const c of calls) until = Math.max(until, c.at);
      // From the first stored event: one engine remembers whom an account named for as long as the
      // account stays active, whenever that was; the events kept (their retention) are what is known.
      const named = facts && ids.length > 0 ? await facts.firstNamed(caller, ids, 0, until) : new Map<string, number>();
      const r = this.accounts.get(caller);
      if (!r?.pending) continue;
      // Read at each call: a call before it may have become the book.
      const after = (joined: number | undefined) => r.bookAt !== undefined && joined !== undefined && joined > r.bookAt;
      for (const c of calls) {
        let fresh = c.local ? 0 : c.localFresh;
        for (const l of c.local ?? []) if (!after(l.createdAt)) fresh++;
        for (const id of c.foreign) {
          const first = named.get(id);
          if (!(first !== undefined && first <= c.at) && !after(created.get(id))) fresh++;
        }
        this.classify(caller, r, c.at, c.numbers, c.newNumbers, Math.min(fresh, c.matched));
      }
      r.pending = r.pending.length > calls.length ? r.pending.slice(calls.length) : undefined;
      if (!r.pending) this.waiting.delete(caller);
    }
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
    const baseline = this.store.countryHitRate(acc?.phoneRegion, now);
    const v = novelAnswers(r.novel, baseline, p);
    const all = r.book ? pooledAnswers(r.book, r.novel, baseline, p) : undefined;
    const pooled = all?.excessive ? all : undefined;
    if (!v.excessive && !pooled) return undefined;
    const suspend = pooled !== undefined || r.novel.length >= NOVEL_SUSPEND_CALLS;
    return {
      detector: REVELATION,
      kind: 'account',
      accountIds: [id],
      // Two signals at 0.85 suspend on their own (suspendAccount: 0.8, two signals); one novel call challenges.
      score: suspend ? 0.85 : 0.6,
      signals: !suspend ? ['novel-answers'] : pooled ? ['novel-answers', 'book-at-list-rate'] : ['novel-answers', 'unreciprocated'],
      from: r.novel[0]!.at,
      to: r.novel[r.novel.length - 1]!.at,
      explanation: pooled
        ? `account ${id}: its book and ${r.novel.length} call(s) after it named ${fmt(pooled.fresh)} accounts it had not found before, ` +
          `none of which has it in their books, from ${fmt(pooled.numbers)} numbers asked (rate ${rate(pooled.fresh / Math.max(1, pooled.numbers))}, z ${pooled.z.toFixed(1)}); ` +
          `its country's callers hit ${rate(pooled.baseline)}`
        : `account ${id}: ${r.novel.length} call(s) after its book named ${fmt(v.fresh)} accounts it had not found before, ` +
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
export function novelAnswers(calls: readonly { numbers: number; fresh: number }[], baseline: number, p: AnswersPolicy): NovelVerdict {
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

/**
 * The book and the novel calls pooled, by everything each asked: a second, independent set of
 * strangers is suspended at once when the book itself was found at a list's rate too. A person's
 * book is an address book: a re-sync after a new circle asks the whole book again, so the pool
 * stays near the country's rate. A list worked in batches is found at the list's rate from its
 * first call on (slow-drip at 20,000 accounts: 27 of the 32 drip accounts with a novel call were
 * at z 4 or more at their first, no organic account above 0.3 among 50). POOLED_MIN_Z over the
 * novel bars, since it suspends on one novel call; the same overdispersion, one book per call.
 */
export function pooledAnswers(book: Book, calls: readonly { asked: number; fresh: number }[], baseline: number, p: AnswersPolicy): NovelVerdict {
  let numbers = book.asked;
  let fresh = book.fresh;
  for (const c of calls) {
    numbers += c.asked;
    fresh += c.fresh;
  }
  return pooledVerdict(numbers, fresh, calls.length + 1, baseline, p);
}

/** pooledAnswers on totals: `fresh` of `numbers` asked over `books` calls (the request path's pool keeps only these). */
export function pooledVerdict(numbers: number, fresh: number, books: number, baseline: number, p: AnswersPolicy): NovelVerdict {
  const base = Math.min(0.999, Math.max(p.floor, baseline));
  const expected = numbers * base;
  const z = bookZ(numbers, fresh, base, books);
  const excessive = fresh - expected >= NOVEL_MIN_EXCESS && fresh >= p.scatteredRatio * expected && z >= POOLED_MIN_Z;
  return { excessive, numbers, fresh, z, baseline: base };
}

import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { AnswersPolicy } from '../policy/index.js';
import { FRESH_MIN, pooledVerdict, type NovelVerdict } from './detectors/revelation.js';
import { fnv1a32 } from './partitions.js';

/**
 * accounts.answer_pool (migration 20270110000000-answer-pool), declared here and joined to the
 * shared Database type with withTables, as first-sync.ts does: only the pool reads or writes it.
 */
type AnswerPoolColumn = {
  accounts: { answer_pool: string | null; answer_pool_at: number | null };
};

/**
 * The revelation graph's pooled rule (detectors/revelation.ts, pooledAnswers) judged on the request
 * path, before answering: the engine hears of a call only once it was answered, so there it can
 * suspend a list's account only after its second batch was. Here the call that would make the pool
 * excessive is refused (429, charged, nothing answered), as the answers rule refuses a batch.
 *
 * Per account: its book (the first sync whose new numbers matched FRESH_MIN accounts or more) and
 * what its later syncs asked and found. As in the engine, a call's fresh answers are the accounts
 * it matched that were not answered to the account before (kept as 32-bit hashes, at most SEEN_MAX):
 * a person's re-sync or reinstall names the same friends again and adds nothing fresh. Calls with
 * fewer than FRESH_MIN fresh answers accumulate as a piece, judged once the piece reaches it: a list
 * cut into pieces of four is judged as one batch. A refused call adds nothing but keeps the pool
 * alive. Forgotten after the memory (the revelation graph's: four long half-lives) without a call.
 *
 * Where it differs from the engine's: friends who found the caller first and friends who joined
 * after its book are not known here, so for a person it is the stricter of the two; the bars are
 * the same.
 */
export interface AnswerPool {
  bookAsked: number;
  bookMatched: number;
  /** Judged calls after the book, summed, and how many. */
  asked: number;
  matched: number;
  calls: number;
  /** Answered calls under FRESH_MIN fresh answers since the last judged one. */
  pieceAsked: number;
  pieceMatched: number;
  lastAt: number;
  /** Hashes (fnv1a32, base 36) of the accounts answered to it since its book. */
  seen: string[];
}

/** Accounts remembered per pool: a maximal book (5,000 numbers) at 15% names 750. */
export const SEEN_MAX = 2000;

export interface PoolStep {
  /** The pool to store; `changed` false when it stays as it was. */
  next: AnswerPool | undefined;
  changed: boolean;
  refuse: boolean;
  /** The verdict when the call was judged. */
  verdict?: NovelVerdict;
}

/** One call's new numbers (`asked`) and the accounts they matched, against the pool: pure, the rule itself. */
export function poolStep(pool: AnswerPool | undefined, asked: number, matchedAccounts: readonly string[], now: number, memoryMs: number, baseline: number, p: AnswersPolicy): PoolStep {
  const live = pool && now - pool.lastAt <= memoryMs ? pool : undefined;
  const seen = new Set(live?.seen);
  const fresh: string[] = [];
  for (const id of matchedAccounts) {
    const h = fnv1a32(id).toString(36);
    if (!seen.has(h)) {
      seen.add(h);
      fresh.push(h);
    }
  }
  const remember = (before: readonly string[]) => [...before, ...fresh.slice(0, Math.max(0, SEEN_MAX - before.length))];
  if (!live) {
    if (fresh.length < FRESH_MIN) return { next: pool, changed: false, refuse: false };
    const book: AnswerPool = { bookAsked: Math.max(asked, fresh.length), bookMatched: fresh.length, asked: 0, matched: 0, calls: 0, pieceAsked: 0, pieceMatched: 0, lastAt: now, seen: remember([]) };
    return { next: book, changed: true, refuse: false };
  }
  const pieceAsked = live.pieceAsked + Math.max(asked, fresh.length);
  const pieceMatched = live.pieceMatched + fresh.length;
  if (pieceMatched < FRESH_MIN) return { next: { ...live, pieceAsked, pieceMatched, lastAt: now, seen: remember(live.seen) }, changed: true, refuse: false };
  const verdict = pooledVerdict(live.bookAsked + live.asked + pieceAsked, live.bookMatched + live.matched + pieceMatched, live.calls + 2, baseline, p);
  if (verdict.excessive) return { next: { ...live, lastAt: now }, changed: true, refuse: true, verdict };
  const next = { ...live, asked: live.asked + pieceAsked, matched: live.matched + pieceMatched, calls: live.calls + 1, pieceAsked: 0, pieceMatched: 0, lastAt: now, seen: remember(live.seen) };
  return { next, changed: true, refuse: false, verdict };
}

const COUNTS: readonly Exclude<keyof AnswerPool, 'seen'>[] = ['bookAsked', 'bookMatched', 'asked', 'matched', 'calls', 'pieceAsked', 'pieceMatched', 'lastAt'];

/** The stored text back to a pool; anything else (hand-edited, truncated) is no pool. */
export function parsePool(text: string | null): AnswerPool | undefined {
  if (text === null) return undefined;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const counts = COUNTS.every((k) => typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) >= 0);
    const seen = Array.isArray(o.seen) && o.seen.length <= SEEN_MAX && o.seen.every((h) => typeof h === 'string');
    return counts && seen ? (o as unknown as AnswerPool) : undefined;
  } catch {
    return undefined;
  }
}

/** Compare-and-set rounds before a call is refused for contention (the same account syncing on many nodes at once). */
const ROUNDS = 5;

export type PoolOutcome = { refuse: false; verdict?: NovelVerdict } | { refuse: true; contended: boolean; verdict?: NovelVerdict };

/**
 * Every node's view of the pools: read, stepped and written back only if the row still holds what
 * was read (a compare-and-set on the text), so two nodes judging the same account's calls at once
 * each see the other's, in some order. Errors propagate: the caller fails the call closed.
 */
export class AnswerPools {
  private readonly db: Kysely<Database & AnswerPoolColumn>;

  constructor(
    db: Kysely<Database>,
    private readonly logger: Logger,
  ) {
    this.db = db.withTables<AnswerPoolColumn>();
  }

  async judge(accountId: string, asked: number, matchedAccounts: readonly string[], now: number, memoryMs: number, baseline: number, p: AnswersPolicy): Promise<PoolOutcome> {
    for (let round = 0; round < ROUNDS; round++) {
      const row = await this.db.selectFrom('accounts').select('answer_pool').where('id', '=', accountId).executeTakeFirst();
      // The caller was authorised before it was matched; an account erased since answers nothing anyway.
      if (!row) return { refuse: false };
      const step = poolStep(parsePool(row.answer_pool), asked, matchedAccounts, now, memoryMs, baseline, p);
      if (!step.changed) return { refuse: false };
      const text = step.next ? JSON.stringify(step.next) : null;
      const held = row.answer_pool;
      const r = await this.db
        .updateTable('accounts')
        .set({ answer_pool: text, answer_pool_at: step.next ? step.next.lastAt : null })
        .where('id', '=', accountId)
        .where((eb) => (held === null ? eb('answer_pool', 'is', null) : eb('answer_pool', '=', held)))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return step.refuse ? { refuse: true, contended: false, ...(step.verdict ? { verdict: step.verdict } : {}) } : { refuse: false, ...(step.verdict ? { verdict: step.verdict } : {}) };
    }
    // Answering without counting would be a free batch: refused, to be retried.
    this.logger.warn({ account: accountId, rounds: ROUNDS }, 'answer pool contended; the sync is refused');
    return { refuse: true, contended: true };
  }

  /** Clears the pools whose last call is before `cutoff` (the retention job): what they remember is no longer used. */
  async purgeIdle(cutoff: number): Promise<number> {
    const r = await this.db.updateTable('accounts').set({ answer_pool: null, answer_pool_at: null }).where('answer_pool_at', '<', cutoff).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}

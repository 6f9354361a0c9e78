import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';

/**
 * accounts.first_sync_at (migration 20261223000000-first-sync-claim), declared here and joined to
 * the shared Database type with withTables: only this claim reads or writes it, and the
 * directory's account rows need not carry it. A type alias for withTables' index signature.
 */
type FirstSyncColumn = {
  accounts: { first_sync_at: number | null };
};

/** Claimed accounts one node remembers: a week of sign-ups at a large service. */
const REMEMBERED_MAX = 200_000;

/**
 * The one sync of a new account that the answers rule leaves unjudged (AbuseService.answers),
 * claimed in the database so that it is one per account, not one per process: a restart (a deploy,
 * a crash) or a second serving node hands out no other. The claim is a conditional update; when
 * two nodes race, the database lets exactly one of them change the row.
 *
 * Each node remembers the accounts it has asked about so an account's later syncs cost no write.
 * Only a "no longer first" is remembered, and that never turns back, so the memory may be lost or
 * trimmed at any time: a forgotten account costs one more update, which finds the claim taken.
 */
export class FirstSyncClaims {
  private readonly db: Kysely<Database & FirstSyncColumn>;
  /** Account id to its creation time, in the order first asked. */
  private readonly asked = new Map<string, number>();

  constructor(
    db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly max = REMEMBERED_MAX,
  ) {
    this.db = db.withTables<FirstSyncColumn>();
  }

  /**
   * Whether this is the account's first sync, claiming it if so. Called only while the account is
   * new (younger than newAgeMs). When the database cannot be written the sync is judged (false),
   * and nothing is remembered, so the claim is tried again at the next sync: an outage must not
   * become an exemption.
   */
  async claim(accountId: string, createdAt: number, now: number, newAgeMs: number): Promise<boolean> {
    if (this.asked.has(accountId)) return false;
    let won: boolean;
    try {
      const r = await this.db
        .updateTable('accounts')
        .set({ first_sync_at: now })
        .where('id', '=', accountId)
        .where('first_sync_at', 'is', null)
        .executeTakeFirst();
      won = Number(r.numUpdatedRows) === 1;
    } catch (err) {
      this.logger.warn({ account: accountId, err: err instanceof Error ? err.message : String(err) }, 'could not claim a first sync; the sync is judged');
      return false;
    }
    this.remember(accountId, createdAt, now, newAgeMs);
    return won;
  }

  /** Entries go once their account is no longer new (it is never asked about again), and at max the oldest go first. */
  private remember(accountId: string, createdAt: number, now: number, newAgeMs: number): void {
    for (const [id, at] of this.asked) {
      if (now - at < newAgeMs && this.asked.size < this.max) break;
      this.asked.delete(id);
    }
    this.asked.set(accountId, createdAt);
  }
}

import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { errorText, OutageLog } from '../util/outage.js';

/** One saved entry of the memory store: its namespaced key, its value as JSON, when it expires. */
export interface SavedEntry {
  key: string;
  state: string;
  expiresAt: number;
}

/** Upserts per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 300;

/**
 * Where the embedded limits store keeps what it must not forget across a restart (table
 * limit_state). The store calls it every second with what changed, and once more on close.
 */
export class LimitStatePersistence {
  private readonly outage: OutageLog;

  constructor(
    private readonly db: Kysely<Database>,
    logger: Logger,
  ) {
    this.outage = new OutageLog({
      down: (err) => logger.error({ err: errorText(err) }, 'could not save the limits state; a restart now would forget the changes since'),
      up: () => logger.info('saving the limits state again'),
    });
  }

  async load(now: number): Promise<SavedEntry[]> {
    // Expired rows are dropped here, once per start, rather than on every save.
    await this.db.deleteFrom('limit_state').where('expires_at', '<=', now).execute();
    const rows = await this.db.selectFrom('limit_state').select(['key', 'state', 'expires_at']).execute();
    return rows.map((r) => ({ key: r.key, state: r.state, expiresAt: Number(r.expires_at) }));
  }

  /** Throws when the state could not be saved (the store keeps it for the next save). */
  async save(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    if (entries.length === 0 && removed.length === 0) return;
    try {
      await this.write(entries, removed);
    } catch (err) {
      this.outage.failed(err);
      throw err;
    }
    this.outage.ok();
  }

  private async write(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < entries.length; i += CHUNK) {
        const part = entries.slice(i, i + CHUNK).map((e) => ({ key: e.key, state: e.state, expires_at: e.expiresAt }));
        await trx
          .insertInto('limit_state')
          .values(part)
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ state: eb.ref('excluded.state'), expires_at: eb.ref('excluded.expires_at') })))
          .execute();
      }
      for (let i = 0; i < removed.length; i += CHUNK) await trx.deleteFrom('limit_state').where('key', 'in', removed.slice(i, i + CHUNK)).execute();
    });
  }
}

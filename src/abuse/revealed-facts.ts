import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import type { RevealedFacts } from './detectors/revelation.js';

/** Ids per statement: bound parameters stay far below both dialects' limits. */
const CHUNK = 500;

/**
 * What a partition of the abuse engine reads of the accounts other partitions keep
 * (detectors/revelation.ts): their creation time from the directory, and whether their stored
 * answers named a caller. Both are asked only for calls whose verdict depends on them: a few per
 * minute, each over the answered accounts' own events (the per-account index).
 */
export function dbRevealedFacts(db: Kysely<Database>): RevealedFacts {
  const postgres = isPostgres(db);
  return {
    async createdAt(ids) {
      const out = new Map<string, number>();
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await db.selectFrom('accounts').select(['id', 'created_at']).where('id', 'in', ids.slice(i, i + CHUNK)).execute();
        for (const r of rows) out.set(r.id, Number(r.created_at));
      }
      return out;
    },
    async firstNamed(caller, ids, since, until) {
      const out = new Map<string, number>();
      // The answer's ids are a JSON array of strings; an exact element test, not a substring.
      const names = postgres
        ? sql<boolean>`jsonb_exists(revealed::jsonb, ${caller})`
        : sql<boolean>`exists (select 1 from json_each(lookup_events.revealed) where json_each.value = ${caller})`;
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await db
          .selectFrom('lookup_events')
          .select(['account_id', (eb) => eb.fn.min('at').as('first')])
          .where('account_id', 'in', ids.slice(i, i + CHUNK))
          .where('at', '>=', since)
          .where('at', '<=', until)
          .where('outcome', '=', 'allowed')
          .where(names)
          .groupBy('account_id')
          .execute();
        for (const r of rows) out.set(r.account_id, Number(r.first));
      }
      return out;
    },
  };
}

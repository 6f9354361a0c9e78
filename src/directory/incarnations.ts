import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * An account's incarnation is accounts.mirrored_at, when findguard first mirrored its id: sync
 * tokens, books and notices are bound to it, so an id the app erases and mirrors again names
 * another person. Taken from the clock alone, the id mirrored again in the same millisecond, or by a
 * node whose clock runs behind the one that mirrored it first, came out with the erased holder's
 * value, and that holder's sync token answered the new account for free. An erasure therefore
 * remembers the incarnation it ended, and the next one starts after it.
 */

/**
 * How long an erased incarnation is remembered. A clash needs the clock of the node mirroring the id
 * again to read at or before the erased holder's mirrored_at, which was before its erasure: within
 * the skew between nodes' clocks, far under a day.
 */
const ERASED_INCARNATION_KEPT_MS = 86_400_000;

const CHUNK = 1000;

/** Records the incarnation an erasure ends. Inside the erasure's transaction. */
export async function rememberErased(db: Kysely<Database>, id: string, mirroredAt: number, now: number): Promise<void> {
  await db
    .insertInto('erased_incarnations')
    .values({ id, mirrored_at: mirroredAt, erased_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ mirrored_at: eb.ref('excluded.mirrored_at'), erased_at: eb.ref('excluded.erased_at') })))
    .execute();
}

/**
 * The mirrored_at each of these ids (absent from accounts) gets when created at `now`: now, or just
 * after an incarnation of it erased within the day, whichever is later.
 */
export async function nextIncarnations(db: Kysely<Database>, ids: readonly string[], now: number): Promise<(id: string) => number> {
  const after = new Map<string, number>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await db.selectFrom('erased_incarnations').select(['id', 'mirrored_at']).where('id', 'in', ids.slice(i, i + CHUNK)).execute();
    for (const r of rows) after.set(r.id, Number(r.mirrored_at) + 1);
  }
  return (id) => Math.max(now, after.get(id) ?? now);
}

/** Forgets erased incarnations past ERASED_INCARNATION_KEPT_MS (the event retention's schedule). */
export async function purgeErasedIncarnations(db: Kysely<Database>, now: number): Promise<number> {
  const r = await db.deleteFrom('erased_incarnations').where('erased_at', '<', now - ERASED_INCARNATION_KEPT_MS).executeTakeFirst();
  return Number(r.numDeletedRows);
}

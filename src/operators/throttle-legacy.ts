import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database, SigninThrottleTable } from '../db/schema.js';
import { transaction } from '../db/transaction.js';

/**
 * The sign-in throttle's keys as the release before 3356147 wrote them: `op:<name>` and
 * `pair:<name>|<address>`, the name case-folded but in the clear (whatever was typed into the name
 * field: an email address, say). They are moved to the keyed form (throttle.ts nameDigest) with
 * their counts and waits, so a name locked at the upgrade stays locked, and no typed name stays
 * stored. Not in a migration: migrations get only the database handle, and the key names are
 * hashed under is derived from the hash keys, which live in the configuration, never in the
 * database. So a serving node moves them all before it serves (SigninThrottle.sweep, from
 * AppContext.start), again at each periodic sweep (rows a node of the older release wrote during a
 * rolling upgrade), and a name's own rows whenever that name is tried (adoptLegacy), so a lock such
 * a node counts holds on the new nodes at once.
 */

/** The name part of a key in keyed form: 128 bits of HMAC in hex. */
const DIGEST = /^[0-9a-f]{32}$/;

/** The keys a node of the older release writes for this name (and address key), in the clear. */
export function legacyKeysOf(name: string, addressKey?: string): string[] {
  const plain = name.toLowerCase();
  return [`op:${plain}`, ...(addressKey === undefined ? [] : [`pair:${plain}|${addressKey}`])];
}

/**
 * What a key becomes in keyed form; null when it needs no move (already keyed, or holds no name).
 * The older release counted names the same way (an operator name as typed, anything else as '?',
 * case-folded), so hashing the name it kept gives the key the current release uses for it.
 * A name that is itself 32 hex digits looks keyed and stays: it tells nothing about anyone.
 */
export function keyedForm(key: string, digest: (name: string) => string): string | null {
  if (key.startsWith('op:')) {
    const name = key.slice('op:'.length);
    return DIGEST.test(name) ? null : `op:${digest(name)}`;
  }
  if (key.startsWith('pair:')) {
    // Names (operator names, or '?') hold no '|'; the address key follows the first one.
    const rest = key.slice('pair:'.length);
    const bar = rest.indexOf('|');
    if (bar < 0) return null;
    const name = rest.slice(0, bar);
    return DIGEST.test(name) ? null : `pair:${digest(name)}${rest.slice(bar)}`;
  }
  return null;
}

/**
 * Moves these keys' rows, if any, to their keyed form; one indexed read when there are none (the
 * usual case), since every sign-in attempt asks.
 */
export async function adoptLegacy(db: Kysely<Database>, keys: readonly string[], digest: (name: string) => string, forgetMs: number): Promise<void> {
  const found = await db.selectFrom('signin_throttle').select('key').where('key', 'in', keys).execute();
  for (const { key } of found) await moveOne(db, key, digest, forgetMs);
}

/** Moves every row still under a plain name to its keyed form; how many moved. */
export async function rewriteLegacyKeys(db: Kysely<Database>, digest: (name: string) => string, forgetMs: number): Promise<number> {
  // Only rows whose name part is not 32 hex digits are read: the keyed ones may be many.
  const hex = '[0-9a-f]'.repeat(32);
  const legacy = isPostgres(db)
    ? sql<boolean>`(key like 'op:%' and key !~ ${`^op:[0-9a-f]{32}$`}) or (key like 'pair:%' and key !~ ${`^pair:[0-9a-f]{32}\\|`})`
    : sql<boolean>`(key like 'op:%' and key not glob ${`op:${hex}`}) or (key like 'pair:%' and key not glob ${`pair:${hex}|*`})`;
  const rows = await db.selectFrom('signin_throttle').select('key').where(legacy).execute();
  let moved = 0;
  for (const { key } of rows) if (await moveOne(db, key, digest, forgetMs)) moved++;
  return moved;
}

/**
 * One row to its keyed form, merged with what the keyed key already counts (nodes of both
 * releases count the same name during a rolling upgrade): the later failure, the longer wait, and
 * the failures of both unless one side's are older than forgetMs before the other's last (take()
 * would have started that side afresh). Deleted and merged in one transaction; a node that got
 * there first leaves nothing to delete.
 */
async function moveOne(db: Kysely<Database>, key: string, digest: (name: string) => string, forgetMs: number): Promise<boolean> {
  const to = keyedForm(key, digest);
  if (to === null) return false;
  return transaction(db, async (tx) => {
    const row = await tx.deleteFrom('signin_throttle').where('key', '=', key).returningAll().executeTakeFirst();
    if (!row) return false;
    await mergeInto(tx, { ...row, key: to }, forgetMs);
    return true;
  });
}

async function mergeInto(db: Kysely<Database>, row: SigninThrottleTable, forgetMs: number): Promise<void> {
  const forget = sql.lit(forgetMs);
  const later = (column: 'blocked_until' | 'last_failure_at') =>
    sql<number>`case when excluded.${sql.raw(column)} > signin_throttle.${sql.raw(column)} then excluded.${sql.raw(column)} else signin_throttle.${sql.raw(column)} end`;
  await db
    .insertInto('signin_throttle')
    .values({ key: row.key, failures: Number(row.failures), blocked_until: Number(row.blocked_until), last_failure_at: Number(row.last_failure_at) })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures: sql<number>`case
          when excluded.last_failure_at < signin_throttle.last_failure_at - ${forget} then signin_throttle.failures
          when signin_throttle.last_failure_at < excluded.last_failure_at - ${forget} then excluded.failures
          else signin_throttle.failures + excluded.failures end`,
        blocked_until: later('blocked_until'),
        last_failure_at: later('last_failure_at'),
      }),
    )
    .execute();
}

import type { Kysely, Selectable } from 'kysely';
import type { AccountsTable, Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { refreshDiscoverable } from './contact-points.js';
import { lockAccounts } from './discoverability.js';
import { nextIncarnations, rememberErased } from './incarnations.js';

export type AccountRow = Selectable<AccountsTable>;

export interface AccountInput {
  handle: string;
  createdAt?: number;
  phoneRegion?: string | null;
  status?: 'active' | 'suspended';
  signup?: { ip: string; deviceId?: string; userAgent?: string; attested?: boolean };
}

export function isActive(row: Pick<AccountRow, 'app_status' | 'fg_status'>): boolean {
  return row.app_status === 'active' && row.fg_status === 'active';
}

export async function findAccount(db: Kysely<Database>, id: string): Promise<AccountRow | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Creates or updates the app's mirror of an account. Returns whether it was created. */
export async function upsertAccount(
  db: Kysely<Database>,
  id: string,
  input: AccountInput,
  now: number,
): Promise<{ row: AccountRow; created: boolean }> {
  // PostgreSQL: the row is locked before it is read, as every other writer of an account does. The
  // status read decides whether the points' discoverable flags are refreshed: read unlocked, a
  // status another write committed meanwhile was taken for this one's, and an active account
  // was left unfindable (test/review/put-status-race-stale-discoverable).
  await lockAccounts(db, [id]);
  let existing = await findAccount(db, id);
  if (!existing) {
    const row: AccountRow = {
      id,
      handle: input.handle,
      created_at: input.createdAt ?? now,
      app_status: input.status ?? 'active',
      fg_status: (await openSuspensions(db, [id])).has(id) ? 'suspended' : 'active',
      phone_region: input.phoneRegion ?? null,
      // A new account has no contact points yet; they derive it as they arrive.
      derived_phone_region: null,
      signup_ip: input.signup?.ip ?? null,
      signup_device: input.signup?.deviceId ?? null,
      signup_user_agent: input.signup?.userAgent ?? null,
      signup_attested: attestedOf(input.signup),
      mirrored_at: (await nextIncarnations(db, [id], now))(id),
      updated_at: now,
    };
    // Two mirrors of one new account at once (an app retrying a timed-out call, two of its workers):
    // one inserts; the other, finding the id taken, updates what that one inserted.
    const inserted = await db.insertInto('accounts').values(row).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { row, created: true };
    existing = await findAccount(db, id);
    if (!existing) throw new AppError('conflict', 'the account was erased while it was being mirrored; mirror it again');
  }
  const patch: Partial<AccountRow> = { handle: input.handle, updated_at: now };
  if (input.createdAt !== undefined) patch.created_at = input.createdAt;
  if (input.phoneRegion !== undefined) patch.phone_region = input.phoneRegion;
  if (input.status !== undefined) patch.app_status = input.status;
  if (input.signup) {
    patch.signup_ip = input.signup.ip;
    patch.signup_device = input.signup.deviceId ?? null;
    patch.signup_user_agent = input.signup.userAgent ?? null;
    patch.signup_attested = attestedOf(input.signup);
  }
  await db.updateTable('accounts').set(patch).where('id', '=', id).execute();
  if (patch.app_status !== undefined && patch.app_status !== existing.app_status) await refreshDiscoverable(db, [id]);
  return { row: { ...existing, ...patch }, created: false };
}

/**
 * Accounts with a suspension no reinstatement has lifted: the log's view of whether findguard
 * suspended them, exact whatever the clocks (a reinstatement marks what it lifts). The log outlives
 * an erasure, so an id the app erases and mirrors again starts as the log says: its standing
 * decision goes on refusing its calls, and its status and discoverability must agree with it.
 */
export async function openSuspensions(db: Kysely<Database>, ids: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  // An import's batch holds up to 20,000 ids: IN lists of 1,000 stay far from either database's parameter cap.
  for (let i = 0; i < ids.length; i += 1000) {
    const rows = await db
      .selectFrom('enforcement_actions')
      .select('account_id')
      .where('account_id', 'in', ids.slice(i, i + 1000))
      .where('action', '=', 'suspend')
      .where('reversed_by', 'is', null)
      .execute();
    for (const r of rows) out.add(r.account_id);
  }
  return out;
}

/**
 * findguard's own suspension, kept apart from the app's status: the abuse engine and operators
 * set it, and only they lift it. Returns false when the account is unknown.
 */
export async function setFindguardStatus(db: Kysely<Database>, id: string, status: 'active' | 'suspended', now: number): Promise<boolean> {
  const r = await db.updateTable('accounts').set({ fg_status: status, updated_at: now }).where('id', '=', id).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return false;
  await refreshDiscoverable(db, [id]);
  return true;
}

/**
 * Deletes the exposure.notice webhooks of the account's notices, delivered or not: each carries the
 * whole notice, which the erasure's cascade takes from exposure_notices. Left in the outbox, a
 * pending one would still be sent about a person the app asked findguard to forget, and a
 * delivered or given-up one could be sent again from the webhook log (redeliver resends the
 * stored payload). A row being sent at this moment goes out; its outcome then updates nothing.
 */
export async function eraseNoticeEvents(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .deleteFrom('webhook_outbox')
    .where('event_type', '=', 'exposure.notice')
    .where('id', 'in', (eb) => eb.selectFrom('exposure_notices').select('event_id').where('account_id', '=', id).where('event_id', 'is not', null).$narrowType<{ event_id: string }>())
    .execute();
}

/**
 * Erases the account and, by cascade, every contact point hash it had; remembers the incarnation
 * it ends (incarnations.ts).
 */
export async function eraseAccount(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
  await db.deleteFrom('contact_points').where('account_id', '=', id).execute();
  const erased = await db.deleteFrom('accounts').where('id', '=', id).returning('mirrored_at').executeTakeFirst();
  if (erased === undefined) return false;
  await rememberErased(db, id, Number(erased.mirrored_at), now);
  return true;
}

/** The stored form of a sign-up's attestation: null when the app said nothing of it. */
export function attestedOf(signup: AccountInput['signup']): number | null {
  return signup?.attested === undefined ? null : signup.attested ? 1 : 0;
}

import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { ContactHasher } from './hashing.js';
import { DISCOVERY_BIT, purposesToBits, type Purpose } from './purposes.js';

/**
 * Who may find a contact point: everyone, only the people in the owner's own latest synced
 * address book ("my contacts", Telegram's answer to the 2019 Hong Kong de-anonymisation, where
 * protesters were unmasked by importing numbers they had never shared), or nobody.
 *
 * Stored as the discovery purpose bit plus an audience column: `nobody` is the purpose unset, so
 * every call that predates the setting keeps its meaning (discovery purpose = everyone), and a
 * purposes-only change never widens the audience: only `discoverableBy` does.
 *
 * The owner's book is the keyed hashes (hashing.ts, under every configured key) of the numbers the
 * owner's latest answered phone sync covered: its previous set and its new numbers. It is kept
 * only while at least one of the owner's points is in contacts mode and erased in the same
 * transaction that turns the last one off. Before the owner's first sync in this mode the book is
 * empty and nobody matches them: the setting fails closed.
 */
export const DISCOVERABLE_BY = ['everyone', 'contacts', 'nobody'] as const;
export type DiscoverableBy = (typeof DISCOVERABLE_BY)[number];
export type Audience = Exclude<DiscoverableBy, 'nobody'>;

/** Values of the derived contact_points.discoverable column. */
export const DISCOVERABLE = { no: 0, everyone: 1, contacts: 2 } as const;

export function discoverableByOf(bits: number, audience: Audience): DiscoverableBy {
  return (bits & DISCOVERY_BIT) !== 0 ? audience : 'nobody';
}

/** A point of the owner's is in contacts mode: the book may be kept. Verification and status do not matter (both may come back). */
const inContactsMode = (accountIdRef: string) =>
  sql<boolean>`exists (select 1 from contact_points m where m.account_id = ${sql.ref(accountIdRef)}
    and (m.purposes & ${sql.lit(DISCOVERY_BIT)}) <> 0 and m.discoverable_by = 'contacts')`;

/**
 * Serialises the writes that decide whether a book may exist (a mode change, a sync writing the
 * book) on the owner's account row. Without it, under PostgreSQL's read committed, a sync that
 * saw the mode on could write its book after a concurrent switch-off had erased the old one, and
 * the book would outlive the setting. SQLite has one writer at a time already.
 */
export async function lockAccounts(db: Kysely<Database>, accountIds: readonly string[]): Promise<void> {
  if (accountIds.length === 0 || !(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await db.selectFrom('accounts').select('id').where('id', 'in', accountIds).orderBy('id').forUpdate().execute();
}

/**
 * Brings the books and the reach of these accounts up to date with their points: erases the book
 * of an account with no point left in contacts mode, then rebuilds its reach rows. Called by
 * refreshDiscoverable (every write that changes a point's purposes, mode, verification, hash or
 * its account's status), after a point is deleted, and after a book is replaced.
 */
export async function refreshBooks(db: Kysely<Database>, accountIds: readonly string[]): Promise<void> {
  if (accountIds.length === 0) return;
  await lockAccounts(db, accountIds);
  await db
    .deleteFrom('contact_books')
    .where('account_id', 'in', accountIds)
    .where(({ not }) => not(inContactsMode('contact_books.account_id')))
    .execute();
  await refreshReach(db, accountIds);
}

async function refreshReach(db: Kysely<Database>, accountIds: readonly string[]): Promise<void> {
  await db.deleteFrom('contact_reach').where('account_id', 'in', accountIds).execute();
  await db
    .insertInto('contact_reach')
    .columns(['point_hash', 'book_hash', 'created_at', 'point_id', 'account_id'])
    .expression((eb) =>
      eb
        .selectFrom('contact_points as cp')
        .innerJoin('contact_books as b', 'b.account_id', 'cp.account_id')
        .select(['cp.hash', 'b.hash', 'cp.created_at', 'cp.id', 'cp.account_id'])
        .where('cp.account_id', 'in', accountIds)
        .where('cp.discoverable', '=', DISCOVERABLE.contacts),
    )
    .execute();
}

const ROW_CHUNK = 500;

/**
 * An account as a call began for it: its id and when findguard first mirrored it (its incarnation).
 * An id erased and mirrored again is another person: whatever holds this refuses or writes nothing.
 */
export interface AccountRef {
  accountId: string;
  mirroredAt: number;
}

/**
 * Replaces the owner's book with the numbers of their latest sync (normalised E.164), if one of
 * their points is in contacts mode and the id still names the account the sync was for (an id
 * erased and mirrored again is another person); otherwise keeps nothing. Returns whether a book
 * was written.
 */
export async function replaceBook(db: Kysely<Database>, hasher: ContactHasher, holder: AccountRef, numbers: readonly string[]): Promise<boolean> {
  const { accountId } = holder;
  await lockAccounts(db, [accountId]);
  if (!(await keepsBook(db, accountId, holder.mirroredAt))) return false;
  await db.deleteFrom('contact_books').where('account_id', '=', accountId).execute();
  const seen = new Set<string>();
  const rows: Array<{ account_id: string; hash: Buffer }> = [];
  for (const n of numbers) {
    // Under every key, so a caller whose own point was hashed under an older key still meets it.
    for (const h of hasher.all('phone', n)) {
      const k = h.hash.toString('latin1');
      if (seen.has(k)) continue;
      seen.add(k);
      rows.push({ account_id: accountId, hash: h.hash });
    }
  }
  for (let i = 0; i < rows.length; i += ROW_CHUNK) await db.insertInto('contact_books').values(rows.slice(i, i + ROW_CHUNK)).execute();
  await refreshReach(db, [accountId]);
  return true;
}

/**
 * One of the account's points is in contacts mode (read as it is now; under lockAccounts, as it
 * stays); with mirroredAt, only while the id still names that incarnation of the account.
 */
export async function keepsBook(db: Kysely<Database>, accountId: string, mirroredAt?: number): Promise<boolean> {
  const on = await db
    .selectFrom('accounts')
    .select([inContactsMode('accounts.id').as('on'), 'mirrored_at'])
    .where('id', '=', accountId)
    .executeTakeFirst();
  return on !== undefined && truthy(on.on) && (mirroredAt === undefined || Number(on.mirrored_at) === mirroredAt);
}

/** Erases the account's book and reach (account erasure). */
export async function eraseBook(db: Kysely<Database>, accountId: string): Promise<void> {
  await db.deleteFrom('contact_reach').where('account_id', '=', accountId).execute();
  await db.deleteFrom('contact_books').where('account_id', '=', accountId).execute();
}

// SQLite answers a boolean expression with 0/1, PostgreSQL with true/false.
function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1';
}

/**
 * The purpose bits and audience a write leaves on a point. `discoverableBy` decides the discovery
 * purpose (everyone and contacts set it, nobody clears it); `purposes` alone keeps the audience
 * the point had, so a caller that knows nothing of the setting never widens it. Both given and
 * disagreeing about discovery: refused, rather than guessing which the app meant.
 */
export function resolveDiscoverability(
  input: { purposes?: readonly Purpose[] | undefined; discoverableBy?: DiscoverableBy | undefined },
  current: { bits: number; audience: Audience } = { bits: 0, audience: 'everyone' },
): { bits: number; audience: Audience } {
  const by = input.discoverableBy;
  let bits = input.purposes ? purposesToBits(input.purposes) : current.bits;
  if (by === undefined) return { bits, audience: current.audience };
  if (input.purposes && input.purposes.includes('discovery') !== (by !== 'nobody')) {
    throw new AppError(
      'discoverability_conflict',
      by === 'nobody' ? 'discoverableBy nobody with the discovery purpose' : `discoverableBy ${by} without the discovery purpose`,
    );
  }
  bits = by === 'nobody' ? bits & ~DISCOVERY_BIT : bits | DISCOVERY_BIT;
  return { bits, audience: by === 'nobody' ? current.audience : by };
}

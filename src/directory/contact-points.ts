import { sql, type Kysely, type Selectable } from 'kysely';
import type { ContactPointsTable, Database } from '../db/schema.js';
import type { ContactHasher, ContactKind } from './hashing.js';
import { DISCOVERABLE, discoverableByOf, refreshBooks, type Audience, type DiscoverableBy } from './discoverability.js';
import { contactRegion, refreshPhoneRegion } from './phone-region.js';
import { bitsToPurposes, DISCOVERY_BIT, type Purpose } from './purposes.js';

export type ContactPointRow = Selectable<ContactPointsTable>;

/** What the internal API shows of a contact point: never the value, not even its hash. */
export interface ContactPointView {
  id: string;
  kind: ContactKind;
  purposes: Purpose[];
  verified: boolean;
  /** Whether anyone can find it now (verified, account active, and not nobody). */
  discoverable: boolean;
  /** Who may find it: everyone, only people in the owner's latest synced book, or nobody. */
  discoverableBy: DiscoverableBy;
  keyVersion: number;
  createdAt: string;
  updatedAt: string;
}

/** Whether a contact point may match, given its account's effective status. */
export function isDiscoverable(bits: number, verified: number, accountActive: boolean): boolean {
  return accountActive && verified === 1 && (bits & DISCOVERY_BIT) !== 0;
}

/**
 * Recomputes the derived discoverable flag of every contact point of these accounts. Called after
 * any write that changes purposes, verification or an account's status, in the same transaction.
 */
export async function refreshDiscoverable(db: Kysely<Database>, accountIds: readonly string[]): Promise<void> {
  if (accountIds.length === 0) return;
  await db
    .updateTable('contact_points')
    .set({
      discoverable: sql<number>`case when (purposes & ${sql.lit(DISCOVERY_BIT)}) <> 0 and verified = 1 and exists (
        select 1 from accounts a where a.id = contact_points.account_id and a.app_status = 'active' and a.fg_status = 'active'
      ) then (case when discoverable_by = 'contacts' then ${sql.lit(DISCOVERABLE.contacts)} else ${sql.lit(DISCOVERABLE.everyone)} end)
      else ${sql.lit(DISCOVERABLE.no)} end`,
    })
    .where('account_id', 'in', accountIds)
    .execute();
  // The books and reach follow the flags: a point leaving contacts mode may end the book.
  await refreshBooks(db, accountIds);
}

export function viewContactPoint(row: ContactPointRow, accountActive: boolean): ContactPointView {
  return {
    id: row.id,
    kind: row.kind,
    purposes: bitsToPurposes(row.purposes),
    verified: row.verified === 1,
    discoverable: isDiscoverable(row.purposes, row.verified, accountActive),
    discoverableBy: discoverableByOf(row.purposes, row.discoverable_by),
    keyVersion: row.key_version,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export async function findContactPoint(db: Kysely<Database>, accountId: string, id: string): Promise<ContactPointRow | undefined> {
  return db.selectFrom('contact_points').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
}

export async function listContactPoints(db: Kysely<Database>, accountId: string): Promise<ContactPointRow[]> {
  return db.selectFrom('contact_points').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute();
}

export interface ContactPointWrite {
  kind: ContactKind;
  /** Already normalised. */
  value: string;
  /** Purpose bits, discovery included or not (discoverability.ts resolves them with the audience). */
  bits: number;
  /**
   * Set when the caller named one (discoverableBy everyone or contacts). Absent: a stored point
   * keeps its audience, as a re-import does, so the re-mirror that completes a key rotation never
   * turns a contacts-only number into everyone's; a new point is everyone's.
   */
  audience?: Audience;
  verified: boolean;
}

export type PutOutcome = 'created' | 'rehashed' | 'exists';

/**
 * Adds a contact point, or finds the one the account already has for the same value. A row
 * hashed under an older key is moved to the newest key, and a row written before regions were
 * kept gets its region: re-mirroring is how a rotation completes (findguard never holds the
 * plaintext needed to rehash or to re-derive by itself).
 */
export async function putContactPoint(
  db: Kysely<Database>,
  hasher: ContactHasher,
  accountId: string,
  write: ContactPointWrite,
  ids: () => string,
  now: number,
): Promise<{ id: string; outcome: PutOutcome }> {
  const hashes = hasher.all(write.kind, write.value);
  const current = hashes[0]!;
  const existing = await db
    .selectFrom('contact_points')
    .select(['id', 'key_version', 'region'])
    .where('account_id', '=', accountId)
    .where('hash', 'in', hashes.map((h) => h.hash))
    .executeTakeFirst();
  const bits = write.bits;
  const verified = write.verified ? 1 : 0;
  const region = contactRegion(write.kind, write.value);
  if (!existing) {
    const id = ids();
    const audience = write.audience ?? newPointAudience(await hasRetiredContactsPoint(db, hasher, accountId, write.kind));
    await db
      .insertInto('contact_points')
      .values({
        id,
        account_id: accountId,
        kind: write.kind,
        key_version: current.version,
        hash: current.hash,
        purposes: bits,
        verified,
        discoverable: 0,
        discoverable_by: audience,
        region,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await refreshDiscoverable(db, [accountId]);
    // Only a phone with a region can change the account's phone country.
    if (region !== null) await refreshPhoneRegion(db, [accountId]);
    return { id, outcome: 'created' };
  }
  const rehash = existing.key_version !== current.version;
  if (rehash) {
    await db
      .updateTable('contact_points')
      .set({ key_version: current.version, hash: current.hash, purposes: bits, verified, ...(write.audience ? { discoverable_by: write.audience } : {}), region, updated_at: now })
      .where('id', '=', existing.id)
      .execute();
    await refreshDiscoverable(db, [accountId]);
  } else if (existing.region !== region) {
    await db.updateTable('contact_points').set({ region }).where('id', '=', existing.id).execute();
  }
  if (rehash || existing.region !== region) await refreshPhoneRegion(db, [accountId]);
  return { id: existing.id, outcome: rehash ? 'rehashed' : 'exists' };
}

/**
 * The audience of a new point whose write names none (POST, and an import line): `everyone`, unless
 * the account has a "my contacts" point of the same kind hashed under a key no longer configured
 * (a rotation whose old key was dropped before the app re-mirrored every point). Such a row
 * matches nothing and cannot be told apart from the value being written now, so the new point
 * takes the narrower audience: re-mirrored "the way it was first sent" (no discoverableBy), the
 * number would otherwise be found by everyone again (test/review/old-key-dropped-remirror-widens).
 * Fails closed: the owner may widen it again.
 */
export function newPointAudience(retiredContactsPoint: boolean): Audience {
  return retiredContactsPoint ? 'contacts' : 'everyone';
}

/** Whether the account has a "my contacts" point of this kind under a key no longer configured (see newPointAudience). */
async function hasRetiredContactsPoint(db: Kysely<Database>, hasher: ContactHasher, accountId: string, kind: ContactKind): Promise<boolean> {
  const row = await db
    .selectFrom('contact_points')
    .select('id')
    .where('account_id', '=', accountId)
    .where('kind', '=', kind)
    .where('discoverable_by', '=', 'contacts')
    .where('key_version', 'not in', hasher.versions)
    .executeTakeFirst();
  return row !== undefined;
}

export async function patchContactPoint(
  db: Kysely<Database>,
  accountId: string,
  id: string,
  patch: { bits?: number; audience?: Audience; verified?: boolean },
  now: number,
): Promise<ContactPointRow | undefined> {
  const set: Partial<ContactPointRow> = { updated_at: now };
  if (patch.bits !== undefined) set.purposes = patch.bits;
  if (patch.audience !== undefined) set.discoverable_by = patch.audience;
  if (patch.verified !== undefined) set.verified = patch.verified ? 1 : 0;
  const r = await db.updateTable('contact_points').set(set).where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return undefined;
  await refreshDiscoverable(db, [accountId]);
  await refreshPhoneRegion(db, [accountId]);
  return db.selectFrom('contact_points').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteContactPoint(db: Kysely<Database>, accountId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('contact_points').where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
  if (Number(r.numDeletedRows) === 0) return false;
  await refreshPhoneRegion(db, [accountId]);
  await refreshBooks(db, [accountId]);
  return true;
}

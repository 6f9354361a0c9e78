import { sql, type Insertable, type Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { attestedOf, openSuspensions, type AccountInput } from './accounts.js';
import { nextIncarnations } from './incarnations.js';
import { isDiscoverable, newPointAudience, refreshDiscoverable } from './contact-points.js';
import { DISCOVERABLE, refreshBooks, type Audience } from './discoverability.js';
import type { ContactHasher, ContactKind } from './hashing.js';
import { PREFERRED_BITS, refreshPhoneRegion } from './phone-region.js';

/** One account as the bulk path writes it: the input putAccount takes, with its contact points already normalised. */
export interface AccountWrite {
  accountId: string;
  account: AccountInput;
  /** Normalised values, each once; bits and region derived as addContactPoint derives them. */
  points: Array<{
    kind: ContactKind;
    value: string;
    bits: number;
    /** Set by the line's discoverableBy (everyone, contacts); absent: a point keeps its audience, a new one is everyone's. */
    audience?: Audience;
    verified: number;
    region: string | null;
  }>;
}

const ROW_CHUNK = 400;

/**
 * Upserts accounts with their contact points in multi-row statements, inside the caller's
 * transaction (DirectoryService.putAccounts): the import's path, built for millions of lines.
 * Adds and updates; never removes contact points a line does not list.
 */
export async function writeAccounts(
  trx: Kysely<Database>,
  hasher: ContactHasher,
  batch: readonly AccountWrite[],
  newId: () => string,
  now: number,
  /** SQLite: whether rows may go as JSON (insertJson); false writes them as multi-row VALUES (tests compare the two). */
  json = true,
): Promise<{ accounts: number; contactPoints: number; created: Array<{ id: string; at: number; signup?: AccountInput['signup'] }> }> {
  const ids = batch.map((l) => l.accountId);
  const sqlite = json && !isPostgres(trx);
  const existingAccounts = new Map<string, { created_at: number; app_status: string; fg_status: string }>();
  // PostgreSQL: locked before anything is read, so the points' audiences and the statuses read here
  // stay as read until the commit: a PATCH of an owner's audience, or a suspension, made while the
  // batch hashes waits for it instead of being written over with what was read (every writer of a
  // point or a status takes its account's row first). SQLite has one writer at a time.
  const read = isPostgres(trx) ? await lockAndRead(trx, ids) : await selectIn<AccountRead>(trx, sqlite, 'accounts', ACCOUNT_READ, 'id', ids);
  for (const r of read) existingAccounts.set(r.id, r);
  // An id erased and mirrored again under a standing suspension starts suspended (accounts.ts), and
  // after the incarnation its erasure ended (incarnations.ts).
  const newIds = [...new Set(ids.filter((id) => !existingAccounts.has(id)))];
  const suspendedNew = await openSuspensions(trx, newIds);
  const incarnation = await nextIncarnations(trx, newIds, now);
  const fgOf = (id: string): 'active' | 'suspended' => (existingAccounts.get(id)?.fg_status === 'suspended' || suspendedNew.has(id) ? 'suspended' : 'active');
  // Existing rows of these accounts, keyed by account and hash under any configured key.
  const existing = new Map<string, { id: string; version: number; audience: Audience }>();
  // Accounts and kinds with a "my contacts" point under a key no longer configured: a new row of
  // theirs that names no audience takes that one (contact-points.ts newPointAudience).
  const retiredContacts = new Set<string>();
  const configured = new Set(hasher.versions);
  const withPoints = batch.filter((l) => l.points.length > 0).map((l) => l.accountId);
  const pointColumns = ['id', 'account_id', 'kind', 'hash', 'key_version', 'discoverable_by'] as const;
  for (const r of await selectIn<{ id: string; account_id: string; kind: ContactKind; hash: Buffer; key_version: number; discoverable_by: Audience }>(trx, sqlite, 'contact_points', pointColumns, 'account_id', withPoints)) {
    existing.set(`${r.account_id}\u0000${r.hash.toString('latin1')}`, { id: r.id, version: r.key_version, audience: r.discoverable_by });
    if (!configured.has(r.key_version) && r.discoverable_by === 'contacts') retiredContacts.add(`${r.account_id}\u0000${r.kind}`);
  }
  // A line that names no status keeps the stored one, as PUT does; a new account is active.
  const appOf = (l: AccountWrite): string => l.account.status ?? existingAccounts.get(l.accountId)?.app_status ?? 'active';
  const inserts = pointWrites(hasher, batch, appOf, fgOf, existing, retiredContacts, newId, now);
  // SQLite: an account absent before this transaction and written once in the batch has no
  // book, reach row or older point (each references its account): its derived phone country comes
  // from the points inserted here, and the refreshes below, no-ops for it, are left out. SQLite
  // holds this snapshot until the write (a concurrent writer fails the transaction); PostgreSQL
  // does not, so it refreshes every account as before.
  const fresh = new Set<string>();
  if (sqlite) {
    const seen = new Map<string, number>();
    for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    for (const [id, n] of seen) if (n === 1 && !existingAccounts.has(id)) fresh.add(id);
  }
  const derived = fresh.size > 0 ? derivedRegions(inserts.rows, fresh) : undefined;
  // The values a new row gets; an existing row takes only the columns its line names (updateSet).
  const accountRows = batch.map((l) => ({
    id: l.accountId,
    handle: l.account.handle,
    created_at: l.account.createdAt ?? now,
    app_status: l.account.status ?? ('active' as const),
    fg_status: fgOf(l.accountId),
    phone_region: l.account.phoneRegion ?? null,
    // Findguard's own, like fg_status: not in the upsert's update set; refreshed below from the points.
    derived_phone_region: derived?.get(l.accountId) ?? null,
    signup_ip: l.account.signup?.ip ?? null,
    signup_device: l.account.signup?.deviceId ?? null,
    signup_user_agent: l.account.signup?.userAgent ?? null,
    signup_attested: attestedOf(l.account.signup),
    mirrored_at: incarnation(l.accountId),
    updated_at: now,
  }));
  // One statement per set of named fields (an import's lines mostly name the same ones).
  const byShape = new Map<string, { set: readonly UpsertColumn[]; rows: typeof accountRows }>();
  batch.forEach((l, i) => {
    const set = updateSet(l.account);
    const key = set.join(',');
    const group = byShape.get(key) ?? byShape.set(key, { set, rows: [] }).get(key)!;
    group.rows.push(accountRows[i]!);
  });
  for (const { set, rows } of byShape.values()) {
    for (const chunk of chunks(rows, ROW_CHUNK)) {
      if (sqlite && (await insertJson(trx, 'accounts', ACCOUNT_COLUMNS, chunk, upsertClause(set)))) continue;
      await trx
        .insertInto('accounts')
        .values(chunk)
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => Object.fromEntries(set.map((c) => [c, eb.ref(`excluded.${c}`)]))))
        .execute();
    }
  }

  for (const u of inserts.updates) {
    const { id, ...set } = u;
    await trx.updateTable('contact_points').set(set).where('id', '=', id).execute();
  }
  for (const chunk of chunks(inserts.rows, ROW_CHUNK)) {
    if (sqlite && (await insertJson(trx, 'contact_points', POINT_COLUMNS, chunk, ''))) continue;
    await trx.insertInto('contact_points').values(chunk).execute();
  }
  // A re-imported account whose status changed must not keep stale flags on points the line omits.
  const statusChanged = batch
    .filter((l) => {
      const before = existingAccounts.get(l.accountId);
      return before !== undefined && before.app_status !== appOf(l);
    })
    .map((l) => l.accountId);
  for (const chunk of chunks(statusChanged, ROW_CHUNK)) await refreshDiscoverable(trx, chunk);
  // Points written above may have entered or left contacts mode: the books and reach follow
  // (refreshDiscoverable did it already for the accounts whose status changed).
  const changedStatus = new Set(statusChanged);
  for (const chunk of chunks(withPoints.filter((id) => !changedStatus.has(id) && !fresh.has(id)), ROW_CHUNK)) await refreshBooks(trx, chunk);
  // Only a phone point can change the account's phone country; emails and bare lines leave it be.
  const withPhones = batch.filter((l) => !fresh.has(l.accountId) && l.points.some((p) => p.kind === 'phone')).map((l) => l.accountId);
  for (const chunk of chunks(withPhones, ROW_CHUNK)) await refreshPhoneRegion(trx, chunk);
  // New accounts, for their sign-up events once the transaction has committed.
  const created = batch
    .filter((l) => !existingAccounts.has(l.accountId))
    .map((l) => ({ id: l.accountId, at: l.account.createdAt ?? now, ...(l.account.signup ? { signup: l.account.signup } : {}) }));
  return { accounts: batch.length, contactPoints: inserts.written, created };
}

type PointUpdate = Pick<PointRow, 'key_version' | 'hash' | 'purposes' | 'verified' | 'discoverable' | 'region' | 'updated_at'> & Partial<Pick<PointRow, 'discoverable_by'>> & { id: string };

/** Each point of the batch hashed: an update of the row it already has (under any key), else a new row with a new id, in the batch's order. */
function pointWrites(
  hasher: ContactHasher,
  batch: readonly AccountWrite[],
  appOf: (line: AccountWrite) => string,
  fgOf: (accountId: string) => 'active' | 'suspended',
  existing: ReadonlyMap<string, { id: string; audience: Audience }>,
  retiredContacts: ReadonlySet<string>,
  newId: () => string,
  now: number,
): { rows: PointRow[]; updates: PointUpdate[]; written: number } {
  const rows: PointRow[] = [];
  const updates: PointUpdate[] = [];
  let written = 0;
  for (const line of batch) {
    const active = appOf(line) === 'active' && fgOf(line.accountId) === 'active';
    for (const p of line.points) {
      const hashes = hasher.all(p.kind, p.value);
      const current = hashes[0]!;
      const found = hashes.map((h) => existing.get(`${line.accountId}\u0000${h.hash.toString('latin1')}`)).find(Boolean);
      // A line that does not say keeps the audience: a re-import never widens it.
      const audience = p.audience ?? found?.audience ?? newPointAudience(retiredContacts.has(`${line.accountId}\u0000${p.kind}`));
      const discoverable = isDiscoverable(p.bits, p.verified, active) ? DISCOVERABLE[audience] : DISCOVERABLE.no;
      written++;
      const values = { key_version: current.version, hash: current.hash, purposes: p.bits, verified: p.verified, discoverable, region: p.region };
      // An update writes only an audience the line names: the stored one stays the stored one.
      if (found) updates.push({ id: found.id, ...values, ...(p.audience ? { discoverable_by: p.audience } : {}), updated_at: now });
      else rows.push({ id: newId(), account_id: line.accountId, kind: p.kind, ...values, discoverable_by: audience, created_at: now, updated_at: now });
    }
  }
  return { rows, updates, written };
}

/** refreshPhoneRegion's rule (phone-region.ts) on new rows of one write, all created at the same time: verified phones with a region, a two_factor or discovery one first, then the smallest id. */
function derivedRegions(rows: readonly PointRow[], accounts: ReadonlySet<string>): Map<string, string> {
  const best = new Map<string, { rank: number; id: string; region: string }>();
  for (const r of rows) {
    if (r.kind !== 'phone' || r.verified !== 1 || r.region == null || !accounts.has(r.account_id)) continue;
    const rank = (r.purposes & PREFERRED_BITS) !== 0 ? 0 : 1;
    const b = best.get(r.account_id);
    // Ids are ASCII: JavaScript's order is SQLite's binary collation.
    if (!b || rank < b.rank || (rank === b.rank && r.id < b.id)) best.set(r.account_id, { rank, id: r.id, region: r.region });
  }
  return new Map([...best].map(([id, b]) => [id, b.region]));
}

type AccountRead = { id: string; created_at: number; app_status: string; fg_status: string };
const ACCOUNT_READ = ['id', 'created_at', 'app_status', 'fg_status'] as const;

/** The accounts among ids, each row locked (FOR UPDATE), in id order so that concurrent batches do not deadlock. */
async function lockAndRead(trx: Kysely<Database>, ids: readonly string[]): Promise<AccountRead[]> {
  const sorted = [...new Set(ids)].sort();
  const out: AccountRead[] = [];
  for (const chunk of chunks(sorted, ROW_CHUNK)) {
    out.push(...(await trx.selectFrom('accounts').select(ACCOUNT_READ).where('id', 'in', chunk).orderBy('id').forUpdate().execute()));
  }
  return out;
}

/** Rows whose `column` is one of `values`: on SQLite one statement with the values as a JSON parameter, else chunks of Kysely IN lists. */
async function selectIn<R>(trx: Kysely<Database>, json: boolean, table: 'accounts' | 'contact_points', columns: readonly string[], column: string, values: readonly string[]): Promise<R[]> {
  if (values.length === 0) return [];
  if (json && !values.some((v) => LONE_SURROGATE.test(v))) {
    const r = await sql<R>`SELECT ${sql.raw(columns.join(', '))} FROM ${sql.raw(table)} WHERE ${sql.raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`.execute(trx);
    return r.rows;
  }
  const out: R[] = [];
  for (const chunk of chunks([...values], ROW_CHUNK)) {
    const rows = await trx.selectFrom(table).select(columns as never).where(column as never, 'in', chunk as never).execute();
    out.push(...(rows as R[]));
  }
  return out;
}

type AccountRow = Insertable<Database['accounts']>;
type PointRow = Insertable<Database['contact_points']>;

const ACCOUNT_COLUMNS = [
  'id', 'handle', 'created_at', 'app_status', 'fg_status', 'phone_region', 'derived_phone_region', 'signup_ip', 'signup_device', 'signup_user_agent', 'signup_attested', 'mirrored_at', 'updated_at',
] as const satisfies readonly (keyof AccountRow)[];
const POINT_COLUMNS = [
  'id', 'account_id', 'kind', 'key_version', 'hash', 'purposes', 'verified', 'discoverable', 'discoverable_by', 'region', 'created_at', 'updated_at',
] as const satisfies readonly (keyof PointRow)[];
type UpsertColumn = 'handle' | 'created_at' | 'app_status' | 'phone_region' | 'signup_ip' | 'signup_device' | 'signup_user_agent' | 'signup_attested' | 'updated_at';

/**
 * What the upsert writes over an existing row: the handle, and only the fields the line names, as
 * PUT does (accounts.ts upsertAccount). An omitted status, phone country, sign-up context or
 * createdAt keeps the stored one: the re-mirror that completes a key rotation does not lift the
 * app's suspension. fg_status, mirrored_at and the derived region are findguard's own: never.
 */
function updateSet(a: AccountInput): UpsertColumn[] {
  const set: UpsertColumn[] = ['handle'];
  if (a.createdAt !== undefined) set.push('created_at');
  if (a.status !== undefined) set.push('app_status');
  if (a.phoneRegion !== undefined) set.push('phone_region');
  if (a.signup) set.push('signup_ip', 'signup_device', 'signup_user_agent', 'signup_attested');
  set.push('updated_at');
  return set;
}

function upsertClause(set: readonly UpsertColumn[]): string {
  return `ON CONFLICT (id) DO UPDATE SET ${set.map((c) => `${c} = excluded.${c}`).join(', ')}`;
}

/**
 * SQLite: the chunk as one JSON parameter taken apart by json_each, in one short statement. The
 * multi-row VALUES statement is prepared anew at every execution (Kysely's SQLite driver prepares
 * each query), and its text (12 placeholders a row, 400 rows) made preparing it, with Kysely
 * building and compiling it, more of the seeding's CPU than SQLite's inserts. Blobs go as hex
 * (unhex). Rows in their order (ORDER BY the element's index), so rowids and ids follow as before.
 * False, and nothing written, when a text is not well-formed UTF-16 (a lone surrogate): bound
 * directly it is written as U+FFFD, which JSON would not reproduce; the caller writes it as before.
 */
/** In a u-mode expression a surrogate pair is one code point: only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Surrogate}/u;

async function insertJson<R extends object>(trx: Kysely<Database>, table: 'accounts' | 'contact_points', columns: readonly (keyof R & string)[], rows: readonly R[], onConflict: string): Promise<boolean> {
  const values: unknown[][] = [];
  for (const r of rows) {
    const row: unknown[] = [];
    for (const c of columns) {
      const v = (r as Record<string, unknown>)[c];
      if (typeof v === 'string' && LONE_SURROGATE.test(v)) return false;
      row.push(Buffer.isBuffer(v) ? v.toString('hex') : (v ?? null));
    }
    values.push(row);
  }
  const fields = columns.map((c, i) => (c === 'hash' ? `unhex(value ->> ${i})` : `value ->> ${i}`)).join(', ');
  await sql`INSERT INTO ${sql.raw(table)} (${sql.raw(columns.join(', '))}) SELECT ${sql.raw(fields)} FROM json_each(${JSON.stringify(values)}) WHERE true ORDER BY key ${sql.raw(onConflict)}`.execute(trx);
  return true;
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

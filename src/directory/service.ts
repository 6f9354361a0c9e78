import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog, type Tx } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { canonicalAddress } from '../net/client-address.js';
import type { Clock } from '../util/clock.js';
import { timeOrderedId, type IdFormat } from '../util/ids.js';
import type { Random } from '../util/random.js';
import {
  eraseAccount,
  eraseNoticeEvents,
  findAccount,
  isActive,
  setFindguardStatus,
  upsertAccount,
  type AccountInput,
  type AccountRow,
} from './accounts.js';
import { normaliseContactInput } from './contact-value.js';
import { isContactLike } from './contact-like.js';
import { requireOpaqueAccountId } from './account-id.js';
import {
  deleteContactPoint,
  findContactPoint,
  listContactPoints,
  patchContactPoint,
  putContactPoint,
  viewContactPoint,
  type ContactPointView,
} from './contact-points.js';
import { writeAccounts, type AccountWrite } from './bulk-write.js';
import { purgeErasedIncarnations } from './incarnations.js';
import { eraseBook, keepsBook, lockAccounts, replaceBook, resolveDiscoverability, type AccountRef } from './discoverability.js';
import type { ContactHasher } from './hashing.js';
import type { AccountBody, ContactPointBody, ContactPointPatch } from './schemas.js';

const CONTACT_POINT_ID: IdFormat = { prefix: 'cp', randomBytes: 10 };

export interface AccountView {
  id: string;
  handle: string;
  createdAt: string;
  /** Effective status: suspended if either the app or findguard suspended the account. */
  status: 'active' | 'suspended';
  appStatus: 'active' | 'suspended';
  findguardStatus: 'active' | 'suspended';
  /** The phone country the app sent, if any: it wins over the derived one. */
  phoneRegion: string | null;
  /** The region of the account's own preferred verified phone (see phone-region.ts). */
  derivedPhoneRegion: string | null;
  signup: { ip: string | null; deviceId: string | null; userAgent: string | null; attested: boolean | null };
  /** null until the abuse engine has assessed the account. */
  risk: null;
  contactPoints: ContactPointView[];
}

export interface DirectoryDeps {
  db: Kysely<Database>;
  hasher: ContactHasher;
  clock: Clock;
  random: Random;
  /** Told after every committed directory write, with the accounts it touched (caches listen). */
  onChanged?: (accountIds: readonly string[]) => void;
  /**
   * Told after the commit that created an account the app gave a sign-up context (the abuse
   * engine's sign-up event), whichever way it arrived: PUT or the bulk import. The address is
   * canonical, as stored.
   */
  onSignup?: (accountId: string, at: number, signup: { ip: string; deviceId?: string }) => void;
  /** Where a failing after-commit notice is reported. */
  log?: CommitLog;
}

/** The app's mirror of its accounts and contact points. Values are hashed before anything is written. */
export class DirectoryService {
  constructor(readonly deps: DirectoryDeps) {}

  /**
   * Time-ordered ids (util/ids.ts: 48-bit ms time, then 80 random bits): rows arrive at the end of
   * the primary key's B-tree instead of at random places, which keeps bulk imports fast as the table grows.
   */
  newContactPointId(): string {
    return timeOrderedId(CONTACT_POINT_ID, this.deps.clock.now(), this.deps.random);
  }

  /** Runs fn in a transaction (joining the caller's when given one): notices wait for its commit. */
  private transaction<T>(fn: (tx: Tx) => Promise<T>, db: Kysely<Database> = this.deps.db): Promise<T> {
    return transaction(db, fn, this.deps.log);
  }

  /** The accounts' change notice, and the sign-ups of those just created, once tx has committed. */
  private announce(tx: Tx, ids: readonly string[], signups: ReadonlyArray<{ id: string; at: number; signup?: AccountInput['signup'] }> = []): void {
    if (ids.length > 0) tx.onCommit(() => this.deps.onChanged?.(ids));
    const onSignup = this.deps.onSignup;
    const fresh = signups.filter((s) => s.signup !== undefined);
    if (onSignup && fresh.length > 0) tx.onCommit(() => fresh.forEach((s) => onSignup(s.id, s.at, s.signup!)));
  }

  async putAccount(id: string, body: AccountBody, db?: Kysely<Database>): Promise<{ account: AccountView; created: boolean }> {
    requireOpaqueAccountId(id, 'params/accountId');
    const input = toAccountInput(body, this.deps.clock.now());
    return this.transaction(async (tx) => {
      const { row, created } = await upsertAccount(tx, id, input, this.deps.clock.now());
      this.announce(tx, [id], created ? [{ id, at: row.created_at, ...(input.signup ? { signup: input.signup } : {}) }] : []);
      return { account: await this.view(tx, row), created };
    }, db);
  }

  /**
   * The bulk form of putAccount with addContactPoint (the NDJSON import): validated, normalised
   * and hashed the same way, written with multi-row statements in one transaction, with the same
   * change notice and the same sign-up events after the commit. A repeated account id is the
   * caller's to split into another call (a multi-row upsert touches a row once).
   */
  async putAccounts(lines: readonly AccountWrite[], db?: Kysely<Database>): Promise<{ accounts: number; contactPoints: number }> {
    return this.transaction(async (tx) => {
      const r = await writeAccounts(tx, this.deps.hasher, lines, () => this.newContactPointId(), this.deps.clock.now());
      this.announce(tx, lines.map((l) => l.accountId), r.created);
      return { accounts: r.accounts, contactPoints: r.contactPoints };
    }, db);
  }

  /** findguard's own suspension or reinstatement of an account. */
  async setFindguardStatus(id: string, status: 'active' | 'suspended'): Promise<void> {
    await this.transaction(async (tx) => {
      if (!(await setFindguardStatus(tx, id, status, this.deps.clock.now()))) throw new AppError('not_found', 'no such account');
      this.announce(tx, [id]);
    });
  }

  /**
   * The same inside the caller's transaction (the enforcer's: the action, its webhook and the
   * status commit together or not at all). False for an unknown account. Register changed() with
   * the transaction's onCommit, so reads and caches see it only once it has committed.
   */
  setFindguardStatusIn(trx: Kysely<Database>, id: string, status: 'active' | 'suspended'): Promise<boolean> {
    return setFindguardStatus(trx, id, status, this.deps.clock.now());
  }

  /** Accounts changed by a transaction the directory did not run itself (see setFindguardStatusIn). */
  changed(ids: readonly string[]): void {
    if (ids.length > 0) this.deps.onChanged?.(ids);
  }

  async getAccount(id: string): Promise<AccountView> {
    const row = await findAccount(this.deps.db, id);
    if (!row) throw new AppError('not_found', 'no such account');
    return this.view(this.deps.db, row);
  }

  async eraseAccount(id: string): Promise<void> {
    await this.transaction(async (tx) => {
      // Locked first: a notice written for the account meanwhile waits, then finds it gone.
      await lockAccounts(tx, [id]);
      await eraseNoticeEvents(tx, id);
      // The book goes with the account (the foreign keys would take it too; this says so).
      await eraseBook(tx, id);
      if (!(await eraseAccount(tx, id, this.deps.clock.now()))) throw new AppError('not_found', 'no such account');
      this.announce(tx, [id]);
    });
  }

  /** This directory's clock (an import checks its lines' dates against it). */
  now(): number {
    return this.deps.clock.now();
  }

  /** Forgets the incarnations erasures ended more than a day ago (incarnations.ts); returns how many. */
  purgeErasedIncarnations(): Promise<number> {
    return purgeErasedIncarnations(this.deps.db, this.deps.clock.now());
  }

  async addContactPoint(accountId: string, body: ContactPointBody): Promise<{ id: string; created: boolean }> {
    const { bits, audience } = resolveDiscoverability(body);
    // Only an audience the body names is written (see ContactPointWrite.audience).
    const named = body.discoverableBy === 'everyone' || body.discoverableBy === 'contacts' ? audience : undefined;
    const normalised = normaliseContactInput(body.kind, body.value, body.region);
    if (!normalised.ok) {
      throw new AppError(normalised.code, normalised.code === 'invalid_region' ? 'unknown region code' : `not a valid ${body.kind === 'phone' ? 'phone number' : 'email address'}`);
    }
    const { id, outcome } = await this.transaction(async (tx) => {
      // The account's row first, as every writer of its points takes it (discoverability.ts lockAccounts).
      await lockAccounts(tx, [accountId]);
      if (!(await findAccount(tx, accountId))) throw new AppError('not_found', 'no such account');
      const put = await putContactPoint(
        tx,
        this.deps.hasher,
        accountId,
        { kind: body.kind, value: normalised.value, bits, audience: named, verified: body.verified },
        () => this.newContactPointId(),
        this.deps.clock.now(),
      );
      this.announce(tx, [accountId]);
      return put;
    });
    // After the commit: a repeated point still fills in the region a row written before regions lacked.
    if (outcome === 'exists') throw new AppError('conflict', 'the account already has this contact point', { id });
    return { id, created: outcome === 'created' };
  }

  async patchContactPoint(accountId: string, id: string, patch: ContactPointPatch): Promise<ContactPointView> {
    return this.transaction(async (tx) => {
      // Locked before the point is read: purposes derived from the stored ones (discoverableBy
      // alone) are derived from the ones in force, not from a concurrent import's or PATCH's past.
      await lockAccounts(tx, [accountId]);
      const account = await findAccount(tx, accountId);
      const before = account ? await findContactPoint(tx, accountId, id) : undefined;
      const resolved = before ? resolveDiscoverability(patch, { bits: before.purposes, audience: before.discoverable_by }) : undefined;
      // Only what the request changes is written: a PATCH of `verified` alone writes back no audience or purposes.
      const write = {
        ...(resolved && (patch.purposes !== undefined || patch.discoverableBy !== undefined) ? { bits: resolved.bits } : {}),
        ...(resolved && (patch.discoverableBy === 'everyone' || patch.discoverableBy === 'contacts') ? { audience: resolved.audience } : {}),
        ...(patch.verified !== undefined ? { verified: patch.verified } : {}),
      };
      const row = before ? await patchContactPoint(tx, accountId, id, write, this.deps.clock.now()) : undefined;
      if (!account || !row) throw new AppError('not_found', 'no such contact point');
      this.announce(tx, [accountId]);
      return viewContactPoint(row, isActive(account));
    });
  }

  async deleteContactPoint(accountId: string, id: string): Promise<void> {
    await this.transaction(async (tx) => {
      await lockAccounts(tx, [accountId]);
      if (!(await deleteContactPoint(tx, accountId, id))) throw new AppError('not_found', 'no such contact point');
      this.announce(tx, [accountId]);
    });
  }

  /**
   * The owner's latest synced phone book (normalised numbers: the sync's previous set and its new
   * ones), kept as keyed hashes if one of the owner's points is in contacts mode and discarded
   * otherwise. Called by the discovery use case after every phone sync it answered, whatever its
   * own (cached) view of the mode: the mode is read here, first without a write transaction, so
   * accounts that keep no book cost one read. holder: the account the sync was matched for (its
   * id and mirroredAt): an id erased and mirrored again since belongs to another person, who gets
   * no book of the erased holder's.
   */
  async recordBook(holder: AccountRef, numbers: readonly string[]): Promise<void> {
    // Turned on after this read: this sync came first, and the next one is kept. Turned off after
    // it: replaceBook reads the mode again under the account's lock and keeps nothing.
    if (!(await keepsBook(this.deps.db, holder.accountId, holder.mirroredAt))) return;
    await this.transaction(async (tx) => {
      if (await replaceBook(tx, this.deps.hasher, holder, numbers)) this.announce(tx, [holder.accountId]);
    });
  }

  private async view(db: Kysely<Database>, row: AccountRow): Promise<AccountView> {
    const active = isActive(row);
    const points = await listContactPoints(db, row.id);
    return {
      id: row.id,
      handle: row.handle,
      createdAt: new Date(row.created_at).toISOString(),
      status: active ? 'active' : 'suspended',
      appStatus: row.app_status,
      findguardStatus: row.fg_status,
      phoneRegion: row.phone_region,
      derivedPhoneRegion: row.derived_phone_region,
      signup: { ip: row.signup_ip, deviceId: row.signup_device, userAgent: row.signup_user_agent, attested: row.signup_attested === null ? null : row.signup_attested === 1 },
      risk: null,
      contactPoints: points.map((p) => viewContactPoint(p, active)),
    };
  }
}

/**
 * How far ahead of this node's clock an account's createdAt may be: the app's clock may run ahead.
 * Further ahead, the account would stay in the new-account tier for as long as the date is to come.
 */
const CREATED_AT_SKEW_MS = 5 * 60_000;

/** Checks what the schema cannot (real dates in range, real IPs) and maps the body to the row input. */
export function toAccountInput(body: AccountBody, now: number): AccountInput {
  // The handle is stored, and answered to whoever finds the account: one that is a phone number or
  // an email address would be a raw contact value in both places.
  if (isContactLike(body.handle)) {
    const details = [{ path: 'handle', message: 'must not be a phone number or an email address', reason: 'handle_contact_value' }];
    throw new AppError('invalid_request', 'handle must not be a phone number or an email address', details);
  }
  const input: AccountInput = { handle: body.handle };
  if (body.createdAt !== undefined) {
    const ms = Date.parse(body.createdAt);
    if (!Number.isFinite(ms)) throw new AppError('invalid_request', 'createdAt is not a valid date-time');
    if (ms < 0 || ms > now + CREATED_AT_SKEW_MS) {
      const details = [{ path: 'createdAt', message: 'must be between 1970 and now', reason: 'created_at_out_of_range' }];
      throw new AppError('invalid_request', 'createdAt must be between 1970-01-01 and now', details);
    }
    input.createdAt = ms;
  }
  if (body.phoneRegion !== undefined) input.phoneRegion = body.phoneRegion;
  if (body.status !== undefined) input.status = body.status;
  if (body.signup) {
    // Stored and fed to the abuse engine as discovery calls' addresses are, so that they compare.
    const ip = canonicalAddress(body.signup.ip);
    if (ip === undefined) throw new AppError('invalid_request', 'signup.ip is not an IP address');
    if (body.signup.deviceId !== undefined && isContactLike(body.signup.deviceId)) {
      const details = [{ path: 'signup/deviceId', message: 'must not be a phone number or an email address', reason: 'device_id_contact_value' }];
      throw new AppError('invalid_request', 'signup.deviceId must be an opaque id, never a phone number or an email address', details);
    }
    input.signup = { ...body.signup, ip };
  }
  return input;
}

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { canonicalAddress } from '../net/client-address.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import {
  eraseAccount,
  findAccount,
  isActive,
  setFindguardStatus,
  upsertAccount,
  type AccountInput,
  type AccountRow,
} from './accounts.js';
import { assertRegion, normaliseContact } from './contact-value.js';
import {
  deleteContactPoint,
  listContactPoints,
  patchContactPoint,
  putContactPoint,
  viewContactPoint,
  type ContactPointView,
} from './contact-points.js';
import type { ContactHasher } from './hashing.js';
import type { AccountBody, ContactPointBody, ContactPointPatch } from './schemas.js';

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
  signup: { ip: string | null; deviceId: string | null; userAgent: string | null };
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
}

/** The app's mirror of its accounts and contact points. Values are hashed before anything is written. */
export class DirectoryService {
  constructor(readonly deps: DirectoryDeps) {}

  /**
   * Time-ordered ids (48-bit ms time, then 80 random bits): rows arrive at the end of the primary
   * key's B-tree instead of at random places, which keeps bulk imports fast as the table grows.
   */
  newContactPointId(): string {
    // Hex for the time part: base64url's alphabet does not sort in ASCII order.
    const time = this.deps.clock.now().toString(16).padStart(12, '0');
    return `cp_${time}${this.deps.random.bytes(10).toString('base64url')}`;
  }

  async putAccount(id: string, body: AccountBody): Promise<{ account: AccountView; created: boolean }> {
    const input = toAccountInput(body);
    const result = await this.deps.db.transaction().execute(async (trx) => {
      const { row, created } = await upsertAccount(trx, id, input, this.deps.clock.now());
      return { account: await this.view(trx, row), created };
    });
    this.deps.onChanged?.([id]);
    return result;
  }

  /** findguard's own suspension or reinstatement of an account. */
  async setFindguardStatus(id: string, status: 'active' | 'suspended'): Promise<void> {
    const found = await this.deps.db.transaction().execute((trx) => setFindguardStatus(trx, id, status, this.deps.clock.now()));
    if (!found) throw new AppError('not_found', 'no such account');
    this.deps.onChanged?.([id]);
  }

  /**
   * The same inside the caller's transaction (the enforcer's: the action, its webhook and the
   * status commit together or not at all). False for an unknown account. Call changed() once the
   * transaction has committed, so reads and caches see it.
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
    const erased = await this.deps.db.transaction().execute((trx) => eraseAccount(trx, id));
    if (!erased) throw new AppError('not_found', 'no such account');
    this.deps.onChanged?.([id]);
  }

  async addContactPoint(accountId: string, body: ContactPointBody): Promise<{ id: string; created: boolean }> {
    assertRegion(body.region);
    const normalised = normaliseContact(body.kind, body.value, body.region);
    if (!normalised.ok) throw new AppError(normalised.code, `not a valid ${body.kind === 'phone' ? 'phone number' : 'email address'}`);
    const { id, outcome } = await this.deps.db.transaction().execute(async (trx) => {
      if (!(await findAccount(trx, accountId))) throw new AppError('not_found', 'no such account');
      return putContactPoint(
        trx,
        this.deps.hasher,
        accountId,
        { kind: body.kind, value: normalised.value, purposes: body.purposes, verified: body.verified },
        () => this.newContactPointId(),
        this.deps.clock.now(),
      );
    });
    this.deps.onChanged?.([accountId]);
    // After the commit: a repeated point still fills in the region a row written before regions lacked.
    if (outcome === 'exists') throw new AppError('conflict', 'the account already has this contact point', { id });
    return { id, created: outcome === 'created' };
  }

  async patchContactPoint(accountId: string, id: string, patch: ContactPointPatch): Promise<ContactPointView> {
    return this.deps.db.transaction().execute(async (trx) => {
      const account = await findAccount(trx, accountId);
      const row = account ? await patchContactPoint(trx, accountId, id, patch, this.deps.clock.now()) : undefined;
      if (!account || !row) throw new AppError('not_found', 'no such contact point');
      return viewContactPoint(row, isActive(account));
    }).then((view) => {
      this.deps.onChanged?.([accountId]);
      return view;
    });
  }

  async deleteContactPoint(accountId: string, id: string): Promise<void> {
    const deleted = await this.deps.db.transaction().execute((trx) => deleteContactPoint(trx, accountId, id));
    if (!deleted) throw new AppError('not_found', 'no such contact point');
    this.deps.onChanged?.([accountId]);
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
      signup: { ip: row.signup_ip, deviceId: row.signup_device, userAgent: row.signup_user_agent },
      risk: null,
      contactPoints: points.map((p) => viewContactPoint(p, active)),
    };
  }
}

/** Checks what the schema cannot (real dates, real IPs) and maps the body to the row input. */
export function toAccountInput(body: AccountBody): AccountInput {
  const input: AccountInput = { handle: body.handle };
  if (body.createdAt !== undefined) {
    const ms = Date.parse(body.createdAt);
    if (!Number.isFinite(ms)) throw new AppError('invalid_request', 'createdAt is not a valid date-time');
    input.createdAt = ms;
  }
  if (body.phoneRegion !== undefined) input.phoneRegion = body.phoneRegion;
  if (body.status !== undefined) input.status = body.status;
  if (body.signup) {
    // Stored and fed to the abuse engine as discovery calls' addresses are, so that they compare.
    const ip = canonicalAddress(body.signup.ip);
    if (ip === undefined) throw new AppError('invalid_request', 'signup.ip is not an IP address');
    input.signup = { ...body.signup, ip };
  }
  return input;
}

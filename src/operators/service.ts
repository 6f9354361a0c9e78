import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database, OperatorsTable } from '../db/schema.js';
import { transaction } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { recordAudit, type AuditActor } from '../incidents/audit.js';
import { isNewOperatorName, isOperatorName, NEW_OPERATOR_NAME_RULE, newId } from '../incidents/common.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { DEFAULT_SCRYPT, generatePassword, hashPassword, PasswordCheckBusy, verifyPassword, type ScryptParams } from './passwords.js';
import { actingHolder, auditVia, CLI_TOKEN_MAKER, credentialHolder, type ActingContext, type OperatorPrincipal } from './principal.js';
import { OidcSubjects } from './oidc-subject.js';
import { canManage, isRole, roleRank, type Role } from './roles.js';
import { OperatorSessions, type SessionCookie, type SessionTimeouts } from './sessions.js';
import { networkOf, SigninThrottle, throttleNameKey } from './throttle.js';
import { OperatorTokens } from './tokens.js';
import { TotpVault, type VaultKey } from './totp-vault.js';
import { newTotpSecret, totpStep, totpUri } from './totp.js';

export interface OperatorInfo {
  id: string;
  name: string;
  role: Role;
  status: 'active' | 'disabled';
  /** How they sign in: a password and TOTP, OIDC, or both. */
  password: boolean;
  oidc: boolean;
  /**
   * Another operator who was handed both this operator's password and current TOTP secret (added
   * them through the admin API): that sign-in gives no approval of the two-person rule until the
   * TOTP is reset on the server or by someone else.
   */
  signInHeldBy: string | null;
  createdAt: number;
  updatedAt: number;
}

/** What `operators add` shows once: the password (when generated) and the TOTP enrolment. */
export interface NewOperator {
  operator: OperatorInfo;
  password?: string;
  totpSecret: string;
  totpUri: string;
}

export interface OperatorServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The keys TOTP secrets are sealed with (the hash keys, newest first): never in the database. */
  totpKeys: readonly VaultKey[];
  /** Cheaper parameters for tests; stored hashes carry their own, so verification reads those. */
  scrypt?: ScryptParams;
  timeouts?: SessionTimeouts;
}

/**
 * Failures that count against an operator name from everywhere (the lock for unfamiliar networks):
 * what a guesser without the password causes. Not a wrong or replayed code after the right
 * password: that is the second factor's own count, which only a holder of the password moves.
 */
const NAME_FAILURES = new Set(['wrong_password', 'unknown_operator', 'no_local_sign_in', 'locked_unfamiliar_network']);
/** How far back a network the operator signed in from counts as theirs. */
const USUAL_NETWORK_MS = 90 * 86_400_000;

/** The CLI on the server itself: whoever can run it already holds the database. */
export const CLI_ACTOR: AuditActor = { id: 'cli', name: 'cli', role: 'system', via: 'cli' };
const CLI: ActingContext = { from: null, tool: 'cli' };

/** Who manages: an operator, or the CLI (which may manage anyone). */
export type Manager = { principal: OperatorPrincipal; ctx: ActingContext } | 'cli';

/**
 * Who a new token is recorded as made by. A token made with a token someone else made, or in a
 * session of a sign-in someone else holds, is theirs too: its bearer may be them, and recording the
 * token's operator instead would launder it into one that gives an approval of the two-person rule
 * (test/review/token-minted-token-approves, test/review/admin-added-operator-approves).
 */
function tokenMaker(by: Manager): string | null {
  if (by === 'cli') return CLI_TOKEN_MAKER;
  return actingHolder(by.principal);
}

/**
 * Who is recorded as handed a credential set for operator `id` (the password and TOTP shown by
 * `add`, the TOTP shown by `resetTotp`): the manager, or whoever holds the manager's own sign-in;
 * null for the CLI and for the operator themselves.
 */
function handedTo(by: Manager, id: string): string | null {
  if (by === 'cli') return null;
  const who = actingHolder(by.principal);
  return who === id ? null : who;
}

/**
 * Operators: local ones (password + TOTP) and OIDC ones, their sessions, API tokens and sign-in.
 * Every change and every sign-in, good or bad, goes to the audit trail in the same transaction.
 */
export class OperatorService {
  readonly sessions: OperatorSessions;
  readonly tokens: OperatorTokens;
  readonly throttle: SigninThrottle;
  /** How an OIDC operator's subject is kept (oidc-subject.ts), under the same hash keys. */
  readonly oidcSubjects: OidcSubjects;
  private readonly scrypt: ScryptParams;
  private readonly vault: TotpVault;
  /** Verified against when the name is unknown, so a miss costs what a hit costs. */
  private dummyHash?: Promise<string>;

  constructor(private readonly deps: OperatorServiceDeps) {
    this.sessions = new OperatorSessions(deps.db, deps.random, deps.timeouts);
    this.tokens = new OperatorTokens(deps.db, deps.random);
    this.throttle = new SigninThrottle(deps.db, throttleNameKey(deps.totpKeys));
    this.oidcSubjects = new OidcSubjects(deps.totpKeys);
    this.scrypt = deps.scrypt ?? DEFAULT_SCRYPT;
    this.vault = new TotpVault(deps.totpKeys, deps.random);
  }

  async list(): Promise<OperatorInfo[]> {
    const rows = await this.deps.db.selectFrom('operators').selectAll().orderBy('name').execute();
    return rows.map(toInfo);
  }

  async byName(name: string): Promise<OperatorInfo | null> {
    const r = await this.deps.db.selectFrom('operators').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toInfo(r) : null;
  }

  async byId(id: string): Promise<OperatorInfo | null> {
    const r = await this.deps.db.selectFrom('operators').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toInfo(r) : null;
  }

  /** A local operator; the password is generated unless given (`--password-stdin`). */
  async add(by: Manager, name: string, role: Role, password?: string): Promise<NewOperator> {
    if (!isNewOperatorName(name)) throw new AppError('invalid_request', `an operator name is ${NEW_OPERATOR_NAME_RULE}`);
    if (password !== undefined && password.length < 12) throw new AppError('invalid_request', 'a password needs at least 12 characters');
    this.mayManage(by, role);
    const now = this.deps.clock.now();
    const secret = newTotpSecret(this.deps.random);
    const plain = password ?? generatePassword(this.deps.random);
    const hash = await hashPassword(plain, this.deps.random, this.scrypt);
    const id = newId('op', now, this.deps.random);
    const setBy = handedTo(by, id);
    const row: OperatorsTable = { id, name, role, status: 'active', password_hash: hash, totp_secret: this.vault.seal(secret), totp_last_step: 0, oidc_subject: null, password_set_by: setBy, totp_set_by: setBy, created_at: now, updated_at: now };
    await transaction(this.deps.db, async (tx) => {
      const taken = await tx.selectFrom('operators').select('id').where('name', '=', name).executeTakeFirst();
      if (taken) throw new AppError('conflict', 'an operator of that name exists');
      await tx.insertInto('operators').values(row).execute();
      await this.audit(tx, by, 'operator.add', id, now, { after: { name, role } });
    });
    return { operator: toInfo(row), ...(password === undefined ? { password: plain } : {}), totpSecret: secret, totpUri: totpUri(secret, name) };
  }

  /** Disables an operator and ends their sessions and tokens at once. */
  async disable(by: Manager, id: string, reason?: string): Promise<OperatorInfo> {
    const now = this.deps.clock.now();
    return transaction(this.deps.db, async (tx) => {
      const target = await this.target(tx, id);
      this.mayManage(by, target.role);
      if (by !== 'cli' && by.principal.id === id) throw new AppError('conflict', 'an operator cannot disable themselves');
      await tx.updateTable('operators').set({ status: 'disabled', updated_at: now }).where('id', '=', id).execute();
      const sessions = await this.sessions.revokeAll(id, now, tx);
      const tokens = await this.tokens.revokeAll(id, now, tx);
      await this.audit(tx, by, 'operator.disable', id, now, { before: { status: target.status }, after: { status: 'disabled' }, details: { sessions, tokens }, ...(reason ? { reason } : {}) });
      return { ...toInfo(target), status: 'disabled' as const, updatedAt: now };
    });
  }

  /** Lets a disabled operator sign in again; the sessions and tokens that ended stay ended. */
  async enable(by: Manager, id: string, reason?: string): Promise<OperatorInfo> {
    const now = this.deps.clock.now();
    return transaction(this.deps.db, async (tx) => {
      const target = await this.target(tx, id);
      this.mayManage(by, target.role);
      await tx.updateTable('operators').set({ status: 'active', updated_at: now }).where('id', '=', id).execute();
      await this.audit(tx, by, 'operator.enable', id, now, { before: { status: target.status }, after: { status: 'active' }, ...(reason ? { reason } : {}) });
      return { ...toInfo(target), status: 'active' as const, updatedAt: now };
    });
  }

  /**
   * Changes a local operator's role. Nobody manages a role above their own: the manager must be
   * allowed to manage both the operator's current role and the new one (an admin can make no one
   * more than admin; an analyst or viewer changes no one), and nobody changes their own role (no
   * raising oneself, and no admin demoting themselves out of the way back). A demotion ends the
   * operator's sessions at once, so no page stays open with rights it no longer has; their API
   * tokens stay, since every request reads the operator's role afresh. An OIDC operator's role
   * follows their groups at every sign-in, so it is refused here rather than silently undone.
   */
  async setRole(by: Manager, id: string, role: Role, reason?: string): Promise<OperatorInfo & { sessionsEnded: number }> {
    if (!isRole(role)) throw new AppError('invalid_request', 'a role is viewer, analyst or admin');
    const now = this.deps.clock.now();
    return transaction(this.deps.db, async (tx) => {
      const target = await this.target(tx, id);
      this.mayManage(by, isRole(target.role) ? target.role : 'admin');
      this.mayManage(by, role);
      if (by !== 'cli' && by.principal.id === id) throw new AppError('conflict', 'an operator cannot change their own role');
      if (target.oidc_subject !== null) throw new AppError('conflict', "this operator signs in through OIDC: their role follows their identity provider's groups");
      const before = isRole(target.role) ? target.role : 'viewer';
      if (before === role) return { ...toInfo(target), sessionsEnded: 0 };
      await tx.updateTable('operators').set({ role, updated_at: now }).where('id', '=', id).execute();
      const demoted = roleRank(role) < roleRank(before);
      const sessionsEnded = demoted ? await this.sessions.revokeAll(id, now, tx) : 0;
      await this.audit(tx, by, 'operator.set-role', id, now, { before: { role: before }, after: { role }, details: { sessions: sessionsEnded }, ...(reason ? { reason } : {}) });
      return { ...toInfo(target), role, updatedAt: now, sessionsEnded };
    });
  }

  /** A new TOTP secret (the old phone lost): every session ends, the new enrolment is shown once. */
  async resetTotp(by: Manager, id: string): Promise<{ totpSecret: string; totpUri: string }> {
    const now = this.deps.clock.now();
    const secret = newTotpSecret(this.deps.random);
    return transaction(this.deps.db, async (tx) => {
      const target = await this.target(tx, id);
      this.mayManage(by, target.role);
      if (target.password_hash === null) throw new AppError('conflict', 'this operator signs in through OIDC and has no TOTP');
      await tx.updateTable('operators').set({ totp_secret: this.vault.seal(secret), totp_last_step: 0, totp_set_by: handedTo(by, id), updated_at: now }).where('id', '=', id).execute();
      await this.sessions.revokeAll(id, now, tx);
      await this.audit(tx, by, 'operator.reset-totp', id, now, {});
      return { totpSecret: secret, totpUri: totpUri(secret, target.name) };
    });
  }

  /** An API token for an operator (an operator may always make one for themselves). */
  async createToken(by: Manager, id: string, label: string): Promise<{ id: string; token: string }> {
    const now = this.deps.clock.now();
    return transaction(this.deps.db, async (tx) => {
      const target = await this.target(tx, id);
      if (target.status !== 'active') throw new AppError('conflict', 'the operator is disabled');
      if (by === 'cli' || by.principal.id !== id) this.mayManage(by, target.role);
      const token = await this.tokens.create(id, label, now, tokenMaker(by), tx);
      await this.audit(tx, by, 'token.create', id, now, { details: { tokenId: token.id, label } });
      return token;
    });
  }

  async revokeToken(by: Manager, tokenId: string): Promise<void> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const token = await tx.selectFrom('operator_tokens').select(['id', 'operator_id']).where('id', '=', tokenId).executeTakeFirst();
      if (!token) throw new AppError('not_found', 'no such token');
      const owner = await this.target(tx, token.operator_id);
      if (by === 'cli' || by.principal.id !== owner.id) this.mayManage(by, owner.role);
      await this.tokens.revoke(tokenId, now, tx);
      await this.audit(tx, by, 'token.revoke', owner.id, now, { details: { tokenId } });
    });
  }

  /** Ends a session: one's own (signing out) or, for an admin, anyone's at or below their role. */
  async revokeSession(by: Manager, sessionId: string, action = 'session.revoke'): Promise<void> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const session = await tx.selectFrom('operator_sessions').select(['id', 'operator_id']).where('id', '=', sessionId).executeTakeFirst();
      if (!session) throw new AppError('not_found', 'no such session');
      const owner = await this.target(tx, session.operator_id);
      if (by === 'cli' || by.principal.id !== owner.id) this.mayManage(by, owner.role);
      await this.sessions.revoke(sessionId, now, tx);
      await this.audit(tx, by, action, owner.id, now, { details: { sessionId } });
    });
  }

  /**
   * Signs in with name, password and TOTP code. Every outcome is audited; every failure looks the
   * same to the caller (invalid_credentials), and one that is throttled answers rate_limited
   * with Retry-After before any password is checked.
   */
  async signIn(name: string, password: string, code: string, ctx: ActingContext): Promise<{ principal: OperatorPrincipal; cookie: SessionCookie }> {
    const now = this.deps.clock.now();
    const key = isOperatorName(name) ? name : '?';
    const row = key === '?' ? undefined : await this.deps.db.selectFrom('operators').selectAll().where('name', '=', key).executeTakeFirst();
    // The audit trail names only an operator's name: a name that is none may be anything typed
    // into the field (an email address, a phone number), and the trail can never be rewritten.
    // The throttle still counts it per name, under a keyed hash (throttle.ts nameDigest).
    const shown = row ? row.name : '?';
    // The attempt is counted before the password is checked (throttle.ts reserve): counted after,
    // guesses sent at once all passed the check before any was counted.
    const wait = await this.throttle.reserve(key, ctx.from, now);
    if (wait > 0) {
      await this.signinAudit('signin.throttled', shown, null, ctx, now, 'throttled');
      throw new AppError('rate_limited', 'too many failed sign-ins from here; wait before trying again', undefined, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    // Locked for unfamiliar networks (throttle.ts OPERATOR_RULE): from a network this operator has
    // not signed in from lately, only a valid unused code opens the password check. Their usual
    // networks are never locked. Answered like any failure: the lock tells a guesser nothing. The
    // name's count is reserved before the check, like the address's (a botnet's burst otherwise
    // found the name unlocked on every guess); refused when the name is already locked.
    const nameCounted = key !== '?' && (await this.throttle.reserveName(key, now));
    const gated = key !== '?' && !nameCounted && !(row && (await this.usualNetwork(row.id, ctx.from, now)));
    let failure: string | null;
    try {
      failure = gated && !this.codeOpensGate(row, code, now) ? 'locked_unfamiliar_network' : await this.checkCredentials(row, password, code, now);
    } catch (err) {
      if (!(err instanceof PasswordCheckBusy)) throw err;
      await this.throttle.release(key, ctx.from);
      if (nameCounted) await this.throttle.releaseName(key);
      throw new AppError('unavailable', 'too many sign-ins at once; retry in a moment', undefined, { 'retry-after': '1' });
    }
    const nameFailure = failure !== null || !row ? NAME_FAILURES.has(failure ?? 'unknown_operator') : false;
    // Only a failure of the name's own kind keeps its count: a wrong code after the right password
    // is the second factor's (counted per operator), and a success counts nothing.
    if (nameCounted && !nameFailure) await this.throttle.releaseName(key);
    if (failure !== null || !row) {
      if (key !== '?' && nameFailure && !nameCounted) await this.throttle.operatorFailed(key, now);
      await this.signinAudit('signin.failed', shown, row ?? null, ctx, now, failure ?? 'unknown_operator');
      throw new AppError('invalid_credentials', 'wrong name, password or code');
    }
    await this.throttle.succeeded(key, ctx.from, now, row.id);
    const cookie = await transaction(this.deps.db, async (tx) => {
      const c = await this.sessions.create(row.id, 'password+totp', ctx.from, now, tx);
      await this.signinAudit('signin', shown, row, ctx, now, undefined, tx, c.sid);
      return c;
    });
    const holder = credentialHolder(row);
    return { principal: { id: row.id, name: row.name, role: row.role, via: 'password+totp', sessionId: cookie.sid, ...(holder ? { credentialsHeldBy: holder } : {}) }, cookie };
  }

  /** Whether this code is valid and unused for the operator (not spent here: checkCredentials spends it). */
  private codeOpensGate(row: OperatorsTable | undefined, code: string, now: number): boolean {
    if (!row || row.totp_secret === null || row.status !== 'active') return false;
    const secret = this.vault.open(row.totp_secret);
    const step = secret === null ? null : totpStep(secret, code, now);
    return step !== null && step > Number(row.totp_last_step);
  }

  /** Whether the operator signed in with password and code from this network (/24, /64) in the last USUAL_NETWORK_MS. */
  private async usualNetwork(operatorId: string, from: string | null, now: number): Promise<boolean> {
    const net = networkOf(from);
    if (net === null) return false;
    const rows = await this.deps.db
      .selectFrom('operator_sessions')
      .select('from_address')
      .where('operator_id', '=', operatorId)
      .where('via', '=', 'password+totp')
      .where('created_at', '>', now - USUAL_NETWORK_MS)
      .orderBy('created_at', 'desc')
      .limit(200)
      .execute();
    return rows.some((r) => networkOf(r.from_address) === net);
  }

  /** Why the credentials fail, or null when they are good (and the code is now spent). */
  private async checkCredentials(row: OperatorsTable | undefined, password: string, code: string, now: number): Promise<string | null> {
    if (!row || row.password_hash === null || row.totp_secret === null) {
      this.dummyHash ??= hashPassword('not a password', this.deps.random, this.scrypt);
      await verifyPassword(password, await this.dummyHash);
      return row ? 'no_local_sign_in' : 'unknown_operator';
    }
    const passwordOk = await verifyPassword(password, row.password_hash);
    if (!passwordOk) return 'wrong_password';
    if (row.status !== 'active') return 'disabled';
    // Answered like any other failure: a distinct answer would tell a guesser the password was right.
    // Reserved before the code is checked, as the password's attempt is: a wrong code stays counted.
    if ((await this.throttle.reserveFactor(row.id, now)) > 0) return 'second_factor_throttled';
    const secret = this.vault.open(row.totp_secret);
    if (secret === null) {
      await this.throttle.releaseFactor(row.id);
      this.deps.logger.warn({ operator: row.name }, "this operator's TOTP secret was sealed with a hash key no longer configured: `findguard operators reset-totp` gives them a new one");
      return 'totp_unreadable';
    }
    const step = totpStep(secret, code, now);
    if (step === null) return 'wrong_totp';
    // The step moves forward only: a second use of the same code (or an older one) finds nothing to update, on any node.
    const reseal = this.vault.needsReseal(row.totp_secret) ? { totp_secret: this.vault.seal(secret) } : {};
    const r = await this.deps.db.updateTable('operators').set({ totp_last_step: step, ...reseal }).where('id', '=', row.id).where('totp_last_step', '<', step).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) {
      await this.throttle.releaseFactor(row.id);
      return 'totp_replayed';
    }
    return null;
  }

  /** A session for an operator who proved themselves elsewhere (OIDC), audited like a sign-in. */
  async openSession(row: OperatorsTable, via: 'oidc', ctx: ActingContext): Promise<{ principal: OperatorPrincipal; cookie: SessionCookie }> {
    const now = this.deps.clock.now();
    const cookie = await transaction(this.deps.db, async (tx) => {
      const c = await this.sessions.create(row.id, via, ctx.from, now, tx);
      await recordAudit(tx, { actor: { id: row.id, name: row.name, role: row.role, via }, ...ctx, action: 'signin', subject: `operator:${row.id}`, details: { sessionId: c.sid } }, now, this.deps.random);
      return c;
    });
    return { principal: { id: row.id, name: row.name, role: row.role, via, sessionId: cookie.sid }, cookie };
  }

  private async signinAudit(action: string, name: string, row: OperatorsTable | null, ctx: ActingContext, now: number, reason?: string, db: Kysely<Database> = this.deps.db, sessionId?: string): Promise<void> {
    const actor: AuditActor = row ? { id: row.id, name: row.name, role: row.role, via: 'password+totp' } : { id: '', name, role: 'system', via: 'password+totp' };
    await recordAudit(db, { actor, ...ctx, action, subject: row ? `operator:${row.id}` : `operator-name:${name}`, ...(reason ? { reason } : {}), ...(sessionId ? { details: { sessionId } } : {}) }, now, this.deps.random);
  }

  private async target(db: Kysely<Database>, id: string): Promise<OperatorsTable> {
    const row = await db.selectFrom('operators').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new AppError('not_found', 'no such operator');
    return row;
  }

  private mayManage(by: Manager, role: Role): void {
    if (by === 'cli') return;
    if (!canManage(by.principal.role, role)) throw new AppError('forbidden_role', `managing a ${role} needs an admin at or above that role`);
  }

  private async audit(
    db: Kysely<Database>,
    by: Manager,
    action: string,
    operatorId: string,
    now: number,
    extra: { before?: Record<string, string>; after?: Record<string, string>; details?: Record<string, string | number>; reason?: string },
  ): Promise<void> {
    const actor: AuditActor = by === 'cli' ? CLI_ACTOR : { id: by.principal.id, name: by.principal.name, role: by.principal.role, via: auditVia(by.principal) };
    const where = by === 'cli' ? CLI : by.ctx;
    await recordAudit(db, { actor, ...where, action, subject: `operator:${operatorId}`, ...extra }, now, this.deps.random);
  }
}

function toInfo(r: OperatorsTable): OperatorInfo {
  return {
    id: r.id,
    name: r.name,
    role: isRole(r.role) ? r.role : 'viewer',
    status: r.status,
    password: r.password_hash !== null,
    oidc: r.oidc_subject !== null,
    signInHeldBy: r.password_hash === null ? null : (credentialHolder(r) ?? null),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

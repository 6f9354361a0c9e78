import type { Kysely } from 'kysely';
import * as client from 'openid-client';
import type { OidcConfig } from '../config/oidc.js';
import type { Database, OperatorsTable } from '../db/schema.js';
import { isUniqueViolation } from '../db/errors.js';
import { transaction, type Tx } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { recordAudit } from '../incidents/audit.js';
import { isOperatorName, newId } from '../incidents/common.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { ActingContext, OperatorPrincipal } from './principal.js';
import { roleRank, type Role } from './roles.js';
import type { OperatorService } from './service.js';
import type { SessionCookie } from './sessions.js';

/** The console's OIDC configuration with its client secret. */
export type OidcSettings = OidcConfig & { clientSecret: string };

/** What the browser keeps (encrypted, ten minutes) between leaving for the provider and coming back. */
export interface OidcFlow {
  state: string;
  nonce: string;
  verifier: string;
}

export interface OidcDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  operators: OperatorService;
  /** Tests serve their provider over plain HTTP on the loopback; never in a deployment. */
  allowHttpIssuer?: boolean;
}

/** The highest role any of the groups maps to; null when none does. */
export function roleForGroups(groups: readonly string[], map: ReadonlyMap<string, Role>): Role | null {
  let best: Role | null = null;
  for (const g of groups) {
    const r = map.get(g);
    if (r && (best === null || roleRank(r) > roleRank(best))) best = r;
  }
  return best;
}

/**
 * OIDC sign-in (authorization code with PKCE, state and nonce, by `openid-client`). An operator
 * signing in for the first time is created with the role their groups map to; the role follows
 * their groups at every sign-in; a disabled operator stays disabled whatever the provider says.
 */
export class OidcSignIn {
  private discovered?: Promise<client.Configuration>;

  constructor(
    readonly settings: OidcSettings,
    private readonly deps: OidcDeps,
  ) {}

  private configuration(): Promise<client.Configuration> {
    this.discovered ??= client
      .discovery(this.settings.issuer, this.settings.clientId, this.settings.clientSecret, undefined, this.deps.allowHttpIssuer ? { execute: [client.allowInsecureRequests] } : undefined)
      .catch((err: unknown) => {
        // A provider that was down is asked again next time.
        this.discovered = undefined;
        throw new AppError('unavailable', `the identity provider did not answer: ${err instanceof Error ? err.message : 'error'}`);
      });
    return this.discovered;
  }

  /** Where to send the browser, and the flow to keep in its cookie until it returns. */
  async start(): Promise<{ url: URL; flow: OidcFlow }> {
    const config = await this.configuration();
    const secret = (): string => this.deps.random.bytes(32).toString('base64url');
    const flow: OidcFlow = { state: secret(), nonce: secret(), verifier: secret() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUrl.href,
      scope: 'openid profile email',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    return { url, flow };
  }

  /**
   * Completes the round trip: `openid-client` checks state, exchanges the code with the PKCE
   * verifier, and checks the ID token (signature, issuer, audience, expiry, nonce). Every failure
   * is audited and answered invalid_credentials (or forbidden_role when no group maps to a role).
   */
  async finish(callbackUrl: URL, flow: OidcFlow | undefined, ctx: ActingContext): Promise<{ principal: OperatorPrincipal; cookie: SessionCookie }> {
    const now = this.deps.clock.now();
    if (!flow) return this.refuse(ctx, now, 'no_flow', 'the sign-in expired or did not start here; start again');
    let claims: client.IDToken | undefined;
    try {
      const config = await this.configuration();
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
      claims = tokens.claims();
    } catch (err) {
      if (err instanceof AppError && err.code === 'unavailable') throw err;
      return this.refuse(ctx, now, `rejected: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`, 'the identity provider sign-in did not check out');
    }
    if (!claims) return this.refuse(ctx, now, 'no_id_token', 'the identity provider sent no ID token');
    const raw = claims[this.settings.groupsClaim];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : [];
    const role = roleForGroups(groups, this.settings.groupRoles);
    // Kept and audited only as its keyed hash (oidc-subject.ts): some providers' `sub` is an email address.
    const subject = `${claims.iss} ${claims.sub}`;
    const stored = this.deps.operators.oidcSubjects.current(subject);
    if (role === null) {
      await this.endAccessWithoutRole(subject, ctx, now);
      await this.audit(ctx, now, 'signin.failed', null, 'no_group_role', stored);
      throw new AppError('forbidden_role', 'none of your groups is given a role in findguard');
    }
    // A person's first sign-ins arriving together (two tabs, two nodes) each find no row and make
    // one: the later insert meets the first's on a UNIQUE column. Once more, it finds that row.
    const find = () => this.operatorFor(subject, nameFrom(claims), role, ctx, now);
    const row = await find().catch((err: unknown) => {
      if (isUniqueViolation(err)) return find();
      throw err;
    });
    if (row.status !== 'active') {
      await this.audit(ctx, now, 'signin.failed', row, 'disabled', stored);
      throw new AppError('invalid_credentials', 'the identity provider sign-in did not check out');
    }
    return this.deps.operators.openSession(row, 'oidc', ctx);
  }

  /**
   * The operator for this subject, created at the first sign-in; the role follows the groups.
   * Several rows may hold the subject's forms: during a rolling upgrade a node of the release that
   * stored the plain pair does not find the hashed row and makes another (name suffixed). The row
   * under the newest form is the operator (candidates() lists the current hash first); each other
   * one is retired (retireDuplicate) before the kept row moves to the current hash, which the
   * UNIQUE column would otherwise refuse while another row held it.
   */
  private async operatorFor(subject: string, wanted: string, role: Role, ctx: ActingContext, now: number): Promise<OperatorsTable> {
    return transaction(this.deps.db, async (tx) => {
      const subjects = this.deps.operators.oidcSubjects;
      const stored = subjects.current(subject);
      const forms = subjects.candidates(subject);
      const rows = await tx.selectFrom('operators').selectAll().where('oidc_subject', 'in', forms).execute();
      rows.sort((a, b) => forms.indexOf(a.oidc_subject ?? '') - forms.indexOf(b.oidc_subject ?? ''));
      let found = rows[0];
      if (found) for (const extra of rows.slice(1)) await this.retireDuplicate(tx, found, extra, ctx, now);
      if (found && found.oidc_subject !== stored) {
        await tx.updateTable('operators').set({ oidc_subject: stored }).where('id', '=', found.id).execute();
        found = { ...found, oidc_subject: stored };
      }
      if (found) {
        if (found.role === role) return found;
        await tx.updateTable('operators').set({ role, updated_at: now }).where('id', '=', found.id).execute();
        const updated = { ...found, role, updated_at: now };
        await recordAudit(tx, { actor: { id: found.id, name: found.name, role, via: 'oidc' }, ...ctx, action: 'operator.role-from-groups', subject: `operator:${found.id}`, before: { role: found.role }, after: { role } }, now, this.deps.random);
        return updated;
      }
      // A local operator may already hold the name: the OIDC one gets a suffix rather than their account.
      let name = wanted;
      for (let i = 2; await tx.selectFrom('operators').select('id').where('name', '=', name).executeTakeFirst(); i++) name = `${wanted.slice(0, 60)}-${i}`;
      const row: OperatorsTable = { id: newId('op', now, this.deps.random), name, role, status: 'active', password_hash: null, totp_secret: null, totp_last_step: 0, oidc_subject: stored, password_set_by: null, totp_set_by: null, created_at: now, updated_at: now };
      await tx.insertInto('operators').values(row).execute();
      await recordAudit(tx, { actor: { id: row.id, name, role, via: 'oidc' }, ...ctx, action: 'operator.add', subject: `operator:${row.id}`, after: { name, role, oidc: true } }, now, this.deps.random);
      return row;
    });
  }

  /**
   * Takes a second row of the same identity out of use: disabled, its sessions and tokens ended,
   * and its subject cleared, so no form of the subject (the plain one may be an email address)
   * stays in the table and no later sign-in finds two rows again. Disabled rather than deleted:
   * its sessions, tokens and audit entries keep pointing at it. The kept row's status is left as
   * it is, so an operator an admin disabled stays disabled whatever the duplicate's status.
   */
  private async retireDuplicate(tx: Tx, kept: OperatorsTable, extra: OperatorsTable, ctx: ActingContext, now: number): Promise<void> {
    await tx.updateTable('operators').set({ status: 'disabled', oidc_subject: null, updated_at: now }).where('id', '=', extra.id).execute();
    const sessions = await this.deps.operators.sessions.revokeAll(extra.id, now, tx);
    const tokens = await this.deps.operators.tokens.revokeAll(extra.id, now, tx);
    await recordAudit(
      tx,
      {
        actor: { id: kept.id, name: kept.name, role: kept.role, via: 'oidc' },
        ...ctx,
        action: 'operator.disable',
        subject: `operator:${extra.id}`,
        reason: 'duplicate_oidc_operator',
        before: { status: extra.status, oidc: true },
        after: { status: 'disabled', oidc: false },
        details: { keptOperator: kept.id, sessions, tokens },
      },
      now,
      this.deps.random,
    );
  }

  /**
   * The provider says this person no longer has any findguard role (removed from every mapped
   * group). The role follows the groups at every sign-in, and a demotion there takes effect at
   * once because sessions and tokens read the role afresh; but with no role to move to, the row
   * kept its old one, so the sessions still open and the API tokens (which never sign in again)
   * went on with it: an admin taken out of fg-admins stayed admin through a token. Their sessions
   * and tokens end here, audited in the same transaction. The row stays active: once a group maps
   * again, their next sign-in works as before.
   */
  private async endAccessWithoutRole(subject: string, ctx: ActingContext, now: number): Promise<void> {
    await transaction(this.deps.db, async (tx) => {
      const forms = this.deps.operators.oidcSubjects.candidates(subject);
      const rows = await tx.selectFrom('operators').selectAll().where('oidc_subject', 'in', forms).execute();
      for (const row of rows) {
        const sessions = await this.deps.operators.sessions.revokeAll(row.id, now, tx);
        const tokens = await this.deps.operators.tokens.revokeAll(row.id, now, tx);
        if (sessions + tokens === 0) continue;
        await recordAudit(
          tx,
          { actor: { id: row.id, name: row.name, role: row.role, via: 'oidc' }, ...ctx, action: 'operator.access-ended', subject: `operator:${row.id}`, reason: 'no_group_role', details: { sessions, tokens } },
          now,
          this.deps.random,
        );
      }
    });
  }

  private async refuse(ctx: ActingContext, now: number, reason: string, message: string): Promise<never> {
    await this.audit(ctx, now, 'signin.failed', null, reason, null);
    throw new AppError('invalid_credentials', message);
  }

  private async audit(ctx: ActingContext, now: number, action: string, row: OperatorsTable | null, reason: string, subject: string | null): Promise<void> {
    const actor = row ? { id: row.id, name: row.name, role: row.role, via: 'oidc' } : { id: '', name: '?', role: 'system' as const, via: 'oidc' };
    await recordAudit(this.deps.db, { actor, ...ctx, action, subject: row ? `operator:${row.id}` : 'oidc', reason, ...(subject ? { details: { oidcSubject: subject } } : {}) }, now, this.deps.random);
  }
}

/**
 * An operator name from the ID token: preferred_username, the email's local part, or the subject.
 * Each is cut at its first '@', not only the email: at many providers (Entra ID's UPN, Keycloak or
 * Okta logging in by email) preferred_username is the address, and a name is stored in operators
 * and in every audit entry the operator causes.
 */
export function nameFrom(claims: Pick<client.IDToken, 'sub'> & Record<string, unknown>): string {
  const candidates = [claims['preferred_username'], claims['email'], claims.sub];
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    const cleaned = c.split('@')[0]!.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 56);
    if (isOperatorName(cleaned)) return cleaned;
  }
  return `oidc-${claims.sub.split('@')[0]!.replace(/[^A-Za-z0-9]/g, '').slice(0, 40) || 'user'}`;
}

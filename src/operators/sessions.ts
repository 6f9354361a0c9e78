import type { Kysely } from 'kysely';
import type { Database, OperatorSessionsTable } from '../db/schema.js';
import { newId } from '../incidents/common.js';
import type { Random } from '../util/random.js';
import { credentialHolder, type OperatorPrincipal } from './principal.js';
import { isRole } from './roles.js';
import { newSecret, secretHash, secretMatches } from './secrets.js';

export interface SessionTimeouts {
  /** Signed out after this long without a request. */
  idleMs: number;
  /** Signed out this long after signing in, whatever the activity. */
  absoluteMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };
/** last_seen_at is written at most this often: not one write per console request. */
const TOUCH_EVERY_MS = 60_000;

/** What the session cookie carries (encrypted): the session's id and its secret. */
export interface SessionCookie {
  sid: string;
  secret: string;
}

export interface SessionInfo {
  id: string;
  operatorId: string;
  via: OperatorSessionsTable['via'];
  from: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export class OperatorSessions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly random: Random,
    readonly timeouts: SessionTimeouts = DEFAULT_TIMEOUTS,
  ) {}

  async create(operatorId: string, via: OperatorSessionsTable['via'], from: string | null, now: number, db: Kysely<Database> = this.db): Promise<SessionCookie> {
    const sid = newId('ses', now, this.random, 12);
    const secret = newSecret(this.random);
    await db
      .insertInto('operator_sessions')
      .values({ id: sid, operator_id: operatorId, secret_hash: secretHash(secret), via, from_address: from, created_at: now, last_seen_at: now, expires_at: now + this.timeouts.absoluteMs, revoked_at: null })
      .execute();
    return { sid, secret };
  }

  /** The operator of a live session: not revoked, not idle too long, not past its end, operator active. */
  async authenticate(cookie: SessionCookie, now: number): Promise<OperatorPrincipal | null> {
    const row = await this.db
      .selectFrom('operator_sessions as s')
      .innerJoin('operators as o', 'o.id', 's.operator_id')
      .select(['s.id', 's.secret_hash', 's.via', 's.last_seen_at', 's.expires_at', 's.revoked_at', 'o.id as operator_id', 'o.name', 'o.role', 'o.status', 'o.password_set_by', 'o.totp_set_by'])
      .where('s.id', '=', cookie.sid)
      .executeTakeFirst();
    if (!row || !secretMatches(cookie.secret, row.secret_hash)) return null;
    if (row.revoked_at !== null || row.status !== 'active' || !isRole(row.role)) return null;
    if (now >= Number(row.expires_at) || now - Number(row.last_seen_at) >= this.timeouts.idleMs) return null;
    if (now - Number(row.last_seen_at) >= TOUCH_EVERY_MS) {
      await this.db.updateTable('operator_sessions').set({ last_seen_at: now }).where('id', '=', row.id).where('last_seen_at', '<', now).execute();
    }
    // Read afresh at every request: a TOTP reset on the server takes the sign-in out of the holder's hands at once.
    const holder = row.via === 'password+totp' ? credentialHolder(row) : undefined;
    return { id: row.operator_id, name: row.name, role: row.role, via: row.via, sessionId: row.id, ...(holder ? { credentialsHeldBy: holder } : {}) };
  }

  /** Ends one session; true if it was live. */
  async revoke(sessionId: string, now: number, db: Kysely<Database> = this.db): Promise<boolean> {
    const r = await db.updateTable('operator_sessions').set({ revoked_at: now }).where('id', '=', sessionId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Ends every session of an operator (disabled, or a second factor reset). */
  async revokeAll(operatorId: string, now: number, db: Kysely<Database> = this.db): Promise<number> {
    const r = await db.updateTable('operator_sessions').set({ revoked_at: now }).where('operator_id', '=', operatorId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async get(sessionId: string): Promise<SessionInfo | null> {
    const r = await this.db.selectFrom('operator_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    return r ? toInfo(r) : null;
  }

  /** An operator's live sessions, newest first. */
  async live(operatorId: string, now: number): Promise<SessionInfo[]> {
    const rows = await this.db
      .selectFrom('operator_sessions')
      .selectAll()
      .where('operator_id', '=', operatorId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where('last_seen_at', '>', now - this.timeouts.idleMs)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map(toInfo);
  }
}

function toInfo(r: OperatorSessionsTable): SessionInfo {
  return { id: r.id, operatorId: r.operator_id, via: r.via, from: r.from_address, createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), expiresAt: Number(r.expires_at) };
}

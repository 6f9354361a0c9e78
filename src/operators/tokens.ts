import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { newId } from '../incidents/common.js';
import type { Random } from '../util/random.js';
import type { OperatorPrincipal } from './principal.js';
import { isRole } from './roles.js';
import { newSecret, secretHash, secretMatches } from './secrets.js';

/** `fgop.<token id>.<secret>`: the id finds the row, the secret (stored hashed) proves it. */
const TOKEN = /^fgop\.([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{43})$/;

export interface TokenInfo {
  id: string;
  operatorId: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** How often last_used_at is written: not on every scripted call. */
const TOUCH_EVERY_MS = 60_000;

export class OperatorTokens {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly random: Random,
  ) {}

  /** A new token; the returned text is shown once and never stored. `createdBy`: the operator id (or `cli`) making it. */
  async create(operatorId: string, label: string, now: number, createdBy: string | null, db: Kysely<Database> = this.db): Promise<{ id: string; token: string }> {
    const id = newId('tok', now, this.random, 8);
    const secret = newSecret(this.random);
    await db.insertInto('operator_tokens').values({ id, operator_id: operatorId, secret_hash: secretHash(secret), label, created_at: now, last_used_at: null, revoked_at: null, created_by: createdBy }).execute();
    return { id, token: `fgop.${id}.${secret}` };
  }

  /** The operator of a token that is not revoked and whose operator is active; null otherwise. */
  async authenticate(token: string, now: number): Promise<OperatorPrincipal | null> {
    const m = TOKEN.exec(token);
    if (!m) return null;
    const row = await this.db
      .selectFrom('operator_tokens as t')
      .innerJoin('operators as o', 'o.id', 't.operator_id')
      .select(['t.id', 't.secret_hash', 't.revoked_at', 't.last_used_at', 't.created_by', 'o.id as operator_id', 'o.name', 'o.role', 'o.status'])
      .where('t.id', '=', m[1]!)
      .executeTakeFirst();
    if (!row || !secretMatches(m[2]!, row.secret_hash)) return null;
    if (row.revoked_at !== null || row.status !== 'active' || !isRole(row.role)) return null;
    if (row.last_used_at === null || now - Number(row.last_used_at) >= TOUCH_EVERY_MS) {
      await this.db.updateTable('operator_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return { id: row.operator_id, name: row.name, role: row.role, via: 'token', tokenId: row.id, tokenMadeBy: row.created_by };
  }

  async get(tokenId: string): Promise<TokenInfo | null> {
    const r = await this.db.selectFrom('operator_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
    return r ? toInfo(r) : null;
  }

  async list(operatorId: string): Promise<TokenInfo[]> {
    const rows = await this.db.selectFrom('operator_tokens').selectAll().where('operator_id', '=', operatorId).orderBy('created_at', 'desc').execute();
    return rows.map(toInfo);
  }

  async revoke(tokenId: string, now: number, db: Kysely<Database> = this.db): Promise<boolean> {
    const r = await db.updateTable('operator_tokens').set({ revoked_at: now }).where('id', '=', tokenId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeAll(operatorId: string, now: number, db: Kysely<Database> = this.db): Promise<number> {
    const r = await db.updateTable('operator_tokens').set({ revoked_at: now }).where('operator_id', '=', operatorId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}

function toInfo(r: Database['operator_tokens']): TokenInfo {
  return { id: r.id, operatorId: r.operator_id, label: r.label, createdAt: Number(r.created_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at) };
}

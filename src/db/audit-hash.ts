import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';

/** The hash of the entry before the first: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit_log row's fields as stored, every one of which the chain covers. */
export interface ChainedAuditFields {
  seq: number;
  id: string;
  at: number;
  actor: string;
  actor_id: string | null;
  actor_role: string | null;
  via: string | null;
  from_address: string | null;
  tool: string | null;
  action: string;
  target: string;
  reason: string | null;
  before: string | null;
  after: string | null;
  batch_id: string | null;
  details: string;
}

/**
 * SHA-256 over the previous entry's hash and the entry's stored fields as RFC 8785 canonical JSON
 * (the `canonicalize` package): the JSON columns are hashed as the text stored, so what verify
 * reads back hashes exactly as what was written. Here in db/ because the migration that chains
 * the rows written before the chain existed uses it too.
 */
export function auditEntryHash(prevHash: string, row: ChainedAuditFields): string {
  const fields: ChainedAuditFields = {
    seq: Number(row.seq),
    id: row.id,
    at: Number(row.at),
    actor: row.actor,
    actor_id: row.actor_id,
    actor_role: row.actor_role,
    via: row.via,
    from_address: row.from_address,
    tool: row.tool,
    action: row.action,
    target: row.target,
    reason: row.reason,
    before: row.before,
    after: row.after,
    batch_id: row.batch_id,
    details: row.details,
  };
  const canonical = canonicalize(fields);
  if (canonical === undefined) throw new Error('audit entry does not serialise');
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

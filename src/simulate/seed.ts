import type { AccountWrite } from '../directory/bulk-write.js';
import { normaliseContactInput } from '../directory/contact-value.js';
import { resolveDiscoverability } from '../directory/discoverability.js';
import { contactRegion } from '../directory/phone-region.js';
import type { DirectoryService } from '../directory/service.js';
import { toAccountInput } from '../directory/service.js';
import type { SyntheticAccount } from '../population/index.js';

/**
 * The import's batch: seeding writes the same batches `importNdjson` would (its BATCH_LINES), so
 * the directory's writes, their change notices and their contact-point ids come in the same order.
 */
export const SEED_BATCH = 20_000;

/**
 * A synthetic account as the import prepares its NDJSON line (src/directory/import.ts prepareLine
 * on importLineOf's line), without writing the line and parsing it back: at a million accounts the
 * text alone cost more than a tenth of the load. The same steps in the same order: the account
 * input through toAccountInput (createdAt through its ISO form, as the line carries it), every
 * contact point normalised, repeated values dropped, its purposes and audience resolved and its
 * region derived. The line's schema check is left out: the generator's accounts pass it by
 * construction (test/simulate-seed.test.ts writes both ways and compares the directories).
 */
export function accountWriteOf(a: SyntheticAccount, now: number): AccountWrite {
  const account = toAccountInput({ handle: a.handle, createdAt: new Date(a.createdAt).toISOString(), phoneRegion: a.phoneRegion, status: a.status }, now);
  const points: AccountWrite['points'] = [];
  const seen = new Set<string>();
  for (const cp of a.contactPoints) {
    const n = normaliseContactInput(cp.kind, cp.value);
    if (!n.ok) throw new Error(`seeding ${a.id}: a contact point the import would refuse (${n.code})`);
    const key = `${cp.kind}:${n.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const body = { kind: cp.kind, value: cp.value, purposes: cp.purposes, verified: cp.verified, ...(cp.discoverableBy ? { discoverableBy: cp.discoverableBy } : {}) };
    const resolved = resolveDiscoverability(body);
    points.push({
      kind: cp.kind,
      value: n.value,
      bits: resolved.bits,
      ...(cp.discoverableBy === 'contacts' ? { audience: cp.discoverableBy } : {}),
      verified: cp.verified ? 1 : 0,
      region: contactRegion(cp.kind, n.value),
    });
  }
  return { accountId: a.id, account, points };
}

/**
 * Writes the accounts through the directory's bulk path in import-sized batches; returns how many.
 * `asOf` is the time the accounts stand at, as importNdjson's (the directory's clock by default).
 */
export async function seedAccounts(directory: DirectoryService, accounts: Iterable<SyntheticAccount>, onProgress?: (accounts: number) => void, asOf?: number): Promise<number> {
  let batch: AccountWrite[] = [];
  let written = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const counts = await directory.putAccounts(batch);
    written += counts.accounts;
    batch = [];
    onProgress?.(written);
  };
  const now = asOf ?? directory.now();
  for (const a of accounts) {
    batch.push(accountWriteOf(a, now));
    if (batch.length >= SEED_BATCH) await flush();
  }
  await flush();
  return written;
}

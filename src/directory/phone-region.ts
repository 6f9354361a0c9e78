import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ContactKind } from './hashing.js';
import { phoneRegionOf } from './phone.js';
import { purposesToBits } from './purposes.js';

/**
 * The account's own phone country when the app sends no phoneRegion. Without it an account
 * mirrored with only a 2FA phone was tiered `no-phone` and had no home country for the real-time
 * rules, and real users' first syncs were refused.
 *
 * Which phone, when there are several: only verified phones count (an unverified number proves
 * nothing about the holder); among them a `two_factor` or `discovery` phone (the one the user
 * proves they hold at sign-in, or is found by) before a recovery-only or purpose-less one, then the
 * oldest, then the smallest id. The region is libphonenumber's for the number (a shared calling
 * code resolves to the country the number belongs to: +1 613 is CA). Readers use
 * `coalesce(phone_region, derived_phone_region)`: the app's own value wins.
 */
/** The purposes that rank a phone first for the account's region (also bulk-write.ts's derivedRegions). */
export const PREFERRED_BITS = purposesToBits(['two_factor', 'discovery']);

/** The region stored beside a contact point's hash: phones only, and never the number itself. */
export function contactRegion(kind: ContactKind, normalised: string): string | null {
  return kind === 'phone' ? (phoneRegionOf(normalised) ?? null) : null;
}

/**
 * Recomputes the derived phone country of these accounts from their contact points. Called after
 * any write that adds, re-purposes, (un)verifies or deletes a contact point, in the same
 * transaction; the caller's onChanged then invalidates the caller caches.
 */
export async function refreshPhoneRegion(db: Kysely<Database>, accountIds: readonly string[]): Promise<void> {
  if (accountIds.length === 0) return;
  await db
    .updateTable('accounts')
    .set({
      derived_phone_region: sql<string | null>`(
        select cp.region from contact_points cp
        where cp.account_id = accounts.id and cp.kind = 'phone' and cp.verified = 1 and cp.region is not null
        order by case when (cp.purposes & ${sql.lit(PREFERRED_BITS)}) <> 0 then 0 else 1 end, cp.created_at, cp.id
        limit 1)`,
    })
    .where('id', 'in', accountIds)
    .execute();
}

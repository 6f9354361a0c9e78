import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../src/config/config.js';
import { writeAccounts, type AccountWrite } from '../src/directory/bulk-write.js';
import { contactRegion } from '../src/directory/phone-region.js';
import { purposesToBits } from '../src/directory/purposes.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';

/**
 * On SQLite the bulk write derives a new account's phone country from the points it inserts and
 * leaves out the book and region refreshes for it (writeAccounts' `fresh`). The multi-row VALUES
 * path still refreshes every account: both must leave the same rows, in particular the derived
 * region where the rule's order matters (a recovery-only phone before a discovery one, two
 * preferred phones, unverified ones, an account twice in one batch, one already there).
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A service in a new data folder; `secretsOf`: a folder whose secrets (hash keys) it takes, so hashes compare. */
async function service(secretsOf?: string): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-bulk-fresh-'));
  dirs.push(dir);
  if (secretsOf) for (const f of readdirSync(secretsOf)) if (!f.includes('sqlite')) cpSync(join(secretsOf, f), join(dir, f), { recursive: true });
  const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
  return createService(config, secrets, { clock: new ManualClock(Date.parse('2019-12-17T00:00:00Z')), random: new SeededRandom(3), logger: createLogger('silent'), matchWorkers: 0 });
}

/** A valid-looking number libphonenumber gives no region: a verified preferred phone without one is passed over. */
const NO_REGION = '+447700900123';
const CA = '+16135550123';
const US = '+14155550123';
const DE = '+4915123456789';
const phone = (value: string, purposes: Array<'two_factor' | 'recovery' | 'discovery'>, verified = 1, audience?: 'contacts') => ({
  kind: 'phone' as const,
  value,
  bits: purposesToBits(purposes),
  verified,
  region: contactRegion('phone', value),
  ...(audience ? { audience } : {}),
});
const line = (accountId: string, points: AccountWrite['points']): AccountWrite => ({ accountId, account: { handle: `h-${accountId}`, createdAt: 1_500_000_000_000 }, points });

describe('the bulk write on SQLite, accounts new to the directory', () => {
  it('derives the phone country and books exactly as the refreshing path does', { timeout: 60_000 }, async () => {
    const first: AccountWrite[] = [
      line('recovery-first', [phone(CA, ['recovery']), phone(US, ['discovery'])]),
      line('two-preferred', [phone(DE, ['two_factor']), phone(CA, ['discovery'])]),
      line('region-less', [phone(NO_REGION, ['two_factor']), phone(DE, ['recovery'])]),
      line('unverified', [phone(US, ['discovery'], 0), { kind: 'email', value: 'u@example.org', bits: 1, verified: 1, region: null }]),
      line('recovery-only', [phone(DE, ['recovery'])]),
      line('no-points', []),
      line('twice', [phone(CA, ['recovery'])]),
      line('contacts', [phone(US, ['discovery'], 1, 'contacts')]),
      line('twice', [phone(US, ['two_factor'])]),
    ];
    // A second batch: accounts already there (one gains a preferred phone) beside new ones.
    const second: AccountWrite[] = [line('recovery-only', [phone(DE, ['recovery']), phone(US, ['two_factor'])]), line('later', [phone(CA, ['recovery']), phone(DE, ['discovery'])])];
    const rows: Record<string, unknown[]>[] = [];
    for (const json of [false, true]) {
      const svc = await service(json ? dirs[0] : undefined);
      try {
        let n = 0;
        for (const [batch, now] of [[first, 1_576_540_800_000], [second, 1_576_540_900_000]] as const) {
          // Ids that do not sort in the order they are made, as a wrapped sequence would give.
          await svc.ctx.db.kysely.transaction().execute((trx) => writeAccounts(trx, svc.ctx.directory.deps.hasher, batch, () => `cp-${String(9 - (++n % 10))}-${n}`, now, json));
        }
        const sqlite = svc.ctx.db.sqlite!;
        const out: Record<string, unknown[]> = {};
        for (const name of ['accounts', 'contact_points', 'contact_books', 'contact_reach']) out[name] = sqlite.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all();
        rows.push(out);
      } finally {
        await svc.close();
      }
    }
    const [viaValues, viaJson] = rows as [Record<string, unknown[]>, Record<string, unknown[]>];
    for (const name of Object.keys(viaValues)) expect(viaJson[name], name).toEqual(viaValues[name]);
    const region = (id: string) => (viaJson.accounts as Array<{ id: string; derived_phone_region: string | null }>).find((a) => a.id === id)?.derived_phone_region;
    expect(region('recovery-first')).toBe('US');
    expect(region('two-preferred')).toBe('CA');
    expect(region('unverified')).toBeNull();
    expect(region('region-less')).toBe('DE');
    expect(region('recovery-only')).toBe('US');
    expect(region('later')).toBe('DE');
    expect(region('twice')).toBe('US');
  });
});
